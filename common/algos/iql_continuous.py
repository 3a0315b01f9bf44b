"""IQL for continuous actions in three forms, batched over members, with optional history encoders: centralized
IQL, MAIQL, and BC (IBC) with tanh-squashed Gaussian policies (MOMA-PPO's MaMuJoCo baselines, Tables 4a / 4b).

Paper: Kostrikov, Nair, Levine, "Offline Reinforcement Learning with Implicit Q-Learning", ICLR 2022 (Eqs. 5-7);
the multi-agent forms as MOMA-PPO (Barde et al., AAMAS 2024, §5.1, §6) runs them: "IQL" (centralized training and
execution: one learner on the full observation choosing the joint action), "MAIQL" (per-agent IQL networks mixed
by QMIX-style Q and V mixers), "IBC" (independent behavioral cloning). The discrete forms (the Iterated
Coordination Game) are common/algos/iql.py, whose named losses this module reuses.
Official code consulted (PBarde/moma-ppo at c276efc, under ``moma-ppo/offline_marl/offline_marl/``):
``single_agent/iql.py`` (``IQLLearner``: update order, target encoder, ``memory_backprop_actor``),
``multi_agent/ma_iql.py`` (``MaIQL``), ``multi_agent/iql_independent.py`` (``alg_name='bc'``),
``single_agent/actors.py`` (``GaussianPolicy``: tanh squashing, ``epsilon = 1e-5``, log_std in [-6, 0]),
``utils/histories.py``, ``train_agents.py`` (defaults). Summary: docs/moma_ppo_official_code.md#baseline-defaults.

Equations (one unit u: an agent of a seed, or the seed's centralized learner; x = [emb(h) ⊕ o], emb the unit's
history encoder, emb' its Polyak target copy, x' = [emb'(h) ⊕ o], x'_next = [emb'(h') ⊕ o'])
  policy     pi(a | x): u ~ N(mu(x), exp(log_std(x))^2), log_std clamped to [-6, 0], a = tanh(u)
             log pi(a | x) = sum_dims [log N(atanh(a~); mu, sigma) - log(1 - a~^2 + 1e-5)],
             a~ = clamp(a, -(1 - 1e-5), 1 - 1e-5)                                 ([code] log_prob_density)
  value      L_V  = expectile_0.7(q', V(x)),  q' = min(Q1', Q2')(x', a)
  policy     L_pi = -mean_B w log pi(a | x),  w = min(exp(3 (q' - V(x'))), 100)   (V after its step)
  critic     L_Q  = mean_B (y - Q1(x, a))^2 + (y - Q2(x, a))^2,  y = r + 0.99 m V(x'_next)
  encoder    trained by L_V, L_Q and (``memory_backprop_actor``, [code] default True) L_pi, through its own Adam
             (lr 3e-4, [code] lr_memory) stepped after each of the three losses; emb' <- Polyak 0.005 with Q'
  order      V step, pi step, Q step, targets (Q1', Q2', Q-mixer', emb') ([code] update_from_batch)
MAIQL (s = the joint observation, a = the joint action; the mixers read no history [code])
  q'_tot = mix_Q'([s ⊕ a]; min(Q1_i', Q2_i')(x'_i, a_i)),  v_tot = mix_V(s; V_i(x_i)),  L_V = expectile(q'_tot, v_tot)
  team weight w = min(exp(3 (q'_tot - mix_V(s; V_i(x'_i)))), 100),  L_pi = -mean_B w sum_i log pi_i
  y = r + 0.99 m mix_V(s'; V_i(x'_next,i)),  L_Q = mean_B (y - mix_Q(Q1_i))^2 + (y - mix_Q(Q2_i))^2
  mix(x; v) = sum_i w_i(x) v_i + b(x), weights unconstrained [code]; every network's gradient (each agent's V, pi,
  Q1, Q2, encoder; each mixer) clipped to norm 1 per member before its step [code]
BC         L_pi = -mean_B log pi_i(a_i | x_i) per agent; the encoder trained by it; no Q, no V
Acting     greedy a = clamp(tanh(mu(x)), +-(1 - 1e-5)) ([code] squash_action(mean)); centralized IQL splits its
           joint action back to the agents. With histories, ``policy()`` is a common.networks.history.HistoryPolicy.

Decisions ([inferred] where the sources are silent):
- Centralized IQL's observation (``central_obs``): "joint" = the agents' real observation entries concatenated
  (default; defined on every observation mode), or "agent0" = agent 0's observation, which in the full-observation
  rows (the only rows IQL runs in, Tables 4a / 4b) is the single-agent observation the code trained on; the joint
  one repeats it N times. Its history steps are [unit obs ⊕ joint action].
- Q networks and mixers read the dataset actions as stored (Reacher: clipped to [-1, 1]; Ant: +-(1 - 1e-5) at
  load, as the code's D4RL loader); only the log-likelihood clamps them before atanh. History actions are clipped
  to +-(1 - 1e-5) (common/networks/history.py).
- Every network has its own Adam (lr 3e-4) as in the code; the encoder's Adam takes three steps per update.
- One minibatch of rows per seed, shared by its agents ([code] centralized_training=True); each seed draws rows
  from its own generator, so a seed trained beside others equals the seed trained alone.
- Cells as members (common/running/grouping.py, ``--group``): ``ContinuousIQL.stack(learners)`` (and
  ``MATD3BC.stack``; common.algos.members) makes one learner of several runs' learners, each keeping its seeds'
  streams and drawing rows from its own part of the stacked data; ``GROUP_FIELDS`` (IQL's expectile and beta,
  MATD3+BC's alpha) may differ per run. An update of the stack equals an update of each run alone up to float
  rounding: one-member networks and the attention key bias round with the member count (docs/scaling.md,
  tests/test_group_equals_alone.py).
- Padded action entries (agents with fewer action dims) are left out of the log-likelihood and set to 0 in
  actions; padded observation entries stay 0 in the unit inputs.
Shapes: M members (S seeds x U units), S seeds, N agents, U units (N, or 1 for centralized IQL), B batch, L history
length, D history step dim, E embedding dim, O / A padded obs / action dims, Oj / Aj joint dims, T dataset steps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.iql import METHODS, TD_NEEDS, IQLConfig, awr_loss, awr_weights, expectile_loss, twin_td_loss
from common.algos.member_layout import MemberLayout, as_tuple
from common.networks.heads import GaussianActor
from common.networks.history import (
    SelfAttentionHistoryEncoder,
)
from common.networks.nets import EnsembleMLP, adam, polyak_update
from common.running.fields import Needs, Rules, check, low_high, opt

__all__ = [
    "ContinuousIQLConfig",
    "ContinuousIQL",
    "METHODS",
    "CENTRAL_OBS",
    "LEARNER_NAME",
    "tanh_gaussian_log_prob",
    "squashed_mean",
    "build_continuous_iql",
]

LEARNER_NAME = "iql_continuous"
CENTRAL_OBS = ("joint", "agent0")
_LOG_2PI = math.log(2.0 * math.pi)


_IQL = Needs("method='iql'", lambda c: c.method == "iql")
_MEMORY = Needs("memory_len > 0", lambda c: c.memory_len > 0)


@dataclass
class ContinuousIQLConfig(IQLConfig):
    """IQLConfig's fields (the official code's ``train_agents.py`` defaults), with the expectile and the AWR
    temperature also per member, and the continuous policy's and the history encoder's."""

    # tau of the expectile V loss ([code] expectile); or one per member (wider than the discrete learner's float:
    # read per member through MemberLayout._seed_values, hence the ignores)
    expectile: float | Sequence[float] = opt(  # type: ignore[assignment]
        0.7, kind="num", ge=0, le=1, per_member=True, needs=TD_NEEDS
    )
    # AWR inverse temperature ([code] awr_temperature); or one per member
    beta: float | Sequence[float] = opt(  # type: ignore[assignment]
        3.0, kind="num", gt=0, per_member=True, needs=TD_NEEDS
    )
    # policy log_std clamp ([code] MIN/MAX_LOG_STD)
    log_std_bounds: tuple[float, float] = opt((-6.0, 0.0), kind="num", seq=True)
    # actions clamped to +-(1 - act_eps) before atanh; Jacobian eps ([code] actors.epsilon)
    act_eps: float = opt(1e-5, kind="num", gt=0, lt=1)
    # history length L of the self-attention encoder, 0 = none ([code] memory_len)
    memory_len: int = opt(10, kind="int", ge=0, hint="0 = no history; the code's 10")
    memory_dim: int = opt(128, kind="int", ge=1, needs=_MEMORY)  # embedding size E ([code] memory_out_size)
    lr_memory: float = opt(3e-4, kind="num", gt=0, needs=_MEMORY)  # Adam lr of the encoder ([code] lr_memory)
    # the policy loss trains the encoder too ([code] memory_backprop_actor)
    memory_backprop_actor: bool = opt(True, kind="bool", needs=_MEMORY)
    # iql: "joint" (agents' obs concatenated) or "agent0" (the FO single-agent obs)
    central_obs: str = opt("joint", choices=CENTRAL_OBS, needs=_IQL)
    RULES: ClassVar[Rules] = (low_high("log_std_bounds"),)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.log_std_bounds, (list, tuple)):
            self.log_std_bounds = cast("tuple[float, float]", tuple(float(b) for b in self.log_std_bounds))
        self.expectile, self.beta = as_tuple(self.expectile), as_tuple(self.beta)

    def validate(self) -> "ContinuousIQLConfig":
        """The fields' declared rules, their needs and ``RULES`` (common.running.fields.check)."""
        return check(self)


