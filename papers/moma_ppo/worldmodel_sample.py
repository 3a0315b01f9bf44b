"""MOMA-PPO's synthetic transition: the ensemble statistics over the elites and the penalized step
``sample_step`` (what ``WorldModelEnsemble.sample`` runs).

Paper and official code as in papers/moma_ppo/worldmodel.py.

Sampling (on the E elites, for a batch of joint (o, a); [code] multi_agent/worldmodel_ensemble.py ``sample``)
  eps_g     = || Cov_e[(mu_T^e, mu_R^e)] ||_F          unbiased (E - 1) covariance across elites   ([paper] §3.1)
  eps_r     = Var_e[ mean_i mu_R,i^e ]                 unbiased                                      ([paper] §3.1)
  aleatoric = max_e sqrt(sum_j sigma_{e,j}^4) over the T and R dims = max_e ||Sigma_e||_F          (MOPO)
  each clamped at l_eps (2.0); e* ~ U{elites} per transition; s' = mu_T^{e*}; r = mean_i mu_R,i^{e*};
  mask = round(mean_i p_i^{e*}); s' clipped per agent and per dim to the dataset's [min, max] over
  obs U next_obs, r to [r_min, r_max]; then r~ = r - (l_al * aleatoric + l_g * eps_g + l_r * eps_r).
Shapes: G groups, E elites per group, B batch, N agents, O padded obs dim, A padded action dim,
Oj = sum_i O_i joint obs dim, I model input dim.
"""

from __future__ import annotations

import torch
from torch import Tensor

from papers.moma_ppo.worldmodel_data import WorldModelConfig

__all__ = ["epistemic_general", "epistemic_reward", "aleatoric_norm", "reward_penalty", "sample_step"]


def epistemic_general(mean_t: Tensor, mean_r: Tensor) -> Tensor:
    """eps_g = ||Cov||_F of the unbiased covariance across the E elites (axis 0) of the vector
    x = [mu_T, mu_R] ([paper] §3.1; [code] worldmodel_ensemble.py ``batch_cov``, ``batch_frobenius_norm``).
    With D the deviations [E, D] of one transition, ||D^T D||_F = ||D D^T||_F, so we form the E x E Gram
    matrix instead of the D x D covariance. mean_t [E, *, Oj], mean_r [E, *, N] -> [*]."""
    x = torch.cat([mean_t, mean_r], dim=-1)  # [E, *, D]
    dev = x - x.mean(0, keepdim=True)
    gram = torch.einsum("e...d,f...d->...ef", dev, dev)  # [*, E, E]
    return torch.linalg.vector_norm(gram, dim=(-2, -1)) / (x.shape[0] - 1)


def epistemic_reward(mean_r: Tensor) -> Tensor:
    """eps_r = unbiased variance across the elites (axis 0) of the agent-mean reward ([paper] §3.1;
    [code] worldmodel_ensemble.py ``torch.var(mean_rewards, unbiased=True)``). [E, *, N] -> [*]."""
    return mean_r.mean(-1).var(dim=0, unbiased=True)


def aleatoric_norm(log_std_t: Tensor, log_std_r: Tensor) -> Tensor:
    """MOPO's penalty signal max_e ||Sigma_e||_F = max_e sqrt(sum_j sigma_{e,j}^4) over the T and R dims
    ([code] worldmodel_ensemble.py ``model_max_cov_norm``). [E, *, Oj], [E, *, N] -> [*]."""
    var = torch.cat([log_std_t, log_std_r], dim=-1).mul(2.0).exp()  # sigma^2 [E, *, D]
    return torch.linalg.vector_norm(var, dim=-1).amax(0)


def reward_penalty(eps_g: Tensor, eps_r: Tensor, aleatoric: Tensor, cfg: WorldModelConfig) -> Tensor:
    """lambda_aleatoric * aleatoric + lambda_g * eps_g + lambda_r * eps_r, on the clamped signals
    ([code] train_rl_model_based.py ``correct_rewards``; [paper] §3.2)."""
    return cfg.lambda_aleatoric * aleatoric + cfg.lambda_g * eps_g + cfg.lambda_r * eps_r


