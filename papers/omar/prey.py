"""Train, freeze and version the learned prey of OMAR's predator-prey (``omar/tag``) and world (``omar/world``).

OMAR (Pan et al., ICML 2022; docs/omar_official_code.md#particle-environments) controls the prey of tag and world
with a DDPG policy trained online against learning predators and then frozen; the same frozen prey generates
every dataset and every evaluation. Its weights ship only inside OMAR's dataset archives, so we train our own:

    1. MATD3 (``common.behavior.matd3``, MPE preset) on ``envs.make(env, learn_prey=True)``: 4 learning agents,
       the 3 predators on their team reward, the prey (last agent, obs zero-padded to the predators' width)
       on OMAR's prey reward. Each agent has its own centralized twin critic on its own reward.
    2. Freeze the prey: its deterministic actor (member 3 of seed slot 0) is exported to
       ``<out>/<tag|world>-<version>.npz`` (numpy arrays, run by ``envs.particle_prey.NumpyActor``), its sha256
       is written into ``<out>/manifest.json``; from then on ``envs.make(env, prey="<version>")`` uses it.
    3. Escape statistics of the frozen prey (card ``<out>/<tag|world>-<version>.json``): over ``--eval-episodes``
       episodes (env seeds ``EVAL_SEED + e``), the predators' return Σ_t r_0 (OMAR's metric, the team reward
       of predator 0) and the number of (predator, prey) collisions per episode, for random-action predators
       and for the co-trained predators (deterministic), against the frozen prey, the scripted prey
       (``flee_action``) and a uniform-random prey.

    python -m papers.omar.prey --env omar/tag --steps 100000 [--seed 0] [--version v2]   # into runs/prey
    python -m papers.omar.prey --env omar/tag --steps 100000 --install                  # replace the committed prey
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import envs
from common.behavior.matd3 import MATD3, MATD3Config
from common.behavior.matd3_train import train
from common.datasets.card import sha256_file
from common.networks.heads import DeterministicActor
from common.running.roots import REPO_ROOT, runs_root
from common.running.runtime import git_commit, set_threads
from envs.particle_prey import PREY_DIR, PREY_KEYS, NumpyActor, prey_file

EVAL_SEED = 3_000_000  # escape-statistics episodes use env seeds EVAL_SEED + e (no training run uses them)
PREY_INDEX = 3  # the prey is the last of the 4 agents of learn_prey=True


# ---- export / manifest -----------------------------------------------------------------------------------
def actor_arrays(actor: DeterministicActor, member: int, obs_dim: int) -> dict[str, np.ndarray]:
    """One member of a ``DeterministicActor`` as the arrays of :class:`envs.particle_prey.NumpyActor` (float32).
    The input width stays the learner's (padded) one; ``obs_dim`` is the real prey obs size."""
    net = actor.net
    out: dict[str, np.ndarray] = {
        "obs_dim": np.array(obs_dim, dtype=np.int64),
        "max_action": np.array(actor.max_action, dtype=np.float32),
        "n_layers": np.array(len(net.layers), dtype=np.int64),
    }
    with torch.no_grad():
        for i, layer in enumerate(net.layers):
            out[f"W{i}"] = layer.weight[member].cpu().numpy().astype(np.float32)  # [in, out]
            out[f"b{i}"] = layer.bias[member, 0].cpu().numpy().astype(np.float32)  # [out]
        if net.norm is not None:
            bn = net.norm
            out["bn_mean"] = bn.running_mean[member].cpu().numpy().astype(np.float32)
            out["bn_var"] = bn.running_var[member].cpu().numpy().astype(np.float32)
            out["bn_weight"] = bn.weight[member].cpu().numpy().astype(np.float32)
            out["bn_bias"] = bn.bias[member].cpu().numpy().astype(np.float32)
            out["bn_eps"] = np.array(bn.eps, dtype=np.float64)
    return out


