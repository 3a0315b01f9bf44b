"""The D4RL-style dataset protocol of OMAR §5.1 (docs/omar_official_code.md#protocol), reused by later papers.

    random         a randomly initialized MATD3 policy (or uniform actions) + Gaussian noise
    medium-replay  every transition of the behavior learner's replay buffer until its policy first
                   reaches the medium level
    medium         a partially trained ("medium") MATD3 policy + Gaussian noise
    expert         the fully trained MATD3 policy + Gaussian noise

OMAR says only that noise is added "to increase diversity following D4RL"; neither the noise level
nor the medium level is published. Our choices (recorded in every card):

- noise: N(0, (0.1 · max_action)²) on each action, clipped to the bounds (TD3's exploration level);
- medium level: the first evaluation after learning starts at which a seed's deterministic score reaches
  ``random + medium_fraction · (expert − random)``, where random = the score of the random behavior
  policy and expert = the final score, both by the same deterministic evaluation. The default
  ``medium_fraction = 0.31`` is where OMAR's spread medium data sits between its random and expert
  data (273.39 − 159.57) / (530.95 − 159.57) (docs/omar_official_code.md#released-dataset-statistics).
  Since expert is only known at the end, MATD3 is trained fully while actor snapshots are kept at every evaluation; the medium snapshot and
  the medium-replay cut are chosen afterwards (the buffer is sized so that it never wraps);
- reference scores: ``ref_scores = {random: mean return of the random dataset, expert: mean return
  of the expert dataset}`` in all four cards (OMAR publishes no constants; these are the proxies of
  docs/omar_official_code.md#normalization-constants).

Episodes are complete except the last one of a dataset, which may be cut (``timeouts[-1] = True``).
Rewards are per agent as the env gives them; ``episode_returns`` follow ``return_mode``.
Where a generated set lives in the cache, and ``load_or_generate``: common.behavior.protocol_cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from common.behavior.matd3 import MATD3, MATD3Config
from common.behavior.protocol_run import train_behavior
from common.behavior.rollouts import collect, medium_replay_from_buffer, plain_json, reobserve
from common.datasets.dataset import Dataset
from common.running.evaluate import eval_seed, evaluate

__all__ = [
    "generate_protocol",
    "options_suffix",
    "PROTOCOL_KINDS",
]

PROTOCOL_KINDS = ("random", "medium-replay", "medium", "expert")
DEFAULT_NOISE = 0.1  # collection noise std, fraction of the action bound (see the module docstring)


def generate_protocol(
    env_name: str,
    env_options: dict | None,
    sizes: Mapping[str, int | None],
    medium_fraction: float = 0.31,
    train_steps: int = 100_000,
    seeds: Sequence[int] = (0,),
    return_mode: str = "mean",
    *,
    cfg: MATD3Config | None = None,
    noise_std: float = DEFAULT_NOISE,
    random_policy: str = "init",
    collect_envs: int = 1,
    version: int = 1,
    require_improvement: bool = True,
    behavior_env_options: dict | None = None,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every_s: float = 600.0,
) -> list[dict[str, Dataset]]:
    """Train MATD3 once for every seed (batched) and collect OMAR's four datasets per seed.

    ``sizes``: kind -> n_transitions for "random", "medium", "expert" (both random and expert are
    required: they give ref_scores); "medium-replay": None (its size is set by the medium cut).
    ``random_policy``: "init" (OMAR: "a randomly initialized policy", the learner's step-0 actor)
    or "uniform". ``require_improvement``: refuse (RuntimeError) a run whose final policy does not
    beat random; False only for pipeline tests (smoke), where the card then says so.
    ``behavior_env_options``: env options under which the behavior learner trains, is evaluated and
    collects (e.g. MaMuJoCo ``obs_mode="otc"``: actors that see the whole state), when they differ from
    the datasets' ``env_options``; every dataset is then re-observed (:func:`reobserve`) into
    ``env_options``' per-agent observations. Transitions, returns and the medium cut are the same.
    ``checkpoint``: a file for the behavior run's state (learner with its replay buffer, every random generator,
    the evaluation snapshots), written atomically at an evaluation once ``checkpoint_every_s`` seconds have passed
    since the last write, and when training ends. A run started again with the same file resumes from it (a file of
    another run - env, options, config, seeds, steps - raises ValueError); the caller deletes it once the datasets
    are saved. Resumed envs start fresh episodes (common/behavior/matd3.py), so a resumed run is a valid run of the
    protocol but not bit-equal to an uninterrupted one; the cards list the steps it resumed at (``resumed_at``).
    Returns one {kind: Dataset} per seed, every card carrying the same ref_scores."""
    _check_protocol(sizes, medium_fraction, random_policy)
    say = log or (lambda s: None)
    cfg = dataclasses.replace(cfg or MATD3Config.preset(env_name))
    if not cfg.eval_every:
        raise ValueError("generate_protocol needs cfg.eval_every > 0 (snapshots are taken at evaluations)")
    cfg.buffer_size = max(cfg.buffer_size, train_steps + cfg.n_envs)  # never wrap: medium-replay is a prefix
    cfg.validate()
    env_options = dict(env_options or {})
    benv = dict(env_options if behavior_env_options is None else behavior_env_options)
    redo = behavior_env_options is not None and benv != env_options

    def as_data(d: Dataset) -> Dataset:
        return reobserve(d, env_name, env_options) if redo else d

    ckpt = Path(checkpoint) if checkpoint is not None else None
    lr, snaps, resumed_at = train_behavior(
        env_name, benv, cfg, seeds, train_steps, return_mode, ckpt, checkpoint_every_s, say
    )
    curve = np.stack([s["scores"] for s in snaps])  # [n_evals, S]
    lo = (
        curve[0]
        if random_policy == "init"
        else _uniform_score(lr, env_name, cfg.eval_episodes, return_mode, benv)
    )
    hi = curve[-1]
    out = []
    for s, seed in enumerate(lr.seeds):
        if not hi[s] > lo[s] and not require_improvement:
            say(
                f"[protocol {env_name} seed {seed}] WARNING: the trained policy ({hi[s]:.3f}) does not beat "
                f"random ({lo[s]:.3f}); kept because require_improvement=False (pipeline test only)"
            )
        elif not hi[s] > lo[s]:
            raise RuntimeError(
                f"{env_name} seed {seed}: the trained policy ({hi[s]:.3f}) is not better than random "
                f"({lo[s]:.3f}); train longer or check the config"
            )
        thr, j = _medium_cut(snaps, curve[:, s], lo[s], hi[s], medium_fraction, cfg.learning_starts)
        med_step = snaps[j]["step"]
        info = _behavior_card(lr, cfg, s, snaps, curve, j, (lo[s], thr, hi[s]), medium_fraction, return_mode)
        info.update({"resumed_at": resumed_at} if resumed_at else {})  # a resumed run: fresh episodes there
        base_prot = _protocol_fields(
            lr.spec.episode_length, random_policy, env_options, sizes, benv if redo else None
        )
        cseed = 1_000 * int(seed) + 500  # collection env seeds: apart from training and evaluation
        dsets: dict[str, Dataset] = {}
        pol = _behavior_policies(lr, s, snaps, j, random_policy)
        shared: dict[str, Any] = dict(return_mode=return_mode, version=version, behavior=info)
        for i, kind in enumerate(("random", "medium", "expert")):
            size = sizes.get(kind)
            if not size:
                continue
            fn, desc = pol[kind]
            opts = dict(kind=kind, n_envs=collect_envs, policy_description=desc, **shared)
            dsets[kind] = as_data(collect(env_name, benv, fn, int(size), noise_std, cseed + 100 * i, **opts))
            dsets[kind].card["protocol"].update(base_prot)
        if "medium-replay" in sizes:
            mr = medium_replay_from_buffer(lr, med_step, s, env_name=env_name, protocol=base_prot, **shared)
            dsets["medium-replay"] = as_data(mr)
        refs = {
            "random": dsets["random"].card["returns"]["mean"],
            "expert": dsets["expert"].card["returns"]["mean"],
        }
        for d in dsets.values():
            d.card["ref_scores"] = dict(refs)
        say(f"[protocol {env_name} seed {seed}] medium at step {med_step}; ref_scores {refs}")
        out.append({k: dsets[k] for k in PROTOCOL_KINDS if k in dsets})
    return out


def _behavior_card(
    lr: MATD3,
    cfg: MATD3Config,
    s: int,
    snaps: Sequence[dict],
    curve: np.ndarray,
    j: int,
    levels: tuple[float, float, float],
    medium_fraction: float,
    return_mode: str,
) -> dict[str, Any]:
    """The ``behavior`` section of seed ``s``'s cards: the run, its evaluation, the random / medium threshold /
    expert ``levels``, the medium snapshot ``j`` and the seed's evaluation ``curve`` [n_evals, S]."""
    lo, thr, hi = levels
    return {
        "learner": "MATD3 (common.behavior.matd3)",
        "train_seed": lr.seeds[s],
        "train_steps": int(lr.env_steps),
        "config": plain_json(cfg.to_dict()),
        "eval": f"deterministic, {cfg.eval_episodes} episodes, return_mode {return_mode}",
        "random_eval_score": float(lo),
        "expert_eval_score": float(hi),
        "medium_fraction": medium_fraction,
        "medium_threshold": float(thr),
        "medium_step": snaps[j]["step"],
        "medium_eval_score": float(curve[j, s]),
        "medium_is_final": j == len(snaps) - 1,  # True: the curve only passed the threshold at the end
        "beats_random": bool(hi > lo),  # False only when require_improvement=False (smoke)
        "curve": {"steps": [sn["step"] for sn in snaps], "scores": curve[:, s].round(4).tolist()},
    }


