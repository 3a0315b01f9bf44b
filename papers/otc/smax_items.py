"""OTC's Figure 6(d): discrete CQL vs OTC (d_q) + CQL on SMAX 5m_vs_6m (SMAX substitutes SMAC's 5m_vs_6m), with
the paper's sequential online collection. One record per (cell, seed). ``JOB`` is Figure 6's job: cells whose
learner is ``cql`` run ``smax_tuning_run``, the other panels papers.otc.deploy's ``tuning_run``. The deployments
(the sequential collection, its env seeds and streams) and the test evaluation: papers/otc/smax_deploy.py.

Paper [P]: Jiang & Lu, AAAI 2023, Sec. 4.6: decentralized datasets of 1 x 10^4 episodes from "medium policies" on
SMAC 5m_vs_6m; "we build OTC (d_q) on CQL ... and let the agents sequentially collect online experiences at each
deployment": "when one agent collects online data, this agent takes the exploration policy, and other agents take
the learned policies" (the one item with exploration during deployment; the cost grows linearly with N). Table 3's
CQL column: (256, 256), lr 1e-4, |B| 512, |D| 2000, batch 128, gamma 0.99, L = 2000.

    pi^0   <- CQL offline on B_i^0 (each agent its own observation and action column, the team reward, the masks);
              cached and shared by both methods of a seed [I C4, C5]
    for k = 1..K:
        for j = 1..N (run side by side, the policies fixed during a deployment):                       [P Sec. 4.6]
            M episodes of the joint policy with agent j epsilon-greedy (eps 0.1, over its available
            actions) and every other agent greedy;  D_j^k <- agent j's transitions of those episodes   [I C23]
        B_j^k <- B_j^{k-1} u D_j^k  (agent j's own online rows only)
        alpha_j^k by Eq. (4) from DD_j^k (OTC; common to papers/otc/otc.py)                               [P; I C13]
        L updates, each on a batch of the sampler:
            cql        128 rows uniform from B_j^k                                                   [P Sec. 4.1]
            cql_otc_dq B = 512 rows uniform from B_j^k, D = min(2000, |D_j^k|) rows of D_j^k without repeats,
                       d_q with Q = the online Q-network's Q(o, a) and V(o') = max_{avail(o')} Q(o', .),
                       E V = (Q(o, a) - r) / gamma; 128 rows of B by Eq. (3)           [P Sec. 3.3-3.5; I C7-C12]
        S(pi^k) <- greedy win rate over ``eval_episodes`` SMAX test episodes (32 at full) on seeds apart  [I C23]

Decisions where the paper is silent [I] (also in papers/otc/README.md):
- M = 1 % of the offline episodes (100 of 10^4) per agent and deployment, whole episodes [I C23]; the N phases of a
  deployment use the same pi^{k-1} and are independent, so they run as one batch of N x M SMAX copies (copy
  c = j M + e has explorer j); the record counts all N x M episodes as the deployment's cost.
- Env seeds of deployment k and the exploration stream come from (seed, k) alone, the same for both methods
  (common random numbers: D^1 is identical across the methods of a seed).
- Each member (agent) keeps its own online rows: the merged data B_j^k are the shared offline rows (its column)
  and its own phase's rows. The |D| draw takes the same count for every member, min(|D|, min_j |D_j^k|).
- Rewards x 10 (``reward_scale``): SMAC's return scale (at most 20; SMAX's at most ~2), on which Table 3's CQL
  settings were used; CAST-BCQ's SMAX learners do the same, after measuring that on SMAX's raw scale their
  Q-differences drowned in Adam's update noise (papers/cast_bcq/smac.py). The records' returns stay raw.
- Terminal = one side wiped out (no bootstrap); SMAC's episode limit (70 steps) bootstraps (``timeouts``).
- Score = S(pi^K), the final greedy test win rate (a fraction; Figure 6d's y is taken to be the test win rate);
  the curve holds S(pi^k) and the mean test return for k = 0..K, the deployments' win rates / returns / env steps,
  and alpha_j^k, DD_j^k (OTC). ``improvement`` = Table 1's % on the win rate (non-finite when S(pi^0) = 0).
Shapes: M members (= the N agents of one seed), R rows, T rows of a dataset, E env copies, N agents, O obs dim,
K actions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from typing import Any, Mapping

import torch
from torch import Tensor

from common.algos.cql_discrete import BATCH_KEYS, DiscreteCQL, DiscreteCQLConfig
from common.running.experiment import Job
from common.running.offline import data_identity_of, dataset_of
from common.running.profiles import Profile
from common.running.records import atomic_torch_save
from papers.otc import config as C
from papers.otc import deploy
from papers.otc.deploy_offline import offline_dir, offline_key
from papers.otc.mujoco_items import sampler_fields
from papers.otc.otc_metrics import improvement_percent
from papers.otc.sampler import stream_generator
from papers.otc.smax_deploy import deploy_env_seeds, deploy_episodes, evaluate_smax, sequential_deployment
from papers.otc.smax_sampling import Buffers, SmaxSampler

__all__ = [
    "needs_smax",
    "cell_config",
    "load_smax",
    "agent_view",
    "offline_cql",
    "smax_tuning_run",
    "SMAX_METHODS",
    "JOB",
    # re-exported: the deployments and the evaluation (papers/otc/smax_deploy.py)
    "deploy_episodes",
    "deploy_env_seeds",
    "sequential_deployment",
    "evaluate_smax",
]

SMAX_METHODS = ("cql", "cql_otc_dq")  # Figure 6d: the baseline, OTC (d_q) [P]; cql_otc_dq_fixed<a> also runs
# spawn key of pi^0's offline batches (a deployment's streams: papers/otc/smax_deploy.py)
OFFLINE_STREAM = 0xC01


def needs_smax() -> str | None:
    """What panel d lacks on this installation (the SMAX environments: jaxmarl), or None."""
    if importlib.util.find_spec("jaxmarl") is None:
        return "SMAX (pip install -e '.[smax]')"
    return None


# ---- the cell ------------------------------------------------------------------------------------------------------


def cell_config(profile: Profile, method: str) -> dict[str, Any]:
    """The deploy.job config of ``method`` (``cql``, ``cql_otc_dq`` or ``cql_otc_dq_fixed<a>``) on SMAX 5m_vs_6m."""
    m = C.parse_method(method)
    if m.learner != "cql" or m.sampler not in ("uniform", "otc") or m.distance not in (None, "q"):
        raise ValueError(
            f"method {method!r} is not built for SMAX; valid: cql, cql_otc_dq, cql_otc_dq_fixed<alpha>"
        )
    settings = profile.paper
    offline = settings.offline_updates_of("cql")
    cfg: dict[str, Any] = {
        "dataset": {
            "env": C.SMAX_ENV,
            "map": C.SMAX_ENV.split("/", 1)[1],
            "kind": C.SMAX_DATA_KIND,
            "data_profile": profile.name,
            "env_options": {},
            "return_mode": "mean",
        },
        "learner": "cql",
        "cql": C.learner_section("cql", settings),
        "method": method,
        "sampler": m.sampler,
        "offline_updates": offline,
        "deployments": settings.deployments,
        "deploy_fraction": C.SMAX_DEPLOY_FRACTION,
        "min_deploy": settings.smax_min_deploy,
        "epsilon": C.SMAX_EPSILON,
        "reward_scale": C.SMAX_REWARD_SCALE,
        "tune_updates": settings.tune_updates("cql"),
        "eval_episodes": settings.smax_eval_episodes,
    }
    out = {**cfg, **sampler_fields(m, settings, offline)}
    out.pop("eval_max_steps", None)  # a SMAX episode ends by itself within SMAC's limit (70 steps)
    return out


def load_smax(spec: Mapping[str, Any]):
    """B^0 of a panel-d cell: common.datasets.smax's dataset (built first when missing), with its masks."""
    from common.datasets.smax import load

    return load(spec["map"], spec["kind"], spec["data_profile"], progress=False)


