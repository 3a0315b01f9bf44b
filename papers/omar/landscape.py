"""Figure 1(d) of OMAR (Pan et al., ICML 2022): one agent's Q landscape.

Figure 1(d) (Sec. 3.1 and "Discussion of the effect of OMAR"): during MA-CQL training on 2-agent
spread1d medium-replay, plot agent 0's critic Q1(o, a) over its 1-D action a in [-1, 1] for one
state o, with (red circle) MA-CQL's current action pi(o), (green triangle) the action after MA-CQL's
actor training step, and (blue square) the action after OMAR's actor step (Eq. 2) instead.

``landscape_job(cell, seed, ctx)`` (cell.config built by :func:`landscape_config`):
  1. trains MA-CQL exactly as ``papers.omar.jobs.offline_job`` does (same ITD3 fields, updates,
     batch) and evaluates it once at the end (the record's score = that MA-CQL run's score);
  2. probes P dataset states (drawn with ``np.random.default_rng(seed)``): from the same snapshot
     (critic, actor, Adam moments, random stream) it takes ``probe_steps`` actor steps on the same
     minibatches with MA-CQL's loss (-Q1 + 1e-3 pi^2), then, restored, with OMAR's loss
     (tau (pi - a_hat)^2 - (1 - tau) Q1 + 1e-3 pi^2, a_hat from ``search_action``, the OMAR cell's
     tau and sampler); the critic is never stepped, so both actions are read on the SAME critic;
  3. trains OMAR too (its own critic) and reads its landscape and pi(o) on the same states.
  Q landscapes, actions and Q values use eval-mode networks (BatchNorm running statistics).
The figure's state is the probe state where MA-CQL's pi(o) lies furthest below the grid's best Q
(the paper shows one hand-picked state; ours is chosen by this rule, stated in the caption); the
claim uses every probe state. No checkpoints: both runs are short (2 agents, MPE update counts).

Shapes: M members (= N agents, one seed), P probe states, G grid points, O obs dim, A action dim.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from common.algos.itd3 import ITD3, ITD3Config
from common.algos.omar import omar_actor_loss, search_action
from common.networks.nets import clip_grad_norm_
from common.running.evaluate import eval_seed, evaluate
from common.running.offline import data_identity_of
from common.running.profiles import Profile
from papers.omar.data_protocol import load_spec
from papers.omar.jobs import offline_config

LANDSCAPE_DEFAULTS = {"grid": 101, "n_probe": 256, "probe_steps": 1}


# ----------------------------------------------------------------------------------------------
# Figure 1(d): the landscape job
# ----------------------------------------------------------------------------------------------
def landscape_config(
    profile: Profile, env: str, kind: str, env_options: Mapping[str, Any], **probe: Any
) -> dict:
    """Cell config of the landscape job: the MA-CQL and OMAR offline configs + probe settings."""
    unknown = sorted(set(probe) - set(LANDSCAPE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown landscape option(s) {unknown}; allowed: {sorted(LANDSCAPE_DEFAULTS)}")
    return {
        "landscape": {**LANDSCAPE_DEFAULTS, **probe},
        "ma_cql": offline_config(profile, env, kind, "ma_cql", env_options),
        "omar": offline_config(profile, env, kind, "omar", env_options),
    }


def _train(cfg: Mapping[str, Any], data, seed: int, device: str) -> tuple[ITD3, dict]:
    fields = dict(cfg["itd3"])
    fields["batch_size"] = min(int(fields["batch_size"]), data.size)  # as offline_job
    learner = ITD3(data.obs_dims, data.act_dims, 1, ITD3Config(**fields), seeds=[seed], device=device)
    tensors = learner.prepare_data(data.to_torch(device))
    for _ in range(int(cfg["updates"])):
        learner.update(learner.sample_batch(tensors))
    return learner, tensors


def _score(learner: ITD3, cfg: Mapping[str, Any], seed: int) -> float:
    ds = cfg["dataset"]
    r = evaluate(
        learner.policy(),
        ds["env"],
        1,
        cfg["eval_episodes"],
        [eval_seed(seed)],
        return_mode=ds["return_mode"],
        env_options=ds["env_options"],
    )
    return float(r.mean[0])


@torch.no_grad()
def _eval_mode(learner: ITD3, obs: torch.Tensor, grid: torch.Tensor | None = None):
    """Eval-mode pi(o) [M, P, A] and, with ``grid`` [G], Q1(o, a) [M, P, G]; training modes restored."""
    nets = (learner.actor, learner.critic)
    modes = [n.training for n in nets]
    for n in nets:
        n.eval()
    try:
        pi = learner.actor(obs)
        q = None
        if grid is not None:
            M, P, _ = obs.shape
            q = learner.critic.q1_many(obs, grid.view(1, 1, -1, 1).expand(M, P, -1, 1).contiguous())
        return pi, q
    finally:
        for n, m in zip(nets, modes):
            n.train(m)


@torch.no_grad()
def _q_at(learner: ITD3, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Eval-mode Q1(o, a) [M, P] for act [M, P, A]."""
    was = learner.critic.training
    learner.critic.eval()
    try:
        return learner.critic.q1(obs, act).squeeze(-1)
    finally:
        learner.critic.train(was)