# ----------------------------------------------------------------------------------------------
# named pieces
# ----------------------------------------------------------------------------------------------


def tanh_gaussian_log_prob(
    mean: Tensor, log_std: Tensor, actions: Tensor, eps: float = 1e-5, mask: Tensor | None = None
) -> Tensor:
    """log pi(a) of a tanh-squashed diagonal Gaussian as the code computes it ([code] ``log_prob_density`` with
    ``action_squashing='tanh'``): a~ = clamp(a, +-(1 - eps)), u = atanh(a~),
    sum_dims [-(2 log_std + ((u - mean) / std)^2 + log 2 pi) / 2 - log(1 - a~^2 + eps)].
    mean, log_std, actions [*, A]; mask [*, A] or broadcastable (0 = a padded entry, left out) -> [*]."""
    a = actions.clamp(-1.0 + eps, 1.0 - eps)
    u = torch.atanh(a)
    z = (u - mean) * torch.exp(-log_std)
    lp = -0.5 * (2.0 * log_std + z.square() + _LOG_2PI) - torch.log(1.0 - a.square() + eps)
    if mask is not None:
        lp = lp * mask
    return lp.sum(-1)


def squashed_mean(mean: Tensor, eps: float = 1e-5) -> Tensor:
    """The greedy action clamp(tanh(mean), +-(1 - eps)) (= the code's tanh of the mean clamped at +-atanh(1 - eps))."""
    return torch.tanh(mean).clamp(-1.0 + eps, 1.0 - eps)


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class ContinuousIQL(MemberLayout):
    """Centralized IQL, MAIQL or BC (``cfg.method``) on continuous actions, batched over members m = s * U + u.

    ContinuousIQL(obs_dims, act_dims, n_seeds, cfg, seed=0, seeds=None): each seed's networks are built from
    ``seeds[s]`` alone; each seed draws its minibatch rows from its own generator. Learner protocol of
    common.running.offline (``prepare_data``, ``sample_batch``, ``update``, ``policy``, ``state_dict``).
    """

    GROUP_FIELDS = ("expectile", "beta")  # may differ between stacked runs: per-seed scalars of the losses

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: ContinuousIQLConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        cfg = (cfg or ContinuousIQLConfig()).validate()
        super().__init__(
            cfg, obs_dims, act_dims, n_seeds, seeds, seed, cfg.method == "iql", cfg.central_obs, device, dtype
        )
        self.nets = self._build_nets(self._build)
        self.targets = nn.ModuleDict(
            {
                k: copy.deepcopy(self.nets[k])
                for k in ("q1", "q2", "qmix", "enc")
                if k in self.nets and cfg.method != "bc"
            }
        )
        for p in self.targets.parameters():
            p.requires_grad_(False)
        groups = {"pi": ("pi",), "v": ("v", "vmix"), "q": ("q1", "q2", "qmix")}
        self.opts = {
            g: adam([p for k in names if k in self.nets for p in self.nets[k].parameters()], lr=cfg.lr)
            for g, names in groups.items()
            if names[0] in self.nets
        }
        if "enc" in self.nets:
            self.opts["mem"] = adam(self.nets["enc"].parameters(), lr=cfg.lr_memory)
        # float or [S, 1]
        self.expectile, self.beta = self._seed_values("expectile"), self._seed_values("beta")

    def _build(self, n_seeds: int) -> dict[str, nn.Module]:
        cfg, N = self.cfg, self.n_agents
        m = n_seeds * self.n_units
        X = self.unit_obs + (cfg.memory_dim if cfg.memory_len > 0 else 0)
        nets: dict[str, nn.Module] = {
            "pi": GaussianActor(
                m, X, self.unit_act, cfg.hidden, squash=True, log_std_bounds=cfg.log_std_bounds
            )
        }
        if cfg.method != "bc":
            nets.update(
                q1=EnsembleMLP(m, X + self.unit_act, 1, cfg.hidden),
                q2=EnsembleMLP(m, X + self.unit_act, 1, cfg.hidden),
                v=EnsembleMLP(m, X, 1, cfg.hidden),
            )
        if cfg.method == "maiql":
            q_in = self.joint_obs_dim + (self.joint_act_dim if cfg.action_aware_mixer else 0)
            nets.update(
                qmix=EnsembleMLP(n_seeds, q_in, N + 1, cfg.hidden),
                vmix=EnsembleMLP(n_seeds, self.joint_obs_dim, N + 1, cfg.hidden),
            )
        if cfg.memory_len > 0:  # built last: without histories the other networks are built as before
            nets["enc"] = SelfAttentionHistoryEncoder(m, self.history_dim, cfg.memory_dim, cfg.memory_len)
        return nets

    # ---- pieces -------------------------------------------------------------------------------
    def _logp(self, x: Tensor, act_u: Tensor) -> Tensor:
        """log pi(a | x) [M, B]."""
        mean, log_std = self.nets["pi"](x)
        return tanh_gaussian_log_prob(mean, log_std, act_u, self.cfg.act_eps, self._unit_act_mask[:, None, :])

    def _q(self, nets: nn.ModuleDict, x: Tensor, act_u: Tensor) -> tuple[Tensor, Tensor]:
        xa = torch.cat([x, act_u], dim=-1)
        return nets["q1"](xa).squeeze(-1), nets["q2"](xa).squeeze(-1)  # [M, B] each

    def _v(self, x: Tensor) -> Tensor:
        return self.nets["v"](x).squeeze(-1)  # [M, B]

    def _qmix_input(self, obs: Tensor, actions: Tensor) -> Tensor:
        joint = self._joint(obs, self._joint_obs_idx)
        if not self.cfg.action_aware_mixer:
            return joint
        return torch.cat([joint, self._joint(actions, self._joint_act_idx)], dim=-1)

    def _step(self, group: str, loss: Tensor, clip: Sequence[str] = (), memory: bool = False) -> None:
        """One Adam step of ``group`` (and of the encoder if ``memory``) on sum_m loss[m]: members never share
        parameters, so each gets its own loss's gradient. ``clip``: networks clipped per member first."""
        self._zero(group, *(("mem",) if "mem" in self.opts else ()))
        loss.sum().backward()
        self._clip(clip)
        self.opts[group].step()
        if memory:
            self.opts["mem"].step()

    # ---- update -------------------------------------------------------------------------------
    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of every member on its seed's rows (module docstring). Returns detached [S] metrics."""
        cfg, S = self.cfg, self.n_seeds
        # [M, B, X0], [M, B, Au]
        obs_u, act_u = self._unit_obs_of(batch["obs"]), self._unit_act_of(batch["actions"])
        mem_u = self._memory_units(batch.get("memory")) if self.memory_len else None  # [M, B, L, D]
        mem = self.memory_len > 0
        if cfg.method == "bc":
            loss_pi = awr_loss(
                self._logp(self._pi_input(obs_u, mem_u), act_u), torch.ones_like(act_u[..., 0])
            )  # [M]
            self._step("pi", loss_pi, memory=mem and cfg.memory_backprop_actor)
            self.step += 1
            return {"loss_pi": loss_pi.detach().view(S, -1).sum(-1)}
        nobs_u = self._unit_obs_of(batch["next_obs"])
        nmem_u = self._memory_units(batch.get("next_memory")) if mem else None
        with torch.no_grad():  # the target encoder's inputs (unchanged until the Polyak step at the end)
            xt, nxt = self._embed(self.targets, obs_u, mem_u), self._embed(self.targets, nobs_u, nmem_u)
        if cfg.method == "iql":
            out = self._iql_update(batch, obs_u, act_u, mem_u, xt, nxt)
        else:
            out = self._maiql_update(batch, obs_u, act_u, mem_u, xt, nxt)
        polyak_update(self.targets, nn.ModuleDict({k: self.nets[k] for k in self.targets}), cfg.tau)
        self.step += 1
        return out

    def _pi_input(self, obs_u: Tensor, mem_u: Tensor | None) -> Tensor:
        if mem_u is not None and not self.cfg.memory_backprop_actor:
            with torch.no_grad():
                return self._embed(self.nets, obs_u, mem_u)
        return self._embed(self.nets, obs_u, mem_u)

    def _iql_update(self, batch, obs_u, act_u, mem_u, xt, nxt) -> dict[str, Tensor]:
        cfg, mem = self.cfg, mem_u is not None
        with torch.no_grad():
            q_t = torch.minimum(*self._q(self.targets, xt, act_u))  # [M, B]
        loss_v = expectile_loss(q_t, self._v(self._embed(self.nets, obs_u, mem_u)), self.expectile)  # [M]
        self._step("v", loss_v, memory=mem)
        with torch.no_grad():
            v = self._v(xt)  # the new V on the target encoder's input ([code] update_pi)
            w = awr_weights(q_t, v, self.beta, cfg.adv_max)
            y = batch["rewards"] + cfg.gamma * batch["masks"] * self._v(nxt)  # [S = M, B]
        loss_pi = awr_loss(self._logp(self._pi_input(obs_u, mem_u), act_u), w)
        self._step("pi", loss_pi, memory=mem and cfg.memory_backprop_actor)
        q1, q2 = self._q(self.nets, self._embed(self.nets, obs_u, mem_u), act_u)
        loss_q = twin_td_loss(q1, q2, y)
        self._step("q", loss_q, memory=mem)
        return {
            "loss_v": loss_v.detach(),
            "loss_pi": loss_pi.detach(),
            "loss_q": loss_q.detach(),
            "v": v.mean(-1),
            "weight": w.mean(-1),
        }

    def _maiql_update(self, batch, obs_u, act_u, mem_u, xt, nxt) -> dict[str, Tensor]:
        cfg, mem = self.cfg, mem_u is not None
        enc = ("enc",) if mem else ()
        # [S, B, Oj]
        joint, joint_next = (self._joint(batch[k], self._joint_obs_idx) for k in ("obs", "next_obs"))
        qx = self._qmix_input(batch["obs"], batch["actions"])  # [S, B, Xq]
        with torch.no_grad():
            q_t = self._per_seed(torch.minimum(*self._q(self.targets, xt, act_u)))  # [S, B, N]
            q_tot_t = self._mix(self.targets["qmix"], qx, q_t)  # [S, B]
        v_i = self._per_seed(self._v(self._embed(self.nets, obs_u, mem_u)))
        v_tot = self._mix(self.nets["vmix"], joint, v_i)
        loss_v = expectile_loss(q_tot_t, v_tot, self.expectile)  # [S]
        self._step("v", loss_v, clip=("v", "vmix", *enc), memory=mem)
        with torch.no_grad():
            v_i = self._per_seed(self._v(xt))  # [S, B, N] (the new V on the target encoder's input)
            if cfg.independent_awr:
                wq, wv = self.targets["qmix"](qx), self.nets["vmix"](joint)
                adv = wq[..., :-1] * q_t + wq[..., -1:] - wv[..., :-1] * v_i - wv[..., -1:]
                beta = self.beta.unsqueeze(-1) if torch.is_tensor(self.beta) else self.beta  # [S, 1, 1]
                w = torch.exp(beta * adv).clamp(max=cfg.adv_max)  # [S, B, N]
            else:
                # [S, B]
                w = awr_weights(q_tot_t, self._mix(self.nets["vmix"], joint, v_i), self.beta, cfg.adv_max)
            y = batch["rewards"] + cfg.gamma * batch["masks"] * self._mix(
                self.nets["vmix"], joint_next, self._per_seed(self._v(nxt))
            )
        logp = self._per_seed(self._logp(self._pi_input(obs_u, mem_u), act_u))  # [S, B, N]
        if cfg.independent_awr:
            loss_pi = awr_loss(logp.transpose(1, 2), w.transpose(1, 2)).sum(-1)  # [S]
        else:
            loss_pi = awr_loss(logp.sum(-1), w)  # [S]
        back = mem and cfg.memory_backprop_actor
        self._step("pi", loss_pi, clip=("pi", *(enc if back else ())), memory=back)
        q1, q2 = self._q(self.nets, self._embed(self.nets, obs_u, mem_u), act_u)
        q1, q2 = (self._mix(self.nets["qmix"], qx, self._per_seed(q)) for q in (q1, q2))
        loss_q = twin_td_loss(q1, q2, y)
        self._step("q", loss_q, clip=("q1", "q2", "qmix", *enc), memory=mem)
        return {
            "loss_v": loss_v.detach(),
            "loss_pi": loss_pi.detach(),
            "loss_q": loss_q.detach(),
            "v": v_tot.detach().mean(-1),
            "weight": w.mean(dim=tuple(range(1, w.dim()))),
        }

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor, memory: np.ndarray | Tensor | None = None) -> np.ndarray | Tensor:
        """Greedy actions clamp(tanh(mean), +-(1 - 1e-5)): obs [S, E, N, O] (+ memory [S, E, U, L, D] with
        histories) -> [S, E, N, A] (numpy in, numpy out)."""
        x, mem_u, is_np = self._act_input(obs, memory)
        mean, _ = self.nets["pi"](self._embed(self.nets, self._unit_obs_of(x), mem_u))  # [M, E, Au]
        out = self._to_agents(squashed_mean(mean, self.cfg.act_eps))
        return out.cpu().numpy() if is_np else out


def build_continuous_iql(data, section: Mapping[str, Any], seed: int, device) -> ContinuousIQL:
    """Registry builder of ``iql_continuous``: ContinuousIQLConfig fields from the cell's section, one seed, the
    dataset's obs_dims and act_dims (card)."""
    if data.card.get("n_actions"):
        raise ValueError(
            f"learner {LEARNER_NAME!r} needs continuous actions; this dataset is discrete "
            f"(n_actions {data.card['n_actions']}): use learner 'iql_discrete'"
        )
    return ContinuousIQL(
        data.obs_dims, data.act_dims, 1, ContinuousIQLConfig(**dict(section)), seeds=[seed], device=device
    )


register_learner(LEARNER_NAME, build_continuous_iql)
