"""CAST-BCQ for continuous control (multi-agent MuJoCo), batched over members = seeds x agents.

Paper: Ma & Wu, "Learning to Coordinate from Offline Datasets with Uncoordinated Behavior Policies", AAMAS 2023,
Sec. 3 (Eq. 2-10, Algorithm 1) and Sec. 4.3 (ablations, Figure 6). The default is the official code's algorithm
(JinmingM/CAST-BCQ ``agents/CAST.py`` and ``run_CAST.py`` from the ``Multi-agent MuJoCo.rar`` archive at commit
c5587eb2; docs/cast_bcq_official_code.md#training and #networks-and-constants), with its data bugs fixed
(docs/cast_bcq_official_code.md#data-handling; papers/cast_bcq/README.md lists each). Every line here is ours.

Per member m = s * N + i (agent i of seed s): a VAE G_i = {E_i, D_i} on (o_i, a_i), a perturbation model xi_i, a
central twin critic Q^c_i([s, a_{-i}], a_i) with targets Q^c' and xi', and an individual twin critic Q_i(o_i, a_i)
(no target). Agents share no network; a seed's N members read one shared minibatch of rows.
Notation: s = the dataset's ``state``, o_i = agent i's obs (whatever the dataset gives; the code: the full
state, obs_mode "cast_bcq"), a_{-i} = the other agents' dataset actions in agent order, x_i = [s, a_{-i}],
D(o) = decode with z ~ N(0, I) clipped to +-z_clip (0.05), xi(o, a) = clip(a + Phi tanh(MLP([o, a])), -1, 1)
with Phi = 0.001, Q_lambda = lambda min_j Q_j + (1 - lambda) max_j Q_j with lambda = 0.9.

  VAE            L_G = mean (a~ - a)^2 + 0.5 KL                                   [P Eq. 3; code]
  central target y = r + gamma (1 - d) max_{k<10} Q^c'_lambda([s', a'_{-i,data}], xi'(o'_i, D_i(o'_i)))
                 (a'_{-i,data} = the dataset's next actions of the partners: SARSA partners, spec §0.1)
  central loss   L_c = sum_b v_b sum_j (Q^c_j(x_i, a_i) - y)^2 / max(sum_b v_b, 1),
                 v_b = 0 on rows that end by a time-out (no a'_data), else 1          [code; time-outs ours]
  credit         Delta_i = sum_{D} p(D) [Q^c_lambda(x_i^D, a_i) - Q^c_lambda(x_i^D, 0)]   (no grad, online Q^c)
                 x_i^D = x_i with the action blocks of the agents in D zeroed (D = the sub-team that takes the
                 default action 0; the other partners keep their dataset actions)     [P Eq. 8 with data partners]
                 p = "code": N = 2 both D = {}, {j} with 1/2 (exact Shapley); N > 2 M = 6 draws, each
                     k ~ U{1..N-1} then a uniform k-subset (D = {} never drawn), one draw per m for the whole
                     batch; "uniform": M draws uniform over all 2^(N-1) subsets [P]; "shapley": exact weights
                     |T|! (N-1-|T|)! / N! of the present partners T, enumerated       [spec §2.3]
  individual     L_i = sum_j mean_b w_b (Q_{i,j}(o_i, a_i) - Delta_i)^2,
                 w = clip(exp Delta_i, 0, 10) ("exp_clip", code's use_adv) or 1 ("none", P Eq. 9)
  actor          L_xi = -mean Q_{i,1}(o_i, xi_i(o_i, D_i(o_i)))  (the individual critic)   [code]
  policy         pi_i(o_i) = argmax_{k<100} Q_{i,1}(o_i, a_k),  a_k = xi_i(o_i, D_i(o_i))   [P Eq. 2; code]
  targets        Q^c' and xi' Polyak tau = 0.005 every update ("hard": copied every update, Alg. 1 line 13)

Ablations (Figure 6; spec §2.5, definitions ours): "wo_csaa" Delta_i := Q^c_lambda(x_i, a_i) (no sub-teams, no
baseline); "wo_st" Delta_i := Q^c_lambda(x_i, a_i) - Q^c_lambda(x_i, 0) (D = {} only); "wo_cd" the single head
Q^c_{i,1} replaces Q^c_lambda everywhere (target and credit), and only head 1 is trained.

Order of one update (the code's per-agent ``train`` then ``train_Qi``, all members at once): VAE step; central
critic step (its target decodes with the just-updated VAE); credit from the just-updated central critic; Q_i step;
actor step (on the just-updated Q_i); target step of Q^c' and xi'. The training stream (one torch.Generator)
draws, per update: the VAE noise [M, B, L], the target z [M, B, 10, L], the sub-team draws (sampled
distributions only: ``torch.multinomial`` over the support, [M * R, n_subteams], R = B per row or 1), the
actor's z [M, B, L].

Decisions where the sources are silent [I] (also in tests/test_cast_bcq.py):
- The sub-team sampler draws indices into the distribution's support (``subteam_support``) with the support's
  probabilities: for "code" this is the law of "k ~ U{1..N-1}, then a uniform k-subset". Sampled draws are
  evaluated on the support with count weights when the support has at most ``n_subteams`` entries (Hopper 3x1:
  3 sub-teams instead of 6 draws; the same estimator, fewer forwards), else draw by draw.
- Draws are independent per member (the code draws inside each agent's update).
- "uniform" samples n_subteams draws (Eq. 8 is a sample average); "shapley" and the N <= 2 "code" path enumerate.
  N = 1 gives Delta = Q(a) - Q(0).
- "hard" target updates copy both targets (Q^c' and xi') every update; the Polyak step of Q^c' comes after the
  actor step (no other loss reads Q^c', so this equals the code's order).
- Rewards are agent i's reward column (MaMuJoCo's shared reward). A dataset without ``state`` is refused.
- Heterogeneous agents: obs and actions are zero-padded to the widest agent (the partners' padded dims stay 0 in
  x_i); padded action dims are zeroed in every candidate (BCQ's mask).
- Action selection draws its z from a generator of its own seeded afresh by ``policy()`` (BCQ's ``act``): an
  evaluation never moves the training stream.

Cells as members (common/running/grouping.py, ``--group``): ``CASTBCQ.stack(learners)`` (common.algos.members) puts
the runs of a group (other seeds, other datasets of one env) side by side on the member axis. Each run draws every
random number of its update (its minibatch rows, with drop_terminals from its own non-terminal rows; the VAE noise;
the target and actor z; the sub-team draws) from its own training stream, and its actions from its own action
generator, the very calls it makes alone, so a stacked update is each run's update alone (bit for bit on the CPU:
tests/test_group_equals_alone.py). No config field may differ between stacked runs (``GROUP_FIELDS`` is empty: the
items vary the dataset, the seed and, between groups, the ablation).
Not implemented yet: the paper's joint-critic form (``central="joint"``, ``partners="policy"``, spec §2.3);
validate() refuses it.

Shapes: M members, S seeds, N agents, B batch, K sub-teams or candidates, T dataset steps, E episodes, O obs dim,
A action dim (padded), L latent dim, D state dim, X = D + (N - 1) A central obs width.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from common.algos import register_learner
from common.algos.bcq import BCQ
from common.algos.bcq_acting import act_seed
from common.algos.bcq_losses import bcq_actor_loss, candidate_target, soft_clipped_q, vae_loss
from common.algos.members import StackableLearner
from common.algos.state import learner_state, load_learner_state
from common.networks.heads import VAE, PerturbationActor, TwinCritic
from common.networks.nets import adam, hard_update, polyak_update
from papers.cast_bcq.cast_config import CASTConfig
from papers.cast_bcq.cast_data import CASTData
from papers.cast_bcq.cast_losses import (
    central_td_loss,
    counterfactual_credit,
    individual_critic_loss,
    qi_weights,
    sample_subteam_weights,
    subteam_law,
)

__all__ = ["CASTConfig", "CASTBCQ", "LEARNER_NAME", "build_cast_bcq"]

LEARNER_NAME = "cast_bcq"
ACT_STREAM = 0xCA57  # spawn key of the action-selection generator (apart from the training stream)


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class CASTBCQ(CASTData, StackableLearner):
    """Batched CAST-BCQ (the code's per-agent central critics); members m = s * N + i.

    CASTBCQ(obs_dims, act_dims, state_dim, n_seeds, cfg, seed=0, seeds=None, device, dtype), or
    ``CASTBCQ.from_dataset(data, cfg, seeds, device)``. Nets: ``vae`` (G_i), ``actor`` (xi_i), ``critic`` (the
    individual critic Q_i; BCQ's action selection reads its head 1), ``central_critic`` (Q^c_i on [s, a_{-i}] and
    a_i), ``actor_target``, ``central_target``. A seed's networks are built from ``seeds[s]`` alone; every random
    number comes from the training streams ``streams`` (common.algos.members: one torch.Generator per run).
    """

    _NETS = ("vae", "actor", "critic", "central_critic", "actor_target", "central_target")
    _OPTS = ("vae_opt", "actor_opt", "critic_opt", "central_opt")
    GROUP_FIELDS: tuple[str, ...] = ()  # every config field is shared by the stacked runs

    # action selection, acting and their helpers are BCQ's (common.algos.bcq): argmax Q_{i,1} over n_select
    # candidates xi_i(o_i, D_i(o_i)), z from a generator of its own; ``critic`` is Q_i here
    _randn = BCQ._randn
    _mask = BCQ._mask
    _candidates = BCQ._candidates
    select = BCQ.select
    act = BCQ.act
    policy = BCQ.policy

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        state_dim: int,
        n_seeds: int,
        cfg: CASTConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(
            (cfg or CASTConfig()).validate(),
            obs_dims,
            act_dims,
            n_seeds,
            seeds=seeds,
            seed=seed,
            device=device,
            dtype=dtype,
        )
        cfg, N, O, A = self.cfg, self.n_agents, self.obs_dim, self.act_dim
        self.state_dim = D = int(state_dim)
        self.latent_dim = L = cfg.latent if cfg.latent is not None else 2 * A
        self.central_obs_dim = X = D + (N - 1) * A
        self.central = False  # BCQ.act's view flag: every member acts on its own o_i (never the central view)
        # agent i's partners in agent order [N, N-1]
        self.others = torch.tensor(
            [[j for j in range(N) if j != i] for i in range(N)], dtype=torch.int64, device=self.device
        ).view(N, N - 1)

        # the credit's sub-team law: enumerated (weights = p) or sampled (n_subteams draws)
        self.enumerate, drop, p = subteam_law(cfg, N)
        self.subteam_drop = drop.to(self.device)  # [K, N-1]
        self.subteam_p = p.to(device=self.device, dtype=dtype)  # [K]
        self.on_support = self.enumerate or drop.shape[0] <= cfg.n_subteams  # count weights on the support

        def build(n_seeds: int) -> dict[str, torch.nn.Module]:
            n = n_seeds * N
            return {
                "vae": VAE(n, O, A, L, cfg.hidden_vae, cfg.max_action, cfg.z_clip),
                "actor": PerturbationActor(n, O, A, cfg.hidden, cfg.phi, cfg.max_action),
                "critic": TwinCritic(n, O, A, cfg.hidden),
                "central": TwinCritic(n, X, A, cfg.hidden),
            }

        big = self._build_members(build)  # seed before building: seed s's members from seeds[s] alone
        self.vae, self.actor, self.critic = big["vae"], big["actor"], big["critic"]
        self.central_critic = big["central"]
        self.actor_target, self.central_target = copy.deepcopy(self.actor), copy.deepcopy(self.central_critic)
        for p_ in [*self.actor_target.parameters(), *self.central_target.parameters()]:
            p_.requires_grad_(False)
        self.vae_opt = adam(self.vae.parameters(), lr=cfg.lr)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.lr)
        self.central_opt = adam(self.central_critic.parameters(), lr=cfg.lr)
        # BCQ's action selection, apart from the training stream
        self.act_seed = act_seed(self.seeds, ACT_STREAM)
        self.act_seeds = [self.act_seed]  # each run's (a stack: one per run)
        self.act_mask = self._member_act_mask()  # [M, 1, A] or None: padded action dims 0 in every candidate

    @classmethod
    def from_dataset(
        cls,
        data,
        cfg: CASTConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        **kw,
    ) -> "CASTBCQ":
        """The learner for a common.datasets.dataset.Dataset: its obs_dims / act_dims and its ``state`` width."""
        if data.state is None:
            raise ValueError("CAST-BCQ's central critic reads the dataset's state; this dataset has none")
        return cls(
            data.obs_dims,
            data.act_dims,
            data.state.shape[-1],
            len(seeds),
            cfg,
            seeds=list(seeds),
            device=device,
            **kw,
        )

    # ---- losses -------------------------------------------------------------------------------
    @property
    def _lmbda(self) -> float | None:
        return None if self.cfg.ablation == "wo_cd" else self.cfg.lmbda

    def vae_losses(self, batch: Mapping[str, Tensor]) -> Tensor:
        """L_G [M] (P Eq. 3; BCQ's vae_loss with the learner's noise)."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        M, B = obs.shape[:2]
        return vae_loss(self.vae, obs, act, self._randn((M, B, self.latent_dim)), self.cfg.kl_weight)[0]

    @torch.no_grad()
    def target_value(self, batch: Mapping[str, Tensor]) -> Tensor:
        """y [M, B] = r + gamma (1 - d) max_k Q^c'_mix([s', a'_{-i,data}], xi'(o'_i, D_i(o'_i))), k < n_target."""
        cfg = self.cfg
        next_obs = batch["next_obs"]  # [M, B, O]
        M, B, O = next_obs.shape
        K = cfg.n_target
        o_k = next_obs.unsqueeze(2).expand(M, B, K, O)  # [M, B, K, O]
        a_k = self._candidates(
            self.actor_target, o_k, self._randn((M, B, K, self.latent_dim), clip=cfg.z_clip)
        )
        x_next = torch.cat([batch["next_state"], batch["next_others"]], dim=-1)  # [M, B, X]
        if self._lmbda is None:
            q = self.central_target.q1_many(x_next, a_k)  # [M, B, K]
        else:
            q1, q2 = self.central_target.forward_many(x_next, a_k)  # [M, B, K] each
            q = soft_clipped_q(q1, q2, self._lmbda)
        return candidate_target(batch["rewards"], batch["terminals"], q, cfg.gamma)

    def central_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """L_c [M] (time-out rows weighted 0) and detached diagnostics."""
        y = self.target_value(batch)  # [M, B]
        x = torch.cat([batch["state"], batch["others"]], dim=-1)  # [M, B, X]
        if self._lmbda is None:  # w/o CD: head 1 only
            q1, q2 = self.central_critic.q1(x, batch["actions"]).squeeze(-1), None
        else:
            q1, q2 = (q.squeeze(-1) for q in self.central_critic(x, batch["actions"]))  # [M, B]
        return central_td_loss(q1, q2, y, batch["next_valid"]), {"qc": q1.detach().mean(-1)}

    @torch.no_grad()
    def credit(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Delta_i [M, B] from the online central critic (module docstring; ``counterfactual_credit``)."""
        cfg = self.cfg
        M, B = batch["actions"].shape[:2]
        drop, p = self.subteam_drop, self.subteam_p  # [K, N-1], [K]
        if self.enumerate:
            weights = p.view(1, 1, -1)  # [1, 1, K]
        else:
            R = B if cfg.subteam_per_row else 1
            idx = self.streams.draw(
                lambda shape, generator: sample_subteam_weights(
                    p,
                    cfg.n_subteams,
                    shape,
                    # [M, R, n]
                    generator,
                ),
                (M, R),
            )
            if self.on_support:  # count weights on the support: the same mean over draws
                weights = F.one_hot(idx, p.shape[0]).to(self.dtype).mean(dim=2)  # [M, R, K]
            else:  # draw by draw
                drop = drop[idx]  # [M, R, n, N-1]
                weights = torch.full(idx.shape, 1.0 / cfg.n_subteams, dtype=self.dtype, device=self.device)
        return counterfactual_credit(
            self.central_critic,
            batch["state"],
            batch["others"],
            batch["actions"],
            drop,
            weights,
            self._lmbda,
            baseline=cfg.ablation != "wo_csaa",
        )

    def individual_loss(self, batch: Mapping[str, Tensor], delta: Tensor) -> tuple[Tensor, Tensor | None]:
        """(L_i [M], the weight w [M, B] or None)."""
        q1, q2 = self.critic(batch["obs"], batch["actions"])  # [M, B, 1] each
        w = qi_weights(delta, self.cfg.qi_weight, self.cfg.qi_weight_max)
        return individual_critic_loss(q1.squeeze(-1), q2.squeeze(-1), delta, w), w

    def actor_loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """L_xi [M] = -mean Q_{i,1}(o_i, xi_i(o_i, D_i(o_i))) on the individual critic."""
        obs = batch["obs"]  # [M, B, O]
        M, B = obs.shape[:2]
        pi = self._candidates(self.actor, obs, self._randn((M, B, self.latent_dim), clip=self.cfg.z_clip))
        return bcq_actor_loss(self.critic.q1(obs, pi).squeeze(-1))

    @staticmethod
    def _step(opt: torch.optim.Optimizer, loss: Tensor, inputs: list[Tensor] | None = None) -> None:
        opt.zero_grad(set_to_none=True)
        loss.sum().backward(inputs=inputs)
        opt.step()

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of all members: VAE, central critic, credit + Q_i, actor, targets (module docstring).
        Returns detached [M] metrics every ``log_every`` updates, else {}."""
        cfg = self.cfg
        vloss = self.vae_losses(batch)
        self._step(self.vae_opt, vloss)
        closs, info = self.central_loss(batch)
        self._step(self.central_opt, closs)
        delta = self.credit(batch)  # [M, B]
        qloss, w = self.individual_loss(batch, delta)
        self._step(self.critic_opt, qloss)
        aloss = self.actor_loss(batch)
        self._step(self.actor_opt, aloss, inputs=list(self.actor.parameters()))
        if cfg.target_update == "polyak":
            polyak_update(self.central_target, self.central_critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
        else:
            hard_update(self.central_target, self.central_critic)
            hard_update(self.actor_target, self.actor)
        self.step += 1
        losses = {
            "vae_loss": vloss.detach(),
            "central_loss": closs.detach(),
            "qi_loss": qloss.detach(),
            "actor_loss": aloss.detach(),
        }
        self.check_finite(losses, "CAST-BCQ")
        if self.step % cfg.log_every:
            return {}
        out = {**losses, **info, "credit": delta.mean(-1)}
        if w is not None:
            out["qi_w"] = w.mean(-1)
        return out

    # ---- checkpoints --------------------------------------------------------------------------
    _MODULES = _NETS + _OPTS

    def state_dict(self) -> dict[str, Any]:
        return learner_state(self, self._MODULES)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, self._MODULES, same_seeds=True)

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hooks ---------------
    def stack_signature(self) -> str:
        """StackableLearner's, and the central critic's state width."""
        return f"{super().stack_signature()}|state_dim={self.state_dim}"

    def _empty_stack(self, cfg: CASTConfig, seeds: Sequence[int]) -> "CASTBCQ":
        return type(self)(
            self.obs_dims,
            self.act_dims,
            self.state_dim,
            len(seeds),
            cfg,
            seeds=seeds,
            device=self.device,
            dtype=self.dtype,
        )

    def _stack_extra(self, learners: Sequence["CASTBCQ"]) -> None:
        # each run selects with its own z, as alone
        self.act_seeds = [s for lr in learners for s in lr.act_seeds]


def build_cast_bcq(data, section: Mapping[str, Any], seed: int, device) -> CASTBCQ:
    """Registry builder of ``cast_bcq``: CASTConfig fields from the cell's section, one seed, the dataset's
    obs_dims / act_dims and state width."""
    return CASTBCQ.from_dataset(data, CASTConfig(**dict(section)), seeds=[seed], device=device)


register_learner(LEARNER_NAME, build_cast_bcq, group_fields=CASTBCQ.GROUP_FIELDS)
