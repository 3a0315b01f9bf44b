"""MATD3+BC as MOMA-PPO's Table 4a baseline: per-agent TD3+BC actors on twin critics mixed by a QMIX-style Q mixer,
batched over members = seeds x agents, with optional history encoders.

Papers: Fujimoto, Hoof, Meger, "Addressing Function Approximation Error in Actor-Critic Methods", ICML 2018 (TD3:
clipped double Q, target policy smoothing, delayed policy updates); Fujimoto, Gu, "A Minimalist Approach to
Offline Reinforcement Learning", NeurIPS 2021 (TD3+BC: lambda = alpha / mean|Q|, alpha = 2.5); Rashid et al.,
"QMIX", ICML 2018 (mixing per-agent values with a network of the state). MOMA-PPO (Barde et al., AAMAS 2024, §6,
Table 4a) reports "MATD3+BC" among its CTDE baselines but does not describe it, and the released code has no such
learner (``multi_agent/constants.py``: ``MULTI_AGENT_ALGOS`` = itd3, ma-iql, mb-ma-iql). The design here is the
reproduction's [inferred] one, built from pieces the official code does have:
``single_agent/td3.py`` (``TD3Learner``: target smoothing, policy delay, the summed-over-dims BC term, the history
encoder with its target copy) and ``multi_agent/ma_iql.py`` (the action-aware Q mixer and its target copy).

Equations (agent i of a seed; x_i = [emb_i(h_i) ⊕ o_i]; primes are Polyak targets, tau = 0.005; s = the joint
observation; mix(z; q) = sum_i w_i(z) q_i + b(z), w unconstrained as MAIQL's [code])
  critic   a~'_i = clip(pi_i'(x'_i) + clip(eps, -0.5, 0.5), -1, 1),  eps ~ N(0, 0.2^2)     (target smoothing)
           y = r + gamma m min_k mix_Q'([s' ⊕ a~']; Qk_i'(x'_i, a~'_i)),  k in {1, 2}, x'_i on the target encoder
           L_Q = mean_B sum_k (y - mix_Q([s ⊕ a]; Qk_i(x_i, a_i)))^2                   (every update)
  actor    every 2nd update (policy delay 2; the targets move only then):
           Q_tot^(i) = mix_Q([s ⊕ (pi_i(x_i), a_{-i})]; Q1_i(x_i, pi_i(x_i)), Q1_j(x_j, a_j) for j != i)
           L_pi = sum_i [-lambda_i mean_B Q_tot^(i) + mean_B sum_dims (pi_i(x_i) - a_i)^2],
           lambda_i = 2.5 / mean_B |Q_tot^(i)| (no gradient)
  encoder  trained by L_Q and (``memory_backprop_actor``) L_pi through its own Adam ([code] TD3Learner)

Decisions ([inferred]; the design above leaves these open):
- The other agents' terms Q1_j(x_j, a_j) (j != i) of Q_tot^(i) are constants for agent i's actor (detached):
  agent i's loss moves only pi_i and, through its input, encoder i. One forward of the mixer evaluates all N
  variants (the variant axis folded into the batch).
- No gradient clipping by default (``grad_clip=None``, as the code's TD3 class); set a number to clip each network
  per member as MAIQL does.
- Adam lr 3e-4 for actors, critics and mixer, 3e-4 for the encoder ([code] train_agents.py defaults); batch 256;
  one row draw per seed shared by its agents; target noise from a per-seed generator (seeds never share
  randomness, so a seed trained beside others equals the seed trained alone).
- The actor is the code's TD3Actor: 2 x 256 ReLU, tanh output, default initialisation. Padded action entries
  (agents with fewer action dims) are zeroed in the actor's output and the target actions.
- Cells as members (``MATD3BC.stack``, common/running/grouping.py): each stacked run keeps its seeds' row and noise
  generators; alpha (``GROUP_FIELDS``) may differ per run: lambda = alpha * (1 / mean|Q|), which a run alone
  computes with the same roundings whether alpha is its number or its seed's entry of a tensor.
Shapes: M members (S seeds x N agents), S seeds, N agents, B batch, L history length, D step dim, O / A padded obs /
action dims, Oj / Aj joint dims.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.iql import twin_td_loss
from common.algos.member_layout import MemberLayout, as_tuple
from common.algos.ppo import mix_values
from common.algos.state import restore_generator
from common.algos.streams import MemberStreams
from common.networks.heads import DeterministicActor
from common.networks.history import SelfAttentionHistoryEncoder
from common.networks.nets import EnsembleMLP, adam, polyak_update
from common.running.fields import Needs, check, opt

__all__ = [
    "MATD3BCConfig",
    "MATD3BC",
    "LEARNER_NAME",
    "target_actions",
    "matd3bc_actor_loss",
    "build_matd3bc",
]

LEARNER_NAME = "matd3bc"
NOISE_STREAM = 0x7D3  # second entropy word of a seed's target-noise generator


_MEMORY = Needs("memory_len > 0", lambda c: c.memory_len > 0)


@dataclass
class MATD3BCConfig:
    """Defaults = the official code's TD3 defaults (``train_agents.py``); the mixer as its MAIQL's."""

    # actors, critics and mixer: 2 x 256 ReLU ([code] hidden_size 256)
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True)
    lr: float = opt(3e-4, kind="num", gt=0)  # Adam lr of actors, critics and the Q mixer ([code] lr_q, lr_pi)
    batch_size: int = opt(256, kind="int", ge=1)  # rows per seed and update ([code] batch_size)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount ([code] discount_factor)
    tau: float = opt(0.005, kind="num", ge=0, le=1)  # Polyak rate of every target ([code] target_update_coef)
    # std of the target-action noise ([code] td3_policy_noise)
    policy_noise: float = opt(0.2, kind="num", ge=0)
    noise_clip: float = opt(0.5, kind="num", ge=0)  # the noise is clipped to +-this ([code] td3_noise_clip)
    # actor and target updates every this many critic updates ([code] td3_policy_freq)
    policy_freq: int = opt(2, kind="int", ge=1)
    # TD3+BC's alpha: lambda = alpha / mean|Q_tot| ([code] td3_bc_coeff); or one per member (a stack of runs:
    # per seed)
    alpha: float | Sequence[float] = opt(2.5, kind="num", gt=0, per_member=True)
    # per-network, per-member gradient clip; None = none ([code] TD3: none)
    grad_clip: float | None = opt(None, kind="num", gt=0, none_ok=True, hint="None = no clipping")
    # history length L of the self-attention encoder, 0 = none ([code] memory_len)
    memory_len: int = opt(10, kind="int", ge=0, hint="0 = no history; the code's 10")
    memory_dim: int = opt(128, kind="int", ge=1, needs=_MEMORY)  # embedding size E ([code] memory_out_size)
    lr_memory: float = opt(3e-4, kind="num", gt=0, needs=_MEMORY)  # Adam lr of the encoder ([code] lr_memory)
    # the actor loss trains the encoder too ([code] memory_backprop_actor)
    memory_backprop_actor: bool = opt(True, kind="bool", needs=_MEMORY)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)):
            self.hidden = tuple(self.hidden)
        self.alpha = as_tuple(self.alpha)

    def validate(self) -> "MATD3BCConfig":
        """The fields' declared rules, their needs and ``RULES`` (common.running.fields.check)."""
        return check(self)


