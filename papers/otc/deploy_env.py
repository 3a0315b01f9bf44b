"""The cell's data and env for OTC's online-tuning job (papers/otc/deploy.py, whose module docstring states the job
and the choices [I] with the spec's ids), moved out of deploy.py and re-exported there: B^0 of a cell and its
identity, the deployment size M, the env options of deployment k or of the evaluation of pi^k (the non-stationary
navigation's schedule, spec C22), S(pi^k) on env seeds apart from training [I C3], and the deployment D^k itself:
pi^{k-1} acting deterministically from env seed DEPLOY_SEED_OFFSET + 1000 s + k, the same for every variant
(common random numbers) [P Sec. 4.6; I C6].

Shapes: S seeds, E episodes, N agents, O obs dim, A action dim.
"""

from __future__ import annotations

from typing import Any, Mapping

from common.behavior.rollouts import collect
from common.running.evaluate import eval_seed, evaluate
from common.running.offline import data_identity_of

__all__ = [
    "DEPLOY_SEED_OFFSET",
    "load_dataset",
    "dataset_identity",
    "deploy_size",
    "env_options_at",
    "evaluate_learner",
    "evaluate_learners",
    "deploy",
]

DEPLOY_SEED_OFFSET = 2_000_000  # env seeds of the deployments (apart from evaluation, 1_000_000 + ...)


# ---- the cell's dataset ---------------------------------------------------------------------------------------


def load_dataset(spec: Mapping[str, Any]):
    """B^0 of a cell (papers/otc/datasets.py): the shared MuJoCo data split on the env with OTC's obs_mode, or the
    uniform-random data of the particle and navigation envs (built first when missing)."""
    from papers.otc.datasets import load_spec

    return load_spec(spec)


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    return data_identity_of(load_dataset(spec))


def deploy_size(n_offline: int, fraction: float, minimum: int = 1) -> int:
    """M = round(fraction |B^0|), at least ``minimum`` [P: 1 %; I: the smoke floor]."""
    return max(int(minimum), int(round(float(fraction) * int(n_offline))))


# ---- the env of deployment k and of the evaluations ----------------------------------------------------------


def env_options_at(cfg: Mapping[str, Any], what: str, k: int) -> dict[str, Any]:
    """The env options of deployment k (``what="deploy"``, k = 1..K) or of the evaluation of pi^k (``"eval"``,
    k = 0..K): the dataset's, with the cell's ``env_schedule`` {"key", "deploy": [K values], "eval": [K + 1]}
    applied (the non-stationary navigation's beta, OTC spec C22)."""
    opts = dict(cfg["dataset"]["env_options"])
    sched = cfg.get("env_schedule")
    if sched:
        opts[sched["key"]] = sched[what][k - 1 if what == "deploy" else k]
    return opts


def evaluate_learner(learner, cfg: Mapping[str, Any], seed: int, k: int = 0) -> float:
    """S(pi^k): mean return of ``eval_episodes`` deterministic episodes on env seeds eval_seed(seed) + e [I C3]."""
    return evaluate_learners(learner, cfg, [seed], k)[0]


def evaluate_learners(learner, cfg: Mapping[str, Any], seeds, k: int = 0) -> list[float]:
    """S(pi^k) of each seed of ``learner`` (a stack of runs: each run's seed), in one vectorised rollout."""
    ds = cfg["dataset"]
    r = evaluate(
        learner.policy(),
        ds["env"],
        len(seeds),
        int(cfg["eval_episodes"]),
        [eval_seed(s) for s in seeds],
        return_mode=ds["return_mode"],
        env_options=env_options_at(cfg, "eval", k),
        max_steps=cfg.get("eval_max_steps"),
    )
    return [float(x) for x in r.mean]


# ---- deployments -------------------------------------------------------------------------------------------------


def deploy(learner, cfg: Mapping[str, Any], seed: int, k: int, n_steps: int):
    """D^k: ``n_steps`` transitions of pi^{k-1} acting deterministically (no exploration [P Sec. 4.6]) on the
    cell's env from env seed DEPLOY_SEED_OFFSET + 1000 seed + k [I C6]; the last episode is cut."""
    ds = cfg["dataset"]
    act = learner.policy()  # obs [1, E, N, O] -> [1, E, N, A]
    return collect(
        ds["env"],
        env_options_at(cfg, "deploy", k),
        lambda obs: act(obs[None])[0],
        int(n_steps),
        0.0,
        DEPLOY_SEED_OFFSET + 1000 * int(seed) + int(k),
        kind="custom",
        return_mode=ds["return_mode"],
        policy_description=f"pi^{k - 1} of the tuned learner, deterministic",
    )