def _behavior_policies(
    lr: MATD3, s: int, snaps: Sequence[dict], j: int, random_policy: str
) -> dict[str, tuple[Callable | None, str]]:
    """Seed ``s``'s behavior policy of each collected kind with its card description: random (the step-0 actor,
    or None: uniform actions), medium (snapshot ``j``) and expert (the final snapshot)."""
    uniform = random_policy == "uniform"
    return {
        "random": (
            None if uniform else lr.seed_policy(s, snaps[0]["actor"]),
            "uniform random actions" if uniform else "randomly initialized MATD3 actor",
        ),
        "medium": (
            lr.seed_policy(s, snaps[j]["actor"]),
            f"MATD3 actor at step {snaps[j]['step']} (medium level)",
        ),
        "expert": (
            lr.seed_policy(s, snaps[-1]["actor"]),
            f"MATD3 actor at step {snaps[-1]['step']} (final)",
        ),
    }


def _protocol_fields(
    episode_length: int,
    random_policy: str,
    env_options: Mapping[str, Any],
    sizes: Mapping[str, int | None],
    behavior_env_options: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The protocol section every card of a generated set shares (besides the collection's own fields): the paper's
    protocol, the random policy, env options and sizes, the behavior's env options when the datasets were
    re-observed from them (``behavior_env_options`` not None), and how episodes end."""
    redo = behavior_env_options is not None
    return {
        "paper_protocol": "OMAR §5.1 / D4RL",
        "random_policy": random_policy,
        "env_options": plain_json(env_options),
        "sizes": dict(sizes),
        **(
            {
                "behavior_env_options": plain_json(behavior_env_options),
                "observations": "re-derived from state / next_state for env_options (the behavior "
                "policy acted on behavior_env_options' observations)",
            }
            if redo
            else {}
        ),
        "episode_end": (
            f"step {episode_length} of an episode is a time-limit truncation: "
            "timeouts = True, terminals = False; the behavior critic bootstrapped "
            "through it (only terminals stop the bootstrap); earlier ends come from "
            "env termination (terminals = True)"
        ),
    }


def _check_protocol(sizes: Mapping[str, int | None], medium_fraction: float, random_policy: str) -> None:
    """The protocol's arguments: known kinds, random and expert sizes given (they set ref_scores), no size for
    medium-replay (the medium cut sets it), medium_fraction in (0, 1), random_policy "init" or "uniform"."""
    unknown = sorted(set(sizes) - set(PROTOCOL_KINDS))
    if unknown:
        raise ValueError(f"unknown dataset kinds {unknown}; the protocol makes {list(PROTOCOL_KINDS)}")
    for k in ("random", "expert"):
        if not sizes.get(k):
            raise ValueError(f"sizes[{k!r}] is required (a positive transition count): it sets ref_scores")
    if sizes.get("medium-replay") not in (None, 0) and "medium-replay" in sizes:
        raise ValueError("sizes['medium-replay'] must be None: its size is set by the medium cut")
    if not 0.0 < medium_fraction < 1.0:
        raise ValueError(f"medium_fraction must be in (0, 1), got {medium_fraction}")
    if random_policy not in ("init", "uniform"):
        raise ValueError(f"random_policy must be 'init' or 'uniform', got {random_policy!r}")


def _uniform_score(lr: MATD3, env_name: str, episodes: int, return_mode: str, benv: dict) -> np.ndarray:
    """The "random" level of random_policy="uniform": each seed's deterministic-evaluation score [S] of uniform
    actions in the bounds (their own generator, seed 12345)."""
    urng = np.random.default_rng(12345)
    a_lo, a_hi, m = lr.spec.act_low, lr.spec.act_high, lr.spec.act_mask()
    return evaluate(
        lambda o: urng.uniform(a_lo, a_hi, (*o.shape[:-1], lr.A)) * m,
        env_name,
        lr.S,
        episodes,
        [eval_seed(s) for s in lr.seeds],
        return_mode,
        benv,
    ).mean


def _medium_cut(
    snaps: Sequence[dict],
    curve: np.ndarray,
    lo: float,
    hi: float,
    medium_fraction: float,
    learning_starts: int,
) -> tuple[float, int]:
    """(threshold, j): the medium level random + medium_fraction (expert - random) of one seed and the first
    snapshot j whose score (``curve`` [n_evals]) reaches it (the last one if none does)."""
    thr = lo + medium_fraction * (hi - lo)
    # the medium policy is a learned one: snapshots taken before the first update (step-0 actor
    # copies, which can pass the threshold when "random" is uniform actions) are skipped
    learned = [j for j in range(1, len(snaps)) if snaps[j]["step"] > learning_starts] or [len(snaps) - 1]
    j = next((j for j in learned if curve[j] >= thr), len(snaps) - 1)
    return thr, j


def options_suffix(env_options: Mapping[str, Any] | None) -> str:
    """'' for no env options, else '-o' + 8 hex digits of the sha256 of their sorted JSON: datasets of
    different env options (e.g. another fixed prey) never share a cache path."""
    if not env_options:
        return ""
    blob = json.dumps(plain_json(dict(env_options)), sort_keys=True)
    return "-o" + hashlib.sha256(blob.encode()).hexdigest()[:8]
