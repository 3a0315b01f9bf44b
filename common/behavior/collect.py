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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import envs
from common.behavior.matd3 import MATD3, MATD3Config
from common.behavior.matd3_train import train
from common.behavior.rollouts import collect, medium_replay_from_buffer, plain_json, reobserve
from common.datasets.card import DatasetError, data_root, dataset_id, dataset_path, regenerate_hint
from common.datasets.dataset import Dataset
from common.running.evaluate import eval_seed, evaluate
from common.running.records import atomic_torch_save
from common.running.runtime import load_run_checkpoint

__all__ = ["generate_protocol", "load_or_generate", "generated_dataset_path", "options_suffix", "PROTOCOL_KINDS"]

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
    lr, snaps, resumed_at = _train_behavior(env_name, benv, cfg, seeds, train_steps, return_mode, ckpt,
                                            checkpoint_every_s, say)
    curve = np.stack([s["scores"] for s in snaps])  # [n_evals, S]
    lo = curve[0] if random_policy == "init" else _uniform_score(lr, env_name, cfg.eval_episodes, return_mode, benv)
    hi = curve[-1]
    out = []
    for s, seed in enumerate(lr.seeds):
        if not hi[s] > lo[s] and not require_improvement:
            say(f"[protocol {env_name} seed {seed}] WARNING: the trained policy ({hi[s]:.3f}) does not beat "
                f"random ({lo[s]:.3f}); kept because require_improvement=False (pipeline test only)")
        elif not hi[s] > lo[s]:
            raise RuntimeError(
                f"{env_name} seed {seed}: the trained policy ({hi[s]:.3f}) is not better than random "
                f"({lo[s]:.3f}); train longer or check the config"
            )
        thr, j = _medium_cut(snaps, curve[:, s], lo[s], hi[s], medium_fraction, cfg.learning_starts)
        med_step = snaps[j]["step"]
        info = {
            "learner": "MATD3 (common.behavior.matd3)", "train_seed": seed, "train_steps": int(lr.env_steps),
            "config": plain_json(cfg.to_dict()), "eval": f"deterministic, {cfg.eval_episodes} episodes, return_mode {return_mode}",
            "random_eval_score": float(lo[s]), "expert_eval_score": float(hi[s]),
            "medium_fraction": medium_fraction, "medium_threshold": float(thr),
            "medium_step": med_step, "medium_eval_score": float(curve[j, s]),
            "medium_is_final": j == len(snaps) - 1,  # True: the curve only passed the threshold at the end
            "beats_random": bool(hi[s] > lo[s]),  # False only when require_improvement=False (smoke)
            "curve": {"steps": [sn["step"] for sn in snaps], "scores": curve[:, s].round(4).tolist()},
            **({"resumed_at": resumed_at} if resumed_at else {}),  # a resumed run: fresh episodes at these steps
        }
        base_prot = {"paper_protocol": "OMAR §5.1 / D4RL", "random_policy": random_policy,
                     "env_options": plain_json(env_options), "sizes": dict(sizes),
                     **({"behavior_env_options": plain_json(benv),
                         "observations": "re-derived from state / next_state for env_options (the behavior "
                                         "policy acted on behavior_env_options' observations)"} if redo else {}),
                     "episode_end": (f"step {lr.spec.episode_length} of an episode is a time-limit truncation: "
                                     "timeouts = True, terminals = False; the behavior critic bootstrapped "
                                     "through it (only terminals stop the bootstrap); earlier ends come from "
                                     "env termination (terminals = True)")}
        cseed = 1_000 * int(seed) + 500  # collection env seeds: apart from training and evaluation
        dsets: dict[str, Dataset] = {}
        pol = {
            "random": (None if random_policy == "uniform" else lr.seed_policy(s, snaps[0]["actor"]),
                       "uniform random actions" if random_policy == "uniform" else "randomly initialized MATD3 actor"),
            "medium": (lr.seed_policy(s, snaps[j]["actor"]), f"MATD3 actor at step {med_step} (medium level)"),
            "expert": (lr.seed_policy(s, snaps[-1]["actor"]), f"MATD3 actor at step {snaps[-1]['step']} (final)"),
        }
        for i, kind in enumerate(("random", "medium", "expert")):
            size = sizes.get(kind)
            if not size:
                continue
            fn, desc = pol[kind]
            dsets[kind] = as_data(collect(
                env_name, benv, fn, int(size), noise_std, cseed + 100 * i, kind=kind,
                return_mode=return_mode, n_envs=collect_envs, version=version, policy_description=desc,
                behavior=info,
            ))
            dsets[kind].card["protocol"].update(base_prot)
        if "medium-replay" in sizes:
            dsets["medium-replay"] = as_data(medium_replay_from_buffer(
                lr, med_step, s, env_name=env_name, return_mode=return_mode, version=version,
                behavior=info, protocol=base_prot,
            ))
        refs = {"random": dsets["random"].card["returns"]["mean"], "expert": dsets["expert"].card["returns"]["mean"]}
        for d in dsets.values():
            d.card["ref_scores"] = dict(refs)
        say(f"[protocol {env_name} seed {seed}] medium at step {med_step}; ref_scores {refs}")
        out.append({k: dsets[k] for k in PROTOCOL_KINDS if k in dsets})
    return out


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