def export_prey(
    actor: DeterministicActor, member: int, env_name: str, version: str, out_dir: Path | str
) -> Path:
    """Write ``<out_dir>/<key>-<version>.npz`` and record its sha256 in ``<out_dir>/manifest.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    obs_dim = {"omar/tag": 14, "omar/world": 22}[env_name]
    path = out_dir / prey_file(env_name, version)
    with open(path, "wb") as f:
        np.savez(f, **actor_arrays(actor, member, obs_dim))
    update_manifest(out_dir, path.name)
    return path


def update_manifest(out_dir: Path, name: str, card: str | None = None) -> dict:
    """Set ``manifest[name] = {sha256, bytes[, card]}`` (other entries kept; keys sorted)."""
    mpath = Path(out_dir) / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.is_file() else {}
    path = Path(out_dir) / name
    entry = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    if card is not None:
        entry["card"] = card
    manifest[name] = entry
    mpath.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return manifest


# ---- escape statistics -----------------------------------------------------------------------------------
def escape_stats(
    env_name: str, prey: Callable | str, predators: Callable | None, n_episodes: int, seed: int = EVAL_SEED
) -> dict[str, float]:
    """Predators' return Σ_t r_0 and (predator, prey) collisions per episode, mean ± std over n_episodes.

    ``prey``: a version name ("scripted", "v2") or a callable obs [O_prey] -> [2]; ``predators``: obs [3, O]
    -> actions [3, 2], or None for uniform-random actions (own generator seeded from ``seed``)."""
    opts = {"prey": prey} if isinstance(prey, str) else {"prey_policy": prey}
    env = envs.make(env_name, **opts)
    rng = np.random.default_rng([seed, 7])
    scenario = env.scenario
    returns, collisions, prey_returns = [], [], []
    for e in range(n_episodes):
        obs = env.reset(seed + e)
        ret, hits, prey_ret, done = 0.0, 0, 0.0, False
        while not done:
            act = rng.uniform(-1.0, 1.0, (3, 2)) if predators is None else predators(obs)
            obs, r, term, trunc, info = env.step(act)
            ret += float(r[0])
            prey_ret += info["prey_reward"]
            hits += sum(scenario.is_collision(adv, env.prey) for adv in env.learned)
            done = term or trunc
        returns.append(ret)
        collisions.append(hits)
        prey_returns.append(prey_ret)
    r, c, q = np.asarray(returns), np.asarray(collisions, dtype=np.float64), np.asarray(prey_returns)
    return {
        "return_mean": float(r.mean()),
        "return_std": float(r.std()),
        "collisions_mean": float(c.mean()),
        "collisions_std": float(c.std()),
        "caught_episodes": float(np.mean(c > 0)),
        "prey_return_mean": float(q.mean()),
        "prey_return_std": float(q.std()),
        "episodes": n_episodes,
    }


def random_prey(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A uniform-random prey in [-1, 1]^2 with its own generator (the "does it escape at all" baseline)."""
    rng = np.random.default_rng([seed, 11])
    return lambda obs: rng.uniform(-1.0, 1.0, 2)


def predator_policy(learner: MATD3) -> Callable[[np.ndarray], np.ndarray]:
    """The co-trained predators (deterministic) on a fixed-prey env: obs [3, O] -> actions [3, 2]. Actors are
    decentralized, so the prey's row of the 4-agent input is a zero placeholder whose action is dropped."""
    joint = learner.seed_policy(0)

    def policy(obs: np.ndarray) -> np.ndarray:
        x = np.zeros((learner.N, learner.O), np.float32)
        x[:3, : obs.shape[1]] = obs
        return joint(x)[:3]

    return policy


# ---- main ------------------------------------------------------------------------------------------------
def commit_label() -> str:
    """The card's ``git_commit``: ``<sha>`` or ``<sha>-dirty`` (common.running.runtime.git_commit), "unknown" outside git."""
    gc = git_commit()
    return "unknown" if gc is None else gc["commit"] + ("-dirty" if gc["dirty"] else "")


