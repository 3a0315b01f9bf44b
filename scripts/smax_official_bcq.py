"""The official CAST-BCQ SMAC code's own I-BCQ learner trained offline on OUR SMAX data, with its own controller
acting in our SMAX test episodes: does the code's learner win where ours (papers/cast_bcq/smac.py, method i_bcq)
does not?

    python scripts/smax_official_bcq.py --smac-repo /tmp/cast_official/SMAC --map 3s_vs_3z --iterations 4000 \\
        --seed 0 --out results/quick/cast_bcq

What runs is the code itself, imported by file path from its checkout at run time (``SMAC/src`` of the official
archive, github.com/JinmingM/CAST-BCQ ``SMAC.rar`` at commit c5587eb2; docs/cast_bcq_official_code.md); nothing
of it is copied here:
- ``learners/q_learner.py`` ``QLearner`` (its ``train``: loss, RMSprop, clip, hard target copies),
- ``controllers/basic_controller.py`` ``BasicMAC`` (inputs, GRU hidden states, ``select_actions``) with
  ``modules/agents/rnn_agent.py`` ``RNNAgent1`` (``args.agent = "rnn1"``, as run.py l. 98-99 sets it),
- ``components/action_selectors.py`` ``EpsilonGreedyActionSelector`` and ``components/epsilon_schedules.py``,
- ``components/episode_buffer.py`` ``EpisodeBatch_Runner`` + ``components/transforms.py`` ``OneHot`` (the
  scheme the controller is built from, and the test episodes' batch, as the parallel runner builds them),
- ``utils/logging.py`` ``Logger`` (the learner's logger; no tensorboard, no sacred).
The args are the code's configs merged as its main.py does (``config/default.yaml``, then the env config
``config/envs/sc2.yaml``, then ``config/algs/iql_smac.yaml``; recursive update), then what main.py / run.py set:
``seed`` (and ``env_args.seed``), ``use_cuda False`` / ``device "cpu"``, args_sanity_check's ``test_nepisode``,
and the env facts ``n_agents``, ``n_actions``, ``state_shape`` (run.py l. 77-79; ``obs_shape`` and
``episode_limit`` go into the scheme and the buffer length) from OUR env ``envs.make("smax/<map>")``. sc2.yaml
changes only logging intervals, ``t_max``, ``test_interval``, ``test_nepisode`` and ``test_greedy`` (read only by
the multinomial selector): nothing the learner or the epsilon-greedy selector computes with.

Training: run.py's offline loop (l. 108-236), iteration by iteration: 32 episodes drawn uniformly without
replacement by numpy's global generator (``np.random.choice(E, 32, replace=False)``), every array cut to the longest
filled length of the draw (``filled.sum(1).max(0)[0]``, kept a tensor as there), the batch as the plain dict
run.py builds (obs, reward, actions, actions_onehot, avail_actions, filled, state, terminated, batch_size 32,
max_seq_length), ``learner.train(batch, t_env, episode)``, then ``episode += batch_size_run`` (10, iql_smac.yaml)
and ``t_env += 100``. Seeds as main.py: ``np.random.seed(seed)`` and ``torch.manual_seed(seed)`` before the
controller is built. The hard target copy fires when ``episode`` has grown by ``target_update_interval`` (200),
i.e. every 20 iterations, as in the code.

Evaluation (every ``--eval-every`` iterations, default N/10, and after the last): after the iteration's ``train``,
at that iteration's ``t_env`` (run.py tests after ``train`` and before ``t_env += 100``), the official controller
plays ``--episodes`` (20) SMAX test episodes of ``envs.make_vec("smax/<map>", E)``, env seeds
``common.running.evaluate.eval_seed(seed) + e`` (as papers/cast_bcq/smac_items.py ``win_rates``), in the parallel
runner's order (runners/parallel_runner.py l. 87-172): ``mac.init_hidden(E)``; the pre-transition data (state,
avail_actions, obs) stored at t = 0; then per step ``mac.select_actions(batch, t_ep=t, t_env=t_env,
bs=envs_not_terminated, test_mode=True)`` (the GRU hidden state carried over the steps; the agent id and the last
action one-hot built by ``BasicMAC._build_inputs`` from the batch; the epsilon-greedy selector at the schedule's
epsilon for ``t_env``: action_selectors.py l. 56-58 would set epsilon 0 at test but are commented out, so the test
actions are epsilon-greedy, epsilon = max(0.01, 1 - 0.99 t_env / 200000), kept), the actions stored with
``mark_filled=False``, the env stepped, reward (team reward x 10) / terminated stored at t, the next
pre-transition data at t + 1 (``mark_filled=True``), until every episode has ended and its last state has had
its action chosen. A win is ``venv.info["won"]`` at the step that ended the episode.
Outputs: a progress line per evaluation (iteration, seconds, last loss, win rate), one JSON line per evaluation
appended to ``<out>/smax_official_ibcq_<map>.jsonl`` (iteration, t_env, epsilon, win rate, seed, the official
files' sha256, our git commit, timings), and ``<out>/smax_official_ibcq_<map>.md`` (a table of this run's
evaluations, rewritten after each one).

Episode layout (our Dataset -> run.py's hdf5 arrays, pymarl's EpisodeBatch layout; E episodes, an episode ends at
``terminals | timeouts``; L its transitions; buffer length T1 = episode_limit + 1, pymarl's ``ReplayBuffer(...,
episode_limit + 1)``; N agents, K actions, O obs, D state):
    obs            float32 [E, T1, N, O]  t < L: obs[t]; t = L: the final obs (next_obs of the last row); 0 after
    state          float32 [E, T1, D]     the same with state / next_state
    avail_actions  int32   [E, T1, N, K]  t < L: avail_actions[t]; t = L: next_avail_actions of the last row; 0 after
    actions        int64   [E, T1, N, 1]  t < L: the data's action; t = L: STOP (4) for every agent (see stand-ins);
                                          0 after (pymarl's zero padding)
    actions_onehot float32 [E, T1, N, K]  one-hot of actions for t <= L (pymarl's OneHot preprocess on the stored
                                          steps); 0 after (padding is never preprocessed)
    reward         float32 [E, T1, 1]     t < L: the team reward (mean over agents) x 10 (SMAX_REWARD_SCALE, our
                                          SMAC scale); 0 from t = L on
    terminated     uint8   [E, T1, 1]     1 at t = L - 1 when the episode ended by a terminal (one side wiped out);
                                          0 elsewhere and on time-outs (pymarl's ``terminated != episode_limit``)
    filled         int64   [E, T1, 1]     1 for t <= L (the L transitions and the final obs), 0 after
The dtypes are pymarl's EpisodeBatch ones (the hdf5 file's are not known; ``filled`` must be integer for run.py's
slicing by ``filled.sum``). The conversion is checked on every start: E equals the dataset's episode count, the
filled steps reproduce every row of obs / state / actions / avail_actions / next_obs / next_state /
next_avail_actions, and each episode's reward sum / 10 equals the dataset's ``episode_returns``.

Stand-ins (what the code needs and does not get from its own files here), and why none changes the learner:
- run.py's hdf5 file ('/home/dataset/<map>.h5', ICQ's SMAC data, not available): the arrays above, built in
  memory from our SMAX dataset (common/datasets/smax.py) and fed to run.py's loop as tensors, as run.py's
  ``th.tensor(hdFile_r.get(...))`` would hand them over. This IS the question (the code on our data).
- The action stored at the final obs (t = L): pymarl's runners choose it with the behaviour policy at the final
  state (parallel_runner.py l. 105-112, episode_runner.py l. 94-96); our dataset has no action there. We store
  STOP (4), SMAX's stand-in for SMAC's no-op (the only action of a dead unit, always available), which is what a
  dead SMAC agent's stored action (no-op, 0) is. The learner reads it only in the BC loss (q_learner.py l. 70 runs
  over every step) and as the last-action input of the step after it (padding): it never enters the TD loss
  (t = L is masked after a terminal; a time-out has L = episode_limit, so t = L is the last buffer index, which
  ``[:, :-1]`` drops; checked at conversion).
- StarCraft II / smac's ``StarCraft2Env`` and the runners' env processes: our batched SMAX env (``envs.make_vec``),
  driven in the parallel runner's order (above) in one batch of E episodes instead of E / 10 runs of 10
  (batch_size_run): the controller computes each env's row independently, only the random draws of the
  epsilon-greedy selector are laid out differently. A finished copy of our vec env is frozen; its action slot is
  filled with STOP and ignored. The learner does not touch the env.
- ``learners/__init__.py`` and ``controllers/__init__.py`` are not imported (the former names a ShapleyLearner that
  does not exist); the learner and controller files are loaded by path, their own imports (``components``,
  ``modules``) resolved from the checkout (its folder on sys.path while they load; our ``envs`` package is imported
  first, so the code's ``envs`` package never shadows it).
- sacred / tensorboard / h5py / pandas (run.py's logging, result csv and data file): not needed, not imported;
  the learner's logger is the code's own ``Logger`` without tensorboard or sacred.
- Threads: run.py sets ``th.set_num_threads(8)`` (l. 146); we run with 1 thread (our machine's cores are shared).
  The thread count does not change what is computed (up to float summation order).
- CPU, float32 (torch's default dtype), ``use_cuda False`` (the code: cuda when available).
Nothing else is replaced: the controller, agent, selector, schedule and learner are the code's objects.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common.running.records import atomic_write_text  # noqa: E402
from parity_common import load_module, require_files, sha256_of  # noqa: E402

FILES = (
    "run.py",
    "main.py",
    "learners/q_learner.py",
    "controllers/basic_controller.py",
    "modules/agents/rnn_agent.py",
    "components/action_selectors.py",
    "components/epsilon_schedules.py",
    "components/episode_buffer.py",
    "components/transforms.py",
    "utils/logging.py",
    "config/default.yaml",
    "config/envs/sc2.yaml",
    "config/algs/iql_smac.yaml",
)
STOP = 4  # SMAX's stop: the only action of a dead unit (envs/smax.py), our stand-in for SMAC's no-op
T_ENV_PER_ITERATION = 100  # run.py l. 236
BATCH_EPISODES = 32  # run.py l. 160 / 181
HINT = (
    "pass the extracted SMAC folder of the official archive (it holds src/), e.g. "
    "git -C <CAST-BCQ mirror> show c5587eb2:SMAC.rar > /tmp/cast_smac.rar && mkdir -p /tmp/cast_official && "
    "bsdtar -xf /tmp/cast_smac.rar -C /tmp/cast_official  ->  --smac-repo /tmp/cast_official/SMAC"
)


# ---- official code and config -----------------------------------------------------------------------------------


def code_root(smac_repo: Path) -> Path:
    """The folder holding run.py / learners / controllers (``<repo>/src`` or the repo itself); errors name what
    is missing."""
    if not smac_repo.is_dir():
        raise FileNotFoundError(f"--smac-repo {smac_repo} is not a folder: {HINT}")
    src = smac_repo / "src" if (smac_repo / "src").is_dir() else smac_repo
    require_files(src, FILES, HINT)
    return src


def load_code(src: Path) -> dict:
    """The code's modules, loaded by path (module docstring); its folder is on sys.path only while they load."""
    import envs  # noqa: F401  ours, imported before the code's folder goes on sys.path (it has an ``envs`` too)

    sys.path.insert(0, str(src))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # episode_buffer.py: ``field_key is 'policy'``
            mods = {
                "buffer": load_module(
                    src / "components/episode_buffer.py", "components.episode_buffer", register=True
                ),
                "transforms": load_module(
                    src / "components/transforms.py", "components.transforms", register=True
                ),
                "mac": load_module(
                    src / "controllers/basic_controller.py", "cast_smac_basic_controller", register=True
                ),
                "learner": load_module(src / "learners/q_learner.py", "cast_smac_q_learner", register=True),
                "logging": load_module(src / "utils/logging.py", "cast_smac_logging", register=True),
            }
    finally:
        sys.path.remove(str(src))
    return mods


