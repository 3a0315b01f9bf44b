"""Third-party output that tells our users nothing stays silent at our boundary (envs/mamujoco.py), and
everything else the same calls write still reaches them.

The known noise, each from a fresh interpreter importing envs and building every mamujoco env:
- Farama's notice on the Adroit envs' rewards, printed to stderr by ``import gymnasium_robotics``;
- MuJoCo's "compiler attribute 'settotalmass' is deprecated" warning, printed by C code (and appended to
  MUJOCO_LOG.TXT in the working directory) each time a HalfCheetah model is compiled.
"""

import os
import subprocess
import sys
import textwrap

import mujoco
import numpy as np

from envs.mamujoco import _warn_to_stderr, quiet_mujoco_warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = ("AdroitHand", "reward functions were updated in v1.2.1", "settotalmass", "mj_setTotalmass")

# every mamujoco env built twice (HalfCheetah's warning came once per build), reset and stepped
SCRIPT = """
import numpy as np
import envs

for name in [n for n in envs.names() if n.startswith("mamujoco/")]:
    for _ in range(2):
        env = envs.make(name)
        env.reset(seed=0)
        for _ in range(3):
            env.step(np.zeros((env.spec.n_agents, env.spec.act_dim), np.float32))
        env.close()
    print("ok", name, flush=True)
"""


def _run(script: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mamujoco_envs_are_quiet(tmp_path):
    p = _run(SCRIPT, tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert p.stdout.count("ok mamujoco/") == 5, out
    found = [s for s in NOISE if s in out]
    assert not found, f"third-party noise {found} in the output:\n{out}"
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()  # MuJoCo's log of the same warning


def test_other_import_output_passes(tmp_path):
    """Only the Adroit notice's line is dropped from what ``import gymnasium_robotics`` prints."""
    p = _run(
        """
        import importlib.metadata
        from farama_notifications import notifications
        notes = notifications.setdefault("gymnasium_robotics", {})
        v = importlib.metadata.version("gymnasium_robotics")
        notes[v] = notes.get(v, "AdroitHandDoorDense-v1 environment's reward functions were updated in v1.2.1") \\
            + "\\nA notice worth reading"
        import envs
        envs.make("mamujoco/hopper-3x1")
        """,
        tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "A notice worth reading" in p.stderr
    assert "AdroitHand" not in p.stderr


def test_other_mujoco_warnings_pass(capfd, tmp_path, monkeypatch):
    """A real MuJoCo warning (an unstable simulation) raised inside the quiet block is still printed; the
    settotalmass one is dropped; the warning handler set before is restored and receives the others. With none
    set before, the block leaves ``_warn_to_stderr`` as the process's handler: a warning raised after it is printed
    too, and MuJoCo writes no MUJOCO_LOG.TXT into the working directory (issue 62)."""
    monkeypatch.chdir(tmp_path)
    # as in a fresh process (another test of this worker may have built an env)
    mujoco.set_mju_user_warning(None)
    xml = "<mujoco><worldbody><body><freejoint/><geom size='.1'/></body></worldbody></mujoco>"
    m = mujoco.MjModel.from_xml_string(xml)
    d = mujoco.MjData(m)
    d.qvel[:] = np.nan
    with quiet_mujoco_warnings():
        mujoco.get_mju_user_warning()("compiler attribute 'settotalmass' is deprecated and will be removed")
        mujoco.mj_step(m, d)
    err = capfd.readouterr().err
    assert "settotalmass" not in err
    assert "WARNING: Nan, Inf or huge value in QVEL" in err
    assert mujoco.get_mju_user_warning() is _warn_to_stderr
    d2 = mujoco.MjData(m)
    d2.qacc_warmstart[:] = 0
    d2.qvel[:] = np.inf  # outside any block: MuJoCo's default would print it and append it to MUJOCO_LOG.TXT
    mujoco.mj_step(m, d2)
    assert "WARNING: Nan, Inf or huge value in QVEL" in capfd.readouterr().err
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()

    got = []

    def keep(msg):
        got.append(msg)

    mujoco.set_mju_user_warning(keep)
    try:
        with quiet_mujoco_warnings():
            mujoco.get_mju_user_warning()("compiler attribute 'settotalmass' is deprecated")
            mujoco.get_mju_user_warning()("something else")
        assert mujoco.get_mju_user_warning() is keep
    finally:
        mujoco.set_mju_user_warning(None)
    assert got == ["something else"]
