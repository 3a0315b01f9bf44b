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
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

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
from common.algos.ppo import mix_values
from common.algos.state import learner_state, load_learner_state, restore_generator
from common.networks.nets import EnsembleMLP, clip_grad_norm_, polyak_update

__all__ = ["IQLConfig", "DiscreteIQL", "METHODS", "LEARNER_NAME", "build_discrete_iql"]

LEARNER_NAME = "iql_discrete"
METHODS = ("iql", "maiql", "bc")  # centralized IQL (joint action), MAIQL (mixers), independent BC
ILLEGAL_LOGIT = -1e10
SAMPLE_STREAM = 0x191  # second entropy word of a seed's minibatch-row generator


@dataclass
class IQLConfig:
    """Defaults = the official code's ``train_agents.py`` (the paper gives none: its Appendix B is not public)."""

    method: str = "maiql"  # "iql" (centralized, joint action), "maiql" or "bc" (alg_name iql / ma-iql / bc)
    hidden: Sequence[int] = (256, 256)  # every network: 2 x 256 ReLU ([code] hidden_size 256, MLPNetwork)
    lr: float = 3e-4  # Adam lr of Q, V, pi and the mixers ([code] iql_lr overrides lr_q, lr_v, lr_pi)
    batch_size: int = 256  # rows per seed and update ([code] batch_size)
    gamma: float = 0.99  # discount ([code] discount_factor)
    expectile: float = 0.7  # tau of the expectile V loss ([code] expectile)
    beta: float = 3.0  # AWR inverse temperature ([code] awr_temperature)
    adv_max: float = 100.0  # AWR weights clipped at this ([code] torch.clamp(..., max=100.0))
    tau: float = 0.005  # Polyak rate of the target Q nets and target Q mixer ([code] target_update_coef)
    grad_clip: float = 1.0  # maiql: per-network, per-member gradient-norm clip ([code] grad_clip_norm; only MaIQL)
    action_aware_mixer: bool = True  # maiql: the Q mixer reads the one-hot joint action ([code] action_aware_mixer)
    independent_awr: bool = False  # maiql: per-agent AWR weights instead of the team weight ([code] independent_awr)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)):
            self.hidden = tuple(self.hidden)

    def validate(self) -> "IQLConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"IQLConfig.{name}={getattr(self, name)!r} {rule}")

        if self.method not in METHODS:
            fail("method", f"is not allowed; choose one of {list(METHODS)}")
        if not self.hidden or not all(isinstance(h, int) and h >= 1 for h in self.hidden):
            fail("hidden", "must be a non-empty sequence of integers >= 1")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            fail("batch_size", "must be an integer >= 1")
        for name in ("lr", "beta", "adv_max", "grad_clip"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                fail(name, "must be a finite number > 0")
        for name in ("gamma", "expectile", "tau"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(name, "must be in [0, 1]")
        default = IQLConfig()
        unused = {"bc": ("gamma", "expectile", "beta", "adv_max", "tau"), "iql": (), "maiql": ()}[self.method]
        if self.method != "maiql":
            unused += ("grad_clip", "action_aware_mixer", "independent_awr")
        for name in unused:
            if getattr(self, name) != getattr(default, name):
                fail(name, f"is set but unused by method {self.method!r}")
        return self


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class DiscreteIQL:
    """Centralized IQL, MAIQL or BC (``cfg.method``) on discrete actions, batched over members m = s * U + u.

    DiscreteIQL(obs_dims, n_actions, n_seeds, cfg, seed=0, seeds=None): each seed's networks are built from
    ``seeds[s]`` alone (seed before building), so a seed trained beside others equals the seed trained alone;
    each seed draws its minibatch rows from its own generator. Learner protocol of common.running.offline.
    """

    def __init__(self, obs_dims: Sequence[int], n_actions: Sequence[int], n_seeds: int, cfg: IQLConfig | None = None,
                 seed: int = 0, seeds: Sequence[int] | None = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.cfg = cfg = (cfg or IQLConfig()).validate()
        self.seeds = [int(s) for s in (seeds if seeds is not None else range(seed, seed + n_seeds))]
        if len(self.seeds) != n_seeds:
            raise ValueError(f"n_seeds={n_seeds} but {len(self.seeds)} seeds given")
        self.obs_dims, self.n_actions = tuple(int(o) for o in obs_dims), tuple(int(k) for k in n_actions)
        if len(self.obs_dims) != len(self.n_actions) or min(self.n_actions) < 1:
            raise ValueError(f"need one choice count >= 1 per agent: obs_dims {self.obs_dims}, n_actions {n_actions}")
        self.n_seeds, self.n_agents = S, N = n_seeds, len(self.obs_dims)
        self.central = cfg.method == "iql"
        self.n_units = U = 1 if self.central else N
        self.n_members = S * U
        self.obs_dim, self.joint_obs_dim = max(self.obs_dims), sum(self.obs_dims)
        self.unit_obs = self.joint_obs_dim if self.central else self.obs_dim  # input of a unit's networks
        self.unit_k = int(np.prod(self.n_actions)) if self.central else max(self.n_actions)
        self.device, self.dtype = torch.device(device), dtype
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seeds[0])
            self.nets = self._build(S)
            for s, sd in enumerate(self.seeds):  # seed s's networks from seeds[s] only
                torch.manual_seed(sd)
                small = self._build(1)
                for name, net in small.items():
                    k = 1 if name.endswith("mix") else U
                    dst = self.nets[name].state_dict()
                    for key, v in net.state_dict().items():
                        dst[key][s * k:(s + 1) * k].copy_(v)
        self.nets.to(device=self.device, dtype=dtype)
        self.targets = nn.ModuleDict({k: copy.deepcopy(self.nets[k]) for k in ("q1", "q2", "qmix") if k in self.nets})
        for p in self.targets.parameters():
            p.requires_grad_(False)
        groups = {"pi": ("pi",), "v": ("v", "vmix"), "q": ("q1", "q2", "qmix")}
        self.opts = {g: torch.optim.Adam([p for k in names if k in self.nets for p in self.nets[k].parameters()],
                                         lr=cfg.lr) for g, names in groups.items() if names[0] in self.nets}
        K = self.unit_k
        legal = [[0.0] * K] if self.central else [[0.0 if k < n else ILLEGAL_LOGIT for k in range(K)]
                                                  for n in self.n_actions]
        self._logit_bias = torch.tensor(legal, dtype=dtype, device=self.device).repeat(S, 1)[:, None, :]  # [M, 1, K]
        keep = [i * self.obs_dim + k for i in range(N) for k in range(self.obs_dims[i])]
        self._joint_idx = torch.tensor(keep, device=self.device)  # [Oj] columns of the padded obs
        self.gens = []
        for sd in self.seeds:
            g = torch.Generator(device=self.device)
            g.manual_seed(int(np.random.SeedSequence([sd, SAMPLE_STREAM]).generate_state(1, np.uint64)[0] >> 1))
            self.gens.append(g)
        self.step = 0

    # ---- networks -----------------------------------------------------------------------------
    def _build(self, n_seeds: int) -> nn.ModuleDict:
        cfg, U, N = self.cfg, self.n_units, self.n_agents
        m = n_seeds * U
        nets = {"pi": EnsembleMLP(m, self.unit_obs, self.unit_k, cfg.hidden)}
        if cfg.method != "bc":
            nets.update(q1=EnsembleMLP(m, self.unit_obs, self.unit_k, cfg.hidden),
                        q2=EnsembleMLP(m, self.unit_obs, self.unit_k, cfg.hidden),
                        v=EnsembleMLP(m, self.unit_obs, 1, cfg.hidden))
        if cfg.method == "maiql":
            q_in = self.joint_obs_dim + (sum(self.n_actions) if cfg.action_aware_mixer else 0)
            nets.update(qmix=EnsembleMLP(n_seeds, q_in, N + 1, cfg.hidden),
                        vmix=EnsembleMLP(n_seeds, self.joint_obs_dim, N + 1, cfg.hidden))
        return nn.ModuleDict(nets)

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Dataset.to_torch tensors -> obs / next_obs [T, N, O], actions long [T, N], rewards [T] (agent 0's:
        the team reward), masks [T] = 1 - terminals (time-outs bootstrap)."""
        return {"obs": tensors["obs"].to(self.device, self.dtype), "next_obs": tensors["next_obs"].to(self.device,
                self.dtype), "actions": tensors["actions"][..., 0].round().long().to(self.device),
                "rewards": tensors["rewards"][:, 0].to(self.device, self.dtype),
                "masks": 1.0 - tensors["terminals"].to(self.device, self.dtype)}

    def sample_batch(self, data: Mapping[str, Tensor], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Rows [S, B] (one draw per seed from its own generator, with replacement; shared by the seed's agents):
        obs [S, B, N, O], actions [S, B, N], rewards / masks [S, B]."""
        T, B = data["obs"].shape[0], self.cfg.batch_size
        gens = [generator] * self.n_seeds if generator is not None else self.gens
        idx = torch.stack([torch.randint(T, (B,), generator=g, device=g.device) for g in gens]).to(self.device)
        return {k: v[idx] for k, v in data.items()}

    def _units(self, obs: Tensor) -> Tensor:
        """obs [S, B, N, O] -> unit inputs [M, B, X]: per agent (m = s * N + i), or the joint obs (centralized)."""
        S, B = obs.shape[:2]
        if self.central:
            return self._joint(obs)
        return obs.transpose(1, 2).reshape(S * self.n_agents, B, self.obs_dim)

    def _joint(self, obs: Tensor) -> Tensor:
        """[S, B, N, O] padded -> [S, B, Oj]."""
        return obs.reshape(*obs.shape[:2], -1).index_select(-1, self._joint_idx)

    def _unit_actions(self, actions: Tensor) -> Tensor:
        """actions long [S, B, N] -> the unit's action [M, B] (the joint index for centralized IQL)."""
        if self.central:
            return joint_index(actions, self.n_actions)
        S, B, N = actions.shape
        return actions.transpose(1, 2).reshape(S * N, B)

    def _per_seed(self, x: Tensor) -> Tensor:
        """[M, B] -> [S, B, U]."""
        return x.view(self.n_seeds, self.n_units, -1).transpose(1, 2)

    # ---- update -------------------------------------------------------------------------------
    def _step(self, group: str, loss: Tensor, clip: Sequence[str] = ()) -> None:
        opt = self.opts[group]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # members never share parameters: each gets its own loss's gradient
        for name in clip:
            net = self.nets[name]  # an ensemble net (its member count typed for the checker)
            clip_grad_norm_(net.parameters(), self.cfg.grad_clip, cast(int, net.n_members))
        opt.step()

    def _logp(self, obs_u: Tensor, act_u: Tensor) -> Tensor:
        """log pi(a | o) [M, B]."""
        logits = self.nets["pi"](obs_u) + self._logit_bias
        return F.log_softmax(logits, -1).gather(-1, act_u[..., None]).squeeze(-1)

    def _q_data(self, nets: nn.ModuleDict, obs_u: Tensor, act_u: Tensor) -> tuple[Tensor, Tensor]:
        return tuple(nets[k](obs_u).gather(-1, act_u[..., None]).squeeze(-1) for k in ("q1", "q2"))

    def _mix(self, mixer: nn.Module, x: Tensor, values: Tensor) -> Tensor:
        """values [S, B, N] mixed by mixer(x [S, B, X]) -> [S, B]."""
        wb = mixer(x)
        return mix_values(values, wb[..., :-1], wb[..., -1])

    def _qmix_input(self, obs: Tensor, actions: Tensor) -> Tensor:
        joint = self._joint(obs)
        if not self.cfg.action_aware_mixer:
            return joint
        hot = [F.one_hot(actions[..., i], k).to(joint.dtype) for i, k in enumerate(self.n_actions)]
        return torch.cat([joint, *hot], dim=-1)

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of every member on its seed's rows (module docstring). Returns detached [S] metrics."""
        cfg = self.cfg
        obs_u, act_u = self._units(batch["obs"]), self._unit_actions(batch["actions"])  # [M, B, X], [M, B]
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
            v_next = self.nets["v"](self._units(batch["next_obs"])).squeeze(-1)  # [M, B]
            y = batch["rewards"] + cfg.gamma * batch["masks"] * v_next
        loss_pi = awr_loss(self._logp(obs_u, act_u), w)
        self._step("pi", loss_pi)
        q1, q2 = self._q_data(self.nets, obs_u, act_u)
        loss_q = twin_td_loss(q1, q2, y)
        self._step("q", loss_q)
        return {"loss_v": loss_v.detach(), "loss_pi": loss_pi.detach(), "loss_q": loss_q.detach(),
                "v": v.mean(-1), "weight": w.mean(-1)}

    def _maiql_update(self, batch, obs_u, act_u) -> dict[str, Tensor]:
        cfg = self.cfg
        joint, joint_next = self._joint(batch["obs"]), self._joint(batch["next_obs"])  # [S, B, Oj]
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
                w = awr_weights(q_tot_t, self._mix(self.nets["vmix"], joint, v_i), cfg.beta, cfg.adv_max)  # [S, B]
            v_next = self._per_seed(self.nets["v"](self._units(batch["next_obs"])).squeeze(-1))
            y = batch["rewards"] + cfg.gamma * batch["masks"] * self._mix(self.nets["vmix"], joint_next, v_next)
        if cfg.independent_awr:
            loss_pi = awr_loss(logp.transpose(1, 2), w.transpose(1, 2)).sum(-1)  # [S]
        else:
            loss_pi = awr_loss(logp.sum(-1), w)  # [S]
        self._step("pi", loss_pi, clip=("pi",))
        q1, q2 = (self._mix(self.nets["qmix"], qx, self._per_seed(q)) for q in self._q_data(self.nets, obs_u, act_u))
        loss_q = twin_td_loss(q1, q2, y)
        self._step("q", loss_q, clip=("q1", "q2", "qmix"))
        return {"loss_v": loss_v.detach(), "loss_pi": loss_pi.detach(), "loss_q": loss_q.detach(),
                "v": v_tot.detach().mean(-1), "weight": w.mean(dim=tuple(range(1, w.dim())))}

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Greedy actions: obs [S, E, N, O] -> [S, E, N, 1], the index as a float (numpy in, numpy out)."""
        is_np = isinstance(obs, np.ndarray)
        x = torch.as_tensor(obs, dtype=self.dtype, device=self.device)
        S, E, N, O = x.shape
        if (S, N, O) != (self.n_seeds, self.n_agents, self.obs_dim):
            raise ValueError(f"obs must be [S={self.n_seeds}, E, N={self.n_agents}, O={self.obs_dim}], "
                             f"got {tuple(x.shape)}")
        best = (self.nets["pi"](self._units(x)) + self._logit_bias).argmax(-1)  # [M, E]
        if self.central:
            a = split_joint(best, self.n_actions)  # [S, E, N]
        else:
            a = best.view(S, N, E).transpose(1, 2)
        out = a.unsqueeze(-1).to(torch.float32)
        return out.cpu().numpy() if is_np else out

    def policy(self):
        """A callable for common.running.evaluate: obs [S, E, N, O] numpy -> actions [S, E, N, 1] numpy."""
        return lambda obs: self.act(obs)

    # ---- checkpoints --------------------------------------------------------------------------
    @property
    def gen(self) -> torch.Generator:  # the first seed's stream (common.algos.state saves one generator)
        return self.gens[0]

    def state_dict(self) -> dict[str, Any]:
        state = learner_state(self, ("nets", "targets"))
        state["opts"] = {k: copy.deepcopy(o.state_dict()) for k, o in self.opts.items()}
        state["rngs"] = [g.get_state() for g in self.gens]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, ("nets", "targets"), same_seeds=True, rng=False)  # every seed's below
        for k, o in self.opts.items():
            o.load_state_dict(state["opts"][k])
        for i, (g, st) in enumerate(zip(self.gens, state["rngs"])):
            restore_generator(g, st, int(state["seeds"][0]), i, int(state.get("step", 0)))


def build_discrete_iql(data, section: Mapping[str, Any], seed: int, device) -> DiscreteIQL:
    """Registry builder of ``iql_discrete``: IQLConfig fields from the cell's section, one seed, the dataset's
    obs_dims and n_actions (card)."""
    n_actions = data.card.get("n_actions")
    if not n_actions:
        raise ValueError(f"learner {LEARNER_NAME!r} needs a discrete dataset (card n_actions), got {n_actions!r}")
    return DiscreteIQL(data.obs_dims, n_actions, 1, IQLConfig(**dict(section)), seeds=[seed], device=device)


register_learner(LEARNER_NAME, build_discrete_iql)
