"""ICQ-MA (continuous) as the CAST-BCQ authors run it, batched over members = seeds x agents.

Papers:
- ICQ: Yang, Ma, Li, Zheng, Zhang, Huang, Zhang & Zhao, "Believe What You See: Implicit Constraint Approach
  for Offline Multi-Agent Reinforcement Learning", NeurIPS 2021 (ICQ-MA: SARSA-style critics on the data's
  next actions, importance weights B * softmax_B(Q / alpha) on the targets, a mixer of per-agent Q values,
  advantage-weighted behaviour cloning of the actors).
- The ICQ-MA baseline of CAST-BCQ (Ma & Wu, AAMAS 2023, Sec. 4; Fig. 4, Table 2), in the CAST authors'
  continuous adaptation.

Official code consulted: JinmingM/CAST-BCQ ``agents/ICQMA.py`` and ``baselines/run_ICQ.py`` (MuJoCo archive;
docs/cast_bcq_official_code.md#layout), as read for the team's reproduction spec (CAST-BCQ, Sec. 3.4 "ICQ-MA" and
quirk 12). Constants: per-agent critic 400-300, actor 400-300-300, mixer embed 32, Adam 1e-3 for all, tau 0.005
on the critic and mixer targets, gamma 0.99, batch 1024 shared by the agents, gradient-norm clip 20 on the
critics and the mixer, 20,000 iterations, evaluation with the mean action.

Networks (per seed s; agents i = 1..N; member m = s * N + i):
  critic     Q_i(o_i, a_i): MLP 400-300 -> 1 on agent i's own (+ public) obs and own action. The code builds a
             twin critic and uses only Q1 in every loss; Q2 gets no gradient, so Adam never moves it and it
             changes no number: we build Q1 only.
  actor      pi_i(a | o_i) = N(tanh(MLP_400-300-300(o_i)), sigma_i^2), diagonal, no squashing of samples;
             state-independent log sigma_i = -6 + 6 * sigmoid(l_i) in [-6, 0], l_i a learned [A] vector
             (init 0, log sigma = -3; rlkit's AWAC "values" std, which the code's "AWAC" actor follows).
  mixer      per seed, QMIX-style hypernetworks on the global state s (embed E = 32):
               W1(s) = |Linear(s) -> [N, E]|,  w_f(s) = |Linear(s) -> [E]|,
               k(s) = W1(s) w_f(s) / sum_i (W1(s) w_f(s))_i       ([N], k_i >= 0, sum_i k_i = 1)
               Q_tot(s, Q_1..Q_N) = sum_i k_i(s) Q_i.
             No state bias: the code defines a V(s) head but never uses it in ``forward``; we do not build it.

Equations (per seed; B batch rows, d terminal flag, r the team reward, a'_i the DATA's next action of agent i):
  target (fixed, default)
      Q'_i   = Q_i^targ(o'_i, a'_i)                                       (SARSA on the data)
      w_i    = clamp(B * softmax_B(Q'_i / 100), 0, 1)                     (per agent, over the batch rows)
      Q'_tot = sum_i k_i^targ(s') w_i Q'_i                                (target mixer)
      y      = r + gamma (1 - d) * B * softmax_B(Q'_tot / 1000) * Q'_tot  (detached)
  target (bug_compat=True, the code: reward and gamma applied twice)
      y_i    = r + gamma (1 - d) w_i Q'_i;   u = sum_i k_i^targ(s') y_i   (= r + gamma (1 - d) Q'_tot)
      y      = r + gamma (1 - d) * B * softmax_B(u / 1000) * u
  critic      L_Q = mean_B (sum_i k_i(s) Q_i(o_i, a_i) - y)^2; grad-norm clip 20 on each critic and on the mixer
  actor       L_pi_i = -mean_B [ k_i(s) * log pi_i(a_i | o_i) * B * softmax_B(A_i / 100) ]   (weights detached)
              (the code's loss broadcasts log pi [B] against its weights [B, 1] to [B, B], so the softmax weights
              sum out and it is -mean_B k_i log pi_i, plain k-weighted BC; ``actor_weighted=False`` (or
              ``actor_temp=inf``) gives the code's loss exactly, tests/test_icq_ma_official_parity.py; the
              MaMuJoCo items run the code's form, papers/cast_bcq/config.py)
              A_i = r + gamma (1 - d) Q_i(o'_i, a'_i) - Q_i(o_i, a_i)
  targets     theta' <- (1 - tau) theta' + tau theta for the critics and the mixer, every update (no actor target)

Order of one update: critic + mixer step, then the actor step (its k(s) and A_i from the just-updated critic and
mixer), then the Polyak step.

Decisions where the sources are silent (ours; tests/test_icq_ma.py checks them):
- A_i's Q_i(o', a') is the CURRENT critic's Q1 at the DATA's next action a'_i (the spec writes Q_i, not its
  target, and ICQ stays on seen pairs), with (1 - d) as in the target; the spec's formula has no (1 - d)
  because the code drops terminal rows (quirk 2: we keep them).
- Rows that end by a time-out have no a'_data (common.algos.itd3_losses.with_next_actions: next_valid = 0): weight 0 in
  the critic loss and the actor loss; the losses are sum_b v_b (...) / max(sum_b v_b, 1), i.e. the plain batch
  mean when no row is a time-out.
- Every B * softmax_B runs over the rows where its argument is defined, scaled by their count n instead of B
  (n = B when every row counts): the target weights over the rows that bootstrap (not terminal, not time-out),
  the actor's over the rows with a defined advantage (not time-out). Other rows get weight 0 (they are
  multiplied by (1 - d) = 0 or masked anyway). The code never meets such rows (it drops terminals and crosses
  episode boundaries).
- The team reward r is the mean of the agents' rewards (MaMuJoCo: the shared reward itself).
- Gradient-norm clips as the code (agents/ICQMA.py l. 374-378: one optimizer per critic and one for the mixer,
  each clipped at 20 on its own norm); the actor is not clipped. Until 2026-11-24 ours clipped once per seed over
  all critics and the mixer together, a misreading that the replay of the code's outputs found
  (tests/test_icq_ma_official_parity.py).
- Hypernetworks are single Linear layers (pymarl's hypernet_layers = 1); all layers keep nn.Linear's default init.
- Heterogeneous agents: padded action dims are left out of log pi and are 0 in the acted action.

Cells as members (common/running/grouping.py, ``--group``): ``ICQMA.stack(learners)`` (common.algos.members) puts
the runs of a group (other seeds, other datasets of one env) side by side: agents' critics and actors on the
member axis, the mixers on the seed axis, one Adam over them as alone. The update draws nothing but the minibatch
rows, which each run draws from its own generator, from its own rows of the stacked data, so a stacked update is each
run's update alone (tests/test_group_equals_alone.py). ``GROUP_FIELDS`` is empty: no config field may differ.

Shapes: S seeds, N agents, M = S * N members, B batch, E episodes, O obs dim, A action dim, SD state dim,
T dataset steps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.itd3_losses import with_next_actions
from common.algos.members import StackableLearner
from common.algos.state import member_act
from common.networks.nets import EnsembleMLP, adam, polyak_update
from common.running.validate import is_int
from papers.cast_bcq.icq_ma_config import ICQMAConfig
from papers.cast_bcq.icq_ma_losses import (
    icq_ma_actor_loss,
    icq_ma_critic_loss,
    icq_ma_target,
)
from papers.cast_bcq.icq_ma_nets import GaussianMeanActor, HyperMixer

__all__ = ["ICQMAConfig", "ICQMA", "build"]

MEMBER_KEYS = ("obs", "actions", "next_obs", "next_actions")  # per member [M, B, .]
SEED_KEYS = ("rewards", "terminals", "next_valid", "state", "next_state")  # per seed [S, B(, SD)]


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class ICQMA(StackableLearner):
    """Batched ICQ-MA: members m = s * N + i (critic Q_i and actor pi_i of agent i of seed s), one mixer per seed.

    ICQMA(obs_dims, act_dims, n_seeds, state_dim, cfg, seed=0, seeds=None, device, dtype), or
    ``ICQMA.from_dataset(data, cfg, seeds, device)``. A seed's networks are built from ``seeds[s]`` alone; the
    training random stream (the minibatch rows; the update itself draws nothing) is one torch.Generator (a stack of
    runs: one per run, ``streams``).
    """

    _NETS = ("critic", "critic_target", "mixer", "mixer_target", "actor")
    # GROUP_FIELDS: none (StackableLearner's): every config field is shared
    _OPTS = ("critic_opt", "actor_opt")

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        state_dim: int,
        cfg: ICQMAConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        if not (is_int(state_dim) and state_dim >= 1):
            raise ValueError(
                f"state_dim={state_dim!r} must be an integer >= 1 (ICQ-MA's mixer reads the state)"
            )
        super().__init__(
            (cfg or ICQMAConfig()).validate(),
            obs_dims,
            act_dims,
            n_seeds,
            seeds=seeds,
            seed=seed,
            device=device,
            dtype=dtype,
        )
        cfg, O, A, self.state_dim = self.cfg, self.obs_dim, self.act_dim, int(state_dim)

        def nets(n_seeds_here: int) -> dict[str, nn.Module]:
            m = n_seeds_here * self.n_agents
            return {
                "critic": EnsembleMLP(m, O + A, 1, cfg.hidden_critic),
                "actor": GaussianMeanActor(m, O, A, cfg.hidden_actor, (cfg.log_std_min, cfg.log_std_max)),
                "mixer": HyperMixer(n_seeds_here, self.state_dim, self.n_agents, cfg.mixer_embed),
            }

        # seed before building: seed s's networks (its mixer too) from seeds[s]
        big = self._build_members(nets)
        self.critic, self.actor, self.mixer = big["critic"], big["actor"], big["mixer"]
        self.critic_target, self.mixer_target = copy.deepcopy(self.critic), copy.deepcopy(self.mixer)
        for p in [*self.critic_target.parameters(), *self.mixer_target.parameters()]:
            p.requires_grad_(False)
        self.critic_opt = adam([*self.critic.parameters(), *self.mixer.parameters()], lr=cfg.lr)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.lr)
        self.act_mask = self._member_act_mask()  # [M, 1, A] or None: padded dims out of log pi, 0 when acting

    @classmethod
    def from_dataset(
        cls,
        data,
        cfg: ICQMAConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        **kw,
    ) -> "ICQMA":
        """The learner for a common.datasets.dataset.Dataset: its obs_dims, act_dims and the width of its ``state``."""
        if data.state is None:
            raise ValueError(
                f"ICQ-MA mixes the agents' Q values with hypernetworks on the global state, but dataset "
                f"{data.card.get('env')!r}/{data.card.get('kind')!r} has no state / next_state; "
                "build it with state=... (Dataset.from_arrays) or from an env that has env.state()"
            )
        return cls(
            data.obs_dims,
            data.act_dims,
            len(seeds),
            int(data.state.shape[-1]),
            cfg,
            seeds=list(seeds),
            device=device,
            **kw,
        )

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The step tensors the update reads (Dataset.to_torch layout, contiguous episodes), on the learner's
        device and dtype: obs / next_obs [T, N, O], actions / next_actions [T, N, A] (a'_data; 0 where the
        episode ends), rewards [T] (the team reward: the mean over agents), terminals / next_valid [T]
        (next_valid = 0 on time-out rows), state / next_state [T, SD]."""
        missing = [k for k in ("state", "next_state") if k not in tensors]
        if missing:
            raise KeyError(f"ICQ-MA needs the dataset's global state for its mixer; missing {missing}")
        if tensors["state"].shape[-1] != self.state_dim:
            raise ValueError(
                f"state has {tensors['state'].shape[-1]} columns, the learner was built for {self.state_dim}"
            )
        if tensors["rewards"].dim() != 2:
            raise ValueError(
                f"rewards must be per agent [T, N] (Dataset.to_torch), got {tuple(tensors['rewards'].shape)}"
            )
        if "next_actions" not in tensors:
            tensors = with_next_actions(tensors)
        out = {k: tensors[k] for k in (*MEMBER_KEYS, "terminals", "next_valid", "state", "next_state")}
        out["rewards"] = tensors["rewards"].mean(-1)  # [T] team reward
        return {k: v.to(device=self.device, dtype=self.dtype) for k, v in out.items()}

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One minibatch of rows per seed, shared by its agents (the mixer needs all agents of a row):
        obs / next_obs [M, B, O], actions / next_actions [M, B, A]; rewards / terminals / next_valid [S, B],
        state / next_state [S, B, SD]."""
        if "next_valid" not in data:
            raise KeyError("ICQ-MA needs next_actions / next_valid: pass learner.prepare_data(tensors)")
        idx_s = self.sample_rows(data, per_seed=True, generator=generator)  # [S, B]
        idx = idx_s.repeat_interleave(self.n_agents, dim=0)  # [M, B]: member s * N + i reads seed s's rows
        out = {k: data[k][idx, self.agents[:, None]] for k in MEMBER_KEYS}  # [M, B, .]
        out.update({k: data[k][idx_s] for k in SEED_KEYS})  # [S, B(, SD)]
        return out

    # ---- layout helpers -------------------------------------------------------------------------
    def _by_seed(self, x: Tensor) -> Tensor:
        """Member layout [M, B] -> seed layout [S, B, N]."""
        return x.view(self.n_seeds, self.n_agents, -1).transpose(1, 2)

    def _by_member(self, x: Tensor) -> Tensor:
        """Seed layout [S, B, N] -> member layout [M, B]."""
        return x.transpose(1, 2).reshape(self.n_members, -1)

    def _per_member(self, x: Tensor) -> Tensor:
        """A per-seed [S, B] tensor for every member of the seed: [M, B]."""
        return x.repeat_interleave(self.n_agents, dim=0)

    @staticmethod
    def _q(net: nn.Module, obs: Tensor, act: Tensor) -> Tensor:
        return net(torch.cat([obs, act], dim=-1)).squeeze(-1)  # [M, B]

    # ---- pieces of the update -------------------------------------------------------------------
    @torch.no_grad()
    def target_value(self, batch: Mapping[str, Tensor]) -> Tensor:
        """y [S, B] from the target critics at (o', a'_data) and the target mixer at s'."""
        cfg = self.cfg
        rew, done = batch["rewards"], batch["terminals"]  # [S, B]
        # [S, B, N]
        q_next = self._by_seed(self._q(self.critic_target, batch["next_obs"], batch["next_actions"]))
        k_next = self.mixer_target.weights(batch["next_state"])  # [S, B, N]
        boot = batch["next_valid"] * (1.0 - done)  # [S, B] rows that bootstrap from a'_data
        return icq_ma_target(
            rew, done, q_next, k_next, cfg.gamma, cfg.agent_temp, cfg.total_temp, boot, cfg.bug_compat
        )

    def critic_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """L_Q per seed [S] (gradient into the critics and the mixer) and detached diagnostics."""
        y = self.target_value(batch)  # [S, B]
        q = self._q(self.critic, batch["obs"], batch["actions"])  # [M, B]
        q_tot = self.mixer(self._by_seed(q), batch["state"])  # [S, B]
        loss = icq_ma_critic_loss(q_tot, y, batch["next_valid"])
        return loss, {"q_tot": q_tot.detach().mean(-1), "target": y.mean(-1)}

    def actor_loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """L_pi per member [M]; k(s) and A_i from the current critic and mixer (detached)."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        B = obs.shape[1]
        with torch.no_grad():
            q_both = self._q(
                self.critic,
                torch.cat([obs, batch["next_obs"]], 1),
                torch.cat([act, batch["next_actions"]], 1),
            )  # [M, 2B]
            q, q_next = q_both[:, :B], q_both[:, B:]  # Q_i(o, a), Q_i(o', a'_data)
            # [M, B]
            rew, cont = self._per_member(batch["rewards"]), self._per_member(1.0 - batch["terminals"])
            adv = rew + self.cfg.gamma * cont * q_next - q  # [M, B]
            k = self._by_member(self.mixer.weights(batch["state"]))  # [M, B]
        logp = self.actor.log_prob(obs, act, self.act_mask)  # [M, B]
        temp = self.cfg.actor_temp if self.cfg.actor_weighted else math.inf  # the code's: weight cancelled
        return icq_ma_actor_loss(logp, k, adv, temp, self._per_member(batch["next_valid"]))

    @torch.no_grad()
    def clip_critic_grads(self) -> Tensor:
        """The code's clips (agents/ICQMA.py l. 374-378: one optimizer per critic and one for the mixer, each
        ``clip_grad_norm_`` at ``grad_clip``): agent i's critic by its own gradient norm [M], the mixer by its own [S]
        (torch's rule, coef = min(1, max_norm / (norm + 1e-6))). Returns the joint norm of the seed's critics and
        mixer before clipping [S] (a diagnostic)."""
        S, N, M = self.n_seeds, self.n_agents, self.n_members
        cg = [p.grad for p in self.critic.parameters() if p.grad is not None]  # [M, ...] each
        mg = [p.grad for p in self.mixer.parameters() if p.grad is not None]  # [S, ...] each
        sq = []
        for grads, n in ((cg, M), (mg, S)):
            if not grads:
                sq.append(torch.zeros(n, device=self.device))
                continue
            sq_n = sum(g.reshape(n, -1).square().sum(1) for g in grads)  # [n]
            coef = (self.cfg.grad_clip / (sq_n.sqrt() + 1e-6)).clamp_(max=1.0)  # [n]
            for g in grads:
                g.mul_(coef.view(n, *([1] * (g.dim() - 1))))
            sq.append(sq_n)
        return (sq[0].view(S, N).sum(1) + sq[1]).sqrt()  # member m = s * N + i is seed-major

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of all seeds and agents: critic + mixer step (clipped), actor step, Polyak step of the
        critic and mixer targets. Returns detached metrics every ``log_every`` updates, else {}:
        critic_loss / critic_grad_norm / q_tot / target [S], actor_loss / log_std [M]."""
        cfg = self.cfg
        closs, info = self.critic_loss(batch)
        self.critic_opt.zero_grad(set_to_none=True)
        closs.sum().backward()
        cnorm = self.clip_critic_grads()
        self.critic_opt.step()

        aloss = self.actor_loss(batch)
        self.actor_opt.zero_grad(set_to_none=True)
        aloss.sum().backward()
        self.actor_opt.step()

        polyak_update(self.critic_target, self.critic, cfg.tau)
        polyak_update(self.mixer_target, self.mixer, cfg.tau)
        self.step += 1
        losses = {"critic_loss": closs.detach(), "actor_loss": aloss.detach()}
        self.check_finite(losses, "ICQ-MA")
        if self.step % cfg.log_every:
            return {}
        return {
            **losses,
            **info,
            "critic_grad_norm": cnorm,
            "log_std": self.actor.log_std().detach().mean(dim=(1, 2)),
        }

    # ---- acting -------------------------------------------------------------------------------
    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """The mean action tanh(MLP(o_i)): obs [S, E, N, O] -> actions [S, E, N, A] (numpy in, numpy out);
        padded action dims are 0. Draws nothing: the training stream is untouched."""

        def mean_action(obs_m: Tensor) -> Tensor:  # [M, E, O] -> [M, E, A]
            a, _ = self.actor(obs_m)
            return a if self.act_mask is None else a * self.act_mask

        return member_act(
            obs, self.n_seeds, self.n_agents, self.obs_dim, mean_action, self.dtype, self.device
        )

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """A callable for common.running.evaluate: obs [S, E, N, O] numpy -> mean actions [S, E, N, A] numpy."""
        return lambda obs: self.act(obs)

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hooks ---------------
    def stack_signature(self) -> str:
        """StackableLearner's, and the mixer's state width."""
        return f"{super().stack_signature()}|state_dim={self.state_dim}"

    def _empty_stack(self, cfg: ICQMAConfig, seeds: Sequence[int]) -> "ICQMA":
        return type(self)(
            self.obs_dims,
            self.act_dims,
            len(seeds),
            self.state_dim,
            cfg,
            seeds=seeds,
            device=self.device,
            dtype=self.dtype,
        )


def build(data, section: Mapping[str, Any], seed: int, device) -> ICQMA:
    """Registry builder (common.algos): ICQ-MA for one seed from ICQMAConfig fields; the dataset must have a state."""
    return ICQMA.from_dataset(data, ICQMAConfig(**dict(section)), seeds=[seed], device=device)


LEARNER_NAME = "icq_ma"
register_learner(LEARNER_NAME, build, group_fields=ICQMA.GROUP_FIELDS)
