"""MAPPO and IPPO on SMAX: the online behavior learner behind the StarCraft datasets (common/datasets/smax.py).

Papers: Yu et al., "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games" (NeurIPS 2022 D&B; MAPPO:
a centralised value on the global state) and de Witt et al., "Is Independent Learning All You Need in the StarCraft
Multi-Agent Challenge?" (2020; IPPO: a value per agent on its own observation). Hyperparameters from JaxMARL's SMAX
baselines (FLAIROx/JaxMARL ``baselines/MAPPO/mappo_rnn_smax.py`` with ``config/mappo_homogenous_rnn_smax.yaml``, and
``baselines/IPPO/config/ippo_rnn_smax.yaml``), the only published PPO settings for this engine.
Facts and measurements: docs/smax.md#behavior-policies.

Per seed s (member s of every network; the agents share parameters, as in both papers and in JaxMARL):
    actor    pi(a | o_i, e_i) = softmax over the AVAILABLE actions of MLP([o_i, e_i]); e_i the agent's one-hot id
    critic   mappo: V(s_t) on SMAX's world state (one value per step, every agent's advantage uses it)
             ippo:  V(o_i, e_i) per agent
    GAE      A_t = delta_t + gamma lam m_t zeta_t A_{t+1}, delta_t = r_t + gamma m_t V(s'_t) - V(s_t) per agent row
             (common.algos.ppo.gae_with_timeouts): m = 0 after a terminal step (one side wiped out), zeta = 0 after a
             time-out (SMAC's episode limit: V(s') bootstraps); A normalised over the seed's rows where the agent has
             a choice
    losses   L_pi = -mean min(rho A, clip(rho, 1 +- eps) A), rho = pi(a_i | o_i) / pi_old per agent (no joint ratio)
             L_H  = -0.01 mean H(pi(. | o_i))        L_V = 0.5 mean max((V - G)^2, (V_c - G)^2), V_c = V_old +- eps
             total = L_pi + L_H + 0.5 L_V; actor and critic gradients each clipped to norm 0.25 per seed; Adam eps 1e-5,
             lr annealed linearly to 0 over the run's iterations; 4 epochs x 4 minibatches per iteration
Means run over the rows that count: L_pi and H over (step, agent) rows of live steps where the agent has more than one
available action (a dead unit can only stop: its row carries no gradient and would only dilute the mean), L_V over
live steps. Unavailable actions get a logit of -1e10 (common.algos.ppo.masked_log_softmax), so they are never sampled.

Where we differ from JaxMARL, and why:
- MLP actor and critic (2 x 128 ReLU), no GRU: SMAX's unit_list observation carries each unit's last move and the
  weapon cooldowns; a feed-forward policy is enough for behavior data (3s_vs_3z is won in 100 iterations,
  docs/smax.md#profiles-and-cost), and cheaper on a CPU (no recurrence to unroll in the update).
- Rollouts are whole episodes: E envs per seed are reset together and stepped until every episode ended
  (``envs.make_vec`` freezes a finished copy until the next reset), pymarl's "episode runner"; JaxMARL steps 128
  steps with auto-reset. The update sees each seed's live (step, agent) rows only; an epoch cuts a seed's n_s rows
  into 4 minibatches of ceil(n_s / 4) (JaxMARL: 4 equal minibatches of its fixed-size buffer).
- A time-out bootstraps V(s') (JaxMARL treats it as terminal).

Batched seeds (members on one leading axis, ``common.networks.nets.EnsembleMLP``): seed s's networks are built from seeds[s]
alone; its envs, action noise and minibatch order come from generators seeded by (seeds[s], iteration) alone; its
losses and gradient clipping never mix with another seed's. So seed s trained beside others follows the run of seed s
alone (tests/test_smax_behavior.py) up to float rounding: the minibatches of all seeds share one size, so a seed
with fewer live rows than another gets rows of weight 0, which change only the order of float sums. A checkpoint
needs no random-generator state: a resumed run equals an uninterrupted one bit for bit.

Snapshots: the actor of every evaluation (every ``eval_every`` iterations, and the initial and final policies) is kept
with its win rates on ``eval_episodes`` fixed evaluation episodes, greedy (argmax) and sampled (the policy that
generates data); the dataset module picks its behavior policies among them.
Acting and rollouts: common/behavior/smax_acting.py; the training run: common/behavior/smax_ppo_train.py.

Shapes: S seeds, G policy groups (seeds, or snapshots when collecting), E envs per group, C = G E copies, N agents,
O obs dim, Sd state dim, K actions, T the map's episode limit, L the most live (step, agent) rows of a seed,
B a minibatch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence, cast

import numpy as np
import torch
from torch import Tensor

from common.algos.ppo import (
    categorical_entropy,
    clip_grad_norm_per_seed_,
    clipped_value_loss,
    gae_with_timeouts,
    masked_log_softmax,
    masked_mean,
    normalize_advantages,
    ppo_actor_loss,
)
from common.algos.state import build_seed_members
from common.behavior.smax_acting import ACT_STREAM, PERM_STREAM, generator, make_policy, with_agent_id
from common.networks.nets import EnsembleLinear, EnsembleMLP, adam
from common.running.fields import check, opt

__all__ = ["SmaxPPOConfig", "SmaxPPO", "CRITICS", "actor_from_snapshots"]

CRITICS = ("mappo", "ippo")


@dataclass
class SmaxPPOConfig:
    """Defaults = JaxMARL's SMAX MAPPO (mappo_homogenous_rnn_smax.yaml) where it applies; ours where marked."""

    # "mappo" V(world state) [Yu et al.] or "ippo" V(o_i, id) [de Witt et al.]
    critic: str = opt("mappo", choices=CRITICS)
    # MLP widths of actor and critic (JaxMARL: FC 128 + GRU 128; ours: no GRU)
    hidden: tuple[int, ...] = opt((128, 128), kind="int", ge=1, seq=True, hint="e.g. (128, 128)")
    # append the agent's one-hot id to the shared actor's (and IPPO critic's) input [ours]
    agent_id: bool = opt(True, kind="bool")
    lr: float = opt(4e-3, kind="num", gt=0)  # Adam lr of actor and critic (JaxMARL LR 4e-3)
    anneal_lr: bool = opt(True, kind="bool")  # lr -> 0 linearly over the iterations (JaxMARL ANNEAL_LR)
    adam_eps: float = opt(1e-5, kind="num", gt=0)  # (JaxMARL optax.adam eps)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # (JaxMARL GAMMA)
    lam: float = opt(0.95, kind="num", ge=0, le=1)  # GAE lambda (JaxMARL GAE_LAMBDA)
    clip: float = opt(0.05, kind="num", gt=0)  # ratio clip and value clip (JaxMARL CLIP_EPS, used for both)
    ent_coef: float = opt(0.01, kind="num", ge=0)  # entropy bonus (JaxMARL ENT_COEF)
    # weight of the value loss (JaxMARL VF_COEF; the loss itself has the 0.5 of PPO2)
    vf_coef: float = opt(0.5, kind="num", ge=0)
    # per seed, actor and critic separately (JaxMARL MAX_GRAD_NORM, two optax chains)
    max_grad_norm: float = opt(0.25, kind="num", gt=0)
    epochs: int = opt(4, kind="int", ge=1)  # passes over the buffer per iteration (JaxMARL UPDATE_EPOCHS)
    n_minibatches: int = opt(4, kind="int", ge=1)  # minibatches per epoch (JaxMARL NUM_MINIBATCHES)
    # episodes per iteration and seed [ours; JaxMARL: 128 envs x 128 steps with auto-reset]
    n_envs: int = opt(64, kind="int", ge=1)
    # PPO iterations (rollout of n_envs episodes + update) [ours: profiles set it]
    iterations: int = opt(200, kind="int", ge=1)
    eval_every: int = opt(10, kind="int", ge=1)  # iterations between greedy evaluations and actor snapshots
    # greedy evaluation episodes per seed (the same env seeds at every evaluation)
    eval_episodes: int = opt(32, kind="int", ge=1)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # configs read back from JSON / checkpoints
            self.hidden = tuple(self.hidden)

    def validate(self) -> "SmaxPPOConfig":
        """The fields' declared rules (common.running.fields.check)."""
        return check(self)


