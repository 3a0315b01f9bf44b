"""Every entry point's parser: ``--help`` answers, and bad or missing values stop with exit status 2 and a
message naming the option, before anything is computed or written (issue 27). In process: parsing
happens before any work, so each case costs milliseconds."""

import importlib
import os

import pytest

PAPER_SCRIPTS = [
    f"papers.omar.{s}"
    for s in (
        "table1",
        "table2",
        "table3",
        "table4",
        "table5",
        "table6",
        "figure1",
        "figure2",
        "figure3",
        "figure4",
        "diagnose_table5",
        "diagnose_minibatches",
    )
]
PAPER_SCRIPTS += [f"papers.cast_bcq.{s}" for s in ("figure1", "table1", "figure5")]
PAPER_SCRIPTS += ["papers.moma_ppo.baseline_length"]
PAPER_SCRIPTS += [
    f"papers.otc.{s}"
    for s in ("table1", "table2", "figure3", "figure4", "figure5", "figure6", "figure7", "figure8")
]
OTHER = [
    "papers.omar.datasets",
    "papers.omar.prey",
    "common.reporting.report",
    "common.bench",
    "common.datasets.info",
    "common.datasets.mujoco.cli",
    "papers.cast_bcq.datasets",
    "papers.otc.datasets",
    "papers.moma_ppo.wm_probe",
    "papers.moma_ppo.rollout_profile",
    "papers.otc.pi0_probe",
    "papers.otc.cvae_probe",
]

# (argv, text expected in the error) for every paper script: the shared parser of common.running.experiment
PAPER_BAD = [
    (["--profile"], "expected one argument"),
    (["--profile", "medium"], "invalid choice: 'medium'"),
    (["--seeds", "-1"], "seed -1 is out of range"),
    (["--seeds"], "expected at least one argument"),
    (["--seeds", "1", "1"], "seed 1 is given twice"),
    (["--threads", "0"], "threads 0 must be a positive integer"),
    (["--jobs", "-2"], "jobs -2 must be a positive integer"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--launcher", "slurm"], "invalid choice: 'slurm'"),
    (["--launcher", "ray", "--address", "nohost"], "--address 'nohost' is not a Ray address"),
    (["--launcher", "ray", "--address", "head:70000"], "--address 'head:70000' is not a Ray address"),
    (
        ["--launcher", "ray", "--address", "ray://head:10001"],
        "Ray Client addresses (ray://) are not supported",
    ),
    (["--launcher", "ray", "--address"], "expected one argument"),
    (["--address", "head:6379"], "--address 'head:6379' is for --launcher ray"),
    (["--launcher", "ray", "--device", "cuda:1"], "Ray assigns each task its GPU"),
    (["--results"], "expected one argument"),
    (["--no-such-option"], "unrecognized arguments"),
]
OTHER_BAD = {
    "papers.omar.datasets": [
        (["--profile"], "expected one argument"),
        (["--report", "--env", "omar/nope"], "invalid choice"),
        (["--report", "--env-options", "{bad"], "not valid JSON"),
        (["--report", "--threads", "0"], "threads 0 must be a positive integer"),
        ([], "nothing to do"),
    ],
    "papers.omar.prey": [
        (["--env", "omar/tag", "--steps", "0"], "--steps 0"),
        (["--env"], "expected one argument"),
        (["--env", "omar/tag", "--steps", "5", "--version", "2"], "--version '2'"),
    ],
    "common.reporting.report": [
        (["--profile", "medium"], "invalid choice"),
        (["--results"], "expected one argument"),
        (["--reference", "--results", "x"], "not allowed with argument"),
    ],
    "common.bench": [(["--reps", "0"], "--reps 0"), (["--device", "tpu"], "unknown device 'tpu'")],
    "common.datasets.info": [([], "required"), (["info"], "required")],
    "papers.otc.datasets": [
        ([], "required"),
        (["--env", "otc/nope", "--size", "5"], "invalid choice"),
        (["--env", "otc/navigation", "--size", "0"], "--size 0"),
        (["--env", "otc/navigation", "--size", "5", "--option", "n_agents"], "write key=value"),
    ],
    "common.datasets.mujoco.cli": [
        ([], "nothing to do"),
        (["--task", "hopper"], "give --task and --kind together"),
        (["--all", "--profile", "huge"], "invalid choice: 'huge'"),
        (["--all", "--device", "tpu"], "unknown device 'tpu'"),
        (["--sac-only"], "--sac-only needs --task"),
    ],
    "papers.moma_ppo.wm_probe": [
        (
            ["--world-model", '{"hiden": 1024}'],
            "--world-model: unknown WorldModelConfig field(s) ['hiden']; allowed: ",
        ),
        (["--world-model", "1024"], "--world-model must be a JSON object, got '1024'"),
        (["--world-model", "{hidden: 1}"], "--world-model must be a JSON object"),
        (["--device", "tpu"], "--device: unknown device 'tpu'"),
    ],
    "papers.otc.pi0_probe": [
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--env", "mamujoco/ant"], "invalid choice"),
    ],
    "papers.otc.cvae_probe": [
        (["--updates", "0"], "--updates must be >= 1, got 0"),
        (["--train-kl", "0.5", "-1"], "--train-kl weights must be >= 0, got [0.5, -1.0]"),
    ],
    "papers.cast_bcq.datasets": [
        ([], "the following arguments are required: --grid"),
        (["--grid", "--start", "corner"], "invalid choice: 'corner'"),
    ],
}


def _main(module):
    return importlib.import_module(module).main


@pytest.mark.parametrize("module", PAPER_SCRIPTS + OTHER)
def test_help(module, capsys):
    with pytest.raises(SystemExit) as e:
        _main(module)(["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("module", PAPER_SCRIPTS)
@pytest.mark.parametrize("argv, message", PAPER_BAD)
def test_paper_scripts_reject_bad_values(module, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_RESULTS", str(tmp_path / "runs"))
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as e:
        _main(module)(["--profile", "smoke", *argv] if argv[:1] != ["--profile"] else argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not os.listdir(tmp_path)  # nothing written: no results root, no dataset


@pytest.mark.parametrize(
    "module, argv, message", [(m, a, t) for m, cases in OTHER_BAD.items() for a, t in cases]
)
def test_other_entry_points_reject_bad_values(module, argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_RESULTS", str(tmp_path / "runs"))
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as e:
        _main(module)(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not os.listdir(tmp_path)