def _merge(d: dict, u: dict) -> dict:
    """main.py's recursive dict update (its ``recursive_dict_update``): nested dicts merged, other values replaced."""
    for k, v in u.items():
        d[k] = _merge(d.get(k, {}), v) if isinstance(v, dict) else v
    return d


def code_args(src: Path, env, seed: int, map_name: str):
    """The code's args: default.yaml <- envs/sc2.yaml <- algs/iql_smac.yaml (main.py l. 73-85), then what main.py
    (seed) and run.py (cuda off, args_sanity_check, env facts, agent rnn1) set."""
    import types

    import yaml

    config: dict = {}
    for rel in ("config/default.yaml", "config/envs/sc2.yaml", "config/algs/iql_smac.yaml"):
        with open(src / rel) as f:
            _merge(config, yaml.safe_load(f) or {})
    config["seed"] = int(seed)
    config["env_args"]["seed"] = int(seed)  # main.py l. 31
    config["env_args"]["map_name"] = map_name
    if config["test_nepisode"] < config["batch_size_run"]:  # run.py args_sanity_check l. 246-249
        config["test_nepisode"] = config["batch_size_run"]
    else:
        config["test_nepisode"] = (config["test_nepisode"] // config["batch_size_run"]) * config[
            "batch_size_run"
        ]
    args = types.SimpleNamespace(**config)
    args.use_cuda = False  # run.py l. 29-30
    args.device = "cpu"
    spec = env.spec
    args.n_agents = spec.n_agents  # run.py l. 77-79
    args.n_actions = int(spec.n_actions[0])
    args.state_shape = int(spec.state_dim)
    if args.learner in ("q_learner", "mbcq_learner"):  # run.py l. 98-99
        args.agent = "rnn1"
    if args.learner != "q_learner" or args.mixer is not None or args.action_selector != "epsilon_greedy":
        raise ValueError(
            f"iql_smac.yaml no longer describes I-BCQ as expected (learner {args.learner!r}, mixer "
            f"{args.mixer!r}, selector {args.action_selector!r}): check the checkout"
        )
    return args