@torch.no_grad()
def sample_step(
    wm,
    obs: Tensor,
    actions: Tensor,
    generator: torch.Generator | None = None,
    choice: Tensor | None = None,
    groups: Tensor | None = None,
) -> dict[str, Tensor]:
    """One synthetic step for a batch of joint (o, a) on the elites ([paper] §3.1; [code]
    worldmodel_ensemble.py ``sample`` + train_rl_model_based.py ``clip_to_dataset``, ``correct_rewards``).

    ``wm``: the WorldModelEnsemble (its layout, config, heads, elites, clipping box and own generator).
    obs [G, B, N, O] and actions [G, B, N, A] in the Dataset layout (padded; discrete: the index in
    [..., 0]); with one group the G axis may be left out (and is then left out of the outputs).
    ``generator`` draws the elite of each transition (default: the ensemble's own); ``choice`` [G, B] (long, in
    [0, n_elites)) gives the elite slots instead, drawn by the caller (several runs' streams side by side:
    moma_ppo.generate_rollouts with ``wm_gens``), and nothing is drawn. ``groups`` [G'] (long): block g' of
    obs [G', B, N, O] goes through group groups[g'] (its elites and box; blocks may share a group: the runs of a
    stack, each on its cell's ensemble); the outputs then lead with G'. Default: block g = group g.

    Returns (tensors, [G,] B leading):
      next_obs [B, N, O]      the chosen elite's mean next joint obs, split per agent, re-padded, clipped
      rewards [B, N]          penalized reward r~ (the same for every agent), after clipping
      rewards_clipped [B, N]  r-bar after clipping, before the penalty
      masks [B, N]            1 = not terminal (the same for every agent)
      penalty [B]             lambda_al * aleatoric + lambda_g * eps_g + lambda_r * eps_r (clamped signals)
      eps_g, eps_r, aleatoric [B]              clamped at cfg.threshold (what the penalty uses)
      eps_g_raw, eps_r_raw, aleatoric_raw [B]  unclamped (for the caller's adaptive rollout cut)
      member [B] long         the chosen elite's member index in its group
    """
    cfg, G, E = wm.cfg, wm.n_groups, wm.cfg.n_elites
    elites, box = wm.elites, wm.box
    if groups is not None:  # one block per entry of groups, each on its group's elites and box
        groups = torch.as_tensor(groups, device=wm.device).long().reshape(-1)
        if bool((groups < 0).any()) or bool((groups >= G).any()):
            raise ValueError(f"groups must name groups in [0, {G}), got {groups.tolist()}")
        elites, box = elites[groups], {k: v[groups] for k, v in box.items()}
        gid, G = groups, int(groups.shape[0])
    else:
        gid = torch.arange(G, device=wm.device)
    if bool((wm.elites < 0).any()):
        raise RuntimeError("no elites yet: call select_elites (or fit, or set_elites) before sample")
    if cfg.clip_to_dataset and not all(bool(torch.isfinite(v).all()) for v in box.values()):
        raise RuntimeError("clip_to_dataset=True but the dataset box is not set: call set_box(datasets)")
    squeeze = obs.dim() == 3
    if squeeze:
        if G != 1:
            raise ValueError(
                f"this ensemble has {G} groups: obs must be [G, B, N, O], got {tuple(obs.shape)}"
            )
        obs, actions = obs.unsqueeze(0), actions.unsqueeze(0)
    if obs.dim() != 4 or obs.shape[0] != G or actions.shape[:2] != obs.shape[:2]:
        raise ValueError(
            f"obs [G={G}, B, N, O] and actions [G, B, N, A] expected, got {tuple(obs.shape)} "
            f"and {tuple(actions.shape)}"
        )
    wm.heads.eval()
    x = wm.layout.inputs(obs.to(wm.device, wm.dtype), actions.to(wm.device, wm.dtype))  # [G, B, I]
    B = x.shape[1]
    idx = (gid[:, None] * wm.n_per_group + elites).reshape(-1)  # [G*E]
    xe = x.unsqueeze(1).expand(G, E, B, x.shape[-1]).reshape(G * E, B, -1)  # [G*E, B, I]
    outs = wm.heads.forward_members(idx, xe)
    # [E, G, B, F] each: elites first, as the statistics reduce axis 0
    mean_t, log_std_t, mean_r, log_std_r, logits = (o.reshape(G, E, B, -1).transpose(0, 1) for o in outs)

    eps_g_raw = epistemic_general(mean_t, mean_r)  # [G, B]
    eps_r_raw = epistemic_reward(mean_r)  # [G, B]
    alea_raw = aleatoric_norm(log_std_t, log_std_r)  # [G, B]
    eps_g, eps_r, alea = (v.clamp_max(cfg.threshold) for v in (eps_g_raw, eps_r_raw, alea_raw))

    if choice is None:
        gen = wm.gen if generator is None else generator
        choice = torch.randint(E, (G, B), generator=gen, device=gen.device).to(wm.device)  # [G, B] elite slot
    else:
        if generator is not None:
            raise ValueError("give the elite slots (choice) or a generator to draw them, not both")
        choice = choice.to(wm.device).long().reshape(G, B) if choice.numel() == G * B else choice
        if choice.shape != (G, B) or bool((choice < 0).any()) or bool((choice >= E).any()):
            raise ValueError(
                f"choice must be [G={G}, B={B}] elite slots in [0, {E}), got shape {tuple(choice.shape)}"
            )
    pick = choice[None, :, :, None]  # [1, G, B, 1]

    def chosen(v: Tensor) -> Tensor:  # [E, G, B, F] -> [G, B, F]
        return v.gather(0, pick.expand(1, G, B, v.shape[-1])).squeeze(0)

    next_obs = wm.layout.pad_obs(chosen(mean_t))  # [G, B, N, O]
    r_member = mean_r.mean(-1)  # [E, G, B] agent-mean reward of each elite
    if cfg.reward_source == "sampled_member":
        r_bar = r_member.gather(0, choice[None]).squeeze(0)  # [G, B]
    else:  # "ensemble_mean"
        r_bar = r_member.mean(0)
    p = torch.sigmoid(logits)  # [E, G, B, N]
    if cfg.done_vote == "agents_of_member":
        mask = torch.round(chosen(p).mean(-1))  # [G, B]
    else:  # "members": each elite votes round(mean_i p_i), the majority wins (ties -> 0, torch.round)
        mask = torch.round(torch.round(p.mean(-1)).mean(0))
    n = wm.layout.n_agents
    rewards = r_bar[..., None].expand(G, B, n)  # [G, B, N]
    if cfg.clip_to_dataset:
        next_obs = torch.clamp(next_obs, box["obs_low"][:, None], box["obs_high"][:, None])
        rewards = torch.clamp(rewards, box["rew_low"][:, None], box["rew_high"][:, None])
    penalty = reward_penalty(eps_g, eps_r, alea, cfg)  # [G, B]
    out = {
        "next_obs": next_obs,
        "rewards": rewards - penalty[..., None],
        "rewards_clipped": rewards.contiguous(),
        "masks": mask[..., None].expand(G, B, n).contiguous(),
        "penalty": penalty,
        "eps_g": eps_g,
        "eps_r": eps_r,
        "aleatoric": alea,
        "eps_g_raw": eps_g_raw,
        "eps_r_raw": eps_r_raw,
        "aleatoric_raw": alea_raw,
        "member": elites.gather(1, choice),
    }
    return {k: v.squeeze(0) for k, v in out.items()} if squeeze else out
