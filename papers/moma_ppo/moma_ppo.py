"""MOMA-PPO: synthetic rollouts in the world-model ensemble, and MAPPO trained on them (Algorithm 1).

Paper: Barde, Foerster, Nowrouzezahrai, Zhang, "A Model-Based Solution to the Offline Multi-Agent Reinforcement
Learning Coordination Problem", AAMAS 2024, §3.2 and Algorithm 1:
  1  train the world-model ensemble on D, keep the N = 5 elites          (papers/moma_ppo/worldmodel.py)
  2  repeat: collect a batch of >= b synthetic transitions:
       draw start states from D; roll the current policies for up to k steps in the model:
       a ~ pi(o); (o', r~, m, eps) = model(o, a); zeta = 0 at step k or when eps_g >= l_eps (adaptive length);
       a rollout ends at a predicted terminal (m = 0) or at zeta = 0
  3    update pi_i and V with MAPPO on the batch (GAE with the time-outs zeta)   (common/algos/mappo.py)
Official code consulted (PBarde/moma-ppo at c276efc): ``train_rl_model_based.py`` (``generate_transition_batches``,
its 'toy' branches), ``train_model_based_agent.py``, ``multi_agent/worldmodel_ensemble.py`` (``sample``).

Rollouts (``generate_rollouts``; one call per PPO iteration, every seed at once):
  while fewer than b transitions: n = floor((b - collected) / k) + 1 new starts per seed, drawn uniformly from the
  whole dataset ([code]; the first draw is b/k + 1, 2001 for b = 2000, k = 1); each start is rolled for at most k
  steps; rows are stored rollout by rollout (contiguous, as GAE needs) with masks m (1 = not terminal) and zetas
  (1 = the rollout continues).
Decisions ([I] where the sources are silent):
- ``truncation_rule="paper"`` (default): zeta = 0 when the unclamped eps_g >= l_eps ([paper] §3.2); "code" compares
  the clamped eps_g with ``>`` and so never cuts (spec §8 Q1). Irrelevant for the ICG (k = 1: every row is a
  time-out).
- Seeds are batched as MAPPO's seeds, each exactly as alone: its own starts (one generator per seed), its own start
  count per draw (from its own collected count), its own rollouts stopping when all its starts are cut, and, given
  ``wm_gens``, its own stream of elite choices; its buffer keeps every row it collected (b to b + k) and the
  batch carries ``lengths`` [S] (MAPPO pads and masks). Seeds of different cells (datasets) draw their starts from
  their own tables and step in their own cell's ensemble (``wm_groups``: one group of a ``WorldModelEnsemble.stack``
  per cell). This is what lets the runs of several cells or seeds train as one job (``jobs.moma_run_group``) with
  each run's numbers those of the run alone.
- Continuous actions (Reacher, Table 4a): the sampled Gaussian actions are stored unbounded (MAPPO's log-probs are of
  them); the world model clamps its input to +-(1 - 1e-5) ([code] transform_actions) and the env clips at evaluation.
- Histories (MAPPO with ``memory_len`` L > 0; [code] memory_len 10 on MaMuJoCo, 0 on the ICG): a start's history is
  the dataset's (``common.networks.history.DatasetHistories``: its L previous (obs, action) pairs of the same episode,
  zero-padded, actions clipped to +-(1 - 1e-5)); every model step moves it forward with (obs, clipped action)
  ([code] ``next_histories``: the synthetic steps join the dataset's), and the batch carries memory / next_memory
  [S, n, N, L, O + A] for MAPPO. Without histories (L = 0) nothing changes.
Shapes: S seeds, B starts, N agents, O obs dim, A action dim, k rollout length, n buffer rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from common.algos.mappo import MAPPO
from common.networks.history import DatasetHistories, history_step, shift_history
from common.running.fields import check, opt
from papers.moma_ppo.worldmodel import WorldModelEnsemble

TRUNCATION_RULES = ("paper", "code")
BUFFER_KEYS = ("obs", "actions", "next_obs", "rewards", "masks", "zetas")  # MAPPO's batch
MEMORY_KEYS = ("memory", "next_memory")  # + MAPPO's histories when it has a memory
ROLLOUT_STREAM = 0x5A7  # spawn key of a seed's start-state generator


@dataclass
class RolloutConfig:
    """Synthetic rollouts of one PPO iteration ([code] train_rl_model_based.py defaults; ICG: k = 1)."""

    # maximum rollout length ([code] k_steps_rollouts; forced to 1 for 'toy')
    k: int = opt(10, kind="int", ge=1)
    # transitions collected per iteration ([code] the PPO batch of 2000)
    batch: int = opt(2_000, kind="int", ge=1)
    # "paper": eps_g (unclamped) >= l_eps cuts; "code": clamped eps_g > l_eps (never)
    truncation_rule: str = opt("paper", choices=TRUNCATION_RULES)

    def validate(self) -> "RolloutConfig":
        """The fields' declared rules (common.running.fields.check)."""
        return check(self)