def _train_behavior(env_name: str, benv: dict, cfg: MATD3Config, seeds: Sequence[int], train_steps: int,
                    return_mode: str, ckpt: Path | None, checkpoint_every_s: float,
                    say: Callable[[str], None]) -> tuple[MATD3, list[dict], list[int]]:
    """The behavior MATD3 run of :func:`generate_protocol`, resumable from ``ckpt``: returns the trained learner,
    its evaluation snapshots ({"step", "actor", "scores" [S]} at every evaluation, the final policy's last) and the
    steps a resumed run went on from (``resumed_at``)."""
    snaps: list[dict] = []
    identity = {"env": env_name, "behavior_env_options": plain_json(benv), "config": plain_json(cfg.to_dict()),
                "seeds": [int(x) for x in seeds], "train_steps": int(train_steps), "return_mode": return_mode}
    resumed_at: list[int] = []
    learner = None
    if ckpt is not None and ckpt.exists():
        state = load_run_checkpoint(ckpt, identity)  # another run's file: ValueError naming what differs
        learner = MATD3(envs.make_vec(env_name, 1, **benv).spec, cfg, seeds)
        learner.load_state_dict(state["learner"])
        snaps, resumed_at = list(state["snaps"]), list(state["resumed_at"])
        if learner.env_steps < train_steps:  # training goes on from here with fresh episodes
            resumed_at.append(learner.env_steps)
        say(f"[matd3 {env_name}] resumed from {ckpt} at step {learner.env_steps} of {train_steps}")
    last_save = [time.monotonic()]

    def save(learner) -> None:
        if ckpt is not None:
            atomic_torch_save({"identity": identity, "learner": learner.state_dict(), "snaps": snaps,
                               "resumed_at": resumed_at}, ckpt)
            last_save[0] = time.monotonic()

    def keep(step, learner, scores):
        snaps.append({"step": int(step), "actor": learner.actor_snapshot(), "scores": np.asarray(scores, float)})
        say(f"[matd3 {env_name}] step {step}: eval {np.round(scores, 2).tolist()}")
        if time.monotonic() - last_save[0] >= checkpoint_every_s and learner.env_steps < train_steps:
            save(learner)

    left = train_steps - (learner.env_steps if learner is not None else 0)
    if left > 0:
        res = train(env_name, benv, cfg, seeds, left, callback=keep, return_mode=return_mode, learner=learner)
        lr = res.learner
        save(lr)  # the trained run: a kill during the collection below keeps it
    else:
        assert learner is not None, f"train_steps={train_steps}: nothing to train and no checkpoint to resume"
        lr = learner
    if snaps[-1]["step"] != lr.env_steps:  # make sure the final policy is evaluated
        r = evaluate(lambda o: lr.act(o, 0.0), env_name, lr.S, cfg.eval_episodes,
                     [eval_seed(s) for s in lr.seeds], return_mode, benv)
        keep(lr.env_steps, lr, r.mean)
    return lr, snaps, resumed_at


def _uniform_score(lr: MATD3, env_name: str, episodes: int, return_mode: str, benv: dict) -> np.ndarray:
    """The "random" level of random_policy="uniform": each seed's deterministic-evaluation score [S] of uniform
    actions in the bounds (their own generator, seed 12345)."""
    urng = np.random.default_rng(12345)
    a_lo, a_hi, m = lr.spec.act_low, lr.spec.act_high, lr.spec.act_mask()
    return evaluate(lambda o: urng.uniform(a_lo, a_hi, (*o.shape[:-1], lr.A)) * m, env_name, lr.S,
                    episodes, [eval_seed(s) for s in lr.seeds], return_mode, benv).mean


def _medium_cut(snaps: Sequence[dict], curve: np.ndarray, lo: float, hi: float, medium_fraction: float,
                learning_starts: int) -> tuple[float, int]:
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


