"""MOMA-PPO's cell configs: what every cell of Tables 3, 4a, 4b, Figure 6 and the ablations trains, at a profile (the
sizes come from config.py's ``MomaSettings``, read as ``profile.paper``).

A Table 3 baseline cell config (``icg_baseline_config``, common.running.offline's layout):
  dataset        papers.moma_ppo.datasets.icg_spec(name, plays)
  iql_discrete   IQLConfig fields (common/algos/iql.py): method iql / maiql / bc (+ hidden at quick and smoke)
  method         the column key (iql, maiql, ibc)
  updates, eval_every, eval_episodes (100: §6), ckpt_every
A MOMA-PPO cell config (``icg_moma_config``):
  dataset, method "moma_ppo"
  world_model    WorldModelConfig fields (the ICG's: no clipping, no penalty; toy sizes at quick / smoke)
  wm_seed        the world model's seed (one ensemble per dataset, shared by every seed [code])
  mappo          MAPPOConfig fields (categorical policies)
  rollouts       RolloutConfig fields (k = 1, 2000 transitions)
  iterations, eval_every, eval_episodes, ckpt_every
A Table 4a baseline cell config (``reacher_baseline_config``, common.running.offline's layout, the learner named per cell):
  dataset        ``reacher_spec(obs_mode, profile)``: the expert-mix of papers/moma_ppo/reacher.py split per agent
  learner        iql_continuous (iql, maiql, ibc), matd3bc, or itd3 (itd3bc, icql, iomar): config.T4A_LEARNERS
  <learner>      its config fields (ContinuousIQLConfig / MATD3BCConfig / ITD3Config via moma_ppo_preset)
  method, updates, eval_every, eval_episodes (100: §6), ckpt_every
A Table 4a MOMA-PPO cell config (``reacher_moma_config``): as the ICG's, with the Reacher world model (the code's
MaMuJoCo settings: clipping to the dataset box, l_eps = 2, lambda_g 0.1, lambda_r 0.05), k = 10, Gaussian MAPPO with
normalized inputs (config.MAPPO_REACHER).
A Table 4b cell (``ant_baseline_config`` / ``ant_moma_config``): Table 4a's layouts on the Ant data (``ant_spec``:
common.datasets.mujoco's kind split per agent for obs_mode full / partial; IQL, MAIQL(-ft) and IBC on rewards x 1000 /
(max - min episode return), the code's scaling), the learners of config.T4B_LEARNERS, the profile's t4b_* scales;
the job is Table 4a's but for MAIQL-ft, whose cell adds a ``finetune`` section (maiql_ft.FineTuneConfig fields: the
fine-tuning updates after the ``updates`` offline ones) and runs ``maiql_ft.maiql_ft_run`` (offline MAIQL, then
online fine-tuning with rollouts in the ground-truth simulator), alone (never stacked by --group; the jobs:
papers/moma_ppo/jobs.py).
A Figure 6 / App. B.2 cell (``ant_moma_variant_config``): Table 4b's MOMA-PPO cell plus ``wm_sampling`` (overrides of
the WorldModelConfig fields only ``sample`` reads: WM_SAMPLING_FIELDS; the trained ensemble and its cache are Table
4b's), another rollout ``k``, or ``simulator: "ground_truth"`` (papers/moma_ppo/simulator.py, no world model).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import common.algos.iql
from common.algos.mappo import MAPPOConfig
from common.running.profiles import Profile
from papers.moma_ppo import config as C
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.cell_data import ant_spec, reacher_spec
from papers.moma_ppo.cell_model import wm_sampling_of
from papers.moma_ppo.datasets import icg_spec
from papers.moma_ppo.maiql_ft import FineTuneConfig
from papers.moma_ppo.moma_ppo import RolloutConfig
from papers.moma_ppo.td3_presets import moma_ppo_preset

BASELINE_LEARNER = common.algos.iql.LEARNER_NAME


# ---- Table 3 (the Iterated Coordination Game) ------------------------------------------------------------------
def icg_baseline_config(profile: Profile, dataset: str, method: str) -> dict[str, Any]:
    """A Table 3 baseline cell (module docstring); ``method`` in config.BASELINE_METHOD."""
    if method not in C.BASELINE_METHOD:
        raise ValueError(f"unknown ICG baseline {method!r}; valid: {', '.join(C.BASELINE_METHOD)}")
    s = profile.paper
    every = min(s.icg_updates, s.icg_eval_every)
    section: dict[str, Any] = {"method": C.BASELINE_METHOD[method]}
    if s.icg_width is not None:
        section["hidden"] = [s.icg_width] * 2
    return {
        "dataset": icg_spec(dataset, s.icg_plays),
        "method": method,
        BASELINE_LEARNER: section,
        "updates": s.icg_updates,
        "eval_every": every,
        "eval_episodes": C.ICG_EVAL_EPISODES,
        "ckpt_every": max(every, s.icg_updates // 5),
    }


def world_model_section(
    base: Mapping[str, Any], width: int | None, layers: int | None, updates: int | None
) -> dict[str, Any]:
    """A cell's ``world_model`` section: ``base`` with the profile's cuts where it sets them (None: the code's):
    the hidden width, the transition / reward depth (the mask head at most 2 layers) and the training updates."""
    wm = dict(base)
    if width is not None:
        wm["hidden"] = width
    if layers is not None:
        wm.update(t_layers=layers, r_layers=layers, mask_layers=min(2, layers))
    if updates is not None:
        wm["n_updates"] = updates
    return wm


def icg_moma_config(profile: Profile, dataset: str) -> dict[str, Any]:
    """A Table 3 MOMA-PPO cell (module docstring)."""
    s = profile.paper
    wm = world_model_section(C.WM_ICG, s.icg_wm_width, s.icg_wm_layers, s.icg_wm_updates)
    mappo = dict(C.MAPPO_ICG)
    if s.icg_mappo_width is not None:
        mappo["hidden"] = [s.icg_mappo_width] * 2
    iters = s.icg_moma_iterations
    every = min(iters, s.icg_moma_eval_every)
    return {
        "dataset": icg_spec(dataset, s.icg_plays),
        "method": "moma_ppo",
        "world_model": wm,
        "wm_seed": C.WM_SEED,
        "mappo": mappo,
        "rollouts": dict(C.MOMA_ROLLOUT),
        "iterations": iters,
        "eval_every": every,
        "eval_episodes": C.ICG_EVAL_EPISODES,
        "ckpt_every": max(every, iters // 5),
    }


# ---- Tables 4a (Reacher expert-mix) and 4b (Ant) ----------------------------------------------------------------
def _schedule(scale: C.TableScale, steps: int) -> dict[str, int]:
    """A run's evaluation and checkpoint schedule: ``scale.evals`` evaluations over ``steps``, a checkpoint every
    fifth of the run (at least every evaluation), and the smoke cut of evaluation episodes."""
    every = max(1, steps // scale.evals)
    out = {"eval_every": every, "eval_episodes": scale.eval_episodes, "ckpt_every": max(every, steps // 5)}
    if scale.eval_max_steps is not None:  # smoke only: 1,000-step Ant episodes cut short
        out["eval_max_steps"] = scale.eval_max_steps
    return out


def _baseline_section(scale: C.TableScale, obs_mode: str, learner: str, base) -> dict[str, Any]:
    """A baseline's learner section at the table's ``scale``: the ITD3 family through moma_ppo_preset (no history
    encoder, td3_presets.py), the IQL family / MATD3+BC with the profile's width and history length (FO row:
    memory["full"], PO rows: memory["po"])."""
    if learner == "itd3":  # the code's TD3Learner: no history encoder here (td3_presets.py)
        return moma_ppo_preset(base, **({"hidden": scale.width} if scale.width is not None else {}))
    section = dict(base)
    if scale.width is not None:
        section["hidden"] = [scale.width] * 2
    length = scale.memory["full" if obs_mode == "full" else "po"]
    if length != 10:
        section["memory_len"] = length
    if length > 0 and scale.memory_dim is not None:
        section["memory_dim"] = scale.memory_dim
    return section


def _check_method(table: str, method: str, learners: Mapping[str, Any]) -> None:
    if method not in learners:
        raise ValueError(f"unknown Table {table} baseline {method!r}; valid: {', '.join(learners)}")


def _check_baseline(
    table: str,
    method: str,
    obs_mode: str,
    learners: Mapping[str, Any],
    rows_of: Mapping[str, Sequence[str]],
    obs_modes: Sequence[str],
) -> tuple[str, Any]:
    """(learner, base) of a Table 4a / 4b baseline column, after checking that the row has the cell (IQL executes
    centrally: FO rows only). Call after checking the method (``_check_method``) and the obs_mode (the dataset spec)."""
    rows = rows_of.get(method, obs_modes)
    if obs_mode not in rows:
        raise ValueError(
            f"Table {table} has no {method!r} cell for obs_mode={obs_mode!r} (centralized execution needs "
            f"the full state); valid: {', '.join(rows)}"
        )
    return learners[method]


def _baseline_cell(
    scale: C.TableScale, spec: Mapping[str, Any], obs_mode: str, method: str, learner_base: tuple[str, Any]
) -> dict[str, Any]:
    """A Table 4a / 4b baseline cell: the dataset spec, the learner's section and the table's schedule."""
    learner, base = learner_base
    section = _baseline_section(scale, obs_mode, learner, base)
    return {
        "dataset": spec,
        "method": method,
        "learner": learner,
        learner: section,
        "updates": scale.updates,
        **_schedule(scale, scale.updates),
    }


def reacher_baseline_config(profile: Profile, obs_mode: str, method: str) -> dict[str, Any]:
    """A Table 4a baseline cell (module docstring); ``method`` in config.T4A_LEARNERS, ``obs_mode`` in
    data_config.REACHER_OBS_MODES (IQL: "full" only)."""
    _check_method("4a", method, C.T4A_LEARNERS)
    spec = reacher_spec(obs_mode, profile.name)  # checks obs_mode
    lb = _check_baseline("4a", method, obs_mode, C.T4A_LEARNERS, C.T4A_ROWS_OF, DC.REACHER_OBS_MODES)
    return _baseline_cell(profile.paper.t4a, spec, obs_mode, method, lb)


def _moma_sections(
    scale: C.TableScale, mappo_base: Mapping[str, Any], rollout_base: Mapping[str, int]
) -> dict[str, Any]:
    """A MuJoCo MOMA-PPO cell's world_model / mappo / rollouts / iterations at the table's ``scale``
    (WorldModelConfig's defaults are the code's MaMuJoCo settings)."""
    wm = world_model_section({}, scale.wm_width, scale.wm_layers, scale.wm_updates)
    mappo = {**mappo_base, "memory_len": scale.moma_memory}
    if scale.mappo_width is not None:
        mappo["hidden"] = [scale.mappo_width] * 2
    rollouts = {**rollout_base, "batch": scale.moma_batch}
    return {
        "world_model": wm,
        "wm_seed": C.WM_SEED,
        "mappo": mappo,
        "rollouts": rollouts,
        "iterations": scale.moma_iterations,
    }


def reacher_moma_config(profile: Profile, obs_mode: str) -> dict[str, Any]:
    """A Table 4a MOMA-PPO cell (module docstring): WorldModelConfig's defaults are the code's MaMuJoCo settings."""
    scale = profile.paper.t4a
    sec = _moma_sections(scale, C.MAPPO_REACHER, C.MOMA_REACHER_ROLLOUT)
    return {
        "dataset": reacher_spec(obs_mode, profile.name),
        "method": "moma_ppo",
        **sec,
        **_schedule(scale, sec["iterations"]),
    }


def ant_baseline_config(profile: Profile, obs_mode: str, dataset: str, method: str) -> dict[str, Any]:
    """A Table 4b baseline cell (Table 4a's layout on Ant); ``method`` in config.T4B_LEARNERS (IQL: FO rows only),
    ``obs_mode`` in data_config.ANT_OBS_MODES, ``dataset`` in published.ANT_DATASETS."""
    _check_method("4b", method, C.T4B_LEARNERS)
    # checks both
    spec = ant_spec(obs_mode, dataset, profile.name, reward_scale=method in C.T4B_REWARD_SCALED)
    lb = _check_baseline("4b", method, obs_mode, C.T4B_LEARNERS, C.T4B_ROWS_OF, DC.ANT_OBS_MODES)
    scale = profile.paper.t4b
    cfg = _baseline_cell(scale, spec, obs_mode, method, lb)
    # the fine-tuning phase (papers/moma_ppo/maiql_ft.py); evaluations as often as offline
    if method == "maiql_ft":
        cfg["finetune"] = {"updates": scale.ft_updates}
        FineTuneConfig(**cfg["finetune"]).validate()
    return cfg


def ant_moma_config(profile: Profile, obs_mode: str, dataset: str) -> dict[str, Any]:
    """A Table 4b MOMA-PPO cell: Table 4a's on the Ant data (raw rewards, as the code's world model sees them)."""
    scale = profile.paper.t4b
    sec = _moma_sections(scale, C.MAPPO_ANT, C.MOMA_ANT_ROLLOUT)
    return {
        "dataset": ant_spec(obs_mode, dataset, profile.name),
        "method": "moma_ppo",
        **sec,
        **_schedule(scale, sec["iterations"]),
    }


def ant_moma_variant_config(
    profile: Profile,
    obs_mode: str,
    dataset: str = C.F6_DATASET,
    *,
    wm_sampling: Mapping[str, Any] | None = None,
    k: int | None = None,
    simulator: str | None = None,
    mappo: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Figure 6 / App. B.2 cell: Table 4b's MOMA-PPO cell (``ant_moma_config``) with ``wm_sampling`` overrides of
    the world model's sampling (penalty weights, threshold "inf", clipping: WM_SAMPLING_FIELDS), another maximum
    rollout length ``k``, or ``simulator="ground_truth"`` (the true physics: no world model, no penalty, no cut).
    ``mappo`` overrides MAPPOConfig fields (our monotonic_mixer ablation). With no change it is exactly Table 4b's
    cell (same config hash), so its finished runs are reused."""
    cfg = ant_moma_config(profile, obs_mode, dataset)
    if mappo:
        cfg["mappo"] = {**cfg["mappo"], **mappo}
        MAPPOConfig(**cfg["mappo"]).validate()  # checks the fields now, not in the run
    if wm_sampling:
        cfg["wm_sampling"] = dict(wm_sampling)
        wm_sampling_of(cfg)  # checks the fields now, not in the run
    if k is not None:
        cfg["rollouts"] = {**cfg["rollouts"], "k": int(k)}
        RolloutConfig(**cfg["rollouts"]).validate()
    if simulator is not None:
        if simulator != "ground_truth" or wm_sampling:
            raise ValueError(
                f"simulator={simulator!r}: only 'ground_truth' is allowed, and without wm_sampling (the "
                f"true physics has no penalty, threshold or clipping)"
            )
        for key in ("world_model", "wm_seed"):
            del cfg[key]
        cfg["simulator"] = simulator
    return cfg