def code_scheme(env, args):
    """run.py's scheme, groups and preprocess (l. 80-93) for our env's facts."""
    import torch as th

    spec = env.spec
    scheme = {
        "state": {"vshape": int(spec.state_dim)},
        "obs": {"vshape": int(spec.obs_dim), "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": th.long},
        "avail_actions": {"vshape": (args.n_actions,), "group": "agents", "dtype": th.int},
        "reward": {"vshape": (1,)},
        "terminated": {"vshape": (1,), "dtype": th.uint8},
    }
    return scheme, {"agents": args.n_agents}


# ---- our data as run.py's episode arrays ----------------------------------------------------------------------


def episode_tensors(d, episode_limit: int, n_actions: int, reward_scale: float) -> dict:
    """Our dataset as run.py's hdf5 arrays (module docstring's layout), torch tensors; checked by
    ``check_episodes``."""
    import torch as th

    ends = np.flatnonzero(d.terminals | d.timeouts)
    if ends.size == 0 or ends[-1] != len(d.terminals) - 1:
        raise ValueError(f"{d.id}: the last row does not end an episode")
    starts = np.r_[0, ends[:-1] + 1]
    lens = ends - starts + 1
    if lens.max() > episode_limit:
        raise ValueError(
            f"{d.id}: an episode of {lens.max()} steps is longer than the env's limit {episode_limit}"
        )
    to = d.timeouts[ends].astype(bool)
    if np.any(lens[to] != episode_limit):
        raise ValueError(
            f"{d.id}: time-outs of {sorted(set(lens[to]) - {episode_limit})} steps (not the limit "
            f"{episode_limit}): the code would train on their final step (mask not cut by [:, :-1])"
        )
    E, T1 = len(starts), episode_limit + 1
    N, O, D = d.obs.shape[1], d.obs.shape[2], d.state.shape[1]
    av, nav = d.extras["avail_actions"], d.extras["next_avail_actions"]
    obs = np.zeros((E, T1, N, O), np.float32)
    state = np.zeros((E, T1, D), np.float32)
    avail = np.zeros((E, T1, N, n_actions), np.int32)
    actions = np.zeros((E, T1, N, 1), np.int64)
    onehot = np.zeros((E, T1, N, n_actions), np.float32)
    reward = np.zeros((E, T1, 1), np.float32)
    terminated = np.zeros((E, T1, 1), np.uint8)
    filled = np.zeros((E, T1, 1), np.int64)
    team = d.rewards.mean(axis=1) * reward_scale
    eye = np.eye(n_actions, dtype=np.float32)
    for e, (s, L) in enumerate(zip(starts, lens)):
        last = s + L - 1
        obs[e, :L], obs[e, L] = d.obs[s : s + L], d.next_obs[last]
        state[e, :L], state[e, L] = d.state[s : s + L], d.next_state[last]
        avail[e, :L], avail[e, L] = av[s : s + L], nav[last]
        actions[e, :L, :, 0], actions[e, L, :, 0] = d.actions[s : s + L, :, 0].astype(np.int64), STOP
        onehot[e, : L + 1] = eye[actions[e, : L + 1, :, 0]]
        reward[e, :L, 0] = team[s : s + L]
        terminated[e, L - 1, 0] = bool(d.terminals[last])
        filled[e, : L + 1, 0] = 1
    if not np.all(np.take_along_axis(avail, actions, -1)[filled[..., 0] == 1] == 1):
        raise ValueError(f"{d.id}: a stored action is not available (or STOP is not at a final obs)")
    arrays = {
        "obs": obs,
        "state": state,
        "avail_actions": avail,
        "actions": actions,
        "actions_onehot": onehot,
        "reward": reward,
        "terminated": terminated,
        "filled": filled,
    }
    return {k: th.from_numpy(v) for k, v in arrays.items()}


