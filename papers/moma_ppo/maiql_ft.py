"""MAIQL-ft (MOMA-PPO Table 4b's third column): MAIQL trained offline, then fine-tuned with online transitions from the
ground-truth simulator, IQL's fine-tuning procedure carried over to MAIQL.

Paper: Barde et al., "A Model-Based Solution to the Offline Multi-Agent Reinforcement Learning Coordination Problem",
AAMAS 2024, §5.1: "MAIQL-ft is first trained to convergence on the offline data and then finetuned for the same number
of training steps by progressively introducing additional interaction data. At the end of finetuning, the replay
buffer contains as many offline interactions as online ones"; §6.2: "even though we used the ground-truth simulator to
generate the rollouts". The fine-tuning procedure is IQL's (Kostrikov et al., ICLR 2022, §5.3 / App. C): keep
training the same losses on a replay buffer that the data seed and online transitions grow.
Official code (PBarde/moma-ppo at c276efc, as spec §5 "MAIQL-ft" records it): ``train_model_based_agent.py`` with
``mb_finetuning=True`` and ``perfect_wm=True``: the offline MAIQL updates, then a fine-tuning phase during which,
every k = 10 updates, one dataset start state is rolled k = 10 steps in the TRUE simulator with the agents' sampled
actions (one online transition per update on average), stored in an online replay buffer (capacity 1e6); each
minibatch takes the fraction n_data / (n_data + n_online) of its rows from the data, the rest from the buffer.

The run (``maiql_ft_run``, one run = one seed, the learner batched over that seed's agents; any number of seeds in
the pieces below):
  offline    updates u = 1 .. U: MAIQL's update (common/algos/iql_continuous.py) on the dataset's minibatches,
             exactly common.running.offline's ``offline_run`` (same rows, same stream: the score right before fine-tuning
             is the MAIQL cell's of the same seed and settings)
  fine-tune  updates u = U + 1 .. U + F, t = u - U - 1:
             if t % k == 0: one rollout per seed (``collect``): a start row drawn uniformly from the dataset,
               then up to ``rollout_len`` steps: a_i ~ tanh(N(mu_i, sigma_i)) clamped to +-(1 - 1e-5) (the IQL
               policy's stochastic action, the range of the dataset's Ant actions), one true step
               (papers/moma_ppo/simulator.py ``GroundTruthSimulator``: state rebuilt from the joint observation),
               r = the team reward x the dataset's reward factor (Table 4b's scaling, jobs.scale_rewards), mask =
               the simulator's 1 - terminated; the rollout ends at a terminal, or at its last step with a time-out
             the minibatch (``mixed_batch``): round(B n_data / (n_data + n_online)) rows from the data, the rest from
             the seed's online rows, each part uniform with replacement from the seed's row generator
  evaluation the greedy policy every ``eval_every`` updates, at u = U (the score before fine-tuning) and at the end
Decisions ([I] where the sources are silent):
- Hyperparameters [I]: MAIQL's defaults (expectile 0.7, beta 3) in both phases. The code's fine-tuning run changes
  the data, not the agent's settings, as far as spec §5 records it; Kostrikov et al.'s expectile 0.9 / beta 10 are
  their AntMaze settings for the offline and the online phase alike (their locomotion runs use 0.7 / 3), so IQL's
  "fine-tuning procedure" does not imply them; and with MAIQL's settings the fine-tuning is the only difference
  between the MAIQL and MAIQL-ft columns. The paper's "intensive hyperparameter finetuning" is unpublished.
- F = 1e6 updates at full [inferred, spec §5]: then the buffer ends with as many online as offline transitions on
  D4RL-sized (1e6) data, as the paper says; the record holds the final online fraction at every profile.
- The online buffer holds every online transition of the run (its size, ceil(F / k) x rollout_len, must fit the
  code's capacity 1e6; it does at full), so nothing is evicted [I: the code's ring buffer never wraps either].
- Histories (memory_len L > 0) [I]: an online rollout starts with empty (zero) histories, when acting and in the
  training rows (its first row is an episode start), as an evaluation episode does; the data's rows keep theirs.
- The rollouts' random stream (start rows, action noise) is its own generator seeded by the run's seed, apart from
  the learner's minibatch rows and from evaluation; all are in the checkpoint with the online buffer and counters.
Shapes: S seeds, B batch, N agents, U units (= N for MAIQL), O / A padded obs / action dims, L history length, D
history step dim, T dataset rows, R online rows of a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from common.algos import build_learner
from common.datasets.returns import normalize
from common.networks.history import gather_history, shift_history
from common.running.fields import Rules, check, opt
from common.running.offline import evaluate_policy, run_metrics
from papers.moma_ppo.simulator import GroundTruthSimulator

LEARNER = "iql_continuous"
# second entropy word of a run's rollout generator (apart from the learner's row streams)
ROLLOUT_STREAM = 0x5F7
BUFFER_KEYS = ("obs", "actions", "rewards", "next_obs", "masks")


@dataclass
class FineTuneConfig:
    """The fine-tuning phase of MAIQL-ft (module docstring); a Table 4b cell's ``finetune`` section."""

    # F: fine-tuning updates after the offline ones ([inferred] spec §5: another 1e6)
    updates: int = opt(1_000_000, kind="int", ge=1)
    # k: updates between online rollouts ([code] every k = 10 updates)
    rollout_every: int = opt(10, kind="int", ge=1)
    # true steps per rollout ([code] k = 10 steps, a time-out at the end)
    rollout_len: int = opt(10, kind="int", ge=1)
    # online replay buffer ([code] 1e6); ceil(F / k) x rollout_len must fit
    capacity: int = opt(1_000_000, kind="int", ge=1)
    RULES: ClassVar[Rules] = (
        (
            lambda c: c.size <= c.capacity,
            "{c.n_rollouts} rollouts x {c.rollout_len} steps = {c.size} online transitions exceed "
            "capacity={c.capacity} (the buffer never evicts)",
        ),
    )

    def validate(self) -> "FineTuneConfig":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)

    @property
    def n_rollouts(self) -> int:
        return math.ceil(self.updates / self.rollout_every)

    @property
    def size(self) -> int:  # the most online transitions one seed can collect
        return self.n_rollouts * self.rollout_len


