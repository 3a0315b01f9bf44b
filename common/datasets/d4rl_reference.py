"""D4RL v2 MuJoCo dataset statistics as published (sources per entry).

Only numbers read in a public source are stored; anything not found is ``None``. No value was computed here.

Sources used:
- Episode counts: the TensorFlow Datasets catalog, config ``v2-<kind>``. Its "train" split counts RLDS episodes.
  The same pages are mirrored in github.com/tensorflow/datasets ``docs/catalog/d4rl_mujoco_<task>.md``.
  Where both stored versions of these pages were checked, they give the same counts.
  TFDS splits episodes on terminals/timeouts. Inferred, not stated: a file that ends mid-episode counts that
  partial episode too. Evidence: for hopper, walker2d and ant, medium-expert = medium + expert - 1. D4RL's
  ``scripts/generation/mujoco/stitch_dataset.py`` cuts file 1 at its last complete episode before it
  concatenates.
- Transitions: D4RL (Fu et al. 2020, arXiv:2004.07219) gives "1M samples" for random, medium and expert.
  This is as summarised in shared/reference/smax_and_data.md §3.3; the paper itself was not re-read here.
  ``scripts/generation/mujoco/collect_data.py`` truncates to exactly ``num_data``. These counts are nominal.
  medium-expert is medium, truncated at its last full episode, plus expert, capped at ``maxlen`` = 2,000,000.
  Its exact size is therefore unknown. No source read here gives the medium-replay or full-replay sizes.
- Normalized return distribution (ant only): MOMA-PPO (Barde et al., AAMAS 2024), Table 2. Values are % of the
  D4RL-normalized per-episode return, with expert 3879.7 and random -325.6. The datasets are ``ant-<kind>-v2``,
  per the official code's task names (e.g. ``ant-expert-v2_4x2_0t``).
- Corroboration: the Hugging Face dataset viewer for ``edbeeching/decision_transformer_gym_replay`` (D4RL v2
  trajectories for Decision Transformer) shows these row counts:
  - halfcheetah: medium-replay 202, medium 1k, expert 1k;
  - hopper: medium-replay 2.04k, medium 2.19k, expert 1.03k;
  - walker2d: medium-replay 1.09k, medium 1.19k, expert 1k.
  These are rounded and consistent with TFDS.

No published raw episode-return mean/std/min/max for the v2 files was found; those fields are ``None``.
normalized = 100 * (R - ref_min) / (ref_max - ref_min), with the refs below (d4rl/infos.py, the same for v0-v2).
"""

# the reference returns themselves: envs.gym_mujoco.D4RL_REF_SCORES

_TFDS = "TFDS catalog https://www.tensorflow.org/datasets/catalog/d4rl_mujoco_{} config v2-{} ('train' = episodes)"
_D4RL_1M = "transitions: D4RL paper (arXiv:2004.07219) '1M samples' (nominal; via smax_and_data.md §3.3)"
_MOMA = "normalized min/mean/median/max: MOMA-PPO (Barde et al., AAMAS 2024) Table 2, ant D4RL v2"
_ME_NOTE = (
    "medium-expert = medium cut at its last full episode + expert, capped at 2,000,000 (D4RL stitch_dataset.py); "
    "the exact transition count was not published in any source read"
)
_REPLAY_NOTE = "no public source read gives the transition count of this replay dataset"

# episodes per (task, kind), as listed by the TFDS catalog (v2 configs)
_EPISODES = {
    ("halfcheetah", "random"): 1000,
    ("halfcheetah", "medium"): 1000,
    ("halfcheetah", "medium-replay"): 202,
    ("halfcheetah", "full-replay"): 1000,
    ("halfcheetah", "expert"): 1000,
    ("halfcheetah", "medium-expert"): 2000,
    ("hopper", "random"): 45240,
    ("hopper", "medium"): 2187,
    ("hopper", "medium-replay"): 2041,
    ("hopper", "full-replay"): 3515,
    ("hopper", "expert"): 1028,
    ("hopper", "medium-expert"): 3214,
    ("walker2d", "random"): 48908,
    ("walker2d", "medium"): 1191,
    ("walker2d", "medium-replay"): 1093,
    ("walker2d", "full-replay"): 1888,
    ("walker2d", "expert"): 1001,
    ("walker2d", "medium-expert"): 2191,
    ("ant", "random"): 5822,
    ("ant", "medium"): 1203,
    ("ant", "medium-replay"): 485,
    ("ant", "full-replay"): 1319,
    ("ant", "expert"): 1035,
    ("ant", "medium-expert"): 2237,
}

# MOMA-PPO Table 2, % normalized per-episode return: (min, mean, median, max)
_MOMA_ANT = {
    "random": (-3.0, 6.4, 7.2, 10.3),
    "medium": (-4.8, 80.2, 95.1, 107.2),
    "full-replay": (-22.4, 72.0, 77.8, 134.3),
    "expert": (-32.8, 117.4, 129.4, 142.5),
}

_NOMINAL_1M = ("random", "medium", "expert")

D4RL_STATS = {}
for (_task, _kind), _episodes in _EPISODES.items():
    _norm = _MOMA_ANT.get(_kind) if _task == "ant" else None
    _sources = [_TFDS.format(_task, _kind)]
    if _kind in _NOMINAL_1M:
        _sources.append(_D4RL_1M)
    if _norm is not None:
        _sources.append(_MOMA)
    _note: str | None
    if _kind == "medium-expert":
        _note = _ME_NOTE
    elif _kind.endswith("replay"):
        _note = _REPLAY_NOTE
    else:
        _note = None
    D4RL_STATS[(_task, _kind)] = {
        "version": "v2",
        "transitions": 1_000_000 if _kind in _NOMINAL_1M else None,
        "episodes": _episodes,
        "return_mean": None,
        "return_std": None,
        "return_min": None,
        "return_max": None,
        "normalized_min": _norm[0] if _norm else None,
        "normalized_mean": _norm[1] if _norm else None,
        "normalized_median": _norm[2] if _norm else None,
        "normalized_max": _norm[3] if _norm else None,
        "source": "; ".join(_sources),
        "note": _note,
    }
del _task, _kind, _episodes, _norm, _sources, _note


def d4rl_stats(task: str, kind: str) -> dict | None:
    """Published statistics of D4RL ``<task>-<kind>-v2`` (a copy), or None if the pair is not listed."""
    entry = D4RL_STATS.get((task.lower(), kind.lower().replace("_", "-")))
    return dict(entry) if entry is not None else None