def generated_dataset_path(env_name: str, kind: str, version: int, seed: int, root: str | Path | None,
          env_options: Mapping[str, Any] | None = None, behavior_env_options: Mapping[str, Any] | None = None) -> Path:
    ds_id = dataset_id(env_name, kind, version)
    p = dataset_path(ds_id)
    if root is not None:
        p = Path(root) / p.relative_to(data_root())
    opts = dict(env_options or {})
    if behavior_env_options is not None and dict(behavior_env_options) != opts:
        opts["behavior_env_options"] = dict(behavior_env_options)  # another behavior: another cache path
    p = p.with_name(p.name + options_suffix(opts))
    return p if seed == 0 else p.with_name(f"{p.name}-seed{seed}")


def behavior_checkpoint_path(paths: Mapping[str, Path]) -> Path:
    """The behavior run's checkpoint beside a dataset set (``paths``: kind -> cache path without suffix): the
    expert path (or the first) + ".behavior.pt"; it exists only while the set is being generated."""
    p = paths.get("expert") or next(iter(paths.values()))
    return p.with_name(p.name + ".behavior.pt")


def load_or_generate(
    env_name: str,
    env_options: dict | None,
    sizes: Mapping[str, int | None],
    *,
    seed: int = 0,
    version: int = 1,
    root: str | Path | None = None,
    regenerate: bool = False,
    kinds: Sequence[str] | None = None,
    regenerate_command: str | None = None,
    **kw,
) -> dict[str, Dataset]:
    """Load the protocol's datasets of behavior seed ``seed`` from the cache (checksums verified by
    Dataset.load), or generate them with :func:`generate_protocol` (``kw`` passed on) and save them.

    ``kinds`` (default: every kind of ``sizes``) are the datasets returned. From a cache only they are
    read and checksummed; the other kinds' cards are still checked (sizes, env options, ref_scores),
    which costs a JSON read instead of hashing ~1 GB per 1M-transition dataset. Generation always
    makes the whole set (the protocol derives every kind from one behavior run).

    Paths: ``dataset_path("<env>/<kind>-v<version>")`` (under ``root`` instead of data_root() if
    given), with an ``-o<hash>`` suffix for non-empty env_options (:func:`options_suffix`) and a
    ``-seed<k>`` suffix for seeds other than 0. A cached set whose cards disagree
    with the request (sizes, env options) raises DatasetError: regenerate or bump the version.

    Generation resumes a killed behavior run from its checkpoint (:func:`behavior_checkpoint_path`, written every
    10 minutes of training and once training ends; deleted when the set is saved).

    ``regenerate_command``: the shell command that makes this set again (e.g. the paper module's
    ``--generate`` line), recorded in every generated card and quoted by load errors (a corrupt file)."""
    want_kinds = list(sizes) if kinds is None else list(kinds)
    unknown = [k for k in want_kinds if k not in sizes]
    if unknown:
        raise ValueError(f"kinds {unknown} not in the requested sizes; valid: {list(sizes)}")
    benv = kw.get("behavior_env_options")
    paths = {k: generated_dataset_path(env_name, k, version, seed, root, env_options, benv) for k in sizes}
    have = all(p.with_name(p.name + ".npz").exists() and p.with_name(p.name + ".json").exists() for p in paths.values())
    if have and not regenerate:
        out = {k: Dataset.load(paths[k]) for k in want_kinds}
        cards = {k: out[k].card if k in out else Dataset.read_card(paths[k]) for k in paths}
        for k, card in cards.items():
            prot = card.get("protocol") or {}
            want = {"sizes": dict(sizes), "env_options": plain_json(dict(env_options or {}))}
            got = {"sizes": prot.get("sizes"), "env_options": prot.get("env_options")}
            if got != want:
                raise DatasetError(f"{paths[k]}: cached dataset was made with {got}, requested {want}; "
                                   f"pass regenerate=True or a new version, or {regenerate_hint(paths[k])}")
        refs = {json.dumps(c.get("ref_scores"), sort_keys=True) for c in cards.values()}
        if len(refs) != 1:
            raise DatasetError(f"cached datasets of {env_name} seed {seed} disagree on ref_scores: {sorted(refs)}")
        return out
    ckpt = behavior_checkpoint_path(paths)
    (out,) = generate_protocol(env_name, env_options, sizes, seeds=(seed,), version=version, checkpoint=ckpt, **kw)
    for k, d in out.items():
        d.card["regenerate_command"] = regenerate_command
        d.save(paths[k])
    ckpt.unlink(missing_ok=True)  # every dataset is saved: the behavior run is no longer needed
    return {k: out[k] for k in want_kinds}

