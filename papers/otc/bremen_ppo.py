"""BREMEN's policy learning for OTC (papers/otc/bremen.py holds the learner, ``BREMEN``, and its module docstring the
papers, the equations and the deviations): the named losses (``bc_loss``, ``ppo_losses``) and ``BREMENPolicy``, a
mixin of ``BREMEN``: the Gaussian policy's log-likelihood, the behavior-cloning step, the randomness of one PPO
iteration (``draw_noise``), imagined rollouts in the model ensemble, GAE, and the PPO iteration itself.

It reads the learner's attributes: ``cfg`` (BREMENConfig), ``actor``, ``value`` and their optimizers, ``streams``,
``agents``, ``n_members``, ``act_dim``, ``dtype``, ``device``, the attached data (``_attached()``) and the ensemble's
``predict`` (papers/otc/bremen_models.py).

Shapes: M members, B batch, R rollouts per member, H horizon, O obs dim, A action dim.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import Tensor

from common.algos.ppo import gae_with_timeouts, joint_ratio, normalize_advantages, ppo_actor_loss
from common.datasets.sampling import gather_members
from common.networks.heads import gaussian_log_prob

__all__ = ["bc_loss", "ppo_losses", "BREMENPolicy"]


# ----------------------------------------------------------------------------------------------
# named losses (the batched learner calls them on [M, ...] tensors; the tests on hand-made ones)
# ----------------------------------------------------------------------------------------------


def bc_loss(logp: Tensor) -> Tensor:
    """Behavior cloning by maximum likelihood: logp = log pi(a_b | o_b) [M, B] -> [M] = -mean_B logp."""
    return -logp.mean(-1)


def ppo_losses(
    logp: Tensor, logp_old: Tensor, adv: Tensor, values: Tensor, returns: Tensor, clip: float
) -> tuple[Tensor, Tensor]:
    """PPO-clip (Schulman et al. 2017, Eq. 7) and the value regression, per member:
        rho = exp(log pi - log pi_old),  L_pi = -mean_B min(rho A, clip(rho, 1 - eps, 1 + eps) A)
        L_V = mean_B (V - G)^2
    logp (with its graph), logp_old, adv [M, B]; values (with its graph), returns [M, B] -> (L_pi [M], L_V [M])."""
    # one agent per member: exp(min(dlogp, 10))
    ratio = joint_ratio(logp.unsqueeze(-1), logp_old.unsqueeze(-1))
    return ppo_actor_loss(ratio, adv, clip), (values - returns).square().mean(-1)


class BREMENPolicy:
    """BREMEN's policy steps (module docstring), mixed into ``BREMEN``: BC while ``step < bc_updates``, then PPO on
    imagined rollouts."""

    # ---- the policy ---------------------------------------------------------------------------
    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log pi(act | obs): [M, *, O], [M, *, A] -> [M, *]."""
        mean, log_std = self.actor(obs)
        return gaussian_log_prob(mean, log_std, act)

    def bc_step(self, batch: Mapping[str, Tensor]) -> Tensor:
        """One Adam step of the policy on -mean log pi(a | o) of ``batch`` -> [M]."""
        loss = bc_loss(self.log_prob(batch["obs"], batch["actions"]))  # [M]
        self.actor_opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.actor_opt.step()
        return loss.detach()

    def draw_noise(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The randomness of one PPO iteration, in this order: start rows [M, R] of the attached data, model index
        [M, H] (one per member and step), action noise eps [M, H, R, A], minibatch permutation [M, R H]."""
        c, M, st = self.cfg, self.n_members, self.streams
        T = self._attached()["obs"].shape[0]
        R, H = c.rollout_starts, c.horizon
        kw = {"device": self.device}
        return {
            "start": st.indices(T, R, replace=True, generator=generator),
            "model": st.draw(
                functools.partial(torch.randint, 0, c.n_models), (M, H), generator, dtype=torch.int64, **kw
            ),
            "eps": st.draw(torch.randn, (M, H, R, self.act_dim), generator, dtype=self.dtype, **kw),
            "perm": st.draw(torch.rand, (M, R * H), generator, dtype=self.dtype, **kw).argsort(-1),
        }

    @torch.no_grad()
    def imagine(self, start: Tensor, eps: Tensor, which: Tensor) -> dict[str, Tensor]:
        """H-step rollouts of the policy in the ensemble: start [M, R, O], eps [M, H, R, A], which [M, H] ->
        obs / next_obs [M, R, H, O], actions [M, R, H, A] (unclipped samples), logp / rewards [M, R, H]."""
        o, steps = start, []
        for t in range(eps.shape[1]):
            mean, log_std = self.actor(o)  # [M, R, A], [M, 1, A]
            a = mean + log_std.exp() * eps[:, t]  # [M, R, A]
            o2, r = self.predict(o, a.clamp(-self.cfg.max_action, self.cfg.max_action), which[:, t])
            steps.append((o, a, gaussian_log_prob(mean, log_std, a), r, o2))
            o = o2
        keys = ("obs", "actions", "logp", "rewards", "next_obs")
        return {k: torch.stack([s[j] for s in steps], dim=2) for j, k in enumerate(keys)}

    @torch.no_grad()
    def advantages(self, roll: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """GAE and value targets of imagined rollouts (time-out at H: bootstrap on V(o_H)) -> ([M, R, H] x 2)."""
        obs = torch.cat([roll["obs"], roll["next_obs"][:, :, -1:]], 2)  # [M, R, H+1, O]: o'_t = o_{t+1}
        v_all = self.value(obs).squeeze(-1)  # [M, R, H+1]
        v, v_next = v_all[..., :-1], v_all[..., 1:]  # [M, R, H] each
        ones = torch.ones_like(v)
        return gae_with_timeouts(roll["rewards"], v, v_next, ones, ones, self.cfg.gamma, self.cfg.gae_lambda)

    def ppo_step(self, noise: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One PPO iteration: rollouts from ``noise``'s start rows, then one epoch of policy and value steps over
        ``ppo_minibatches`` minibatches. -> metrics [M]."""
        c, M = self.cfg, self.n_members
        start = gather_members({"obs": self._attached()["obs"]}, noise["start"], self.agents)[
            "obs"
        ]  # [M, R, O]
        roll = self.imagine(start.to(self.dtype), noise["eps"], noise["model"])
        adv, ret = self.advantages(roll)  # [M, R, H]
        n = adv.shape[1] * adv.shape[2]
        flat = {
            "obs": roll["obs"].reshape(M, n, -1),
            "actions": roll["actions"].reshape(M, n, -1),
            "logp": roll["logp"].reshape(M, n),
            "adv": normalize_advantages(adv.reshape(M, n)),
            "ret": ret.reshape(M, n),
        }
        size = n // c.ppo_minibatches
        a_loss = v_loss = 0.0
        for k in range(c.ppo_minibatches):
            sel = noise["perm"][:, k * size : (k + 1) * size]  # [M, n_mb]
            mb = {
                key: v.gather(
                    1, sel.view(M, -1, *([1] * (v.dim() - 2))).expand(M, sel.shape[1], *v.shape[2:])
                )
                for key, v in flat.items()
            }
            pl, vl = ppo_losses(
                self.log_prob(mb["obs"], mb["actions"]),
                mb["logp"],
                mb["adv"],
                self.value(mb["obs"]).squeeze(-1),
                mb["ret"],
                c.ppo_clip,
            )
            self.actor_opt.zero_grad(set_to_none=True)
            self.value_opt.zero_grad(set_to_none=True)
            (pl.sum() + vl.sum()).backward()  # separate networks: each gets its own loss's gradient
            self.actor_opt.step()
            self.value_opt.step()
            a_loss, v_loss = a_loss + pl.detach(), v_loss + vl.detach()
        return {
            "actor_loss": a_loss / c.ppo_minibatches,
            "value_loss": v_loss / c.ppo_minibatches,
            "imagined_reward": roll["rewards"].mean((1, 2)),
            "return_0": ret[:, :, 0].mean(-1),
        }
