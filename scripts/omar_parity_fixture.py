"""Record rollouts of OMAR's own particle-world code, for the parity test of our omar/* envs.

What it does: loads ``multiagent/core.py``, ``multiagent/environment.py`` and the three scenario files of
OMAR's official repository (github.com/ling-pan/OMAR, folder ``multiagent-particle-envs``; written against
commit 0e52ad6), builds each world exactly as OMAR's ``utils/make_env.py`` does (continuous actions), and
plays 20 episodes x 25 steps with uniform random actions in [-1, 1] for *every* policy agent, the prey of
tag and world included. Per step it stores the actions, every agent's observation and every agent's reward;
per episode the initial position of every entity. ``tests/test_envs_omar_parity.py`` replays the file in our
``omar/*`` envs through their public API (``reset_to`` and ``step``; the prey's recorded actions through
the ``prey_policy`` option).

Scenarios recorded: spread, tag, world (OMAR's files as they are) and spread1d with n = 2 and n = 5 (OMAR's
simple_spread scenario and core with ``world.dim_p = 1`` and ``world.dim_c = 0``: our 1-D motivating example
is built on the same core; OMAR's repository has no 1-D code of its own).

Nothing of OMAR's code is copied into this repository: the script imports it from a checkout. Stand-ins
are installed for the two imports that do not matter here (``gym``'s spaces and registration, from
gymnasium; ``seaborn``, only used for colours).

Rebuild the fixture (about 5 seconds)::

    git clone https://github.com/ling-pan/OMAR /tmp/OMAR && git -C /tmp/OMAR checkout 0e52ad6
    python scripts/omar_parity_fixture.py --omar-repo /tmp/OMAR [--out tests/fixtures/omar_parity.npz]

The file's ``meta`` entry (JSON) holds the sha256 of each OMAR file used, the seeds and the layout.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_common import (  # noqa: E402
    fixture_parser,
    install_gym_stand_in,
    load_module,
    require_files,
    sha256_of,
    write_fixture,
)

EPISODES, STEPS = 20, 25
MPE_DIR = "multiagent-particle-envs"
FILES = (
    "multiagent/core.py",
    "multiagent/environment.py",
    "multiagent/scenarios/simple_spread.py",
    "multiagent/scenarios/simple_tag.py",
    "multiagent/scenarios/simple_world.py",
)
# key -> (scenario file, make_world kwargs, 1-D?)
SCENARIOS = {
    "spread": ("simple_spread", {}, False),
    "tag": ("simple_tag", {}, False),
    "world": ("simple_world", {}, False),
    "spread1d_n2": ("simple_spread", {"num_agents": 2}, True),
    "spread1d_n5": ("simple_spread", {"num_agents": 5}, True),
}


class _Discrete:  # gym 0.9's Discrete accepted n = 0 (the 1-D world has no comm channel)
    def __init__(self, n):
        self.n = n


def _install_stand_ins() -> None:
    """``gym`` (Env, spaces, envs.registration) from gymnasium and an empty ``seaborn``, if absent."""
    install_gym_stand_in(discrete=_Discrete, env_api=True)
    try:
        import seaborn  # noqa: F401
    except ImportError:
        sns = types.ModuleType("seaborn")
        sns.color_palette = lambda name, n: [(0.5, 0.5, 0.5)] * n
        sys.modules["seaborn"] = sns


def record(omar_repo: Path, seed: int = 0) -> dict[str, np.ndarray]:
    root = omar_repo / MPE_DIR
    require_files(root, FILES, "pass --omar-repo a checkout of ling-pan/OMAR")
    _install_stand_ins()
    sys.path.insert(0, str(root))
    from multiagent.environment import MultiAgentEnv  # OMAR's, from the checkout

    out: dict[str, np.ndarray] = {}
    meta = {
        "omar_files_sha256": sha256_of(root, FILES),
        "episodes": EPISODES,
        "steps": STEPS,
        "seed": seed,
        "scenarios": {},
    }
    for i, (key, (fname, kwargs, one_d)) in enumerate(SCENARIOS.items()):
        scenario = load_module(
            root / "multiagent" / "scenarios" / f"{fname}.py", f"omar_{key}", register=False
        ).Scenario()
        np.random.seed(seed + 1000 * i)  # OMAR's reset_world draws from the global numpy stream
        with contextlib.redirect_stdout(io.StringIO()):  # simple_spread prints its size
            world = scenario.make_world(**kwargs)
        if one_d:
            world.dim_p, world.dim_c = 1, 0
        env = MultiAgentEnv(world, scenario.reset_world, scenario.reward, scenario.observation)
        n, d = env.n, world.dim_p
        act_rng = np.random.default_rng(seed + 1000 * i + 1)
        pos0, acts, obs_all, rews = [], [], [], []
        for _ in range(EPISODES):
            obs = env._reset()
            pos0.append(np.stack([np.array(e.state.p_pos, dtype=np.float64) for e in world.entities]))
            ep_obs, ep_act, ep_rew = [obs], [], []
            for _ in range(STEPS):
                a = act_rng.uniform(-1.0, 1.0, (n, d))
                obs, rew, _, _ = env._step([a[k].copy() for k in range(n)])
                ep_obs.append(obs)
                ep_act.append(a)
                ep_rew.append(np.asarray(rew, dtype=np.float64))
            dims = [len(o) for o in ep_obs[0]]
            padded = np.zeros((STEPS + 1, n, max(dims)))
            for t, step_obs in enumerate(ep_obs):
                for k, o in enumerate(step_obs):
                    padded[t, k, : len(o)] = o
            obs_all.append(padded)
            acts.append(np.stack(ep_act))
            rews.append(np.stack(ep_rew))
        out[f"{key}__pos0"] = np.stack(pos0)  # [EP, E, d] world.entities order
        out[f"{key}__actions"] = np.stack(acts)  # [EP, T, n, d] every policy agent, prey last
        out[f"{key}__obs"] = np.stack(obs_all)  # [EP, T+1, n, O] zero-padded per agent
        out[f"{key}__rewards"] = np.stack(rews)  # [EP, T, n]
        meta["scenarios"][key] = {
            "file": f"{fname}.py",
            "make_world": kwargs,
            "dim_p": d,
            "n_policy_agents": n,
            "obs_dims": dims,
            "entities": [e.name for e in world.entities],
        }
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def main(argv=None) -> Path:
    ap = fixture_parser(__doc__, "--omar-repo", "a checkout of github.com/ling-pan/OMAR", "omar_parity.npz")
    ap.add_argument(
        "--seed", type=int, default=0, help="seed of the resets and the random actions (default 0)"
    )
    args = ap.parse_args(argv)
    return write_fixture(record(args.omar_repo, args.seed), args.out)


if __name__ == "__main__":
    main()