def check_episodes(t: dict, d, reward_scale: float) -> dict:
    """The round trip (module docstring): episode count, every row back from the filled steps, returns x scale."""
    filled = t["filled"][..., 0].numpy().astype(bool)
    E = filled.shape[0]
    if E != d.n_episodes:
        raise AssertionError(f"{E} episodes converted, the dataset has {d.n_episodes}")
    lens = filled.sum(1) - 1
    if lens.sum() != len(d.terminals):
        raise AssertionError(f"{lens.sum()} transitions converted, the dataset has {len(d.terminals)}")
    rows = np.zeros_like(filled)
    for e, L in enumerate(lens):
        rows[e, :L] = True
    finals = np.zeros_like(filled)
    finals[np.arange(E), lens] = True
    obs, state, av = t["obs"].numpy(), t["state"].numpy(), t["avail_actions"].numpy()
    pairs = [
        (obs[rows], d.obs),
        (state[rows], d.state),
        (t["actions"].numpy()[rows], d.actions),
        (av[rows], d.extras["avail_actions"]),
    ]
    ends = d.terminals | d.timeouts
    pairs += [
        (obs[finals], d.next_obs[ends]),
        (state[finals], d.next_state[ends]),
        (av[finals], d.extras["next_avail_actions"][ends]),
    ]
    for i, (a, b) in enumerate(pairs):
        if a.shape != b.shape or not np.array_equal(a, np.asarray(b, a.dtype)):
            raise AssertionError(f"episode conversion: array pair {i} differs from the dataset")
    ret = t["reward"][..., 0].double().sum(1).numpy()
    gap = float(np.abs(ret / reward_scale - d.episode_returns).max())
    if gap > 1e-4:
        raise AssertionError(f"episode returns / {reward_scale} differ from the dataset's by up to {gap:.2e}")
    term = t["terminated"][..., 0].numpy()
    if int(term.sum()) != int(d.terminals.sum()) or np.any(term[np.arange(E), lens - 1] != d.terminals[ends]):
        raise AssertionError("episode conversion: terminated flags differ from the dataset's terminals")
    return {
        "episodes": int(E),
        "transitions": int(lens.sum()),
        "max_len": int(lens.max()),
        "terminal": int(term.sum()),
        "time_outs": int(d.timeouts.sum()),
        "max_return_gap": gap,
    }