def agent_view(data, device, reward_scale: float = 1.0) -> dict[str, Tensor]:
    """The dataset as [T, N, ...] tensors, every key with an agent axis (member m reads column agents[m]): obs /
    next_obs [T, N, O] float, actions [T, N] int64, rewards (x ``reward_scale``) / terminals [T, N] float, avail /
    next_avail [T, N, K] bool. terminals = one side wiped out; time-outs bootstrap."""
    t = data.to_torch(device, keys=("obs", "actions", "rewards", "next_obs", "terminals"))
    x = data.extras_torch(device)
    T, N = t["obs"].shape[:2]
    out = {
        "obs": t["obs"].float(),
        "next_obs": t["next_obs"].float(),
        "actions": t["actions"][..., 0].round().long(),
        "rewards": t["rewards"].float() * reward_scale,
        "terminals": t["terminals"].float()[:, None].expand(T, N).contiguous(),
        "avail": x["avail_actions"].bool(),
        "next_avail": x["next_avail_actions"].bool(),
    }
    if not bool(out["avail"].gather(-1, out["actions"].unsqueeze(-1)).all()):
        raise ValueError("the SMAX dataset holds an action its avail_actions mark unavailable")
    return out


# ---- the offline stage (pi^0, cached) [I C4, C5] --------------------------------------------------------------------


