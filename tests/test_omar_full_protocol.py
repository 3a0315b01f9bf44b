"""`--profile full` is the official protocol: every cell of every OMAR item, built (not run) at full,
carries the code's update counts, evaluation schedule and network sizes and the paper's dataset sizes
(papers/omar/config.py, docs/omar_official_code.md#hyperparameters, paper §4.1.1).

The values below are written out, not read back from config.py, so that a change to config.py (or to
the profile scaling) that moves full away from the protocol fails here.
"""

from __future__ import annotations

import importlib

import pytest

from common.running.profiles import get_profile
from papers.omar import config as C

# The code's gradient steps (num_steps / steps_per_update + 1) per (task, dataset kind).
OFFICIAL_UPDATES = {
    ("omar/spread", "random"): 6_001,
    ("omar/spread", "medium-replay"): 2_001,
    ("omar/spread", "medium"): 2_001,
    ("omar/spread", "expert"): 2_001,
    ("omar/tag", "random"): 2_001,
    ("omar/tag", "medium-replay"): 1_001,
    ("omar/tag", "medium"): 2_001,
    ("omar/tag", "expert"): 2_001,
    **{("omar/world", k): 1_001 for k in C.DATASETS},
    **{("mamujoco/halfcheetah-2x3", k): 100_001 for k in C.DATASETS},
}
# The code's per-dataset (tau = omar_coe, alpha = cql_alpha), its env_config_map
# (docs/omar_official_code.md#per-dataset-tau-and-alpha).
OFFICIAL_TAU_ALPHA = {
    "omar/spread": {
        "random": (1.0, 0.5),
        "medium-replay": (1.0, 1.0),
        "medium": (1.0, 5.0),
        "expert": (1.0, 5.0),
    },
    "omar/tag": {
        "random": (0.9, 0.5),
        "medium-replay": (0.9, 0.5),
        "medium": (0.7, 5.0),
        "expert": (0.9, 5.0),
    },
    "omar/world": {
        "random": (1.0, 0.5),
        "medium-replay": (0.7, 1.0),
        "medium": (0.1, 0.5),
        "expert": (0.9, 5.0),
    },
    "mamujoco/halfcheetah-2x3": {
        "random": (1.0, 1.0),
        "medium-replay": (0.9, 5.0),
        "medium": (0.7, 1.0),
        "expert": (0.5, 5.0),
    },
}
# family -> (hidden, lr, batch, gamma, target rate, evaluate every n updates)
OFFICIAL_NETS = {"mpe": (64, 0.01, 1024, 0.95, 0.01, 10), "mujoco": (256, 3e-4, 256, 0.95, 0.005, 500)}
ITEMS = (
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
)


@pytest.fixture(scope="module")
def full():
    return get_profile("full", C.PROFILE_OVERRIDES)


def _cells(item, profile):
    return importlib.import_module(f"papers.omar.{item}").build_cells(profile)


def test_full_profile_runs_five_seeds(full):
    assert full.seeds == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("item", ITEMS)
def test_every_full_cell_follows_the_official_protocol(item, full):
    cells = [c for c in _cells(item, full) if c.keys.get("method") != "landscape"]
    assert cells
    for c in cells:
        cfg = c.config
        ds = cfg["dataset"]
        env = {"omar/spread1d": "omar/spread"}.get(ds["env"], ds["env"])
        fam = "mujoco" if env.startswith("mamujoco/") else "mpe"
        hidden, lr, batch, gamma, target, every = OFFICIAL_NETS[fam]
        it = cfg["itd3"]
        where = f"{item} {c.keys}"
        assert cfg["updates"] == OFFICIAL_UPDATES[(env, ds["kind"])], where
        assert cfg["eval_every"] == every and cfg["eval_episodes"] == 10, where
        assert ds["sizes"] == {
            "random": 1_000_000,
            "medium-replay": None,
            "medium": 1_000_000,
            "expert": 1_000_000,
        }, where
        assert (it["hidden"], it["critic_lr"], it["batch_size"], it["gamma"], it["tau_target"]) == (
            hidden,
            lr,
            batch,
            gamma,
            target,
        ), where
        if "actor_lr" not in c.keys:  # Table 1 varies the actor lr; everything else uses the code's
            assert it["actor_lr"] == lr, where
        tau, alpha = OFFICIAL_TAU_ALPHA[env][ds["kind"]]
        if it.get("critic_reg") == "cql":
            assert it["cql_alpha"] == alpha, where
        if it.get("actor_reg") == "omar" and "tau" not in c.keys:  # Figure 3 varies tau
            assert it["omar_tau"] == tau, where


def test_full_omar_sampler_is_the_codes(full):
    by_env = {
        c.config["dataset"]["env"]: c.config["itd3"]
        for c in _cells("table3", full) + _cells("table6", full)
        if c.keys["method"] == "omar"
    }
    mpe, cheetah = by_env["omar/spread"], by_env["mamujoco/halfcheetah-2x3"]
    assert (mpe["omar_sampler"], mpe["omar_iters"], mpe["omar_n_samples"]) == ("softmax", 3, 10)
    assert (
        cheetah["omar_sampler"],
        cheetah["omar_iters"],
        cheetah["omar_n_samples"],
        cheetah["omar_n_elites"],
    ) == ("cem", 2, 20, 5)


def test_table6_and_figures_3_4_run_the_papers_seeds_at_full(monkeypatch):
    """Their quick default is 2 seeds (cost); at full they run the profile's 5 like every item: the
    default seeds each item's main hands to run_item name the quick profile only."""
    from papers.omar import figure3, figure4, table6

    seen = {}

    def capture(doc, item, *args, default_seeds=None, **kw):
        seen[item] = default_seeds

    for mod in (figure3, table6):
        monkeypatch.setattr(mod, "run_item", capture)
    for mod in (table6, figure3, figure4):
        mod.main([])
    assert set(seen) == {"table6", "figure3", "figure4"}
    for item, seeds in seen.items():
        assert seeds is not None and set(seeds) == {"quick"} and len(seeds["quick"]) == 2, item