def real_rows(batch_size: int, n_data: int, n_online: int) -> int:
    """Rows of a minibatch drawn from the data: round(B n_data / (n_data + n_online)) ([code] the real-data fraction)."""
    return int(round(batch_size * n_data / (n_data + n_online)))


class OnlineBuffer:
    """One seed's online transitions, preallocated for ``size`` rows: obs / next_obs [R, N, O], actions [R, N, A],
    rewards / masks [R], timeouts [R] (bool), starts [R] (the row of each transition's rollout start)."""

    def __init__(self, size: int, n_agents: int, obs_dim: int, act_dim: int, device, dtype=torch.float32):
        kw = {"device": device, "dtype": dtype}
        self.data = {
            "obs": torch.zeros(size, n_agents, obs_dim, **kw),
            "next_obs": torch.zeros(size, n_agents, obs_dim, **kw),
            "actions": torch.zeros(size, n_agents, act_dim, **kw),
            "rewards": torch.zeros(size, **kw),
            "masks": torch.zeros(size, **kw),
        }
        self.timeouts = torch.zeros(size, dtype=torch.bool, device=device)
        self.starts = torch.zeros(size, dtype=torch.long, device=device)
        self.n = 0

    def add(
        self,
        obs: Tensor,
        actions: Tensor,
        reward: float,
        next_obs: Tensor,
        mask: float,
        timeout: bool,
        start: int,
    ) -> None:
        """One transition: obs / next_obs [N, O], actions [N, A]."""
        if self.n >= self.starts.shape[0]:
            raise RuntimeError(f"online buffer full ({self.n} rows)")
        k = self.n
        self.data["obs"][k], self.data["next_obs"][k], self.data["actions"][k] = obs, next_obs, actions
        self.data["rewards"][k], self.data["masks"][k] = reward, mask
        self.timeouts[k], self.starts[k] = bool(timeout), int(start)
        self.n += 1

    def state_dict(self) -> dict[str, Any]:
        n = self.n
        return {
            "n": n,
            **{k: v[:n].clone() for k, v in self.data.items()},
            "timeouts": self.timeouts[:n].clone(),
            "starts": self.starts[:n].clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        n = self.n = int(state["n"])
        for k, v in self.data.items():
            v[:n] = state[k]
        self.timeouts[:n], self.starts[:n] = state["timeouts"], state["starts"]


@torch.no_grad()
def sample_actions(model, obs: Tensor, memory: Tensor | None, generator: torch.Generator) -> Tensor:
    """The IQL policies' stochastic actions a = clamp(tanh(mu + sigma eps), +-(1 - 1e-5)), eps ~ N(0, 1) from
    ``generator``: obs [S, B, N, O] (+ memory [S, B, U, L, D]) -> [S, B, N, A] (padded entries 0)."""
    mem_u = model._memory_units(memory) if memory is not None else None
    mean, log_std = model.nets["pi"](model._embed(model.nets, model._unit_obs_of(obs), mem_u))  # [M, B, Au]
    eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    a = torch.tanh(mean + eps * log_std.exp()).clamp(-1.0 + model.cfg.act_eps, 1.0 - model.cfg.act_eps)
    return model._to_agents(a)


@torch.no_grad()
def collect(
    model,
    sim,
    data_obs: Tensor,
    buffers: Sequence[OnlineBuffer],
    cfg: FineTuneConfig,
    reward_factor: float,
    generator: torch.Generator,
) -> list[int]:
    """One rollout per seed from a dataset start row (module docstring) into its buffer; returns their lengths."""
    S, L = model.n_seeds, model.memory_len
    rows = torch.randint(data_obs.shape[0], (S,), generator=generator, device=generator.device).to(
        data_obs.device
    )
    obs = data_obs[rows].to(model.dtype)  # [S, N, O]
    memory = (
        torch.zeros(S, 1, model.n_units, L, model.history_dim, device=model.device, dtype=model.dtype)
        if L > 0
        else None
    )  # [S, 1, U, L, D]: empty histories at the rollout start [I]
    alive = list(range(S))
    firsts = [buffers[s].n for s in range(S)]
    lengths = [0] * S
    for t in range(cfg.rollout_len):
        # [S, N, A] (every seed draws noise)
        act = sample_actions(model, obs[:, None], memory, generator)[:, 0]
        if memory is not None:
            memory = shift_history(memory, model._history_step(obs[:, None], act[:, None]))
        idx = torch.tensor(alive, device=obs.device)
        out = sim.sample(obs[idx], act[idx])  # the true step of the live seeds
        nxt = obs.clone()
        nxt[idx] = out["next_obs"].to(obs.dtype)
        still = []
        for j, s in enumerate(alive):
            mask = float(out["masks"][j, 0])
            buffers[s].add(
                obs[s],
                act[s],
                float(out["rewards"][j, 0]) * reward_factor,
                nxt[s],
                mask,
                timeout=(t == cfg.rollout_len - 1 and mask > 0),
                start=firsts[s],
            )
            lengths[s] += 1
            if mask > 0:
                still.append(s)
        alive, obs = still, nxt
        if not alive:
            break
    return lengths


def mixed_batch(model, data: Mapping[str, Tensor], buffers: Sequence[OnlineBuffer]) -> dict[str, Tensor]:
    """A minibatch per seed [S, B, ...] (``sample_batch``'s layout): ``real_rows`` rows from the data, the rest from
    the seed's online rows, both uniform with replacement from the seed's own row generator."""
    T, B, L = data["obs"].shape[0], model.cfg.batch_size, model.memory_len
    parts: list[dict[str, Tensor]] = []
    for g, buf in zip(model.gens, buffers):
        k = real_rows(B, T, buf.n)
        r = torch.randint(T, (k,), generator=g, device=g.device).to(model.device)
        o = torch.randint(max(buf.n, 1), (B - k,), generator=g, device=g.device).to(model.device)
        part = {key: torch.cat([data[key][r], buf.data[key][o]]) for key in BUFFER_KEYS}
        if L > 0:
            on = {**buf.data, "starts": buf.starts}
            for key, nxt in (("memory", False), ("next_memory", True)):
                h = [
                    model._history_step(
                        gather_history(src["obs"], rows, src["starts"], L, nxt),
                        gather_history(src["actions"], rows, src["starts"], L, nxt),
                    )
                    for src, rows in ((data, r), (on, o))
                ]  # [B_part, L, U, D] each
                part[key] = torch.cat(h).movedim(-2, -3)  # [B, U, L, D]
        parts.append(part)
    return {key: torch.stack([p[key] for p in parts]) for key in parts[0]}


def reward_factor_of(data) -> float:
    """The factor by which the dataset's rewards were scaled (jobs.scale_rewards; 1 for raw data)."""
    scale = data.card.get("reward_scale")
    return float(scale["factor"]) if scale else 1.0


def _normalized(v: float | None, card) -> float | None:
    try:
        return normalize(v, card) if v is not None and math.isfinite(v) else None
    except ValueError:  # no reference scores
        return None


def maiql_ft_run(cell, seed: int, ctx, *, load: Callable[[Mapping[str, Any]], Any]) -> dict[str, Any]:
    """Train MAIQL-ft on the cell's dataset (module docstring) and return the record's metrics: common.running.offline's
    (score, curve, readings, data identity) plus the fine-tuning's (``score_before_ft``, ``normalized_before_ft``,
    ``online_transitions``, ``online_rollouts``, ``online_fraction_final``, ``ft_updates``)."""
    cfg = cell.config
    if cfg.get("learner", LEARNER) != LEARNER or cfg[LEARNER].get("method", "maiql") != "maiql":
        raise ValueError(
            f"MAIQL-ft fine-tunes {LEARNER} with method 'maiql'; the cell has learner "
            f"{cfg.get('learner')!r}, method {cfg[LEARNER].get('method')!r}"
        )
    ft = FineTuneConfig(**cfg["finetune"]).validate()
    data = load(cfg["dataset"])
    model = build_learner(LEARNER, data, cfg[LEARNER], seed, ctx.device)
    tensors = model.prepare_data(data.to_torch(ctx.device))
    sim = GroundTruthSimulator(cfg["dataset"]["env"], cfg["dataset"]["env_options"], ctx.device)
    factor = reward_factor_of(data)
    buffers = [
        OnlineBuffer(ft.size, model.n_agents, model.obs_dim, model.act_dim, model.device, model.dtype)
        for _ in range(model.n_seeds)
    ]
    gen = torch.Generator(device=model.device)
    gen.manual_seed(
        int(np.random.SeedSequence([int(seed), ROLLOUT_STREAM]).generate_state(1, np.uint64)[0] >> 1)
    )
    step, lengths = 0, []
    saved = ctx.load_checkpoint()
    if saved is not None:
        model.load_state_dict(saved["learner"])
        for b, st in zip(buffers, saved["online"]):
            b.load_state_dict(st)
        gen.set_state(saved["rollout_rng"].cpu())
        step, lengths = int(saved["step"]), list(saved["lengths"])
    U, F, every = int(cfg["updates"]), ft.updates, int(cfg["eval_every"])
    with ctx.progress(U + F - step) as bar:
        while step < U + F:
            if step < U:
                batch = model.sample_batch(tensors)
            else:
                if (step - U) % ft.rollout_every == 0:
                    lengths.append(collect(model, sim, tensors["obs"], buffers, ft, factor, gen))
                batch = mixed_batch(model, tensors, buffers)
            model.update(batch)
            step += 1
            bar.update(1)
            if step % every == 0 or step in (U, U + F):
                ctx.log(step, score=evaluate_policy(model, cfg, seed), n_online=buffers[0].n)
            if ctx.checkpoint_due(step, cfg["ckpt_every"], U + F):
                ctx.save_checkpoint(
                    {
                        "learner": model.state_dict(),
                        "step": step,
                        "lengths": lengths,
                        "online": [b.state_dict() for b in buffers],
                        "rollout_rng": gen.get_state(),
                    },
                    step=step,
                )
    out = run_metrics(ctx.curve, data)
    before = [p["score"] for p in ctx.curve if p["step"] == U][-1]
    n_on = buffers[0].n
    out.update(
        score_before_ft=before,
        normalized_before_ft=_normalized(before, data.card),
        ft_updates=F,
        online_transitions=n_on,
        online_rollouts=len(lengths),
        online_fraction_final=n_on / (data.size + n_on),
    )
    return out