# ---- run.py's loop and the parallel runner's test episodes ----------------------------------------------------


def sample_batch(t: dict, n_episodes: int) -> dict:
    """run.py l. 160-182: 32 episodes without replacement (numpy's global generator), cut to the longest."""
    sample_number = np.random.choice(n_episodes, BATCH_EPISODES, replace=False)
    filled_sample = t["filled"][sample_number]
    max_ep_t_h = filled_sample.sum(1).max(0)[0]  # a one-element tensor, as in run.py
    batch = {
        k: t[k][sample_number][:, :max_ep_t_h]
        for k in ("obs", "reward", "actions", "actions_onehot", "avail_actions", "state", "terminated")
    }
    batch["filled"] = filled_sample[:, :max_ep_t_h]
    batch["batch_size"] = BATCH_EPISODES
    batch["max_seq_length"] = max_ep_t_h
    return batch


def evaluate(
    mods,
    mac,
    scheme,
    groups,
    preprocess,
    args,
    map_name: str,
    seeds: list[int],
    t_env: int,
    reward_scale: float,
) -> tuple[np.ndarray, int]:
    """Wins [E] of the code's controller on our SMAX test episodes (module docstring), steps taken."""
    import torch as th

    import envs

    E = len(seeds)
    venv = envs.make_vec(f"smax/{map_name}", E)
    obs = venv.reset(seeds=seeds)
    batch = mods["buffer"].EpisodeBatch_Runner(
        scheme, groups, E, args.episode_limit + 1, preprocess=preprocess, device=args.device
    )
    batch.update(
        {"state": venv.state(), "avail_actions": venv.avail_actions().astype(np.int32), "obs": obs}, ts=0
    )
    mac.init_hidden(batch_size=E)
    terminated = [False] * E
    envs_not_terminated = list(range(E))
    won = np.zeros(E, dtype=bool)
    t = steps = 0
    with th.no_grad():
        while True:
            actions = mac.select_actions(batch, t_ep=t, t_env=t_env, bs=envs_not_terminated, test_mode=True)
            batch.update({"actions": actions.unsqueeze(1)}, bs=envs_not_terminated, ts=t, mark_filled=False)
            step_actions = np.full((E, args.n_agents), STOP, dtype=np.int64)  # frozen copies ignore theirs
            for j, idx in enumerate(envs_not_terminated):
                if not terminated[idx]:
                    step_actions[idx] = actions[j].numpy()
            envs_not_terminated = [i for i, done in enumerate(terminated) if not done]
            if all(terminated):
                break
            obs, rewards, term, done = venv.step(step_actions)
            steps += 1
            won |= venv.info["won"]
            post = {
                "reward": [(float(rewards[i].mean() * reward_scale),) for i in envs_not_terminated],
                "terminated": [
                    (bool(done[i] and not venv.info["truncated"][i]),) for i in envs_not_terminated
                ],
            }
            state, avail = venv.state(), venv.avail_actions().astype(np.int32)
            pre = {
                "state": state[envs_not_terminated],
                "avail_actions": avail[envs_not_terminated],
                "obs": obs[envs_not_terminated],
            }
            for i in envs_not_terminated:
                terminated[i] = bool(done[i])
            batch.update(post, bs=envs_not_terminated, ts=t, mark_filled=False)
            t += 1
            batch.update(pre, bs=envs_not_terminated, ts=t, mark_filled=True)
    venv.close()
    return won, steps