# ---- the learner ----------------------------------------------------------------------------------------


class SmaxPPO:
    """Batched MAPPO / IPPO (module docstring): member s of actor and critic is seed s.

    SmaxPPO(n_agents, obs_dim, state_dim, n_actions, cfg, seeds, device)."""

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        state_dim: int,
        n_actions: int,
        cfg: SmaxPPOConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
    ):
        self.cfg = cfg = (cfg or SmaxPPOConfig()).validate()
        self.seeds = [int(s) for s in seeds]
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)}")
        self.N, self.O, self.Sd, self.K = int(n_agents), int(obs_dim), int(state_dim), int(n_actions)
        self.S = len(self.seeds)
        self.device = torch.device(device)
        self.actor_in = self.O + (self.N if cfg.agent_id else 0)
        critic_in = self.Sd if cfg.critic == "mappo" else self.actor_in

        def build(n: int) -> dict[str, EnsembleMLP]:
            actor = EnsembleMLP(n, self.actor_in, self.K, cfg.hidden)
            last = cast(EnsembleLinear, actor.layers[-1])  # typed: nn.ModuleList's items are typed nn.Module
            last.scale_(0.01)  # near-uniform initial policy (JaxMARL: orthogonal(0.01) logits)
            return {"actor": actor, "critic": EnsembleMLP(n, critic_in, 1, cfg.hidden)}

        nets = build_seed_members(build, self.seeds, self.device, torch.float32)  # seed before building
        self.actor, self.critic = nets["actor"], nets["critic"]
        self.opt = adam([*self.actor.parameters(), *self.critic.parameters()], lr=cfg.lr, eps=cfg.adam_eps)
        self.iteration = 0  # update() calls so far

    # ---- acting -------------------------------------------------------------------------------------
    def policy(
        self, greedy: bool = False, stream: int = ACT_STREAM
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The current actor as a rollout policy over C = S E copies (seed-major); sampled with generators
        (seeds[s], stream, iteration) or greedy."""
        gens = None if greedy else [generator(s, stream, self.iteration) for s in self.seeds]
        return make_policy(self.actor, self.cfg.agent_id, gens, self.device)

    def actor_snapshot(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.actor.state_dict().items()}

    # ---- update -------------------------------------------------------------------------------------
    def _values(self, crit_in: Tensor) -> Tensor:
        return self.critic(crit_in).squeeze(-1)

    def prepare(self, ro: dict[str, np.ndarray]) -> dict[str, Tensor]:
        """A rollout of C = S E copies (seed-major) -> each seed's LIVE rows (step, agent) in buffer order, then one
        padding row of weight 0: tensors [S, L + 1, ...], L = the most live rows of a seed (a seed with fewer is
        padded with rows of weight 0). Adds the old log-probs and values, the GAE advantages (normalised) and
        returns, the weights w_act / w_val and ``n_live`` [S]."""
        S, N, cfg = self.S, self.N, self.cfg
        dev = self.device
        t = lambda k: torch.as_tensor(ro[k], device=dev)  # noqa: E731
        obs, state, avail = t("obs"), t("state"), t("avail")  # [C, T+1, N, O], [C, T+1, Sd], [C, T+1, N, K]
        C, T1 = obs.shape[:2]
        T, E = T1 - 1, C // S
        live = t("live").reshape(S, E, T).float()  # [S, E, T]
        with torch.no_grad():
            # V of every step and of the one after it, as GAE needs them
            if cfg.critic == "mappo":
                v = self._values(state.reshape(S, E * T1, -1)).reshape(S, E, T1, 1).expand(S, E, T1, N)
            else:
                v = self._values(with_agent_id(obs, cfg.agent_id).reshape(S, E * T1 * N, -1)).reshape(
                    S, E, T1, N
                )
            v = v.permute(0, 1, 3, 2)  # [S, E, N, T+1]
            rew = t("reward").reshape(S, E, 1, T) * live[:, :, None]
            # 0 after a wipe-out, padding
            m = (1.0 - t("terminated").float()).reshape(S, E, 1, T) * live[:, :, None]
            # 0 after a time-out, padding
            z = (1.0 - t("truncated").float()).reshape(S, E, 1, T) * live[:, :, None]
            shape = (S, E, N, T)
            adv, ret = gae_with_timeouts(
                rew.expand(shape),
                v[..., :T],
                v[..., 1:],
                m.expand(shape),
                z.expand(shape),
                cfg.gamma,
                cfg.lam,
            )  # [S, E, N, T]
            # rows r = (e, t, i) of the padded buffer; keep each seed's live rows first, in order
            w_live = live[..., None].expand(S, E, T, N).reshape(S, E * T * N)
            n_live = w_live.sum(1).long()  # [S]
            # [S, L]
            order = torch.sort(w_live, dim=1, descending=True, stable=True).indices[:, : int(n_live.max())]
            ar = torch.arange(S, device=dev)[:, None]
            step = order // N  # e T + t
            flat = order + (order // (T * N)) * N  # the row's index in the [E, T+1, N] layout of obs / avail
            rows = lambda y: y.permute(0, 1, 3, 2).reshape(S, E * T * N)[ar, order]  # noqa: E731  [S,E,N,T] -> [S,L]
            o = obs.reshape(S, E * T1 * N, -1)[ar, flat]  # [S, L, O]
            x = torch.cat([o, torch.eye(N, device=dev)[order % N]], -1) if cfg.agent_id else o  # [S, L, X]
            data = {
                "x": x,
                "avail": avail.reshape(S, E * T1 * N, -1)[ar, flat],  # [S, L, K]
                "actions": t("actions").reshape(S, E * T * N)[ar, order],  # [S, L]
                "values_old": rows(v[..., :T]),
                "returns": rows(ret),
                "advantages": rows(adv),
                "w_val": w_live[ar, order],
            }
            if cfg.critic == "mappo":
                data["critic_in"] = state.reshape(S, E * T1, -1)[ar, step + step // T]  # [S, L, Sd]
            else:
                data["critic_in"] = x
            # live rows where the agent can choose
            data["w_act"] = data["w_val"] * (data["avail"].sum(-1) > 1).float()
            # one padding row of weight 0 (the target of the minibatches' padding indices)
            data = {k: torch.cat([v_, torch.zeros_like(v_[:, :1])], 1) for k, v_ in data.items()}
            data["avail"][:, -1] = True
            data["advantages"] = normalize_advantages(data["advantages"], 1e-8, data["w_act"])
            logp_all = masked_log_softmax(self.actor(data["x"]), data["avail"])
            data["logp_old"] = logp_all.gather(-1, data["actions"][..., None]).squeeze(-1)  # [S, L + 1]
            data["n_live"] = n_live
        return data

    def losses(self, mb: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss [S] of one minibatch (module docstring) and its parts [S]."""
        cfg = self.cfg
        logp_all = masked_log_softmax(self.actor(mb["x"]), mb["avail"])  # [S, B, K]
        logp = logp_all.gather(-1, mb["actions"][..., None]).squeeze(-1)  # [S, B]
        ratio = torch.exp(logp - mb["logp_old"])
        actor = ppo_actor_loss(ratio, mb["advantages"], cfg.clip, mb["w_act"])
        entropy = masked_mean(categorical_entropy(logp_all), mb["w_act"])
        value = clipped_value_loss(
            self._values(mb["critic_in"]), mb["values_old"], mb["returns"], cfg.clip, mb["w_val"]
        )
        total = actor - cfg.ent_coef * entropy + cfg.vf_coef * value
        clipped = masked_mean(((ratio - 1.0).abs() > cfg.clip).float(), mb["w_act"])
        return total, {"actor_loss": actor, "value_loss": value, "entropy": entropy, "clip_frac": clipped}

    def minibatches(self, n_live: Sequence[int], gens: Sequence[torch.Generator]) -> list[Tensor]:
        """One epoch's minibatch indices [S, B] (n_minibatches of them): seed s permutes its own n_s live rows with
        gens[s] and cuts them into chunks of ceil(n_s / n_minibatches); shorter chunks are padded with the index of
        the padding row (n_max, weight 0) up to B = the largest chunk of any seed."""
        k = self.cfg.n_minibatches
        sizes = [max(-(-int(n) // k), 1) for n in n_live]
        B, pad = max(sizes), int(max(n_live))
        out = [torch.full((self.S, B), pad, dtype=torch.long) for _ in range(k)]
        for s, (n, size, g) in enumerate(zip(n_live, sizes, gens)):
            perm = torch.randperm(int(n), generator=g)
            for j in range(k):
                chunk = perm[j * size : (j + 1) * size]
                out[j][s, : len(chunk)] = chunk
        return [idx.to(self.device) for idx in out]

    def update(self, ro: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One PPO iteration on a rollout of C = S n_envs copies; returns per-seed metrics [S] (numpy)."""
        cfg, S = self.cfg, self.S
        if cfg.anneal_lr:
            for g in self.opt.param_groups:
                g["lr"] = cfg.lr * (1.0 - self.iteration / cfg.iterations)
        data = self.prepare(ro)
        n_live = data.pop("n_live").tolist()
        ar = torch.arange(S, device=self.device)[:, None]
        gens = [generator(s, PERM_STREAM, self.iteration) for s in self.seeds]
        sums: dict[str, Tensor] = {}
        for _ in range(cfg.epochs):
            for idx in self.minibatches(n_live, gens):  # [S, B]
                loss, info = self.losses({k: v[ar, idx] for k, v in data.items()})
                self.opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # seeds never interact: d(sum_s L_s) / d theta_s = d L_s / d theta_s
                clip_grad_norm_per_seed_(self.actor.parameters(), cfg.max_grad_norm, S)
                clip_grad_norm_per_seed_(self.critic.parameters(), cfg.max_grad_norm, S)
                self.opt.step()
                for k, v in {"loss": loss, **info}.items():
                    sums[k] = sums.get(k, 0.0) + v.detach()
        self.iteration += 1
        out = {k: (v / (cfg.epochs * cfg.n_minibatches)).cpu().numpy() for k, v in sums.items()}
        if not np.all(np.isfinite(out["loss"])):
            raise FloatingPointError(f"SmaxPPO: non-finite loss in iteration {self.iteration}: {out}")
        return out

    # ---- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "cfg": asdict(self.cfg),
            "seeds": list(self.seeds),
            "iteration": self.iteration,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "opt": self.opt.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = asdict(SmaxPPOConfig(**state["cfg"]))
        if saved != asdict(self.cfg) or list(state["seeds"]) != self.seeds:
            diff = sorted(k for k in saved if saved[k] != asdict(self.cfg)[k])
            raise ValueError(
                f"checkpoint differs from this learner in config fields {diff} or seeds "
                f"({list(state['seeds'])} vs {self.seeds})"
            )
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.opt.load_state_dict(state["opt"])
        self.iteration = int(state["iteration"])


def actor_from_snapshots(
    cfg: SmaxPPOConfig, actor_in: int, n_actions: int, picks: Sequence[tuple[dict[str, Tensor], int]]
) -> EnsembleMLP:
    """An actor whose member g is member ``picks[g][1]`` of the snapshot ``picks[g][0]`` (e.g. snapshots of several
    win-rate levels stacked to collect a mixture in one batched rollout)."""
    actor = EnsembleMLP(len(picks), actor_in, n_actions, cfg.hidden)
    actor.load_state_dict({k: torch.stack([snap[k][m] for snap, m in picks]) for k in actor.state_dict()})
    return actor.eval()