# ----------------------------------------------------------------------------------------------
# named pieces
# ----------------------------------------------------------------------------------------------


def target_actions(next_actions: Tensor, noise: Tensor, noise_clip: float) -> Tensor:
    """TD3's smoothed target actions clip(pi'(x') + clip(noise, +-noise_clip), -1, 1); noise already scaled by its
    std. [*, A] -> [*, A]."""
    return (next_actions + noise.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def matd3bc_actor_loss(
    q_tot: Tensor, pi: Tensor, data_actions: Tensor, alpha: float | Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """sum_i [-lambda_i mean_B Q_tot^(i) + mean_B sum_dims (pi_i - a_i)^2], lambda_i = alpha / mean_B |Q_tot^(i)|
    (detached). q_tot [S, N, B] (variant i: agent i's action from its actor), pi / data_actions [S, B, N, A], alpha a
    number or [S, 1] (per seed), mask [N, A] (padded entries 0) -> (loss [S], lambda [S, N])."""
    lam = alpha * q_tot.abs().mean(-1).detach().reciprocal()  # [S, N]; = torch's number / tensor, bit for bit
    sq = (pi - data_actions).square()
    if mask is not None:
        sq = sq * mask
    bc = sq.sum(-1).mean(1)  # [S, N]
    return (-lam * q_tot.mean(-1) + bc).sum(-1), lam


def _noise_seed(seed: int) -> int:
    """The seed of seed ``seed``'s target-noise generator: SeedSequence([seed, NOISE_STREAM]) (63 bits)."""
    return int(np.random.SeedSequence([int(seed), NOISE_STREAM]).generate_state(1, np.uint64)[0] >> 1)


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class MATD3BC(MemberLayout):
    """MATD3+BC (module docstring), batched over members m = s * N + i, one Q mixer per seed.

    MATD3BC(obs_dims, act_dims, n_seeds, cfg, seed=0, seeds=None): each seed's networks are built from ``seeds[s]``
    alone; per-seed generators for minibatch rows and target noise. Learner protocol of common.running.offline.
    """

    GROUP_FIELDS = ("alpha",)  # may differ between stacked runs: a per-seed scalar of the actor loss

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: MATD3BCConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        cfg = (cfg or MATD3BCConfig()).validate()
        super().__init__(cfg, obs_dims, act_dims, n_seeds, seeds, seed, False, "joint", device, dtype)
        self.nets = self._build_nets(self._build)
        self.targets = copy.deepcopy(self.nets)
        for p in self.targets.parameters():
            p.requires_grad_(False)
        self.opts = {
            "actor": adam(self.nets["actor"].parameters(), lr=cfg.lr),
            "q": adam([p for k in ("q1", "q2", "qmix") for p in self.nets[k].parameters()], lr=cfg.lr),
        }
        if "enc" in self.nets:
            self.opts["mem"] = adam(self.nets["enc"].parameters(), lr=cfg.lr_memory)
        # the target noise's stream: one generator per seed (its N members), beside the training streams
        self.noise = MemberStreams.per_seed(self.seeds, self.n_agents, _noise_seed, self.device)
        N = self.n_agents
        self._eye = torch.eye(N, dtype=torch.bool, device=self.device)  # [N(variant), N(agent)]
        self._act_mask_m = self.act_mask.repeat(self.n_seeds, 1)[:, None, :]  # [M, 1, A]
        zero = torch.zeros(self.n_seeds, device=self.device, dtype=self.dtype)
        # until the first actor step
        self.last_actor: dict[str, Tensor] = {"loss_actor": zero, "lmbda": zero.clone()}
        self.alpha = self._seed_values("alpha")  # a number, or [S, 1] in a stack of runs with other alphas

    def _build(self, n_seeds: int) -> dict[str, nn.Module]:
        cfg, N, O, A = self.cfg, self.n_agents, self.obs_dim, self.act_dim
        m = n_seeds * N
        X = O + (cfg.memory_dim if cfg.memory_len > 0 else 0)
        nets = {
            "actor": DeterministicActor(m, X, A, cfg.hidden),
            "q1": EnsembleMLP(m, X + A, 1, cfg.hidden),
            "q2": EnsembleMLP(m, X + A, 1, cfg.hidden),
            "qmix": EnsembleMLP(n_seeds, self.joint_obs_dim + self.joint_act_dim, N + 1, cfg.hidden),
        }
        if cfg.memory_len > 0:  # built last: without histories the other networks are built as before
            nets["enc"] = SelfAttentionHistoryEncoder(m, self.history_dim, cfg.memory_dim, cfg.memory_len)
        return nets

    # ---- pieces -------------------------------------------------------------------------------
    def _pi(self, nets: nn.ModuleDict, x: Tensor) -> Tensor:
        return nets["actor"](x) * self._act_mask_m  # [M, B, A], padded entries 0

    def _q(self, nets: nn.ModuleDict, x: Tensor, a: Tensor, heads=("q1", "q2")) -> list[Tensor]:
        xa = torch.cat([x, a], dim=-1)
        return [nets[h](xa).squeeze(-1) for h in heads]  # [M, B] each

    def _mix_sa(self, mixer: nn.Module, obs: Tensor, actions: Tensor, values: Tensor) -> Tensor:
        """values [S, *, N] mixed by mixer([s ⊕ a]) with obs [S, *, N, O], actions [S, *, N, A] -> [S, *]."""
        z = torch.cat(
            [self._joint(obs, self._joint_obs_idx), self._joint(actions, self._joint_act_idx)], dim=-1
        )
        S = z.shape[0]
        wb = mixer(z.reshape(S, -1, z.shape[-1])).view(*z.shape[:-1], -1)
        return mix_values(values, wb[..., :-1], wb[..., -1])

    def _agents(self, y: Tensor) -> Tensor:
        """member tensor [M, B, ...] -> [S, B, N, ...]."""
        S, N = self.n_seeds, self.n_agents
        return y.view(S, N, *y.shape[1:]).transpose(1, 2)

    def _noise(self, shape: Sequence[int]) -> Tensor:
        """N(0, policy_noise^2) [M, *shape], seed s's rows from its own generator."""
        eps = self.noise.draw(torch.randn, (self.n_members, *shape), device=self.device, dtype=self.dtype)
        return eps * self.cfg.policy_noise

    def _step(self, group: str, loss: Tensor, names: Sequence[str], memory: bool) -> None:
        self._zero(group, *(("mem",) if "mem" in self.opts else ()))
        loss.sum().backward()
        if self.cfg.grad_clip is not None:
            self._clip([*names, *(("enc",) if memory else ())])
        self.opts[group].step()
        if memory:
            self.opts["mem"].step()

    # ---- update -------------------------------------------------------------------------------
    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One critic update, and every ``policy_freq``-th call an actor and target update (module docstring).
        Returns detached [S] metrics (the actor's from its last update)."""
        cfg = self.cfg
        mem = self.memory_len > 0
        self.step += 1
        # [M, B, O], [M, B, A]
        obs_u, act_u = self._unit_obs_of(batch["obs"]), self._unit_act_of(batch["actions"])
        mem_u = self._memory_units(batch.get("memory")) if mem else None
        with torch.no_grad():
            nxt = self._embed(
                self.targets,
                self._unit_obs_of(batch["next_obs"]),
                self._memory_units(batch.get("next_memory")) if mem else None,
            )
            na = target_actions(self._pi(self.targets, nxt), self._noise(act_u.shape[1:]), cfg.noise_clip)
            na = na * self._act_mask_m
            tq = [self._agents(q) for q in self._q(self.targets, nxt, na)]  # [S, B, N] each
            na_agents = self._agents(na)  # [S, B, N, A]
            t1, t2 = (self._mix_sa(self.targets["qmix"], batch["next_obs"], na_agents, q) for q in tq)
            y = batch["rewards"] + cfg.gamma * batch["masks"] * torch.minimum(t1, t2)  # [S, B]
        x = self._embed(self.nets, obs_u, mem_u)
        q1, q2 = (
            self._mix_sa(self.nets["qmix"], batch["obs"], batch["actions"], self._agents(q))
            for q in self._q(self.nets, x, act_u)
        )
        loss_q = twin_td_loss(q1, q2, y)  # [S]
        self._step("q", loss_q, ("q1", "q2", "qmix"), mem)
        out = {"loss_q": loss_q.detach(), "q": q1.detach().mean(-1)}
        if self.step % cfg.policy_freq == 0:
            self.last_actor = self._actor_update(batch, obs_u, act_u, mem_u)
            polyak_update(self.targets, self.nets, cfg.tau)
        out.update(self.last_actor)
        return out

    def _actor_update(self, batch, obs_u, act_u, mem_u) -> dict[str, Tensor]:
        cfg = self.cfg
        back = mem_u is not None and cfg.memory_backprop_actor
        if mem_u is not None and not back:
            with torch.no_grad():
                x = self._embed(self.nets, obs_u, mem_u)
        else:
            x = self._embed(self.nets, obs_u, mem_u)
        pi = self._pi(self.nets, x)  # [M, B, A]
        q_pi = self._agents(self._q(self.nets, x, pi, ("q1",))[0])  # [S, B, N]
        with torch.no_grad():
            q_data = self._agents(self._q(self.nets, x, act_u, ("q1",))[0])  # [S, B, N]
        eye = self._eye[:, None, :]  # [N(variant), 1, N(agent)]
        q_var = torch.where(eye, q_pi[:, None], q_data[:, None])  # [S, N(variant), B, N]
        pi_a, a = self._agents(pi), batch["actions"]  # [S, B, N, A]
        act_var = torch.where(eye[..., None], pi_a[:, None], a[:, None])  # [S, N, B, N, A]
        obs_var = batch["obs"][:, None].expand(-1, self.n_agents, *batch["obs"].shape[1:])  # [S, N, B, N, O]
        q_tot = self._mix_sa(self.nets["qmix"], obs_var, act_var, q_var)  # [S, N, B]
        loss, lam = matd3bc_actor_loss(q_tot, pi_a, a, self.alpha, self.act_mask)
        self._step("actor", loss, ("actor",), back)
        return {"loss_actor": loss.detach(), "lmbda": lam.mean(-1)}

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor, memory: np.ndarray | Tensor | None = None) -> np.ndarray | Tensor:
        """Greedy (deterministic) actions: obs [S, E, N, O] (+ memory [S, E, N, L, D] with histories) -> [S, E, N, A]
        in [-1, 1] (numpy in, numpy out)."""
        x, mem_u, is_np = self._act_input(obs, memory)
        out = self._to_agents(self._pi(self.nets, self._embed(self.nets, self._unit_obs_of(x), mem_u)))
        return out.cpu().numpy() if is_np else out

    # ---- stacking runs: StackableLearner's hooks (MemberLayout's, plus target noise and the last actor metrics) ----
    def _stack_extra(self, learners: Sequence["MATD3BC"]) -> None:
        super()._stack_extra(learners)
        self.noise = MemberStreams.cat([lr.noise for lr in learners])
        self.last_actor = {k: torch.cat([lr.last_actor[k] for lr in learners]) for k in self.last_actor}

    def _run_state(self, state: dict[str, Any], opt_states: dict[str, Any], seeds: slice) -> dict[str, Any]:
        state = super()._run_state(state, opt_states, seeds)
        state.update(
            noise_rngs=[g.get_state() for g in self.noise.generators[seeds]],
            last_actor={k: v[seeds].clone() for k, v in self.last_actor.items()},
        )
        return state

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["noise_rngs"] = [g.get_state() for g in self.noise.generators]
        state["last_actor"] = {k: v.clone() for k, v in self.last_actor.items()}
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for i, (g, st) in enumerate(zip(self.noise.generators, state["noise_rngs"])):
            restore_generator(g, st, int(state["seeds"][0]), 0xD3 + i, int(state.get("step", 0)))
        self.last_actor = {k: v.clone() for k, v in state.get("last_actor", {}).items()}


def build_matd3bc(data, section: Mapping[str, Any], seed: int, device) -> MATD3BC:
    """Registry builder of ``matd3bc``: MATD3BCConfig fields from the cell's section, one seed, the dataset's
    obs_dims and act_dims (card)."""
    if data.card.get("n_actions"):
        raise ValueError(
            f"learner {LEARNER_NAME!r} needs continuous actions; this dataset is discrete "
            f"(n_actions {data.card['n_actions']})"
        )
    return MATD3BC(
        data.obs_dims, data.act_dims, 1, MATD3BCConfig(**dict(section)), seeds=[seed], device=device
    )


register_learner(LEARNER_NAME, build_matd3bc)