def _commit_str(c) -> str:
    return "unknown" if not c else c["commit"][:10] + ("+dirty" if c.get("dirty") else "")


def render_table(jl: Path, md: Path) -> str:
    """Every run of ``jl`` (one section per run, its evaluations in order), every number from the records, written
    atomically to ``md``."""
    recs = [json.loads(x) for x in jl.read_text().splitlines()]
    lines = [
        f"# The official CAST-BCQ SMAC code's I-BCQ on our SMAX data: smax/{recs[0]['map']}",
        "",
        "scripts/smax_official_bcq.py (the code's QLearner / BasicMAC + RNNAgent1 / epsilon-greedy selector, run.py's "
        "loop: 32 whole episodes per iteration); test actions epsilon-greedy at the code's schedule; env seeds "
        "eval_seed(seed) + e. One section per run (the .jsonl holds every evaluation).",
    ]
    for run_id in dict.fromkeys(r["run_id"] for r in recs):
        rows = [r for r in recs if r["run_id"] == run_id]
        r0 = rows[0]
        lines += [
            "",
            f"## Seed {r0['seed']}, run {run_id}",
            "",
            f"Dataset {r0['dataset']}, {r0['iterations']} iterations, {r0['test_episodes']} test episodes per "
            f"evaluation, {r0['threads']} thread, CPU {r0.get('cpu', 'not recorded')}, commit "
            f"{_commit_str(r0.get('commit'))}.",
            "",
            "| iteration | t_env | test epsilon | win rate | last loss | mean loss since last eval | s |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['iteration']} | {r['t_env']} | {r['epsilon']:.4f} | {r['win_rate']:.2f} | "
                f"{r['loss']:.4g} | {r['mean_loss']:.4g} | {r['wall_s']:.0f} |"
            )
    text = "\n".join(lines) + "\n"
    atomic_write_text(md, text)
    return text