def build_cql(data, section: Mapping[str, Any], seed: int, device) -> DiscreteCQL:
    return DiscreteCQL(
        data.obs.shape[-1],
        data.extras["avail_actions"].shape[-1],
        data.obs.shape[1],
        DiscreteCQLConfig(**dict(section)),
        seeds=[seed],
        device=device,
    )


def offline_cql(
    cfg: Mapping[str, Any], data, buf: Buffers, seed: int, device, progress
) -> tuple[DiscreteCQL, dict]:
    """pi^0 of ``seed`` and its evaluation {"win_rate", "return"}, from the cache or trained (and cached) now; the
    offline batches come from their own stream, checkpointed with the learner (resumes after a kill)."""
    section = dict(cfg["cql"])
    learner = build_cql(data, section, seed, device)
    key = offline_key(
        cfg,
        data,
        seed,
        device,
        "learner",
        {"learner": "cql-smax", "reward_scale": cfg["reward_scale"], **section},
    )
    path, part = offline_dir() / f"cql-{key}.pt", offline_dir() / f"cql-{key}.partial.pt"
    if path.exists():
        blob = torch.load(path, map_location=device, weights_only=False)
        learner.load_state_dict(blob["learner"])
        return learner, dict(blob["s0"])
    gen = stream_generator(seed, OFFLINE_STREAM, device)
    step, total = 0, int(cfg["offline_updates"])
    every = max(1, total // 10)
    if part.exists():
        blob = torch.load(part, map_location=device, weights_only=False)
        learner.load_state_dict(blob["learner"])
        gen.set_state(blob["gen"].cpu())
        step = int(blob["step"])
    with progress(total - step, f"offline cql seed {seed}") as bar:
        while step < total:
            learner.update(buf.gather(buf.sample(gen, learner.cfg.batch_size)))
            step += 1
            bar.update(1)
            if step % every == 0 and step < total:
                atomic_torch_save(
                    {"learner": learner.state_dict(), "gen": gen.get_state(), "step": step}, part
                )
    win, ret = evaluate_smax(learner, cfg["dataset"]["env"], [seed], int(cfg["eval_episodes"]))
    s0 = {"win_rate": float(win[0]), "return": float(ret[0])}
    atomic_torch_save({"learner": learner.state_dict(), "s0": s0, "updates": total}, path)
    if part.exists():
        part.unlink()
    return learner, s0


# ---- the job ---------------------------------------------------------------------------------------------------------


def _online_digest(buf: Buffers) -> str:
    """sha256 of the online rows (a cheap identity of what the deployments collected; tests compare it)."""
    h = hashlib.sha256(json.dumps(buf.counts.tolist()).encode())
    for k in BATCH_KEYS:
        if buf.online is not None:
            h.update(buf.online[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def smax_tuning_run(cell, seed: int, ctx) -> dict[str, Any]:
    """pi^0 (cached), then K sequential deployments with L updates each (module docstring). Config keys: dataset,
    learner ("cql"), cql, method, sampler, otc (OTC only), offline_updates, deployments, deploy_fraction, min_deploy,
    epsilon, tune_updates, eval_episodes."""
    cfg = cell.config
    device = ctx.device
    env = cfg["dataset"]["env"]
    data = load_smax(cfg["dataset"])
    offline = agent_view(data, device, float(cfg["reward_scale"]))
    buf = Buffers(offline, torch.arange(data.obs.shape[1], device=device))  # one seed: member m = agent m
    learner, s0 = offline_cql(cfg, data, buf, seed, device, ctx.progress)
    n_eps = deploy_episodes(data.card["n_episodes"], cfg["deploy_fraction"], cfg.get("min_deploy", 1))
    K, L = int(cfg["deployments"]), int(cfg["tune_updates"])
    sampler = SmaxSampler(str(cfg["sampler"]), learner, cfg, seed, device)
    k0 = 0
    saved = ctx.load_checkpoint()
    if saved is not None:
        learner.load_state_dict(saved["learner"])
        sampler.load_state_dict(saved["sampler"])
        buf.load_state_dict(saved["buffers"])
        k0 = int(saved["k"])
    else:
        ctx.log(0, score=s0["win_rate"], eval_return=s0["return"])
    for k in range(k0 + 1, K + 1):
        rows, stats = sequential_deployment(
            learner, env, seed, k, n_eps, float(cfg["epsilon"]), float(cfg["reward_scale"])
        )
        buf.add(rows)
        info = sampler.start_phase(buf)
        with ctx.progress(L, f"deployment {k}/{K}") as bar:
            for _ in range(L):
                learner.update(sampler.batch(buf))
                bar.update(1)
        win, ret = evaluate_smax(learner, env, [seed], int(cfg["eval_episodes"]))
        ctx.log(k, score=float(win[0]), eval_return=float(ret[0]), **stats, **info)
        if k < K:
            ctx.save_checkpoint(
                {
                    "k": k,
                    "learner": learner.state_dict(),
                    "sampler": sampler.state_dict(),
                    "buffers": buf.state_dict(),
                },
                step=k,
            )
    s_k = float(ctx.curve[-1]["score"])
    return {
        "score": s_k,
        "curve": list(ctx.curve),
        "s0": s0["win_rate"],
        "s_final": s_k,
        "return_s0": s0["return"],
        "return_final": float(ctx.curve[-1]["eval_return"]),
        "improvement": improvement_percent(s0["win_rate"], s_k),
        "deploy_episodes_per_agent": n_eps,
        "online_env_steps": int(sum(p.get("deploy_env_steps", 0) for p in ctx.curve)),
        "online_digest": _online_digest(buf),
        "data_win_rate": data.win_rate,
        **data_identity_of(data),
    }


# ---- Figure 6's job: the SMAX panel here, the others deploy.py's ---------------------------------------------------


def _is_smax(spec: Mapping[str, Any]) -> bool:
    return str(spec["env"]).startswith("smax/")


def item_run(cell, seed: int, ctx) -> dict[str, Any]:
    """Figure 6's job: a ``cql`` cell (panel d) runs ``smax_tuning_run``, any other cell deploy.tuning_run."""
    if cell.config["learner"] == "cql":
        return smax_tuning_run(cell, seed, ctx)
    return deploy.tuning_run(cell, seed, ctx)


def item_data_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The data identity of a Figure 6 cell's dataset spec (SMAX's or deploy.py's)."""
    return data_identity_of(load_smax(spec)) if _is_smax(spec) else deploy.dataset_identity(spec)


JOB = Job(run=item_run, data_spec=dataset_of, data_identity=item_data_identity)