def cql_actor_loss(learner: ITD3, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """MA-CQL's actor loss per member [M]: -mean Q1(o, pi(o)) + action_reg * mean pi^2 (the learner's own)."""
    return learner.actor_loss(batch)[0]


def rectified_actor_loss(learner: ITD3, batch: Mapping[str, torch.Tensor], omar: ITD3Config) -> torch.Tensor:
    """OMAR's Eq. 2 per member [M] on ``learner``'s critic: tau (pi - a_hat)^2 - (1 - tau) Q1 + reg pi^2,
    a_hat = search_action with ``omar``'s sampler settings and the learner's random stream."""
    obs = batch["obs"]  # [M, B, O]
    pi = learner.actor(obs)  # [M, B, A]
    q_pi = learner.critic.q1(obs, pi).squeeze(-1)  # [M, B]
    with torch.no_grad():
        a_hat = search_action(
            lambda a: learner.critic.q1_many(obs, a),
            pi.detach(),
            sampler=omar.omar_sampler,
            iters=omar.omar_iters,
            n_samples=omar.omar_n_samples,
            n_elites=omar.omar_n_elites,
            mu0=omar.omar_mu0,
            sigma0=omar.omar_sigma0,
            sigma_rule=omar.omar_sigma_rule,
            low=-omar.max_action,
            high=omar.max_action,
            generator=learner.gen,
        )
    return omar_actor_loss(q_pi, pi, a_hat, float(omar.omar_tau), omar.action_reg)


def actor_steps(
    learner: ITD3,
    batches: Sequence[Mapping[str, torch.Tensor]],
    loss_fn: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
) -> None:
    """The actor half of ITD3.update (loss, backward into the actor only, clip, Adam step), once per batch."""
    for batch in batches:
        loss = loss_fn(batch)
        learner.actor_opt.zero_grad(set_to_none=True)
        loss.sum().backward(inputs=list(learner.actor.parameters()))
        clip_grad_norm_(learner.actor, learner.cfg.grad_clip, learner.n_members)
        learner.actor_opt.step()


def probe(
    cql: ITD3,
    tensors: Mapping[str, torch.Tensor],
    idx: np.ndarray,
    grid: torch.Tensor,
    omar_cfg: ITD3Config,
    steps: int,
) -> dict[str, np.ndarray]:
    """Everything Figure 1(d) needs at the probe states ``idx`` [P], all on MA-CQL's critic:
    q_grid [M, P, G]; actions a_cur, a_cql, a_omar [M, P] (A = 1); their Q1 [M, P]."""
    obs = tensors["obs"][torch.as_tensor(idx)].permute(1, 0, 2).contiguous()  # [M=N, P, O]
    pi0, q_grid = _eval_mode(cql, obs, grid)
    batches = [cql.sample_batch(tensors) for _ in range(steps)]
    snapshot = copy.deepcopy(cql.state_dict())
    actor_steps(cql, batches, lambda b: cql_actor_loss(cql, b))
    a_cql, _ = _eval_mode(cql, obs)
    cql.load_state_dict(copy.deepcopy(snapshot))
    actor_steps(cql, batches, lambda b: rectified_actor_loss(cql, b, omar_cfg))
    a_omar, _ = _eval_mode(cql, obs)
    cql.load_state_dict(snapshot)
    out = {"q_grid": q_grid}
    for name, a in (("a_cur", pi0), ("a_cql", a_cql), ("a_omar", a_omar)):
        out[name] = a[..., 0]
        out["q_" + name[2:]] = _q_at(cql, obs, a)
    return {k: v.cpu().double().numpy() for k, v in out.items()}


def landscape_job(cell, seed: int, ctx) -> dict[str, Any]:
    """Figure 1(d) for one seed; the record's extra holds the landscape of agent 0 at the shown state
    and the statistics over every probe state and agent (see the module docstring)."""
    cfg = cell.config
    opts, cql_cfg, omar_cell = cfg["landscape"], cfg["ma_cql"], cfg["omar"]
    data = load_spec(cql_cfg["dataset"], cql_cfg["dataset"]["kind"])
    if set(data.act_dims) != {1}:
        raise ValueError(f"Figure 1(d) needs 1-D actions, got act_dims {data.act_dims}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(data.size, size=min(int(opts["n_probe"]), data.size), replace=False))  # [P]
    grid = torch.linspace(-1.0, 1.0, int(opts["grid"]), dtype=torch.float32, device=ctx.device)  # [G]

    cql, tensors = _train(cql_cfg, data, seed, ctx.device)
    score = _score(cql, cql_cfg, seed)
    ctx.log(int(cql_cfg["updates"]), score=score)
    omar_fields = {**omar_cell["itd3"], "batch_size": min(int(omar_cell["itd3"]["batch_size"]), data.size)}
    p = probe(cql, tensors, idx, grid, ITD3Config(**omar_fields), int(opts["probe_steps"]))
    omar, omar_tensors = _train(omar_cell, data, seed, ctx.device)
    obs = omar_tensors["obs"][torch.as_tensor(idx)].permute(1, 0, 2).contiguous()  # [M, P, O]
    pi_omar, q_grid_omar = _eval_mode(omar, obs, grid)
    pi_omar_np = pi_omar[..., 0].cpu().double().numpy()  # [M, P]
    # trained OMAR's pi(o) on MA-CQL's critic
    q_cql_at_omar_policy = _q_at(cql, obs, pi_omar).cpu().double().numpy()

    g = grid.cpu().double().numpy()
    gap = p["q_grid"][0].max(axis=-1) - p["q_cur"][0]  # [P] agent 0: best grid Q - Q(pi(o))
    j = int(np.argmax(gap))
    diff = p["q_omar"] - p["q_cql"]  # [M, P]
    return {
        "score": score,
        "curve": list(ctx.curve),
        "omar_score": _score(omar, omar_cell, seed),
        "state_index": int(idx[j]),
        "grid": g.tolist(),
        "q_grid_ma_cql": p["q_grid"][0, j].tolist(),
        "q_grid_omar": q_grid_omar[0, j].cpu().double().numpy().tolist(),
        "a_cur": float(p["a_cur"][0, j]),
        "q_cur": float(p["q_cur"][0, j]),
        "a_cql": float(p["a_cql"][0, j]),
        "q_cql": float(p["q_cql"][0, j]),
        "a_omar": float(p["a_omar"][0, j]),
        "q_omar": float(p["q_omar"][0, j]),
        "a_omar_policy": float(pi_omar_np[0, j]),
        "q_omar_policy_own_critic": float(
            np.interp(pi_omar_np[0, j], g, q_grid_omar[0, j].cpu().double().numpy())
        ),
        "n_probe": int(idx.size),
        "probe_steps": int(opts["probe_steps"]),
        "mean_q_gain": float(diff.mean()),  # mean over agents and probe states of Q(a_omar) - Q(a_cql)
        "frac_omar_higher": float((diff > 0).mean()),
        "mean_q_gain_agent0": float(diff[0].mean()),
        "mean_gap_to_grid_max": float((p["q_grid"].max(-1) - p["q_cur"]).mean()),
        "mean_q_gain_trained_omar": float((q_cql_at_omar_policy - p["q_cur"]).mean()),
        **data_identity_of(data),
    }