def train_prey(
    env_name: str,
    steps: int,
    seed: int = 0,
    out_dir: Path | str = PREY_DIR,
    version: str = "v2",
    eval_episodes: int = 100,
    batch_size: int | None = None,
    log=print,
) -> dict:
    """Train MATD3 with a learning prey, freeze and export the prey, measure its escape statistics and write
    its card. Returns the card."""
    if env_name not in PREY_KEYS:
        raise ValueError(f"env {env_name!r} has no learned prey; choose one of {', '.join(PREY_KEYS)}")
    if steps < 1 or eval_episodes < 1:
        raise ValueError(f"need steps >= 1 and eval_episodes >= 1, got {steps}, {eval_episodes}")
    out_dir = Path(out_dir)
    command = (
        f"python -m papers.omar.prey --env {env_name} --steps {steps} --seed {seed} --version {version} "
        f"--eval-episodes {eval_episodes}" + ("" if batch_size is None else f" --batch-size {batch_size}")
    )
    # MPE preset; short (test-sized) runs start learning half-way so that their update path runs too
    warm = min(1000, steps // 2)
    overrides = {} if batch_size is None else {"batch_size": batch_size}
    cfg = MATD3Config.preset(
        env_name,
        start_steps=warm,
        learning_starts=warm,
        eval_every=max(steps // 10, 1),
        eval_episodes=10,
        store_state=False,
        buffer_size=max(steps, 1),
        **overrides,
    )
    curve = []

    t0 = time.perf_counter()

    def on_eval(step, lr, scores):
        curve.append([step, float(scores[0])])
        log(
            f"  step {step:>7d}  predators' mean team return vs the learning prey {scores[0]:8.2f}"
            f"  ({time.perf_counter() - t0:.0f} s)"
        )

    log(f"training MATD3 on {env_name} (learn_prey=True) for {steps} steps, seed {seed}")
    res = train(env_name, {"learn_prey": True}, cfg, [seed], steps, callback=on_eval, return_mode="agent0")
    lr = res.learner
    log(
        f"  done in {res.wall_time:.0f} s (env {res.env_time:.0f} s, updates {res.update_time:.0f} s, "
        f"{res.n_updates} updates)"
    )

    lr.actor.eval()
    npz = export_prey(lr.actor, PREY_INDEX, env_name, version, out_dir)
    frozen = NumpyActor.load(npz)
    check = np.random.default_rng(0).normal(size=(8, frozen.obs_dim)).astype(np.float32)
    padded = np.zeros((8, lr.N, lr.O), np.float32)
    padded[:, PREY_INDEX, : frozen.obs_dim] = check
    np.testing.assert_allclose(frozen(check), lr.seed_policy(0)(padded)[:, PREY_INDEX], atol=1e-5)

    log(f"escape statistics over {eval_episodes} episodes:")
    preds = {"random": None, "co-trained": predator_policy(lr)}
    preys = {version: frozen, "scripted": "scripted", "random": None}
    stats = {}
    for pk, pred in preds.items():
        for qk, prey in preys.items():
            prey_fn = random_prey(EVAL_SEED) if prey is None else prey
            st = escape_stats(env_name, prey_fn, pred, eval_episodes)
            stats[f"predators={pk}, prey={qk}"] = st
            log(
                f"  predators {pk:>10s}  prey {qk:>8s}: return {st['return_mean']:8.2f} ± {st['return_std']:6.2f}"
                f"  collisions/episode {st['collisions_mean']:6.2f}  caught in {100 * st['caught_episodes']:3.0f} %"
                f"  prey return {st['prey_return_mean']:8.2f}"
            )

    card = {
        "env": env_name,
        "version": version,
        "file": npz.name,
        "sha256": sha256_file(npz),
        "how": "MATD3 (common.behavior.matd3, MPE preset) with 4 learning agents on envs.make(env, learn_prey=True): "
        "3 predators on their team reward, the prey (last agent) on OMAR's prey reward; then the prey's "
        "deterministic actor (seed slot 0, member 3) is frozen and exported to numpy.",
        "actor": {
            "obs_dim": frozen.obs_dim,
            "input_width": frozen.in_dim,
            "hidden": list(cfg.hidden),
            "input_batchnorm": frozen.bn is not None,
            "output": "max_action * tanh",
            "max_action": frozen.max_action,
        },
        "training": {
            "steps": steps,
            "seed": seed,
            "matd3_config": cfg.to_dict(),
            "wall_time_s": round(res.wall_time, 1),
            "n_updates": res.n_updates,
            "curve_agent0_return_vs_learning_prey": curve,
        },
        "escape": {
            "metric": "predators' return = Σ_t r_0 (team reward of predator 0, OMAR's metric); collisions = "
            "(predator, prey) colliding pairs summed over the 25 steps; caught_episodes = fraction "
            "of episodes with >= 1 collision; prey return = Σ_t prey reward",
            "eval_env_seeds": f"{EVAL_SEED} + episode",
            "stats": stats,
        },
        "command": command,
        "git_commit": commit_label(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    card_path = out_dir / npz.name.replace(".npz", ".json")
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    update_manifest(out_dir, npz.name, card=card_path.name)
    log(f"wrote {npz} (sha256 {card['sha256'][:12]}...), {card_path}, {out_dir / 'manifest.json'}")
    return card


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m papers.omar.prey",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--env", required=True, choices=sorted(PREY_KEYS), help="environment whose prey to train")
    p.add_argument("--steps", type=int, required=True, help="training transitions (env steps)")
    p.add_argument("--seed", type=int, default=0, help="MATD3 seed (networks, exploration, training envs)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        default=None,
        help="folder for the .npz, card and manifest.json (default <runs root>/prey: this "
        "machine's runs, git-ignored; the envs keep using the committed prey)",
    )
    where.add_argument(
        "--install",
        action="store_true",
        help=f"write into the package's prey assets ({PREY_DIR.relative_to(REPO_ROOT)}), which the "
        "envs load: maintainers replacing the committed prey",
    )
    p.add_argument("--version", default="v2", help="version name written into the file names")
    p.add_argument("--eval-episodes", type=int, default=100, help="episodes per escape statistic")
    p.add_argument(
        "--batch-size", type=int, default=None, help="MATD3 minibatch per agent (default: the MPE preset's)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args(argv)
    for name in ("steps", "eval_episodes", "threads") + (("batch_size",) if a.batch_size is not None else ()):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} {getattr(a, name)}: give a positive integer")
    if a.seed < 0:
        p.error(f"--seed {a.seed}: give a non-negative integer")
    if not re.fullmatch(r"v\d+", a.version):
        p.error(f"--version {a.version!r}: give v<number>, e.g. v2")
    set_threads(a.threads)
    out = PREY_DIR if a.install else (Path(a.out) if a.out else runs_root() / "prey")
    train_prey(a.env, a.steps, a.seed, out, a.version, a.eval_episodes, a.batch_size)


if __name__ == "__main__":
    main()
