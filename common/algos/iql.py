"""IQL for discrete actions in three forms, batched over members: centralized IQL, MAIQL, and BC (IBC).

Paper: Kostrikov, Nair, Levine, "Offline Reinforcement Learning with Implicit Q-Learning", ICLR 2022 (Eqs. 5-7:
expectile V, TD Q on V(s'), advantage-weighted regression); the multi-agent forms as MOMA-PPO (Barde et al., AAMAS
2024, §5.1) runs them as baselines: "IQL" with centralized training AND centralized execution (one learner observes
the joint observation and picks the joint action), "MAIQL" (per-agent IQL networks whose Q and V are mixed by
QMIX-style mixers, trained on the team), and "IBC" (independent behavioral cloning).
Official code consulted (PBarde/moma-ppo at c276efc, under ``moma-ppo/offline_marl/offline_marl/``):
``single_agent/iql.py`` (``IQLLearner``, ``IQLLearnerDiscrete``), ``multi_agent/ma_iql.py`` (``MaIQL``,
``MaIQLDiscrete``), ``multi_agent/iql_independent.py`` (``alg_name='bc'``), ``multi_agent/mixer_networks.py``,
``single_agent/critics.py`` (``DoubleQDiscrete``), ``single_agent/actors.py`` (``CategoricalPolicy``),
``train_agents.py`` (defaults). Summary: docs/moma_ppo_official_code.md#baseline-defaults.

Equations (one unit u: an agent of a seed, or for centralized IQL the seed's single joint learner; K choices)
  Q1, Q2(o, .) in R^K, V(o), pi(. | o) = softmax(logits(o)); Q'_k target copies (Polyak tau = 0.005)
  value      L_V  = mean_B |tau - 1(q' < v)| (q' - v)^2,  q' = min(Q1', Q2')(o, a)        (expectile tau = 0.7)
  policy     L_pi = -mean_B w log pi(a | o),  w = min(exp(beta (q' - V(o))), 100)        (beta = 3)
  critic     L_Q  = mean_B (y - Q1(o, a))^2 + (y - Q2(o, a))^2,  y = r + gamma m V(o')    (m = 1 - terminal)
  order      V step, pi step (with the new V), Q step (with the new V), targets ([code] update_from_batch)
MAIQL (agents i of one seed share the minibatch rows; s = the joint observation, a = the joint action)
  mixers     [w, b](x) = MLP(x) in R^{N+1}, mix(v) = sum_i w_i v_i + b (w unconstrained [code])
             Q mixer on x = [s, onehot(a_1), ..., onehot(a_N)] ("action_aware_mixer" [code]), target copy;
             V mixer on x = s
  value      q'_tot = mix_Q'(min(Q1_i', Q2_i')(o_i, a_i)),  v_tot = mix_V(V_i(o_i));  L_V = expectile(q'_tot, v_tot)
  policy     team weight w = min(exp(beta (q'_tot - v_tot)), 100) (v_tot with the new V),
             L_pi = -mean_B w sum_i log pi_i(a_i | o_i)  ([code] independent_awr=False); independent_awr=True:
             w_i = min(exp(beta (w_i^Q q'_i + b^Q - w_i^V v_i - b^V)), 100), L_pi = -sum_i mean_B w_i log pi_i
  critic     y = r + gamma m mix_V(V_i(o'_i)) [s'],  L_Q = mean_B (y - mix_Q(Q1_i))^2 + (y - mix_Q(Q2_i))^2
  clipping   every network's gradient clipped to norm 1 per member (per agent net, per seed mixer) [code]
BC          L_pi = -mean_B log pi_i(a_i | o_i) per agent ([code] weight -1); no Q, no V
Acting      greedy: argmax pi ([code] CategoricalPolicy.act(sample=False)); centralized IQL decodes its joint argmax
            into one action per agent (agent 0 the most significant digit).

Decisions ([inferred] where the sources are silent): discrete actions only (what the Iterated Coordination Game
needs; the continuous tanh-Gaussian forms and the history encoders of MaMuJoCo are not built yet). One minibatch
of rows per seed, shared by its agents ([code] centralized_training=True). Padded actions of an agent with fewer
choices get logit -1e10 ([code] legal-move mask). Each network has its own Adam (lr 3e-4) as in the code; BC
builds only its policy (the code builds Q and V for BC but never trains or reads them).
Shapes: M members (S seeds x U units), S seeds, N agents, U units (N, or 1 for centralized IQL), B batch,
K choices, O obs dim, Oj joint obs dim, T dataset steps.
The named losses and the joint-action index: common/algos/iql_losses.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.iql_losses import (
    awr_loss,
    awr_weights,
    expectile_loss,
    joint_index,
    split_joint,
    twin_td_loss,
)
from common.algos.member_layout import MemberLayout
from common.networks.nets import EnsembleMLP, adam, polyak_update
from common.running.fields import Needs, check, opt

__all__ = ["IQLConfig", "DiscreteIQL", "METHODS", "LEARNER_NAME", "build_discrete_iql"]

LEARNER_NAME = "iql_discrete"
METHODS = ("iql", "maiql", "bc")  # centralized IQL (joint action), MAIQL (mixers), independent BC
ILLEGAL_LOGIT = -1e10
SAMPLE_STREAM = 0x191  # second entropy word of a seed's minibatch-row generator


TD_NEEDS = Needs("method='iql' or 'maiql' (method 'bc' learns no value)", lambda c: c.method != "bc")
MAIQL_NEEDS = Needs("method='maiql'", lambda c: c.method == "maiql")


@dataclass
class IQLConfig:
    """Defaults = the official code's ``train_agents.py`` (the paper gives none: its Appendix B is not public).
    The discrete learner's configuration and the fields the continuous one (common.algos.iql_continuous) shares."""

    # "iql" (centralized, joint action), "maiql" or "bc" (alg_name iql / ma-iql / bc)
    method: str = opt("maiql", choices=METHODS)
    # every network: 2 x 256 ReLU ([code] hidden_size 256, MLPNetwork)
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True)
    # Adam lr of Q, V, pi and the mixers ([code] iql_lr overrides lr_q, lr_v, lr_pi)
    lr: float = opt(3e-4, kind="num", gt=0)
    batch_size: int = opt(256, kind="int", ge=1)  # rows per seed and update ([code] batch_size)
    gamma: float = opt(0.99, kind="num", ge=0, le=1, needs=TD_NEEDS)  # discount ([code] discount_factor)
    # tau of the expectile V loss ([code] expectile)
    expectile: float = opt(0.7, kind="num", ge=0, le=1, needs=TD_NEEDS)
    # AWR inverse temperature ([code] awr_temperature)
    beta: float = opt(3.0, kind="num", gt=0, needs=TD_NEEDS)
    # AWR weights clipped at this ([code] torch.clamp(..., max=100.0))
    adv_max: float = opt(100.0, kind="num", gt=0, needs=TD_NEEDS)
    # Polyak rate of the target Q nets, the target Q mixer (and the continuous learner's encoder) ([code]
    # target_update_coef)
    tau: float = opt(0.005, kind="num", ge=0, le=1, needs=TD_NEEDS)
    # maiql: per-network, per-member gradient-norm clip ([code] grad_clip_norm; only MaIQL)
    grad_clip: float = opt(1.0, kind="num", gt=0, needs=MAIQL_NEEDS)
    # maiql: the Q mixer reads the joint action, one-hot where discrete ([code] action_aware_mixer)
    action_aware_mixer: bool = opt(True, kind="bool", needs=MAIQL_NEEDS)
    # maiql: per-agent AWR weights instead of the team weight ([code] independent_awr)
    independent_awr: bool = opt(False, kind="bool", needs=MAIQL_NEEDS)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)):
            self.hidden = tuple(self.hidden)

    def validate(self) -> "IQLConfig":
        """The fields' declared rules and their needs (common.running.fields.check)."""
        return check(self)


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class DiscreteIQL(MemberLayout):
    """Centralized IQL, MAIQL or BC (``cfg.method``) on discrete actions, batched over members m = s * U + u.

    DiscreteIQL(obs_dims, n_actions, n_seeds, cfg, seed=0, seeds=None): the member base (common.algos.member_layout,
    with each agent's choice count as its action width): each seed's networks are built from ``seeds[s]`` alone
    (seed before building), so a seed trained beside others equals the seed trained alone; each seed draws its
    minibatch rows from its own generator. Learner protocol of common.running.offline; runs stack (cells as members,
    ``DiscreteIQL.stack``; no config field may differ).
    """

    SAMPLE_STREAM = SAMPLE_STREAM

    def __init__(
        self,
        obs_dims: Sequence[int],
        n_actions: Sequence[int],
        n_seeds: int,
        cfg: IQLConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        cfg = (cfg or IQLConfig()).validate()
        super().__init__(
            cfg, obs_dims, n_actions, n_seeds, seeds, seed, cfg.method == "iql", "joint", device, dtype
        )
        self.n_actions = self.act_dims
        self.unit_k = int(np.prod(self.n_actions)) if self.central else self.act_dim  # choices of a unit
        self.nets = self._build_nets(self._build)  # seed s's networks from seeds[s] alone
        self.targets = nn.ModuleDict(
            {k: copy.deepcopy(self.nets[k]) for k in ("q1", "q2", "qmix") if k in self.nets}
        )
        for p in self.targets.parameters():
            p.requires_grad_(False)
        groups = {"pi": ("pi",), "v": ("v", "vmix"), "q": ("q1", "q2", "qmix")}
        self.opts = {
            g: adam([p for k in names if k in self.nets for p in self.nets[k].parameters()], lr=cfg.lr)
            for g, names in groups.items()
            if names[0] in self.nets
        }
        K = self.unit_k
        legal = (
            [[0.0] * K]
            if self.central
            else [[0.0 if k < n else ILLEGAL_LOGIT for k in range(K)] for n in self.n_actions]
        )
        self._logit_bias = torch.tensor(legal, dtype=dtype, device=self.device).repeat(self.n_seeds, 1)[
            :, None, :
        ]

    # ---- networks -----------------------------------------------------------------------------
    def _build(self, n_seeds: int) -> dict[str, nn.Module]:
        """The method's networks for ``n_seeds`` seeds (units: U members per seed; mixers: one)."""
        cfg, N = self.cfg, self.n_agents
        m = n_seeds * self.n_units
        nets: dict[str, nn.Module] = {"pi": EnsembleMLP(m, self.unit_obs, self.unit_k, cfg.hidden)}
        if cfg.method != "bc":
            nets.update(
                q1=EnsembleMLP(m, self.unit_obs, self.unit_k, cfg.hidden),
                q2=EnsembleMLP(m, self.unit_obs, self.unit_k, cfg.hidden),
                v=EnsembleMLP(m, self.unit_obs, 1, cfg.hidden),
            )
        if cfg.method == "maiql":
            q_in = self.joint_obs_dim + (sum(self.n_actions) if cfg.action_aware_mixer else 0)
            nets.update(
                qmix=EnsembleMLP(n_seeds, q_in, N + 1, cfg.hidden),
                vmix=EnsembleMLP(n_seeds, self.joint_obs_dim, N + 1, cfg.hidden),
            )
        return nets

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Dataset.to_torch tensors -> obs / next_obs [T, N, O], actions long [T, N], rewards [T] (agent 0's:
        the team reward), masks [T] = 1 - terminals (time-outs bootstrap). ``sample_batch`` (MemberLayout's): rows
        [S, B], one draw per seed from its own generator, with replacement, shared by the seed's agents."""
        return {
            "obs": tensors["obs"].to(self.device, self.dtype),
            "next_obs": tensors["next_obs"].to(self.device, self.dtype),
            "actions": tensors["actions"][..., 0].round().long().to(self.device),
            "rewards": tensors["rewards"][:, 0].to(self.device, self.dtype),
            "masks": 1.0 - tensors["terminals"].to(self.device, self.dtype),
        }

    def _unit_actions(self, actions: Tensor) -> Tensor:
        """actions long [S, B, N] -> the unit's action [M, B] (the joint index for centralized IQL)."""
        if self.central:
            return joint_index(actions, self.n_actions)
        S, B, N = actions.shape
        return actions.transpose(1, 2).reshape(S * N, B)

    # ---- update -------------------------------------------------------------------------------
    def _step(self, group: str, loss: Tensor, clip: Sequence[str] = ()) -> None:
        """One Adam step of ``group`` on sum_m loss[m] (members never share parameters: each gets its own loss's
        gradient); ``clip``: networks clipped per member first."""
        self._zero(group)
        loss.sum().backward()
        self._clip(clip)
        self.opts[group].step()

    def _logp(self, obs_u: Tensor, act_u: Tensor) -> Tensor:
        """log pi(a | o) [M, B]."""
        logits = self.nets["pi"](obs_u) + self._logit_bias
        return F.log_softmax(logits, -1).gather(-1, act_u[..., None]).squeeze(-1)

    def _q_data(self, nets: nn.ModuleDict, obs_u: Tensor, act_u: Tensor) -> tuple[Tensor, Tensor]:
        return tuple(nets[k](obs_u).gather(-1, act_u[..., None]).squeeze(-1) for k in ("q1", "q2"))

    def _qmix_input(self, obs: Tensor, actions: Tensor) -> Tensor:
        joint = self._joint(obs, self._joint_obs_idx)
        if not self.cfg.action_aware_mixer:
            return joint
        hot = [F.one_hot(actions[..., i], k).to(joint.dtype) for i, k in enumerate(self.n_actions)]
        return torch.cat([joint, *hot], dim=-1)

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of every member on its seed's rows (module docstring). Returns detached [S] metrics."""
        cfg = self.cfg
        # [M, B, X], [M, B]
        obs_u, act_u = self._unit_obs_of(batch["obs"]), self._unit_actions(batch["actions"])
        if cfg.method == "bc":
            loss_pi = awr_loss(self._logp(obs_u, act_u), torch.ones_like(act_u, dtype=self.dtype))  # [M]
            self._step("pi", loss_pi)
            self.step += 1
            return {"loss_pi": loss_pi.detach().view(self.n_seeds, -1).sum(-1)}
        if cfg.method == "iql":
            out = self._iql_update(batch, obs_u, act_u)
        else:
            out = self._maiql_update(batch, obs_u, act_u)
        polyak_update(self.targets, nn.ModuleDict({k: self.nets[k] for k in self.targets}), cfg.tau)
        self.step += 1
        return out

    def _iql_update(self, batch, obs_u, act_u) -> dict[str, Tensor]:
        cfg = self.cfg
        with torch.no_grad():
            q_t = torch.minimum(*self._q_data(self.targets, obs_u, act_u))  # [M, B]
        loss_v = expectile_loss(q_t, self.nets["v"](obs_u).squeeze(-1), cfg.expectile)
        self._step("v", loss_v)
        with torch.no_grad():
            v = self.nets["v"](obs_u).squeeze(-1)
            w = awr_weights(q_t, v, cfg.beta, cfg.adv_max)
            v_next = self.nets["v"](self._unit_obs_of(batch["next_obs"])).squeeze(-1)  # [M, B]
            y = batch["rewards"] + cfg.gamma * batch["masks"] * v_next
        loss_pi = awr_loss(self._logp(obs_u, act_u), w)
        self._step("pi", loss_pi)
        q1, q2 = self._q_data(self.nets, obs_u, act_u)
        loss_q = twin_td_loss(q1, q2, y)
        self._step("q", loss_q)
        return {
            "loss_v": loss_v.detach(),
            "loss_pi": loss_pi.detach(),
            "loss_q": loss_q.detach(),
            "v": v.mean(-1),
            "weight": w.mean(-1),
        }

    def _maiql_update(self, batch, obs_u, act_u) -> dict[str, Tensor]:
        cfg = self.cfg
        # [S, B, Oj]
        joint, joint_next = (self._joint(batch[k], self._joint_obs_idx) for k in ("obs", "next_obs"))
        qx = self._qmix_input(batch["obs"], batch["actions"])  # [S, B, Xq]
        with torch.no_grad():
            q_t = self._per_seed(torch.minimum(*self._q_data(self.targets, obs_u, act_u)))  # [S, B, N]
            q_tot_t = self._mix(self.targets["qmix"], qx, q_t)  # [S, B]
        v_tot = self._mix(self.nets["vmix"], joint, self._per_seed(self.nets["v"](obs_u).squeeze(-1)))
        loss_v = expectile_loss(q_tot_t, v_tot, cfg.expectile)  # [S]
        self._step("v", loss_v, clip=("v", "vmix"))
        logp = self._per_seed(self._logp(obs_u, act_u))  # [S, B, N]
        with torch.no_grad():
            v_i = self._per_seed(self.nets["v"](obs_u).squeeze(-1))  # [S, B, N] (the new V)
            if cfg.independent_awr:
                wq, wv = self.targets["qmix"](qx), self.nets["vmix"](joint)
                adv = wq[..., :-1] * q_t + wq[..., -1:] - wv[..., :-1] * v_i - wv[..., -1:]
                w = torch.exp(cfg.beta * adv).clamp(max=cfg.adv_max)  # [S, B, N]
            else:
                # [S, B]
                w = awr_weights(q_tot_t, self._mix(self.nets["vmix"], joint, v_i), cfg.beta, cfg.adv_max)
            v_next = self._per_seed(self.nets["v"](self._unit_obs_of(batch["next_obs"])).squeeze(-1))
            y = batch["rewards"] + cfg.gamma * batch["masks"] * self._mix(
                self.nets["vmix"], joint_next, v_next
            )
        if cfg.independent_awr:
            loss_pi = awr_loss(logp.transpose(1, 2), w.transpose(1, 2)).sum(-1)  # [S]
        else:
            loss_pi = awr_loss(logp.sum(-1), w)  # [S]
        self._step("pi", loss_pi, clip=("pi",))
        q1, q2 = (
            self._mix(self.nets["qmix"], qx, self._per_seed(q)) for q in self._q_data(self.nets, obs_u, act_u)
        )
        loss_q = twin_td_loss(q1, q2, y)
        self._step("q", loss_q, clip=("q1", "q2", "qmix"))
        return {
            "loss_v": loss_v.detach(),
            "loss_pi": loss_pi.detach(),
            "loss_q": loss_q.detach(),
            "v": v_tot.detach().mean(-1),
            "weight": w.mean(dim=tuple(range(1, w.dim()))),
        }

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Greedy actions: obs [S, E, N, O] -> [S, E, N, 1], the index as a float (numpy in, numpy out)."""
        x, _, is_np = self._act_input(obs, None)
        S, E, N = x.shape[:3]
        best = (self.nets["pi"](self._unit_obs_of(x)) + self._logit_bias).argmax(-1)  # [M, E]
        if self.central:
            a = split_joint(best, self.n_actions)  # [S, E, N]
        else:
            a = best.view(S, N, E).transpose(1, 2)
        out = a.unsqueeze(-1).to(torch.float32)
        return out.cpu().numpy() if is_np else out


def build_discrete_iql(data, section: Mapping[str, Any], seed: int, device) -> DiscreteIQL:
    """Registry builder of ``iql_discrete``: IQLConfig fields from the cell's section, one seed, the dataset's
    obs_dims and n_actions (card)."""
    n_actions = data.card.get("n_actions")
    if not n_actions:
        raise ValueError(
            f"learner {LEARNER_NAME!r} needs a discrete dataset (card n_actions), got {n_actions!r}"
        )
    return DiscreteIQL(data.obs_dims, n_actions, 1, IQLConfig(**dict(section)), seeds=[seed], device=device)


register_learner(LEARNER_NAME, build_discrete_iql, group_fields=DiscreteIQL.GROUP_FIELDS)