# ---- command line ---------------------------------------------------------------------------------------------


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (the top of this file) for the episode layout and every stand-in.",
    )
    ap.add_argument(
        "--smac-repo",
        type=Path,
        default=None,
        help="the extracted SMAC folder of the official archive (holds src/)",
    )
    ap.add_argument("--map", default="3s_vs_3z", help="SMAX map (default 3s_vs_3z)")
    ap.add_argument(
        "--kind",
        default=None,
        help="dataset kind (default: the map's kind in common.datasets.smax NEEDED, 'mixed' for 3s_vs_3z)",
    )
    ap.add_argument("--profile", default="quick", help="dataset profile (default quick)")
    ap.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="training iterations (run.py: one learner.train on 32 episodes each; the code runs 40,002)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed (numpy / torch global seeds, test env seeds)")
    ap.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="iterations between evaluations (default iterations // 10, at least 1); always after the last",
    )
    ap.add_argument("--episodes", type=int, default=20, help="test episodes per evaluation (default 20)")
    ap.add_argument("--out", type=Path, required=True, help="output folder (jsonl appended, md rewritten)")
    ap.add_argument(
        "--render", action="store_true", help="only rewrite <out>/smax_official_ibcq_<map>.md from its .jsonl"
    )
    a = ap.parse_args(argv)
    if a.render:
        return a
    for name in ("smac_repo", "iterations"):
        if getattr(a, name) is None:
            ap.error(f"--{name.replace('_', '-')} is required (unless --render)")
    if a.iterations < 1:
        ap.error(f"--iterations must be >= 1, got {a.iterations}")
    if a.eval_every is None:
        a.eval_every = max(1, a.iterations // 10)
    if a.eval_every < 1:
        ap.error(f"--eval-every must be >= 1, got {a.eval_every}")
    if a.episodes < 1:
        ap.error(f"--episodes must be >= 1, got {a.episodes}")
    if a.out.exists() and not a.out.is_dir():
        ap.error(f"--out {a.out} exists and is not a folder")
    from common.datasets.smax import KINDS, MAPS, NEEDED, PROFILES

    if a.map not in MAPS:
        ap.error(f"--map {a.map!r} is not an SMAX map; allowed: {', '.join(MAPS)}")
    if a.kind is None:
        a.kind = NEEDED.get(a.map, ("mixed",))[0]
    if a.kind not in KINDS:
        ap.error(f"--kind {a.kind!r} is not known; allowed: {', '.join(KINDS)}")
    if a.profile not in PROFILES:
        ap.error(f"--profile {a.profile!r} is not known; allowed: {', '.join(PROFILES)}")
    try:
        a.src = code_root(a.smac_repo)
    except FileNotFoundError as exc:
        ap.error(str(exc))
    return a


def main(argv=None) -> int:
    a = parse(argv)
    if a.render:
        jl = a.out / f"smax_official_ibcq_{a.map}.jsonl"
        if not jl.exists():
            sys.exit(f"--render: {jl} does not exist")
        print(render_table(jl, jl.with_suffix(".md")))
        return 0
    import torch as th

    th.set_num_threads(1)
    # episode_buffer.py's th.tensor(v) on tensors and its list-of-slices indexing (l. 104-114): torch's deprecation
    # warnings, same results in this torch (the stored test batches were checked step by step against the env)
    warnings.filterwarnings("ignore", message="To copy construct from a tensor")
    warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing")

    import envs
    from common.datasets.smax import load
    from common.running.evaluate import eval_seed
    from common.running.runtime import cpu_model, git_commit
    from papers.cast_bcq.config import SMAX_REWARD_SCALE

    mods = load_code(a.src)
    files = sha256_of(a.src, FILES)
    commit = git_commit()
    env = envs.make(f"smax/{a.map}")
    args = code_args(a.src, env, a.seed, a.map)
    args.episode_limit = int(env.spec.episode_length)
    t0 = time.time()
    d = load(a.map, a.kind, a.profile, progress=False)
    if d.obs.shape[1:] != (args.n_agents, env.spec.obs_dim) or d.state.shape[1] != args.state_shape:
        raise ValueError(
            f"{d.id}: obs {d.obs.shape[1:]} / state {d.state.shape[1]} do not match smax/{a.map}'s "
            f"({args.n_agents}, {env.spec.obs_dim}) / {args.state_shape}"
        )
    data = episode_tensors(d, args.episode_limit, args.n_actions, SMAX_REWARD_SCALE)
    check = check_episodes(data, d, SMAX_REWARD_SCALE)
    E = check["episodes"]
    print(f"data {d.id}: {check} ({time.time() - t0:.1f} s)", flush=True)

    # run.py l. 80-102 (the buffer's scheme from the code's own EpisodeBatch_Runner, without the 5000-episode buffer)
    np.random.seed(a.seed)  # main.py l. 29-30
    th.manual_seed(a.seed)
    scheme, groups = code_scheme(env, args)
    preprocess = {"actions": ("actions_onehot", [mods["transforms"].OneHot(out_dim=args.n_actions)])}
    buffer_scheme = (
        mods["buffer"]
        .EpisodeBatch_Runner(
            copy.deepcopy(scheme), groups, 1, args.episode_limit + 1, preprocess=preprocess, device="cpu"
        )
        .scheme
    )
    with contextlib.redirect_stdout(sys.stderr):  # BasicMAC._build_agents prints the agent name
        mac = mods["mac"].BasicMAC(buffer_scheme, groups, args)
    logger = mods["logging"].Logger(logging.getLogger("cast_smac_official"))
    learner = mods["learner"].QLearner(mac, buffer_scheme, logger, args)

    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    jl, md = out / f"smax_official_ibcq_{a.map}.jsonl", out / f"smax_official_ibcq_{a.map}.md"
    run_id = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    seeds = [eval_seed(a.seed) + e for e in range(a.episodes)]
    print(
        f"official I-BCQ (q_learner, rnn1, epsilon-greedy) on smax/{a.map}: {a.iterations} iterations, "
        f"evaluations every {a.eval_every}, {a.episodes} test episodes; lr {args.lr}, gamma {args.gamma}, "
        f"target every {args.target_update_interval} episodes (+{args.batch_size_run}/iteration), clip "
        f"{args.grad_norm_clip}, epsilon {args.epsilon_start}->{args.epsilon_finish} over "
        f"{args.epsilon_anneal_time} t_env",
        flush=True,
    )

    losses: list[float] = []
    rows: list[dict] = []
    episode, t_env = 0, 0
    train_s = eval_s = 0.0
    since = 0
    backward = th.Tensor.backward

    def spy_backward(self, *x, **k):  # records the learner's loss (one backward per train), changes nothing
        losses.append(float(self.detach()))
        return backward(self, *x, **k)

    start = time.time()
    for it in range(1, a.iterations + 1):
        t1 = time.time()
        batch = sample_batch(data, E)
        th.Tensor.backward = spy_backward
        try:
            learner.train(batch, t_env, episode)
        finally:
            th.Tensor.backward = backward
        train_s += time.time() - t1
        if it % a.eval_every == 0 or it == a.iterations:
            t2 = time.time()
            eps = float(mac.action_selector.schedule.eval(t_env))
            won, steps = evaluate(
                mods, mac, scheme, groups, preprocess, args, a.map, seeds, t_env, SMAX_REWARD_SCALE
            )
            dt = time.time() - t2
            eval_s += dt
            window = losses[since:]
            since = len(losses)
            rec = {
                "method": "i_bcq (official q_learner)",
                "map": a.map,
                "dataset": d.id,
                "seed": a.seed,
                "iteration": it,
                "iterations": a.iterations,
                "t_env": t_env,
                "episode": episode,
                "epsilon": eps,
                "win_rate": float(won.mean()),
                "wins": int(won.sum()),
                "test_episodes": a.episodes,
                "env_seeds": [seeds[0], seeds[-1]],
                "loss": losses[-1],
                "mean_loss": float(np.mean(window)),
                "train_s_per_iteration": train_s / it,
                "eval_s": dt,
                "eval_steps": steps,
                "wall_s": time.time() - start,
                "threads": 1,
                "run_id": run_id,
                "official_files": files,
                "official_src": str(a.src),
                "cpu": cpu_model(),
                "data_check": check,
                "commit": commit,
            }
            with open(jl, "a") as f:
                f.write(json.dumps(rec) + "\n")
            rows.append(rec)
            render_table(jl, md)
            print(
                f"iteration {it}/{a.iterations} t_env {t_env}: {time.time() - start:.0f} s "
                f"({train_s / it:.3f} s/iteration, evaluation {dt:.1f} s), loss {losses[-1]:.4g}, "
                f"test epsilon {eps:.3f}, win rate {won.mean():.2f} ({int(won.sum())}/{a.episodes})",
                flush=True,
            )
        episode += args.batch_size_run  # run.py l. 209
        t_env += T_ENV_PER_ITERATION  # run.py l. 236
    print(
        f"done: {a.iterations} iterations in {time.time() - start:.0f} s (train {train_s / a.iterations:.3f} "
        f"s/iteration, evaluations {eval_s / max(len(rows), 1):.1f} s each); wrote {jl} and {md}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
