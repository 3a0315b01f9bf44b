"""CAST-BCQ's StarCraft items (Table 1, Figure 5; Ma & Wu, AAMAS 2023, §4.2) on SMAX: discrete offline learners as
the official SMAC code trains them (github JinmingM/CAST-BCQ, ``SMAC.rar`` at c5587eb2, ``src/``: ``learners/
q_learner.py`` = I-BCQ with ``iql_smac.yaml``, ``mbcq_learner.py`` = MABCQ, ``offpg_learner.py`` = ICQ-MA,
``cast_learner.py`` + ``modules/critics/centralc.py`` = CAST; ``run.py``'s offline loop; ``config/``). "code l. n"
cites those files; tests/test_cast_bcq_smac_official_parity.py replays their outputs.

Five methods behind one class, ``SmaxLearner`` (``SmaxConfig.method``), batched over members on the leading axis:
per-agent nets have members m = s * N + i (agent i of seed s), the seed-level nets (ICQ-MA's mixer, CAST's joint
critic) one member per seed. One minibatch of B rows (time steps) per seed, shared by its agents. SMAX
(envs/smax.py) replaces SC2; the data are common.datasets.smax ("mixed").

Notation: o = o_i, a = a_i (the action index), avail(o) the SMAX mask, r the team reward (x ``reward_scale``), d
terminal, K actions; every per-agent loss is the mean over the seed's agents (the code's mean over agents).
  I-BCQ   (q_learner.py l. 50-125) per agent a Q head and a BC head G: L = mean (Q(o, a) - y)^2 + NLL(G, a) + 1e-2
          mean G_logits^2, G's softmax over *all* K actions; filter F(o') = {a : G(a|o') / max G(.|o') + 1e-4 > 0.5}
          over all actions, a* = argmax of [Q(o', a) if a in F else -1e8, -9999999 if a unavailable] (the code's
          order: an unavailable action outranks a filtered available one), y = r + gamma (1 - d) Q'(o', a*).
  MABCQ   (mbcq_learner.py l. 100-125) I-BCQ with the value-deviation weight, *not* detached: E_V = (Q(o, a) - r) /
          gamma, w = clip(1 + (y - E_V) / E_V, 0.2, 1.8) (V = y), L = mean w (Q(o, a) - y)^2 + the BC terms.
  ICQ-MA  (offpg_learner.py; SMAC form) per agent Q_i(o, .) (256-256, the code's OffPGCritic width) and pi_i (64-64);
          QMIX's k(s) = normalized |W_1(s)| |w_final(s)| (embed 32, modules/mixers/qmix.py ``k``);
          critic (l. 119-160): y = r + gamma (1 - d) B softmax_B(Q'_tot(s', a') / 1000) Q'_tot(s', a'), the softmax
          over all B rows; L = mean (k . Q(o, a) - y)^2; then the actor (l. 44-95) from the *updated* critic and
          mixer (run.py l. 188-189: train_critic, then train): pi = softmax over avail, A = Q_i(o, a) - sum pi Q_i,
          L_pi = -mean k_i B softmax_B(A / 0.1) log pi_i(a|o); act argmax_avail pi.
  CAST    (cast_learner.py, ``agent="pi"``, the code) per agent a policy pi_i (softmax over avail) and one joint
          critic per seed Q(s, onehot a_1 .. a_N) (256-256, centralc.py): y = r + gamma (1 - d) Q'(s', a'_data)
          (SARSA; ``target="policy"``: a' = every agent's greedy action, P Eq. 6); credit (centralc.py l. 76-109):
          for m = 1..M (10), k ~ U{1..N-1}, a uniform k-subset D_m of the others (one draw per agent and m for the
          whole batch), Delta_i = 1/M sum_m [Q(s, a with D_m zeroed) - Q(s, a with D_m and i zeroed)] from the
          updated critic; L_pi = mean (pi_i(a_i|o_i) - Delta_i)^2 (l. 81-102: the *probability* is regressed onto
          the credit); act argmax_avail pi. ``agent="q"``: the paper's discrete form (P Eq. 9 with §2.6's BCQ filter,
          our earlier default): Q_i regressed onto Delta_i, a BC head, act argmax over avail & the filter at 0.3
          (over the available actions, Fujimoto et al. 2019b).
  BC      (ours, the fair baseline) per agent a policy head: L = NLL(softmax over avail, a); act argmax_avail.
Every net: RMSprop (alpha 0.99, eps 1e-5; default.yaml), agents lr 5e-4, ICQ-MA's critic + mixer and CAST's
critic 1e-4 (``critic_lr``, offpg_smac.yaml / cast_smac.yaml), each optimizer's gradient clipped to norm 20 per seed
(``grad_norm_clip``); targets hard-copied every 20 updates (I-BCQ / MABCQ: ``target_update_interval`` 200 episodes,
run.py adds ``batch_size_run`` = 10 per iteration) or every 600 critic steps (ICQ-MA, CAST). Test actions are the
code's epsilon-greedy ones (``test_epsilon``; action_selectors.py: the test-mode epsilon = 0 is commented out): epsilon
from the linear schedule at t_env = 100 x updates (run.py l. 250): I-BCQ / MABCQ 1 -> 0.01, CAST 0.5 -> 0.001 over
200,000; ICQ-MA's multinomial selector is greedy at test. In training the code's policies carry an epsilon floor
(``train_epsilon``, ``floored_policy``): pi = (1 - eps) softmax over all K + eps / K, masked and renormalized, eps
0.5 -> 0.001 (CAST) / 0.5 -> 0.05 (ICQ-MA, over 500,000) on the same clock. A profile shorter than the code's 40,000
iterations lays these schedules over its own updates (``schedule_scale`` = 40,000 / updates; quick: 10) [I], so
its last evaluations use the code's final epsilons; full runs them on the code's clock.
Reward scale [I, measured]: every learner trains on r x ``reward_scale`` = 10, SMAC's scale (returns at most 20,
``reward_scale_rate``; SMAX's ~2, docs/smax.md), so the code's hyperparameters (ICQ's temperatures) apply as on
SMAC; on SMAX's raw scale our earlier CAST's credits (|Delta| ~ 0.01) sat below the optimizer's per-step jitter.
Our decisions [I]: MLP agent nets (64-64) on the agent's own SMAX observation instead of SMAC's GRU-64 with agent
id and last action (the behavior data come from feed-forward MAPPO policies, docs/smax.md), per-agent parameters
(no sharing, members = seeds x agents; the code shares one network: its clip sees the sum of the agents'
gradients, ours their concatenation); one-step targets on B sampled time steps instead of TD(lambda) on 32-episode
batches with one critic step per time step (the code: ~max episode length critic steps per agent step, ours 1:1);
ICQ-MA's critic an MLP with one output per action (the code's v + a dueling sum has the same outputs); the ICQ
softmaxes over the B rows (the code: over the 32 episodes at each time step); time-out rows get no critic loss.
Shapes: S seeds, N agents, M = S*N members, B batch, O obs, D state, K actions, C sub-team draws.
Config: smac_config.py; pieces: smac_losses.py; acting: smac_acting.py. Checkpoints and stacked runs: the member
base SeedStreamsLearner (a stream per seed, each seed's gradient clipped alone: a stacked update is each run's).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.members import SeedStreamsLearner
from common.algos.ppo import clip_grad_norm_per_seed_
from common.networks.nets import EnsembleMLP, hard_update, polyak_update
from papers.cast_bcq.grid_losses import bc_loss, credit_loss, icq_policy_weights, masked_argmax, take_action
from papers.cast_bcq.smac_acting import SmaxActing
from papers.cast_bcq.smac_config import LEARNER_NAME, QMIX_EMBED, SmaxConfig
from papers.cast_bcq.smac_losses import (
    bcq_target,
    cast_credit,
    code_bcq_argmax,
    code_filter,
    filter_allowed,
    floored_policy,
    icq_ma_target,
    joint_input,
    qmix_k,
    subteam_masks,
    vd_weight,
)

__all__ = ["SmaxLearner", "build_smax_learner", "smax_learner"]
# each method's target nets, and the net it acts with (the others: pi)
TARGETED = {"i_bcq": ("q",), "mabcq": ("q",), "icq_ma": ("q", "mix"), "cast_bcq": ("qj",), "bc": ()}
GREEDY_NET = {"i_bcq": "q", "mabcq": "q", "bc": "bc"}


# ---- the learner ----------------------------------------------------------------------------------------------


class SmaxLearner(SmaxActing, SeedStreamsLearner):
    """The five SMAX learners batched over seeds (module docstring) on the member base (members m = s * N + i; one
    minibatch-row and sub-team stream per seed). ``prepare_data`` -> ``sample_batch`` -> ``update``; ``act(obs
    [S, E, N, O], avail [S, E, N, K]) -> actions [S, E, N]`` (greedy or the code's epsilon-greedy, masked).
    Beyond the base's attributes: K (actions), D (state width), groups (each optimizer's parameters)."""

    SAMPLE_STREAM = 0x5A

    def __init__(
        self,
        obs_dim: int,
        state_dim: int,
        n_agents: int,
        n_actions: int,
        cfg: SmaxConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
    ):
        N = int(n_agents)
        super().__init__(
            (cfg or SmaxConfig()).validate(),
            [obs_dim] * N,
            [n_actions] * N,
            len(seeds),
            seeds=seeds,
            device=device,
        )
        cfg, self.K, self.D = self.cfg, self.act_dim, int(state_dim)
        self.nets = nn.ModuleDict(self._build_members(self._build))  # seed s's members from seeds[s] only
        targeted = TARGETED[cfg.method]
        self.targets = nn.ModuleDict({k: copy.deepcopy(self.nets[k]).requires_grad_(False) for k in targeted})
        # optimizer groups: (nets, lr); each clipped per seed on its own norm (the code's optimizers)
        groups = {
            "i_bcq": {"q": (("q", "bc"), cfg.lr)},
            "mabcq": {"q": (("q", "bc"), cfg.lr)},
            "icq_ma": {"critic": (("q", "mix"), cfg.critic_lr), "pi": (("pi",), cfg.lr)},
            "bc": {"bc": (("bc",), cfg.lr)},
            "cast_bcq": (
                {"bc": (("bc",), cfg.lr), "qj": (("qj",), cfg.critic_lr), "q": (("q",), cfg.lr)}
                if cfg.paper_cast
                else {"qj": (("qj",), cfg.critic_lr), "pi": (("pi",), cfg.lr)}
            ),
        }
        self.groups = {
            k: [p for n in nets for p in self.nets[n].parameters()]
            for k, (nets, _) in groups[cfg.method].items()
        }
        self.opts = {
            k: torch.optim.RMSprop(self.groups[k], lr=lr, alpha=0.99, eps=1e-5)
            for k, (_, lr) in groups[cfg.method].items()
        }

    def _build(self, n_seeds: int) -> dict[str, EnsembleMLP]:
        cfg, N, O, K = self.cfg, self.n_agents, self.obs_dim, self.K
        H, HC = (cfg.hidden, cfg.hidden), (cfg.critic_hidden, cfg.critic_hidden)
        if cfg.method in ("i_bcq", "mabcq") or cfg.paper_cast:
            return {
                "q": EnsembleMLP(n_seeds * N, O, K, H),
                "bc": EnsembleMLP(n_seeds * N, O, K, H),
                **({"qj": EnsembleMLP(n_seeds, self.D + N * K, 1, HC)} if cfg.paper_cast else {}),
            }
        if cfg.method == "bc":
            return {"bc": EnsembleMLP(n_seeds * N, O, K, H)}
        if cfg.method == "icq_ma":
            return {
                "q": EnsembleMLP(n_seeds * N, O, K, HC),
                "pi": EnsembleMLP(n_seeds * N, O, K, H),
                "mix": EnsembleMLP(n_seeds, self.D, (N + 1) * QMIX_EMBED, ()),
            }
        return {"pi": EnsembleMLP(n_seeds * N, O, K, H), "qj": EnsembleMLP(n_seeds, self.D + N * K, 1, HC)}

    # ---- data -------------------------------------------------------------------------------------------------
    def prepare_data(self, t: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Dataset.to_torch tensors + SmaxDataset.extras_torch -> obs / next_obs [T, N, O], state / next_state
        [T, D], act / next_act [T, N] long, avail / next_avail [T, N, K] bool, r (x reward_scale) / d / has_next /
        valid [T]."""
        dev = self.device
        act = t["actions"][..., 0].round().long().to(dev)  # [T, N]
        d = t["terminals"].float().to(dev)
        timeout = t["timeouts"].float().to(dev)
        T = act.shape[0]
        has_next = (1.0 - d) * (1.0 - timeout)
        has_next[-1] = 0.0
        next_act = torch.cat([act[1:], act[-1:]], dim=0)
        avail = t["avail_actions"].bool().to(dev)
        if not bool(avail.gather(-1, act.unsqueeze(-1)).all()):
            raise ValueError("the dataset holds an action its avail_actions mark unavailable")
        return {
            "obs": t["obs"].float().to(dev),
            "next_obs": t["next_obs"].float().to(dev),
            "state": t["state"].float().to(dev),
            "next_state": t["next_state"].float().to(dev),
            "act": act,
            "next_act": next_act,
            "avail": avail,
            "next_avail": t["next_avail_actions"].bool().to(dev),
            "r": t["rewards"].float().mean(dim=-1).to(dev) * self.cfg.reward_scale,
            "d": d,
            "has_next": has_next,
            "valid": torch.maximum(d, 1.0 - timeout) if T else d,
        }

    def sample_batch(self, data: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """[S, B, ...] rows per seed (each seed from its own stream, with replacement) + CAST's sub-team draws
        [S, N, C, N] (from the same stream)."""
        idx = self.sample_rows(data, per_seed=True, replace=True)  # [S, B]
        batch = {k: v[idx] for k, v in data.items()}
        if self.cfg.method == "cast_bcq":
            batch["subteam"] = torch.cat(
                [subteam_masks(g, 1, self.n_agents, self.cfg.subteams, self.device) for g in self.gens]
            )
        return batch

    def _members(self, x: Tensor) -> Tensor:
        """[S, B, N, ...] -> [M, B, ...] (m = s * N + i)."""
        S, B, N = x.shape[:3]
        return x.transpose(1, 2).reshape(S * N, B, *x.shape[3:])

    def _seeds(self, x: Tensor) -> Tensor:
        """[M, B, ...] -> [S, B, N, ...]."""
        return x.reshape(self.n_seeds, self.n_agents, *x.shape[1:]).transpose(1, 2)

    def _team(self, x: Tensor) -> Tensor:
        """per-seed [S, B] -> per-member [M, B]."""
        return x.repeat_interleave(self.n_agents, dim=0)

    # ---- update -----------------------------------------------------------------------------------------------
    def _step(self, name: str, loss: Tensor) -> Tensor:
        """One optimizer step on sum(loss) (seeds are independent: their losses add), each seed's gradient clipped
        to ``grad_clip`` on this optimizer's parameters; returns the norms [S] before the clip."""
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        norms = clip_grad_norm_per_seed_(self.groups[name], self.cfg.grad_clip, self.n_seeds)
        opt.step()
        return norms

    def _agent_mean(self, per_member: Tensor) -> Tensor:
        """per-member losses [M] -> per-seed means over the seed's agents [S] (the code's mean over agents)."""
        return per_member.reshape(self.n_seeds, self.n_agents).mean(dim=1)

    def _bc(self, obs: Tensor, a: Tensor, avail: Tensor | None) -> Tensor:
        """BC head loss per member [M]: NLL + logit_reg mean logits^2; the softmax over all K actions (the code) or,
        with ``avail`` (the paper form), over the available ones."""
        logits = self.nets["bc"](obs)  # [M, B, K]
        if avail is None:
            return bc_loss(logits, a, self.cfg.bc_logit_reg)
        keep = avail | F.one_hot(a, self.K).bool()
        nll = bc_loss(logits.masked_fill(~keep, -1e9), a, 0.0)
        return nll + self.cfg.bc_logit_reg * logits.square().mean(dim=(-2, -1))

    def _bcq_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])  # [M, B, O]
        a, av2 = self._members(b["act"]), self._members(b["next_avail"])  # [M, B], [M, B, K]
        r, d = self._team(b["r"]), self._team(b["d"])  # [M, B]
        with torch.no_grad():
            a_star = code_bcq_argmax(self.nets["q"](o2), code_filter(self.nets["bc"](o2), cfg.threshold), av2)
            y = bcq_target(self.targets["q"](o2), a_star, r, d, cfg.gamma)
        l_bc = self._bc(obs, a, None)
        q_data = take_action(self.nets["q"](obs), a)
        if cfg.td_loss == "huber":
            err = F.huber_loss(q_data, y.detach(), reduction="none", delta=1.0)
        else:
            err = (q_data - y.detach()).square()
        if cfg.method == "mabcq":  # mabcq_loss's form, the weight on the chosen error
            err = vd_weight(q_data, r, y, cfg.gamma, cfg.vd_clip) * err
        l_q = err.mean(dim=-1)
        l_q, l_bc = self._agent_mean(l_q), self._agent_mean(l_bc)
        norm = self._step("q", l_q + l_bc)
        return {"loss_q": l_q, "loss_bc": l_bc, "grad_norm": norm}

    def _icq_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])
        a, a2 = self._members(b["act"]), self._members(b["next_act"])
        avail = self._members(b["avail"])
        with torch.no_grad():
            k2 = qmix_k(self.targets["mix"](b["next_state"]), self.n_agents)  # [S, B, N]
            q2 = self._seeds(take_action(self.targets["q"](o2), a2))  # [S, B, N]
            y = icq_ma_target((k2 * q2).sum(-1), b["r"], b["d"], b["has_next"], cfg.gamma, cfg.icq_alpha)
        q_tot = (
            qmix_k(self.nets["mix"](b["state"]), self.n_agents)
            * self._seeds(take_action(self.nets["q"](obs), a))
        ).sum(-1)
        v = b["valid"]
        l_q = (v * (q_tot - y).square()).sum(-1) / v.sum(-1).clamp(min=1.0)  # [S]
        norm = self._step("critic", l_q)
        with torch.no_grad():  # the actor reads the critic and mixer after their step (run.py l. 188-189)
            q_all = self.nets["q"](obs)  # [M, B, K]
            k = self._members(qmix_k(self.nets["mix"](b["state"]), self.n_agents))  # [M, B]
        pi = floored_policy(self.nets["pi"](obs), avail, self.train_epsilon())
        base = (pi.detach() * q_all.masked_fill(~avail, 0.0)).sum(-1)
        w = icq_policy_weights(take_action(q_all, a), base, cfg.icq_beta) * k
        l_pi = self._agent_mean(-(w * torch.log(take_action(pi, a))).mean(dim=-1))
        self._step("pi", l_pi)
        return {"loss_q": l_q, "loss_pi": l_pi, "grad_norm": norm}

    def _greedy(self, obs: Tensor, avail: Tensor) -> Tensor:
        """Greedy actions [M, B] of each member: argmax over avail of pi (icq_ma, cast "pi") or Q (i_bcq, mabcq),
        over avail & the Fujimoto filter of Q_i (cast "q", or i_bcq / mabcq with test_filter)."""
        if self.cfg.paper_cast or self.cfg.test_filter:
            return masked_argmax(
                self.nets["q"](obs), filter_allowed(self.nets["bc"](obs), avail, self.cfg.threshold)
            )
        return masked_argmax(self.nets[GREEDY_NET.get(self.cfg.method, "pi")](obs), avail)

    def _cast_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])
        a, avail = self._members(b["act"]), self._members(b["avail"])
        out: dict[str, Tensor] = {}
        if cfg.paper_cast:
            out["loss_bc"] = l_bc = self._agent_mean(self._bc(obs, a, avail))
        with torch.no_grad():  # (the paper form's filter at s' from G before its step, Fujimoto)
            if cfg.target == "policy":  # P Eq. 6: a' = every agent's greedy action; time-outs bootstrap
                a2, weight, boot = (
                    self._seeds(self._greedy(o2, self._members(b["next_avail"]))),
                    None,
                    1.0 - b["d"],
                )
            else:  # the code's SARSA: the next dataset joint action; time-out rows have none (weight 0)
                a2, weight, boot = b["next_act"], b["valid"], b["has_next"]
            # [S, B]
            q2 = self.targets["qj"](joint_input(b["next_state"], F.one_hot(a2, self.K).float()))[..., 0]
            y = b["r"] + cfg.gamma * boot * q2
        if cfg.paper_cast:
            self._step("bc", l_bc)
        qj = self.nets["qj"](joint_input(b["state"], F.one_hot(b["act"], self.K).float()))[..., 0]  # [S, B]
        err = (qj - y).square()
        out["loss_qj"] = l_qj = (
            err.mean(-1) if weight is None else (weight * err).sum(-1) / weight.sum(-1).clamp(min=1)
        )
        out["grad_norm"] = self._step("qj", l_qj)
        with torch.no_grad():
            delta = cast_credit(self.nets["qj"], b["state"], b["act"], b["subteam"], self.K, cfg.absent)
        if cfg.paper_cast:
            out["loss_qi"] = l_qi = self._agent_mean(
                credit_loss(take_action(self.nets["q"](obs), a), self._members(delta))
            )
            self._step("q", l_qi)
        else:  # the code: pi(a|o) (softmax over avail) regressed onto the credit
            pi_a = take_action(floored_policy(self.nets["pi"](obs), avail, self.train_epsilon()), a)
            out["loss_pi"] = l_pi = self._agent_mean(credit_loss(pi_a, self._members(delta)))
            self._step("pi", l_pi)
        out["credit"] = delta.mean(dim=(1, 2))
        return out

    def _bc_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Our fair baseline: the masked NLL of the data's actions over the available ones, per agent."""
        obs, a, avail = self._members(b["obs"]), self._members(b["act"]), self._members(b["avail"])
        l_bc = self._agent_mean(bc_loss(self.nets["bc"](obs).masked_fill(~avail, -1e9), a, 0.0))
        return {"loss_bc": l_bc, "grad_norm": self._step("bc", l_bc)}

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        m = self.cfg.method
        out = {"icq_ma": self._icq_update, "cast_bcq": self._cast_update, "bc": self._bc_update}.get(
            m, self._bcq_update
        )(batch)
        self.step += 1
        if self.cfg.polyak is not None:
            for k, tgt in self.targets.items():
                polyak_update(tgt, self.nets[k], self.cfg.polyak)
        elif self.step % self.cfg.target_period == 0:  # the code's hard copies
            for k, tgt in self.targets.items():
                hard_update(tgt, self.nets[k])
        if not all(bool(torch.isfinite(v).all()) for v in out.values()):
            raise FloatingPointError(f"{m}: non-finite loss at update {self.step}")
        return {k: v.detach() for k, v in out.items()} if self.step % self.cfg.log_every == 0 else {}

    # ---- stacking runs (cells as members, smac_items.run_group): SeedStreamsLearner's hooks --------------------
    def stack_signature(self) -> str:
        """The base's (config, agents' widths, device, step) and the state width of the seed-level nets."""
        return f"{super().stack_signature()}|state_dim={self.D}"

    def _empty_stack(self, cfg: SmaxConfig, seeds: Sequence[int]) -> "SmaxLearner":
        return type(self)(self.obs_dim, self.D, self.n_agents, self.K, cfg, seeds=seeds, device=self.device)


def smax_learner(data, section: Mapping[str, Any], seeds: Sequence[int], device="cpu") -> SmaxLearner:
    """The learner for an SMAX dataset (obs [T, N, O], state [T, S], avail_actions [T, N, K] give its widths), its
    SmaxConfig the fields of the cell's ``section``, one member per seed of ``seeds``."""
    return SmaxLearner(
        data.obs.shape[-1],
        data.state.shape[-1],
        data.obs.shape[1],
        data.extras["avail_actions"].shape[-1],
        SmaxConfig(**dict(section)),
        seeds=seeds,
        device=device,
    )


def build_smax_learner(data, section: Mapping[str, Any], seed: int, device) -> SmaxLearner:
    """Registry builder of ``cast_smax``: :func:`smax_learner` for one seed."""
    return smax_learner(data, section, [seed], device)


register_learner(LEARNER_NAME, build_smax_learner)
