"""MAPPO as MOMA-PPO uses it, batched over members = seeds x agents.

Paper: Barde, Foerster, Nowrouzezahrai, Zhang, "A Model-Based Solution to the Offline Multi-Agent Reinforcement
Learning Coordination Problem", AAMAS 2024, §3.2 (MAPPO with a QMIX-style value decomposition, GAE adapted to the
rollout time-outs zeta_t) and Algorithm 1 ("train policies pi_i and value function V with MAPPO"). The same learner
trains the online Reacher experts (§5.3) and the policies inside MOMA-PPO's model-based loop.
Official code consulted (PBarde/moma-ppo at c276efc, paths under ``moma-ppo/offline_marl/offline_marl/``; summary in
docs/moma_ppo_official_code.md#ppo-learner): ``multi_agent/mappo.py`` (``update_from_batch``, ``get_gae``),
``single_agent/ppo.py``, ``single_agent/actors.py`` (``GaussianPolicy``, ``CategoricalPolicy``),
``single_agent/critics.py``, ``multi_agent/mixer_networks.py``, ``utils/networks.py``, ``train_rl.py`` and
``train_rl_model_based.py`` (defaults, ``ppo_general_lr``).

Networks (per seed s; agent i is member m = s * N + i; x_i = [emb_i ⊕ o_i], emb_i the optional history embedding)
  pi_i(a | x_i)   Gaussian N(mu(x_i), exp(log_std(x_i))^2), 2 x 256 ReLU, mean and log_std heads with weights
                  x0.1 and bias 0, log_std clamped to [-6, 0], no squashing (unbounded actions, the env clips);
                  or categorical (2 x 256 ReLU, plain init) for discrete games
  V_i(x_i)        2 x 256 ReLU
  mixer(o_joint)  2 x 256 ReLU -> (w_1..w_N, b) on the joint observation (no history);
                  V_tot = sum_i w_i V_i + b, w unconstrained [code] or |w| (``mixer="monotonic"``, [paper] "QMIX")
GAE with time-outs (one flat buffer of contiguous rollouts; V = V_tot of the parameters before the update)
  delta_t = r_t + gamma m_t V(s'_t) - V(s_t)
  A_t     = delta_t + gamma lambda m_t zeta_t A_{t+1}
  G_t     = r_t + gamma m_t (zeta_t G_{t+1} + (1 - zeta_t) m_t V(s'_t))
  A <- (A - mean A) / (std A + 1e-3)   (std unbiased, over the whole buffer of one seed)
Losses (one minibatch of B rows of one seed; logpi = sum_i log pi_i(a_i | x_i), the joint log-prob)
  ratio    rho = exp(min(logpi - logpi_old, 10)),  rho_c = clip(rho, 1 - 0.2, 1 + 0.2)
  actor    L_pi = -mean_B min(rho A, rho_c A)
  critic   L_V  = max(mean_B (V_c - G)^2, mean_B (V - G)^2),  V_c = V_old + clip(V - V_old, -0.2, 0.2)
           (the max of the two batch-mean MSEs, not the mean of an elementwise max)
  entropy  H    = min(-mean_B rho logpi, -mean_B rho_c logpi)
           alpha <- max(0, alpha + 0.001 (H_target - H)),  H_target = -2 (on the joint log-prob),  alpha_0 = 0,
           updated BEFORE the bonus of the same minibatch uses it (the code's order); L_H = -alpha H
  penalty  e = sum_{i, dims} (1 - |mu_i|)^2 [|mu_i| > 1] on the mean actions, L_a = max(mean_B rho e, mean_B rho_c e)
  total    L = L_pi + 0.5 L_V + L_H + 1.0 L_a;  one Adam (lr 5e-5) over all parameters; the gradient of one seed
           (all its agents' actors and V's, its mixer, its encoders) clipped to norm 1.0 as one vector
  5 epochs; each a fresh permutation of the n rows cut into floor(n / 64) minibatches, the remainder dropped.
Gradients flow through rho in the entropy and penalty terms as in the code (nothing there is detached but alpha).

Decisions where the sources are silent or where we had to choose ([inferred] unless said):
- Gradient clipping "over all parameters": the code trains one seed per process and calls
  ``clip_grad_norm_(self.parameters(), 1.0)`` on the whole MAPPO module, so here one seed's gradient (the N agents'
  members, the mixer, and the encoder if any) is one vector clipped to 1.0; seeds never interact
  (:func:`clip_grad_norm_per_seed_`; ``common.networks.nets.clip_grad_norm_`` clips per member, i.e. per agent).
- Seeds batched: the tensors are [S, n, ...]. Seeds whose buffers differ in length (MOMA-PPO's synthetic batches: b to
  b + k rows each) pass ``lengths`` [S] in the batch, every buffer padded to n = max(lengths): seed s's GAE ends
  at row lengths[s] - 1 (its last row acts as the buffer's end, next point; padded rows never reach a real one), its
  advantages are normalised over its own rows, its permutations are of its own rows, and its metrics are means over
  them; every seed must then hold the same number of minibatches floor(lengths[s] / minibatch_size) (one shared Adam
  step count), else a ValueError. ``stack`` / ``split_state`` put the learners of several runs into one and back
  (cells as members, common/running/grouping.py).
- The last row of a buffer always acts as a time-out (A_{n-1} = delta_{n-1}, G_{n-1} = r + gamma m V(s')): this is
  what the code's initialisation ``running_returns = next_values[-1] * masks[-1]``, ``running_advants = 0`` gives.
- Minibatch order: each seed draws its permutations from its own generator (seeded from its seed alone), so a seed
  trained beside others gives the same result as trained alone (tests/test_mappo.py proves it). Action sampling
  likewise uses one generator per seed unless one generator is passed.
- The rollout reward is agent 0's column when rewards come per agent ([code] ``rewards = batches[0]['rewards']``;
  fully cooperative tasks give every agent the same reward).
- Categorical policies (the ICG, [code] ``CategoricalPolicy``): no head scaling, no log_std, no action penalty (the
  code's penalty on argmax indices in {0, 1} is always 0); their entropy estimate is >= 0 > -2, so alpha stays 0.
- Heterogeneous agents: observations are padded to O = max(obs_dims) (the mixer reads only the real entries), the
  Gaussian's padded action dims are zeroed and left out of log-probs and of the penalty, a categorical agent's padded
  actions get logit -1e10 (the code's illegal-move mask).
- ``alpha_lr = 0`` switches the entropy term off entirely ([code] ``if ppo_entropy_bonus_coeff > 0``).
- ``obs_norm`` (off by default, as the code): actor, V and mixer read (o - mu) / sigma, mu and sigma per seed and agent
  frozen once by ``set_obs_stats`` (saved in ``state_dict``; histories stay raw). Online Reacher needs it: on raw
  obs the joint velocities (|w| up to 50) let V and the mixer extrapolate and the time-out bootstraps diverge.
- GAE is computed by a reverse linear scan in ceil(log2 n) doubling steps (11 for n = 2000) of O(n) vectorised work
  each, over all seeds at once, instead of the code's n-step Python loop; it equals the loop up to float rounding.
- A buffer shorter than one minibatch is an error (the code would silently skip the update).
- Left out (off in every run of the paper by the code's defaults): ``ppo_double_V`` (min of two V's),
  ``ppo_actor_squashing='tanh'`` (and its squared pre-tanh penalty), ``state_dependent_std=False`` and legal-move
  masks other than the padding (every ICG move is legal).

History hook: an optional per-agent "memory" input prepended to the observation of the actor and of V (not of
the mixer); its three forms are described in common/algos/mappo_forward.py.

Batch of ``update`` (one flat buffer of contiguous rollouts per seed; S seeds, n rows, N agents, O padded obs dim,
A padded action dim): obs / next_obs [S, n, N, O], actions [S, n, N, A] (categorical: the index in [..., 0]),
rewards [S, n] (or [S, n, N]), masks [S, n] (1 = not terminal, i.e. 1 - terminals), zetas [S, n] (1 = the rollout
continues, 0 = time-out, i.e. 1 - timeouts), and memory / next_memory when the learner has one. Old log-probs and
values are recomputed from the batch (the policy has not changed since collection); stored ones are ignored.

Shapes: M members (= S * N), S seeds, N agents, B batch / minibatch, n buffer rows, E episodes, O obs dim, A action
dim, Oj joint obs dim, L history length, D history step dim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.algos.mappo_config import MIXERS, POLICIES, MAPPOConfig, check_learner_args, mappo_adam
from common.algos.mappo_forward import MAPPOForward
from common.algos.mappo_graph import MinibatchGraph, MinibatchStep
from common.algos.mappo_stack import ACT_STREAM, TRAIN_STREAM, MAPPOStacking
from common.algos.members import MemberLearner
from common.algos.ppo import (
    action_bound_error,
    action_penalty,
    adaptive_alpha,
    entropy_estimate,
    joint_ratio,
    masked_mean,
    n_minibatches,
    ppo_actor_loss,
    ppo_critic_loss,
)
from common.algos.state import derived_seed
from common.algos.streams import MemberStreams, seeded_generator
from common.networks.heads import CategoricalActor, GaussianActor
from common.networks.history import SelfAttentionHistoryEncoder
from common.networks.nets import EnsembleMLP, ValueNet

__all__ = ["MAPPOConfig", "MAPPO", "POLICIES", "MIXERS"]

# logit offset of padded categorical actions ([code] ``logits - (1 - legal_move) * 1e10``)
ILLEGAL_LOGIT = -1e10


class MAPPO(MinibatchStep, MAPPOStacking, MAPPOForward, MemberLearner):
    """Batched MAPPO (see the module docstring): members m = s * N + i for the actors and V's, one mixer per seed.

    MAPPO(obs_dims, act_dims, n_seeds, cfg, seed=0, seeds=None, n_actions=None, emb_dim=0, encoder=None, device,
    dtype). ``n_actions`` (choices per agent) is required for ``cfg.policy="categorical"`` (act_dims all 1) and
    forbidden otherwise. A seed's networks are built from ``seeds[s]`` alone (``encoder``: the caller's). Random
    streams: per seed, one generator for the minibatch order and one for action sampling, both in ``state_dict``.
    """

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: MAPPOConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        n_actions: Sequence[int] | None = None,
        emb_dim: int = 0,
        encoder: nn.Module | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        cuda_graph: bool | None = None,
    ):
        cfg = (cfg or MAPPOConfig()).validate()
        super().__init__(cfg, obs_dims, act_dims, n_seeds, seeds=seeds, seed=seed, device=device, dtype=dtype)
        S, N, M, O, A = self.n_seeds, self.n_agents, self.n_members, self.obs_dim, self.act_dim
        self.discrete = cfg.policy == "categorical"
        # choices per agent (categorical only); the actor's and V's embedding width (the history encoder's with
        # memory_len > 0, else the caller's encoder's, 0 without one)
        self.n_actions, self.emb_dim = check_learner_args(cfg, self.act_dims, n_actions, emb_dim, encoder)
        self.joint_obs_dim = sum(self.obs_dims)
        self.memory_len = L = int(cfg.memory_len)
        if L > 0:
            self.history_dim = O + A  # a step = [own obs ⊕ own action], padded
        if cuda_graph and self.device.type != "cuda":
            raise ValueError(
                f"cuda_graph=True needs a cuda device, got device={str(self.device)!r} (cuda_graph: "
                "None = on for cuda, False = off)"
            )
        # minibatch steps: "graph" (CUDA graph, common/algos/mappo_graph.py), "eager", or "buffers" (the graph's
        # static-buffer step without a graph: tests); a run-time choice, not part of the config
        self.step_mode = (
            "graph" if (self.device.type == "cuda" if cuda_graph is None else cuda_graph) else "eager"
        )
        self._graph: MinibatchGraph | None = None
        X = self.emb_dim + O  # actor / V input [emb ⊕ obs]
        hidden = cfg.hidden

        def build(n_seeds: int) -> dict[str, nn.Module]:
            n_agents_members, n_mixers = n_seeds * N, n_seeds
            actor: CategoricalActor | GaussianActor
            if self.n_actions is not None:  # categorical
                actor = CategoricalActor(n_agents_members, X, max(self.n_actions), hidden)
            else:
                actor = GaussianActor(
                    n_agents_members,
                    X,
                    A,
                    hidden,
                    squash=False,
                    log_std_bounds=cfg.log_std_bounds,
                    head_init_scale=cfg.head_init_scale,
                )
            nets: dict[str, nn.Module] = {
                "actor": actor,
                "critic": ValueNet(n_agents_members, X, hidden),
                "mixer": EnsembleMLP(n_mixers, self.joint_obs_dim, N + 1, hidden),
            }
            if L > 0:  # built last: without histories the other networks are built as before
                nets["encoder"] = SelfAttentionHistoryEncoder(n_agents_members, O + A, self.emb_dim, L)
            return nets

        # seed before building: seed s's networks (its mixer too) from seeds[s]
        big = self._build_members(build)
        self.actor, self.critic, self.mixer = big["actor"], big["critic"], big["mixer"]
        self.encoder = big["encoder"] if L > 0 else encoder
        if encoder is not None:
            if getattr(encoder, "n_members", None) != M:
                got = getattr(encoder, "n_members", None)
                raise ValueError(f"encoder must have n_members = S * N = {M}, got {got}")
            bad = [k for k, p in encoder.named_parameters() if p.dim() == 0 or p.shape[0] != M]
            if bad:
                raise ValueError(f"encoder parameters {bad} lack the leading member axis of {M}")
            encoder.to(device=self.device, dtype=dtype).train()
        # foreach Adam: 1.035x a MOMA-PPO quick iteration on one CPU thread, bit for bit (issue 63); fused with
        # ``compiled``
        self.opt = mappo_adam(self.parameters(), cfg, self.step_mode)
        # the minibatch losses the step calls: MAPPO.losses, or its torch.compile'd form (``compiled``, issue 63)
        self.step_losses = torch.compile(self.losses, dynamic=False) if cfg.compiled else self.losses
        self.alpha = torch.full((S,), float(cfg.alpha0), device=self.device, dtype=dtype)  # [S]
        self.obs_mu = torch.zeros(S, N, O, device=self.device, dtype=dtype)  # obs_norm statistics [S, N, O]
        self.obs_sd, self.obs_stats_set = torch.ones_like(self.obs_mu), False

        # masks of the padded entries
        keep = [i * O + k for i in range(N) for k in range(self.obs_dims[i])]
        self._joint_idx = torch.tensor(keep, device=self.device)  # [Oj] columns of obs.reshape(..., N * O)
        am = torch.tensor([[k < self.act_dims[i] for k in range(A)] for i in range(N)], dtype=dtype)  # [N, A]
        self.act_mask = am.to(self.device)  # [N, A]
        self._act_mask_m = am.repeat(S, 1).to(self.device)[:, None, :]  # [M, 1, A]
        if self.n_actions is not None:  # categorical
            K = max(self.n_actions)
            lm = torch.tensor(
                [[0.0 if k < self.n_actions[i] else ILLEGAL_LOGIT for k in range(K)] for i in range(N)],
                dtype=dtype,
            )
            self._logit_bias = lm.repeat(S, 1).to(self.device)[:, None, :]  # [M, 1, K]

        # acting
        self.act_gens = [seeded_generator(derived_seed(sd, ACT_STREAM), self.device) for sd in self.seeds]
        self.n_updates = 0  # update() calls (PPO iterations)
        self.n_steps = 0  # optimizer steps (minibatches)

    def _training_streams(self) -> MemberStreams:
        """The minibatch order: one generator per seed, SeedSequence(seed, spawn_key=(TRAIN_STREAM,))."""
        return MemberStreams.per_seed(
            self.seeds, self.n_agents, lambda sd: derived_seed(sd, TRAIN_STREAM), self.device
        )

    @property
    def gens(self) -> list[torch.Generator]:
        """The seeds' minibatch-order generators (``streams``), in seed order."""
        return self.streams.generators

    # ---- modules ------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods = {"actor": self.actor, "critic": self.critic, "mixer": self.mixer}
        if self.encoder is not None:
            mods["encoder"] = self.encoder
        return mods

    def parameters(self) -> list[Tensor]:
        return [p for m in self.modules().values() for p in m.parameters()]

    # ---- update -------------------------------------------------------------------------------
    def losses(
        self, mb: Mapping[str, Tensor | None], alpha: Tensor
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Total loss [S] of one minibatch and the new alpha [S] (see the module docstring for each term).
        mb: obs / actions [M, B, ...], memory [M, B, ...] or None, joint [S, B, Oj], logp_old [S, B, N],
        values_old / returns / advantages [S, B]."""
        # t: the tensors (all but a None memory)
        cfg, t = self.cfg, {k: v for k, v in mb.items() if v is not None}
        x = self._inputs(t["obs"], mb["memory"])
        dist = self._dist(x)
        logp = self._per_seed(self._log_prob(dist, t["actions"]))  # [S, B, N]
        ratio = joint_ratio(logp, t["logp_old"], cfg.ratio_log_max)  # [S, B]
        actor = ppo_actor_loss(ratio, t["advantages"], cfg.clip)  # [S]
        values = self._values(x, t["joint"])  # [S, B]
        critic = ppo_critic_loss(values, t["values_old"], t["returns"], cfg.value_clip)  # [S]
        total = actor + cfg.critic_coef * critic
        zero = torch.zeros_like(actor)
        entropy, bonus, penalty = zero, zero, zero
        if cfg.alpha_lr > 0:
            entropy = entropy_estimate(ratio, logp.sum(-1), cfg.clip)  # [S]
            # before its use ([code])
            alpha = adaptive_alpha(alpha, entropy, cfg.entropy_target, cfg.alpha_lr)
            bonus = -alpha * entropy
            total = total + bonus
        if not self.discrete and cfg.action_penalty > 0:
            # mean actions [S, B, N, A] -> [S, B]
            err = action_bound_error(self._per_seed(dist[0]), self.act_mask)
            penalty = cfg.action_penalty * action_penalty(ratio, err, cfg.clip)  # [S]
            total = total + penalty
        clipped = ((ratio - 1.0).abs() > cfg.clip).to(ratio.dtype).mean(-1)
        info = {
            "actor_loss": actor,
            "critic_loss": critic,
            "entropy": entropy,
            "entropy_bonus": bonus,
            "action_penalty": penalty,
            "ratio": ratio.mean(-1),
            "clip_frac": clipped,
        }
        return total, alpha, info

    def update(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One PPO iteration on a rollout batch (keys in the module docstring): old quantities and GAE once, then
        ``epochs`` x floor(n / minibatch_size) Adam steps. Returns detached [S] metrics (means over the minibatches;
        ``alpha`` is the value after the update)."""
        cfg = self.cfg
        S, M = self.n_seeds, self.n_members
        data = self.prepare(batch)
        n = data["rewards"].shape[1]
        lengths = self._lengths(batch.get("lengths"), n)  # None: every seed's buffer is all n rows
        tg = self.targets(data, lengths)
        B = cfg.minibatch_size
        counts = lengths.tolist() if lengths is not None else [n]
        ks = {n_minibatches(c, B) for c in counts}
        if len(ks) > 1:
            raise ValueError(
                f"buffers of lengths {counts} hold different numbers of minibatches of {B} "
                f"({sorted(ks)}): seeds updated together must take the same number of Adam steps"
            )
        k = ks.pop()
        ar_m = torch.arange(M, device=self.device)[:, None]  # [M, 1]
        ar_s = torch.arange(S, device=self.device)[:, None]  # [S, 1]
        member = {"obs": data["obs"], "actions": data["actions"], "memory": data.get("memory")}
        seed = {
            "joint": data["joint"],
            "logp_old": tg["logp"],
            "values_old": tg["values"],
            "returns": tg["returns"],
            "advantages": tg["advantages"],
        }
        sums: dict[str, Tensor] = {}
        graph = self._minibatch_graph()
        # the same step over static buffers (and in a CUDA graph): common/algos/mappo_graph.py
        if graph is not None:
            graph.load({**member, **seed}, n)
            graph.zero_sums()
        for _ in range(cfg.epochs):
            if lengths is None:
                # [S, n]
                perm = torch.stack([torch.randperm(n, generator=g, device=self.device) for g in self.gens])
            else:  # each seed a permutation of its own rows (only the first k * B are read)
                perm = torch.stack(
                    [
                        F.pad(torch.randperm(int(c), generator=g, device=self.device), (0, n - int(c)))
                        for g, c in zip(self.gens, lengths.tolist())
                    ]
                )
            for j in range(k):
                idx = perm[:, j * B : (j + 1) * B]  # [S, B]
                self.n_steps += 1
                if graph is not None:
                    graph.step(idx)
                    continue
                for key, v in self.minibatch_step(member, seed, idx, ar_m, ar_s).items():
                    sums[key] = sums.get(key, 0.0) + v.detach()
        if graph is not None:
            sums = {key: v.clone() for key, v in graph.sums.items()}
        self.n_updates += 1
        out = {key: v / (cfg.epochs * k) for key, v in sums.items()}
        if lengths is None:
            out.update(
                alpha=self.alpha.clone(),
                value=tg["values"].mean(-1),
                returns=tg["returns"].mean(-1),
                rewards=data["rewards"].mean(-1),
            )
        else:
            w = self._row_weights(lengths, n)
            out.update(
                alpha=self.alpha.clone(),
                value=masked_mean(tg["values"], w),
                returns=masked_mean(tg["returns"], w),
                rewards=masked_mean(data["rewards"], w),
            )
        if cfg.check_finite and not bool(torch.isfinite(out["loss"]).all()):
            raise FloatingPointError(
                f"MAPPO: the loss is not finite in update {self.n_updates} "
                f"(per seed {out['loss'].tolist()}; actor {out['actor_loss'].tolist()}, "
                f"critic {out['critic_loss'].tolist()})"
            )
        return out