def _pad_rows(x: Tensor, n: int) -> Tensor:
    """x [m, ...] with zero rows appended up to n rows."""
    return torch.cat([x, x.new_zeros(n - x.shape[0], *x.shape[1:])]) if x.shape[0] < n else x


def start_generators(seeds: Sequence[int], device="cpu") -> list[torch.Generator]:
    """One start-state generator per seed, from that seed alone."""
    out = []
    for sd in seeds:
        ss = np.random.SeedSequence(int(sd), spawn_key=(ROLLOUT_STREAM,))
        out.append(torch.Generator(device=device).manual_seed(int(ss.generate_state(1, np.uint64)[0] >> 1)))
    return out


def time_out(step: int, k: int, eps_g_raw: Tensor, eps_g: Tensor, threshold: float, rule: str) -> Tensor:
    """zeta [*]: 0 at the last step (step == k - 1) or where the model is too uncertain (rule "paper": eps_g_raw >=
    threshold; "code": the clamped eps_g > threshold, which never holds), else 1."""
    cut = eps_g_raw >= threshold if rule == "paper" else eps_g > threshold
    if step == k - 1:
        cut = torch.ones_like(cut)
    return (~cut).to(eps_g.dtype)


@torch.no_grad()
def generate_rollouts(
    wm: WorldModelEnsemble,
    policy: MAPPO,
    obs_data: Tensor | Sequence[Tensor],
    cfg: RolloutConfig,
    gens: Sequence[torch.Generator],
    histories: DatasetHistories | Sequence | None = None,
    wm_gens: Sequence[torch.Generator] | None = None,
    wm_groups: Sequence[int] | None = None,
) -> dict[str, Any]:
    """One iteration's synthetic batch for every seed of ``policy`` (module docstring). ``obs_data`` [T, N, O] the
    dataset's observations (start states), or one such table per seed (the runs of several cells in one stack);
    ``wm`` one ensemble group shared by the seeds ([code] one world model per task), or with ``wm_groups`` (one
    group index per seed) each seed's rows through its own group (``WorldModelEnsemble.stack`` of the cells'
    ensembles); ``wm_gens`` one elite-choice generator per seed (each as the ensemble's own stream in a run alone;
    None: the model draws from its own stream for all rows); ``histories`` the dataset's (rows aligned with
    ``obs_data``; per seed with per-seed tables), required when ``policy`` has a memory (``memory_len`` > 0) and
    refused otherwise. Returns MAPPO's batch (obs / next_obs [S, n, N, O], actions
    [S, n, N, A], rewards [S, n, N], masks / zetas [S, n]; with histories memory / next_memory [S, n, N, L, O + A];
    lengths [S] each seed's rows, padded with zeros to n = max(lengths)) and per-seed stats (lists of S):
    rollout_len_mean (steps per rollout), penalty_mean (of the stored rows), cut_fraction (share of rollouts cut by
    the uncertainty before step k), obs_absmax (largest |next obs| stored: the no-clipping ablation's check), rows,
    action_sq (mean over the stored rows of the joint action's sum of squares, clipped to [-1, 1])."""
    S = policy.n_seeds
    tables = isinstance(obs_data, (list, tuple))  # one start table per seed
    Ts = [int(t.shape[0]) for t in obs_data] if tables else [int(obs_data.shape[0])] * S
    L = int(getattr(policy, "memory_len", 0))
    hists = (list(histories) if tables else [histories] * S) if histories is not None else []
    _check_rollout_inputs(S, L, obs_data, Ts, histories, hists, wm_gens, wm_groups)
    groups = None if wm_groups is None else torch.as_tensor(list(wm_groups), dtype=torch.long)
    first = obs_data[0] if tables else obs_data
    keys = BUFFER_KEYS + (MEMORY_KEYS if L else ())
    per_seed: list[list[dict[str, Tensor]]] = [[] for _ in range(S)]
    collected = [0] * S
    lengths, penalties, cuts = ([[] for _ in range(S)] for _ in range(3))  # per seed, one entry per draw
    absmax = [torch.zeros((), dtype=first.dtype, device=first.device) for _ in range(S)]
    while min(collected) < cfg.batch:
        # [code] floor((b - collected) / k) + 1 starts, each seed from its own count; a full seed draws none
        counts = [(cfg.batch - c) // cfg.k + 1 if c < cfg.batch else 0 for c in collected]
        n = max(counts)
        obs, mem = _draw_starts(obs_data, hists, gens, counts, Ts, first.device)
        dev = first.device
        # [S, n] padding: dead
        alive = torch.arange(n, device=dev)[None] < torch.tensor(counts, device=dev)[:, None]
        steps = []  # per step: dict of [S, n, ...]
        for j in range(cfg.k):
            # seeds still rolling: only they draw (as alone, where the loop has ended)
            live = alive.any(1).tolist()
            now = [c if a else 0 for c, a in zip(counts, live)]
            ragged = any(c != n for c in now)
            kw = {"counts": now} if ragged else {}
            act, _ = policy.act(obs, memory=mem, **kw) if L else policy.act(obs, **kw)  # [S, n, N, A]
            unflat = _model_step(wm, obs, act, now, wm_gens, groups)
            zeta = time_out(
                j, cfg.k, unflat["eps_g_raw"], unflat["eps_g"], wm.cfg.threshold, cfg.truncation_rule
            )
            mask = unflat["masks"][..., 0]  # [S, n] the same for every agent
            # [S, n] uncertainty
            cut = (zeta < 0.5) if j < cfg.k - 1 else torch.zeros_like(zeta, dtype=torch.bool)
            steps.append(
                {
                    "obs": obs,
                    "actions": act,
                    "next_obs": unflat["next_obs"],
                    "rewards": unflat["rewards"],
                    "masks": mask,
                    "zetas": zeta,
                    "alive": alive.clone(),
                    "penalty": unflat["penalty"],
                    "cut": cut,
                    "absmax": unflat["next_obs"].abs().flatten(2).amax(-1),
                }
            )
            if L:  # the history of s' = the history of s moved on by (s, clipped a) ([code] next_histories)
                nmem = shift_history(mem, history_step(obs, act))
                steps[-1].update(memory=mem, next_memory=nmem)
                mem = nmem
            alive = alive & (mask > 0.5) & (zeta > 0.5)
            obs = unflat["next_obs"]
            if not bool(alive.any()):
                break
        # rollout-major order: start b's steps 0..k-1 contiguous, then start b + 1's
        stacked = {key: torch.stack([st[key] for st in steps], dim=2) for key in steps[0]}  # [S, n, k', ...]
        for s in range(S):
            c = counts[s]
            if c == 0:
                continue
            keep = stacked["alive"][s, :c].reshape(-1)  # [c * k']
            rows = {
                key: v[s, :c].reshape(-1, *v.shape[3:])[keep] for key, v in stacked.items() if key in keys
            }
            per_seed[s].append(rows)
            collected[s] += int(keep.sum())
            alive_rows = stacked["alive"][s, :c]  # [c, k']
            lengths[s].append(alive_rows.sum(-1).float().mean())
            penalties[s].append(stacked["penalty"][s, :c][alive_rows].mean())
            # rollouts cut by eps_g
            cuts[s].append((stacked["cut"][s, :c] & alive_rows).any(-1).float().mean())
            absmax[s] = torch.maximum(absmax[s], stacked["absmax"][s, :c][alive_rows].max())
    n_rows = max(collected)
    batch = {
        key: torch.stack([_pad_rows(torch.cat([p[key] for p in per_seed[s]]), n_rows) for s in range(S)])
        for key in keys
    }
    batch["lengths"] = torch.tensor(collected)
    stats = {
        "rollout_len_mean": [float(torch.stack(v).mean()) for v in lengths],
        "penalty_mean": [float(torch.stack(v).mean()) for v in penalties],
        "rows": list(collected),
        "cut_fraction": [float(torch.stack(v).mean()) for v in cuts],
        "obs_absmax": [float(a) for a in absmax],
        # what the model was asked about: sum over agents and dims of the clipped action squared, mean over rows
        # (Ant's control cost is 0.5 x this; the Ant full-replay data's median is 0.98, their max 7.74 of 8)
        "action_sq": [
            float(batch["actions"][s, : collected[s]].clamp(-1.0, 1.0).square().sum((-2, -1)).mean())
            for s in range(S)
        ],
    }
    return {"batch": batch, "stats": stats}


def _check_rollout_inputs(
    S: int,
    L: int,
    obs_data: Tensor | Sequence[Tensor],
    Ts: Sequence[int],
    histories: DatasetHistories | Sequence | None,
    hists: Sequence[DatasetHistories],
    wm_gens: Sequence[torch.Generator] | None,
    wm_groups: Sequence[int] | None,
) -> None:
    """``generate_rollouts``' inputs against its ``S`` seeds and the policy's memory length ``L`` (ValueError
    naming what does not fit): one start table per seed when tables are given, histories exactly when L > 0 and
    matching L and the tables' ``Ts`` rows, one elite-choice generator per seed, wm_groups only with them."""
    if isinstance(obs_data, (list, tuple)) and len(obs_data) != S:
        raise ValueError(f"give one start table per seed ({S}), got {len(obs_data)}")
    if (L > 0) != (histories is not None):
        got = "none" if histories is None else "histories"
        raise ValueError(
            f"the policy's memory_len is {L}: give the dataset's histories exactly when it is > 0 (got {got})"
        )
    for h, T in zip(hists, Ts):
        if h.length != L or h.obs.shape[0] != T:
            raise ValueError(
                f"histories of length {h.length} over {h.obs.shape[0]} rows do not match the "
                f"policy's memory_len {L} and the {T} start states"
            )
    if wm_groups is not None and (wm_gens is None or len(wm_groups) != S):
        raise ValueError(f"wm_groups needs wm_gens and one group index per seed ({S}), got {list(wm_groups)}")
    if wm_gens is not None and len(wm_gens) != S:
        raise ValueError(f"give one elite-choice generator per seed ({S}), got {len(wm_gens)}")


def _draw_starts(
    obs_data: Tensor | Sequence[Tensor],
    hists: Sequence[DatasetHistories],
    gens: Sequence[torch.Generator],
    counts: Sequence[int],
    Ts: Sequence[int],
    device: torch.device,
) -> tuple[Tensor, Tensor | None]:
    """The start states of one round of rollouts: seed s draws ``counts[s]`` rows of its table (``Ts[s]`` rows)
    from ``gens[s]``, padded with row 0 to n = max(counts). Returns obs [S, n, N, O] and, with ``hists`` (the
    dataset's histories per seed), each start's history [S, n, N, L, O + A] (else None)."""
    n = max(counts)
    idx = torch.stack(
        [
            F.pad(torch.randint(T, (c,), generator=g, device=g.device), (0, n - c))
            for g, c, T in zip(gens, counts, Ts)
        ]
    ).to(device)  # [S, n] (padding: row 0)
    if isinstance(obs_data, (list, tuple)):  # each seed's starts from its own table (and histories)
        obs = torch.stack([t[i] for t, i in zip(obs_data, idx)])
        mem = torch.cat([h.histories(i[None]) for h, i in zip(hists, idx)]) if hists else None
        return obs, mem
    # [S, n, N, O]; [S, n, N, L, O + A] the dataset's history of each start
    return obs_data[idx], (hists[0].histories(idx) if hists else None)


def _model_step(
    wm: WorldModelEnsemble,
    obs: Tensor,
    act: Tensor,
    now: Sequence[int],
    wm_gens: Sequence[torch.Generator] | None,
    groups: Tensor | None,
) -> dict[str, Tensor]:
    """One step of every rollout in the ensemble: obs [S, n, N, O], act [S, n, N, A] -> ``wm.sample``'s outputs
    as [S, n, ...]. The elites are chosen by the ensemble's own stream (``wm_gens`` None), else seed s draws its
    ``now[s]`` choices from ``wm_gens[s]`` (the rest of its n rows padded), as the ensemble's own draw in a run
    alone; with ``groups`` each seed's block goes through its cell's ensemble group."""
    S, n = obs.shape[:2]
    flat_obs, flat_act = obs.reshape(S * n, *obs.shape[2:]), act.reshape(S * n, *act.shape[2:])
    if groups is not None:  # each seed's block through its cell's ensemble group
        assert wm_gens is not None  # _check_rollout_inputs
        E = wm.cfg.n_elites
        choice = torch.stack(
            [
                F.pad(torch.randint(E, (c,), generator=g, device=g.device), (0, n - c))
                for g, c in zip(wm_gens, now)
            ]
        )  # [S, n]
        out = wm.sample(obs, act, choice=choice, groups=groups)
        out = {key: v.reshape(S * n, *v.shape[2:]) for key, v in out.items()}
    elif wm_gens is None:
        out = wm.sample(flat_obs, flat_act)
    else:  # each seed's elite choices from its own stream, as the ensemble's own draw in a run alone
        E = wm.cfg.n_elites
        choice = torch.cat(
            [
                F.pad(torch.randint(E, (1, c), generator=g, device=g.device), (0, n - c))
                for g, c in zip(wm_gens, now)
            ],
            dim=1,
        )  # [1, S * n]
        out = wm.sample(flat_obs, flat_act, choice=choice)
    return {key: v.reshape(S, n, *v.shape[1:]) for key, v in out.items()}


def moma_iteration(
    wm: WorldModelEnsemble,
    policy: MAPPO,
    obs_data: Tensor | Sequence[Tensor],
    cfg: RolloutConfig,
    gens: Sequence[torch.Generator],
    histories: DatasetHistories | Sequence | None = None,
    wm_gens: Sequence[torch.Generator] | None = None,
    wm_groups: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Algorithm 1, lines 2-3: one synthetic batch, then one MAPPO update on it (arguments as
    ``generate_rollouts``). Returns MAPPO's [S] metrics and the rollout stats (lists of S)."""
    roll = generate_rollouts(wm, policy, obs_data, cfg, gens, histories, wm_gens, wm_groups)
    metrics = policy.update(roll["batch"])
    return {**{k: v.detach() for k, v in metrics.items()}, **roll["stats"]}
