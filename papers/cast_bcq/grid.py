"""CAST-BCQ Figure 1 (Ma & Wu, AAMAS 2023, §2.3): discrete offline learners for the 2-agent 4x6 cliff grid.

Three learners behind one registered name, ``cast_grid`` (``GridConfig.method`` picks the method), batched over
members on the leading axis: the independent learners have members m = s * N + i (agent i of seed s, each with
its own minibatch); CAST has per-agent nets with the same members and one joint critic per seed (one minibatch
per seed, shared by its agents). "spec §x" below = the team's CAST-BCQ reproduction spec (§1.1 Figure 1, §2.1,
§2.6 discrete CAST, §3.5 grid baselines, §4.1 data, §6.1 exact claims). No official code exists for the grid;
the discrete BCQ parts follow Fujimoto et al. 2019b ("Benchmarking batch deep RL algorithms", sfujim/BCQ
``discrete_BCQ/discrete_BCQ.py`` and ``main.py``).

Equations (o = o_i, a = a_i of member m; B minibatch, d terminal flag, K = 3 actions: 0 fwd, 1 bwd, 2 stay):
  BCQ filter     allowed(o) = {a : G(a|o) / max_a' G(a'|o) > tau_bcq},  tau_bcq = 0.3        [Fujimoto 2019b]
  BC loss        L_G = CE(G(.|o), a) + 1e-2 * mean logits^2                                  [Fujimoto 2019b code]
  I-BCQ          a* = argmax_{a in allowed(o')} Q(o', a),  y = r + gamma (1 - d) Q'(o', a*),
                 L = Huber(Q(o, a), y) + L_G, one Adam over Q and G; act argmax_{allowed(o)} Q(o, .)   [spec §3.5]
  I-ICQ          y = r + gamma (1 - d) w' Q'(o', a'_data),  w' = B_c softmax_c(Q'(o', a'_data) / alpha)
                 (the softmax runs over the B_c rows that have a next dataset action; w' = 0 elsewhere),
                 L_Q = sum_b v_b (Q(o_b, a_b) - y_b)^2 / max(sum_b v_b, 1), v = 0 on rows ending by a time-out;
                 L_pi = -mean_b w_b log pi(a_b | o_b),  w = B softmax_B((Q(o, a) - V(o)) / beta),
                 V(o) = sum_a pi(a|o) Q(o, a) (weights detached); act argmax pi               [spec §3.5; ICQ]
  CAST           per-agent G_i (L_G above); one joint Q(s, a_1, a_2) per seed on [s, onehot a_1, onehot a_2]:
                 y = r + gamma (1 - d) max_{a_1 in allowed_1(o'_1), a_2 in allowed_2(o'_2)} Q'(s', a_1, a_2),
                 L_phi = MSE(Q(s, a_1, a_2), y)                                               [P Eq. 6; spec §2.6]
                 credit, ST(i) = {emptyset, {j}} enumerated, default action d = stay:         [P Eq. 8]
                 Delta_i(a_i) = 1/2 [(Q(s, a_i, a^_j) - Q(s, d, a^_j)) + (Q(s, a_i, d) - Q(s, d, d))]
                 a^_j = the j-part of argmax over the allowed joint actions of Q(s, .) ("policy", the paper's
                 reading) or the dataset's a_j ("data", the continuous code's);
                 L_theta_i = mean_b w_b (Q_i(o_i, a_i) - Delta_i)^2, w = 1 (Eq. 9 as printed) or
                 clip(exp Delta_i, 0, 10) (the continuous code's use_adv); act argmax_{allowed_i(o_i)} Q_i(o_i, .)

Our decisions [I]:
  - The joint critic takes the actions as inputs ([s, onehot a_1, onehot a_2] -> 64-64 -> 1), as spec §2.6 words
    it and as the paper's Q(o, a) is; the 3x3 table at a state is one forward of its 9 rows (``joint_q_table``).
  - Update order. I-BCQ: Fujimoto's (targets from the nets before the step, one optimizer). I-ICQ: one forward of
    Q feeds both the critic loss and the policy's advantage weights (Q before this update's step). CAST follows
    Algorithm 1: G step, joint critic step, then the credit from the *updated* joint critic (a no-grad forward),
    the Q_i step, and the Polyak step. The BCQ filters at s and s' come from G before its step (as Fujimoto).
  - CAST's reward is the team reward (the mean over agents; the grid's reward is shared). Its targets bootstrap
    on time-out rows (the max over allowed joint actions needs no dataset next action).
  - Spec §2.6 / §3.5 set hidden 64 and Adam 1e-3 (Fujimoto 2019b: 256 and 3e-4); we follow the spec.
Shapes: M members, S seeds, N agents, B batch, T steps, E episodes, O obs dim, K actions, D state dim.
Config: papers/cast_bcq/grid_config.py; the named loss functions: papers/cast_bcq/grid_losses.py.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.itd3_losses import with_next_actions
from common.algos.members import StackableLearner
from common.algos.state import member_act
from common.networks.nets import EnsembleMLP, adam, polyak_update
from papers.cast_bcq.grid_config import LEARNER_NAME, GridConfig
from papers.cast_bcq.grid_losses import (
    awbc_loss,
    bc_loss,
    bcq_allowed,
    credit_loss,
    grid_credit,
    icq_policy_weights,
    icq_target_weights,
    joint_q_table,
    masked_argmax,
    take_action,
    td_error_loss,
)

__all__ = ["GridLearner", "build_grid_learner"]


class GridLearner(StackableLearner):
    """I-BCQ, I-ICQ or CAST (``cfg.method``) for the discrete grid on the member base (common.algos.members),
    batched over seeds (and agents).

    GridLearner(obs_dims, n_actions, n_seeds, cfg, seed=0, seeds=None, state_dim=None): per-agent nets have
    members m = s * N + i, CAST's joint critic one member per seed. Each seed's nets are initialised from
    ``seeds[s]`` alone, so a seed does not depend on which seeds run beside it. One torch.Generator (from all
    the seeds) draws the minibatches; runs stack (cells as members, ``GridLearner.stack``: each run draws from its
    own). CAST needs N = 2 and ``state_dim`` (it reads the dataset's state).
    """

    _NETS = ("nets", "target")

    def __init__(
        self,
        obs_dims: Sequence[int],
        n_actions: int | Sequence[int],
        n_seeds: int,
        cfg: GridConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        state_dim: int | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        N = len(obs_dims)
        ks = [int(n_actions)] * N if np.isscalar(n_actions) else [int(k) for k in n_actions]
        if len(ks) != N or len(set(ks)) != 1:
            raise ValueError(f"n_actions {n_actions!r}: need one equal count for every agent ({N})")
        super().__init__(
            (cfg or GridConfig()).validate(),
            obs_dims,
            ks,
            n_seeds,
            seeds=seeds,
            seed=seed,
            device=device,
            dtype=dtype,
        )
        cfg, self.n_actions = self.cfg, ks[0]
        self.cast = cfg.method == "cast"
        if self.cast and (N != 2 or state_dim is None):
            raise ValueError(
                f"method='cast' needs 2 agents and the dataset's state (got N={N}, state_dim={state_dim})"
            )
        self.state_dim = None if state_dim is None else int(state_dim)
        self.nets = nn.ModuleDict(self._build_members(self._build))  # seed s's members from seeds[s] only
        self.q_name = "qj" if self.cast else "q"  # the net with a Polyak target
        self.target = copy.deepcopy(self.nets[self.q_name])
        self.target.requires_grad_(False)
        groups = {
            "i_bcq": {"q_bc": ("q", "bc")},
            "i_icq": {"q": ("q",), "pi": ("pi",)},
            "cast": {"bc": ("bc",), "qj": ("qj",), "qi": ("qi",)},
        }[cfg.method]
        self.opts = {
            k: adam([p for n in v for p in self.nets[n].parameters()], lr=cfg.lr) for k, v in groups.items()
        }  # one Adam over Q and G for i_bcq, as Fujimoto's code

    def _build(self, n_seeds: int) -> dict[str, EnsembleMLP]:
        """The method's nets for n_seeds seeds, built in a fixed order (per-agent nets: n_seeds * N members)."""
        cfg, N, O, K = self.cfg, self.n_agents, self.obs_dim, self.n_actions
        H = (cfg.hidden, cfg.hidden)

        def agent_net() -> EnsembleMLP:
            return EnsembleMLP(n_seeds * N, O, K, H)

        if cfg.method == "i_bcq":
            return {"q": agent_net(), "bc": agent_net()}
        if cfg.method == "i_icq":
            return {"q": agent_net(), "pi": agent_net()}
        return {
            "bc": agent_net(),
            "qi": agent_net(),
            "qj": EnsembleMLP(n_seeds, self.state_dim + N * K, 1, H),
        }

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Step tensors (Dataset.to_torch layout) -> what the update reads, on the learner's device: obs /
        next_obs [T, N, O], act [T, N] long (the action index), rewards [T, N], terminals [T]; i_icq adds
        next_act [T, N] long, next_valid [T] (0 on time-out rows) and has_next [T] (a next dataset action
        exists); cast adds state / next_state [T, D]."""
        t = dict(tensors)
        if self.cfg.method == "i_icq" and "next_actions" not in t:
            t = with_next_actions(t)
        dev, dt = self.device, self.dtype
        out = {k: t[k].to(device=dev, dtype=dt) for k in ("obs", "next_obs", "rewards", "terminals")}
        out["act"] = self._indices(t["actions"], "actions")
        if self.cfg.method == "i_icq":
            out["next_act"] = self._indices(t["next_actions"], "next_actions")
            out["next_valid"] = t["next_valid"].to(device=dev, dtype=dt)
            out["has_next"] = out["next_valid"] * (1.0 - out["terminals"])
        if self.cast:
            for k in ("state", "next_state"):
                if k not in t:
                    raise KeyError(f"method='cast' reads {k!r}; the dataset has none")
                out[k] = t[k].to(device=dev, dtype=dt)
        return out

    def _indices(self, actions: Tensor, name: str) -> Tensor:
        a = actions[..., 0].to(self.device)  # [T, N]
        k = a.round().long()
        if not bool(((a == k) & (k >= 0) & (k < self.n_actions)).all()):
            raise ValueError(f"{name} must be action indices in 0..{self.n_actions - 1}")
        return k

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One minibatch from ``prepare_data`` tensors. i_bcq / i_icq: one row set per member, obs / next_obs
        [M, B, O], act / rewards / terminals [M, B] (+ next_act, next_valid, has_next [M, B]). cast: one row set
        per seed, obs / next_obs [S, B, N, O], act [S, B, N], rewards (team) / terminals [S, B], state /
        next_state [S, B, D]."""
        idx = self.sample_rows(data, per_seed=self.cast, generator=generator)  # [S, B] (cast) or [M, B]
        if self.cast:
            batch = {k: data[k][idx] for k in ("obs", "next_obs", "act", "terminals", "state", "next_state")}
            batch["rewards"] = data["rewards"][idx].mean(dim=-1)  # [S, B] team reward
            return batch
        ag = self.agents[:, None]  # [M, 1]
        batch = {k: data[k][idx, ag] for k in ("obs", "next_obs", "act", "rewards")}
        batch["terminals"] = data["terminals"][idx]
        if self.cfg.method == "i_icq":
            batch["next_act"] = data["next_act"][idx, ag]
            batch["next_valid"] = data["next_valid"][idx]
            batch["has_next"] = data["has_next"][idx]
        return batch

    # ---- update -------------------------------------------------------------------------------
    def _step(self, name: str, loss: Tensor) -> None:
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()

    def _bcq_update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = batch["obs"], batch["next_obs"]  # [M, B, O]
        a, r, d = batch["act"], batch["rewards"], batch["terminals"]  # [M, B]
        B = obs.shape[1]
        x = torch.cat([obs, o2], dim=1)  # [M, 2B, O]: one forward per net for o and o'
        q_all, logits = self.nets["q"](x), self.nets["bc"](x)  # [M, 2B, K]
        with torch.no_grad():
            a_star = masked_argmax(q_all[:, B:], bcq_allowed(logits[:, B:], cfg.bcq_threshold))  # [M, B]
            y = r + cfg.gamma * (1.0 - d) * take_action(self.target(o2), a_star)  # [M, B]
        q = take_action(q_all[:, :B], a)  # [M, B]
        lq = td_error_loss(q, y, cfg.td_kind)
        lg = bc_loss(logits[:, :B], a, cfg.bc_logit_reg)
        self._step("q_bc", lq + lg)
        return {"q_loss": lq, "bc_loss": lg, "q": q.detach().mean(-1)}

    def _icq_update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = batch["obs"], batch["next_obs"]  # [M, B, O]
        a, a2, r, d = batch["act"], batch["next_act"], batch["rewards"], batch["terminals"]  # [M, B]
        with torch.no_grad():
            q_next = take_action(self.target(o2), a2)  # [M, B] Q'(o', a'_data)
            w_t = icq_target_weights(q_next, batch["has_next"], cfg.icq_alpha)
            y = r + cfg.gamma * (1.0 - d) * w_t * q_next
        q_all = self.nets["q"](obs)  # [M, B, K]
        q = take_action(q_all, a)
        lq = td_error_loss(q, y, cfg.td_kind, weight=batch["next_valid"])
        logits = self.nets["pi"](obs)  # [M, B, K]
        with torch.no_grad():
            qd = q_all.detach()
            v = (torch.softmax(logits, dim=-1) * qd).sum(dim=-1)  # [M, B] V(o) = sum_a pi(a|o) Q(o, a)
            w = icq_policy_weights(take_action(qd, a), v, cfg.icq_beta)
        lp = awbc_loss(logits, a, w)
        self._step("q", lq)
        self._step("pi", lp)
        return {"q_loss": lq, "pi_loss": lp, "q": q.detach().mean(-1)}

    def _to_members(self, x: Tensor) -> Tensor:
        """Seed layout [S, B, N, *] -> member layout [S*N, B, *] (m = s * N + i)."""
        S, B, N = x.shape[:3]
        return x.transpose(1, 2).reshape(S * N, B, *x.shape[3:])

    def _to_seeds(self, x: Tensor) -> Tensor:
        """Member layout [S*N, B, *] -> [S, N, B, *]."""
        return x.view(self.n_seeds, self.n_agents, *x.shape[1:])

    def _cast_update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg, K = self.cfg, self.n_actions
        a, r, d = batch["act"], batch["rewards"], batch["terminals"]  # [S, B, N], [S, B], [S, B]
        s, s2 = batch["state"], batch["next_state"]  # [S, B, D]
        om = self._to_members(torch.cat([batch["obs"], batch["next_obs"]], dim=1))  # [M, 2B, O]: o | o'
        am = self._to_members(a.unsqueeze(-1)).squeeze(-1)  # [M, B]
        B = a.shape[1]
        # 1. BC classifiers G_i (P Eq. 3's role; discrete BCQ's classifier)
        logits = self.nets["bc"](om)  # [M, 2B, K]
        lg = bc_loss(logits[:, :B], am, cfg.bc_logit_reg)
        self._step("bc", lg)
        with torch.no_grad():
            allowed = self._to_seeds(bcq_allowed(logits.detach(), cfg.bcq_threshold))  # [S, N, 2B, K]
            joint_ok = allowed[:, 0, :, :, None] & allowed[:, 1, :, None, :]  # [S, 2B, K, K]
            ok_s, ok_s2 = joint_ok[:, :B], joint_ok[:, B:]  # [S, B, K, K]
            # 2. joint critic target (P Eq. 6): max over the allowed joint actions at s'
            q2 = joint_q_table(self.target, s2, K).masked_fill(~ok_s2, -torch.inf)  # [S, B, K, K]
            y = r + cfg.gamma * (1.0 - d) * q2.flatten(-2).amax(dim=-1)  # [S, B]
        onehot = F.one_hot(a, K).to(s.dtype).flatten(-2)  # [S, B, N*K] = [onehot a_1, onehot a_2]
        qd = self.nets["qj"](torch.cat([s, onehot], dim=-1)).squeeze(-1)  # [S, B]
        lq = td_error_loss(qd, y, cfg.td_kind)
        self._step("qj", lq)
        # 3. credit (P Eq. 8) from the updated joint critic
        with torch.no_grad():
            tab = joint_q_table(self.nets["qj"], s, K)  # [S, B, K, K]
            if cfg.partners == "policy":
                # [S, B] joint greedy a^ = (g // K, g % K)
                g = masked_argmax(tab.flatten(-2), ok_s.flatten(-2))
                # [S, N, B]: agent 0's partner a^_2, agent 1's a^_1
                partner = torch.stack([g % K, g // K], dim=1)
            else:
                partner = a.flip(-1).transpose(1, 2)  # [S, N, B]: the dataset's a_j
            agent = torch.arange(self.n_agents, device=a.device).view(1, -1, 1)  # [1, N, 1]
            # [S, N, B]
            delta = grid_credit(tab.unsqueeze(1), a.transpose(1, 2), partner, agent, cfg.default_action)
            delta = delta.reshape(self.n_members, B)  # [M, B]
            w = None if cfg.qi_weight == "none" else delta.exp().clamp(0.0, cfg.qi_weight_max)
        # 4. individual critics Q_i (P Eq. 9)
        qi = take_action(self.nets["qi"](om[:, :B]), am)  # [M, B]
        lqi = credit_loss(qi, delta, w)
        self._step("qi", lqi)
        return {
            "bc_loss": lg,
            "qj_loss": lq,
            "qi_loss": lqi,
            "credit": delta.mean(-1),
            "qj": qd.detach().mean(-1),
        }

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of every member (the method's losses in order, then the target's Polyak step). Returns
        detached metrics (per-member or per-seed tensors) every ``log_every`` updates, else {}."""
        cfg = self.cfg
        info = {"i_bcq": self._bcq_update, "i_icq": self._icq_update, "cast": self._cast_update}[cfg.method](
            batch
        )
        polyak_update(self.target, self.nets[self.q_name], cfg.tau_target)
        self.step += 1
        self.check_finite(
            {k: v for k, v in info.items() if k.endswith("_loss")}, f"GridLearner({cfg.method})"
        )
        if self.step % cfg.log_every:
            return {}
        return {k: v.detach() for k, v in info.items()}

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def greedy(self, obs_m: Tensor) -> Tensor:
        """Member-layout greedy actions: obs [M, E, O] -> long [M, E]. I-BCQ: argmax_{allowed} Q; I-ICQ: argmax
        pi; CAST: argmax_{allowed_i} Q_i."""
        cfg = self.cfg
        if cfg.method == "i_icq":
            return self.nets["pi"](obs_m).argmax(dim=-1)
        q = self.nets["qi" if self.cast else "q"](obs_m)  # [M, E, K]
        return masked_argmax(q, bcq_allowed(self.nets["bc"](obs_m), cfg.bcq_threshold))

    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Greedy decentralized actions: obs [S, E, N, O] -> actions [S, E, N, 1], the action index as a float
        (numpy in, numpy out). No state changes (the nets have no BatchNorm)."""
        return member_act(
            obs,
            self.n_seeds,
            self.n_agents,
            self.obs_dim,
            lambda obs_m: self.greedy(obs_m).unsqueeze(-1).to(torch.float32),
            self.dtype,
            self.device,
        )

    def policy(self):
        """A callable for common.running.evaluate: obs [S, E, N, O] numpy -> actions [S, E, N, 1] numpy."""
        return lambda obs: self.act(obs)

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hooks ---------------
    def stack_signature(self) -> str:
        """StackableLearner's, and the state width CAST's joint critic reads."""
        return f"{super().stack_signature()}|state_dim={self.state_dim}"

    def _empty_stack(self, cfg: GridConfig, seeds: Sequence[int]) -> "GridLearner":
        return type(self)(
            self.obs_dims,
            self.n_actions,
            len(seeds),
            cfg,
            seeds=seeds,
            state_dim=self.state_dim,
            device=self.device,
            dtype=self.dtype,
        )

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.opts


def build_grid_learner(data, section: Mapping[str, Any], seed: int, device) -> GridLearner:
    """Registry builder of ``cast_grid``: GridConfig fields from the cell's section, one seed, the dataset's
    obs_dims, n_actions (card) and state width."""
    n_actions = data.card.get("n_actions")
    if not n_actions:
        raise ValueError(
            f"learner {LEARNER_NAME!r} needs a discrete dataset (card n_actions), got {n_actions!r}"
        )
    state = data.state
    return GridLearner(
        data.obs_dims,
        n_actions,
        1,
        GridConfig(**dict(section)),
        seeds=[seed],
        state_dim=None if state is None else state.shape[-1],
        device=device,
    )


register_learner(LEARNER_NAME, build_grid_learner, group_fields=GridLearner.GROUP_FIELDS)
