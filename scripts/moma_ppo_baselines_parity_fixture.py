"""Record what MOMA-PPO's own code computes for its offline baselines, for the parity test of our baseline learners.

What it does: imports the official learners from a checkout of github.com/PBarde/moma-ppo (written against commit
c276efc; folder ``moma-ppo/offline_marl``) and runs them in float64 (``torch.set_default_dtype``: the same code, less
rounding) on fixed random inputs drawn from numpy seeds. Per part it stores the official learner's initial weights
(rounded to float32 values, stored as float32: arbitrary starting points), the minibatches (float32 values), and
after each update the whole ``state_dict`` (online and target networks, float64), the statistics the update
returns, the random numbers the code drew and intermediate quantities read through hooks (no official line is
changed). ``tests/test_moma_ppo_baselines_official_parity.py`` loads the weights into our learners, replays the
minibatches and the random numbers, and compares. Weights are stored flat (one vector per learner; names and shapes
of the ``state_dict`` entries in ``meta["layouts"]``).

N = 2 agents with obs dims (4, 3) and action dims (2, 1) (our padding to O = 4, A = 2 is exercised); B = 24 rows
(16 in the TD3 parts, which share their minibatches); hidden 8; Adam lr 1e-2 everywhere (large, so that the second
update's Adam state matters); other settings are ``train_agents.py``'s defaults (gamma 0.99, expectile 0.7, beta 3,
Polyak 0.005, MaIQL's gradient clip 1, TD3 noise 0.2, policy delay 2, CQL alpha 1 / T 1 / noise 0.2, OMAR 2
iterations, 5 elites, mu0 0, sigma0 2) except, to keep the file small and the clips binding: the noise clip 0.3
(0.5 binds on ~1 % of the draws), 5 CQL samples per group (10) and 10 CEM samples (20). Two updates per part, each
on its own minibatch.

Parts (keys ``<part>__...`` of the .npz):

- ``iql``: ``single_agent/iql.py`` ``IQLLearner`` (alg ``iql``: one learner on the joint observation [7] and the
  joint action [3]) with the self-attention history encoder (memory 3, embedding 8; histories zero-padded at random
  episode starts). The Q heads' last layers are scaled by 8 (32 in ``maiql``) before recording so that beta (Q' - V)
  spreads on both sides of log(100) / 3 (the AWR clip binds on some rows) and Q' - V takes both signs (both
  expectile branches).
  Hooks: the V network's outputs (V(x) in the V loss, V(x') in the AWR weights, V(x'_next) in the TD target) and
  the AWR weights (``torch.clamp(..., max=100.0)``'s result).
- ``maiql``: ``multi_agent/ma_iql.py`` ``MaIQL`` (team AWR weight, unconstrained mixers, per-network gradient clip
  1.0), histories as ``iql``; Q heads scaled likewise. Hooks: each agent's V outputs, the V mixer's outputs, the
  gradient norms ``clip_grad_norm_`` returned (the clip binds on some networks), and the returned team weights.
- ``bc``: ``multi_agent/iql_independent.py`` ``IQLIndependentLearner`` with alg ``bc`` (per-agent ``IQLLearner`` with
  weight -1), histories as ``iql``.
- ``itd3bc``, ``icql``, ``iomar``, ``iomar_bc``: ``multi_agent/itd3.py`` ``ITD3Learner`` (per-agent
  ``single_agent/td3.py`` ``TD3Learner``, no history: our ITD3 takes none) with the [inferred] method configs of
  spec Sec. 5: itd3bc = omar 0 / bc 2.5; icql = omar 0.9, ``td3_shortcut_omar``, bc 0; iomar = omar 0.9, bc 0;
  iomar_bc = omar 0.9, bc 2.5 (the code's default bc coefficient beside OMAR). The actors' last bias is set to
  +-1.5 so that pi'(o') + noise leaves [-1, 1] (the target clamp binds). Random numbers recorded: the target
  smoothing noise (``torch.randn_like``), CQL's uniform actions and N(0, 1) draws (``torch.FloatTensor`` filled
  in place), the CEM's normal samples (``Normal.sample``; stored as z = (sample - mu) / sigma). Hooks: the target
  critics' inputs and outputs (the smoothed target action and y), OMAR's searched action (``F.mse_loss``'s
  target).

Stand-ins, beside those of ``scripts/moma_ppo_parity_fixture.py`` (``gym.spaces``, ``nop``, alfred's logger):
``alfred.utils.misc.Bunch`` (imported, unused); ``torch.FloatTensor`` -> a float64 tensor of the same shape (the
code allocates CQL's random actions and noise in float32 whatever the default dtype; float64 keeps the whole run
in float64); ``torch.cuda.FloatTensor`` -> the same on the CPU (OMAR's search allocates its mean and std there:
GPU-only code, spec Q12). Their values are the code's own (``.uniform_`` / ``.normal_`` / ``.zero_()`` fill them).

Rebuild the fixture (seconds, CPU)::

    git clone https://github.com/PBarde/moma-ppo /tmp/moma-ppo && git -C /tmp/moma-ppo checkout c276efc
    python scripts/moma_ppo_baselines_parity_fixture.py --moma-repo /tmp/moma-ppo

The file's ``meta`` entry (JSON) holds the sha256 of each official file used, the settings, the seeds and
``train_agents.py``'s argparse defaults (read from its parser function, without running that module's imports).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moma_ppo_parity_fixture import (  # noqa: E402
    box_spaces,
    f32,
    official_float64,
    pack_params,
    patched_attr,
    round_params_to_float32,
)
from parity_common import fixture_parser, sha256_of, write_fixture  # noqa: E402

PKG_DIR = "moma-ppo/offline_marl"
FILES = (
    "offline_marl/single_agent/iql.py",
    "offline_marl/single_agent/td3.py",
    "offline_marl/single_agent/actors.py",
    "offline_marl/single_agent/critics.py",
    "offline_marl/multi_agent/ma_iql.py",
    "offline_marl/multi_agent/iql_independent.py",
    "offline_marl/multi_agent/itd3.py",
    "offline_marl/multi_agent/mixer_networks.py",
    "offline_marl/utils/histories.py",
    "offline_marl/utils/networks.py",
    "offline_marl/utils/ml.py",
    "offline_marl/utils/base_algo.py",
    "offline_marl/train_agents.py",
)
OBS_DIMS, ACT_DIMS = (4, 3), (2, 1)
SEED = 0
ROWS, TD3_ROWS, UPDATES, HIDDEN, LR = 24, 16, 2, 8, 1e-2
MEMORY = dict(len=3, dim=8)
# the Q heads' last layer scaled (AWR clip binds on some rows; powers of 2: the scaled float32 values stay
# float32 values)
Q_SCALE = {"iql": 8.0, "maiql": 32.0}
ACTOR_BIAS = ((1.5, -1.5), (1.5,))  # TD3: the actors' last bias (pi'(o') + noise leaves [-1, 1])
IQL = dict(
    discount_factor=0.99, expectile=0.7, awr_temperature=3.0, target_update_coef=0.005, grad_clip_norm=1.0
)
TD3 = dict(
    td3_policy_freq=2,
    td3_policy_noise=0.2,
    td3_noise_clip=0.3,
    td3_omar_cql_alpha=1.0,
    td3_omar_cql_lse_temp=1.0,
    td3_omar_cql_num_sampled_actions=5,
    td3_omar_cql_sample_noise_level=0.2,
    td3_omar_iters=2,
    td3_init_omar_mu=0.0,
    td3_init_omar_sigma=2.0,
    td3_omar_num_samples=10,
    td3_omar_num_elites=5,
)
TD3_METHODS = {
    "itd3bc": dict(td3_omar_coeff=0.0, td3_bc_coeff=2.5, td3_shortcut_omar=False),
    "icql": dict(td3_omar_coeff=0.9, td3_bc_coeff=0.0, td3_shortcut_omar=True),
    "iomar": dict(td3_omar_coeff=0.9, td3_bc_coeff=0.0, td3_shortcut_omar=False),
    "iomar_bc": dict(td3_omar_coeff=0.9, td3_bc_coeff=2.5, td3_shortcut_omar=False),
}


def _more_stand_ins() -> None:
    try:
        import alfred.utils.misc  # noqa: F401
    except ImportError:
        sys.modules.setdefault("alfred.utils.misc", types.ModuleType("alfred.utils.misc"))
        sys.modules["alfred.utils.misc"].Bunch = dict  # imported by ma_iql.py, unused by the learners


def train_agents_defaults(path: Path) -> dict:
    """``AgentTraining.get_training_argsparser``'s defaults, compiled from the parsed file alone."""
    tree = ast.parse(path.read_text(), filename=str(path))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AgentTraining")
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "get_training_argsparser")
    fn.decorator_list = []
    ns = {"argparse": argparse, "logging": logging, "parse_bool": lambda s: s, "parse_log_level": lambda s: s}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec"), ns)
    d = vars(ns["get_training_argsparser"]().parse_args([]))
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None)))}


def _box(d: int):
    from gym.spaces import Box

    return Box(low=-1.0, high=1.0, shape=(d,), dtype=np.float64)


def base_kwargs(alg: str, memory: bool) -> dict:
    return dict(
        alg_name=alg,
        hidden_size=HIDDEN,
        lr_q=LR,
        lr_v=LR,
        lr_pi=LR,
        lr_memory=LR,
        train_device="cpu",
        memory_len=MEMORY["len"] if memory else 0,
        memory_out_size=MEMORY["dim"],
        memory_op="self-attention",
        memory_backprop_actor=True,
        independent_awr=False,
        action_aware_mixer=True,
        **IQL,
        **TD3,
    )


def agent_batches(rng: np.random.Generator, memory: bool, n: int = ROWS) -> list[dict[str, np.ndarray]]:
    """Per-agent batches (shared rewards / masks): actions in [-1, 1] with some exactly +-1 (the clamp before atanh
    binds), histories [B, L, o_i + a_i] zero-padded at random episode starts (history actions inside +-0.999)."""
    L = MEMORY["len"]
    r = f32(rng.normal(size=(n, 1)))
    m = (rng.random((n, 1)) > 0.2).astype(np.float64)
    out = []
    for o, a in zip(OBS_DIMS, ACT_DIMS):
        act = f32(rng.uniform(-1.0, 1.0, (n, a)))
        edge = rng.random((n, a)) < 0.1
        act[edge] = np.sign(act[edge])
        b = {
            "observations": f32(rng.normal(size=(n, o))),
            "actions": act,
            "next_observations": f32(rng.normal(size=(n, o))),
            "rewards": r.copy(),
            "masks": m.copy(),
        }
        if memory:
            for key in ("history_memories", "next_history_memories"):
                h = f32(rng.normal(size=(n, L, o + a)))
                h[:, :, o:] = f32(np.clip(h[:, :, o:], -0.999, 0.999))
                start = rng.integers(0, L + 1, size=n)
                h[np.arange(L)[None, :] < start[:, None]] = 0.0
                b[key] = h
        out.append(b)
    return out


def joint_batch(batches: list[dict]) -> dict[str, np.ndarray]:
    """The centralized learner's batch: observations / actions concatenated in agent order, histories
    [o_joint ⊕ a_joint] per step."""
    cat = lambda k: np.concatenate([b[k] for b in batches], axis=-1)  # noqa: E731
    out = {k: cat(k) for k in ("observations", "actions", "next_observations")}
    out.update(rewards=batches[0]["rewards"], masks=batches[0]["masks"])
    if "history_memories" in batches[0]:
        for key in ("history_memories", "next_history_memories"):
            obs = np.concatenate([b[key][..., :o] for b, o in zip(batches, OBS_DIMS)], axis=-1)
            act = np.concatenate([b[key][..., o:] for b, o in zip(batches, OBS_DIMS)], axis=-1)
            out[key] = np.concatenate([obs, act], axis=-1)
    return out


def _store_batches(out: dict, part: str, u: int, batches: list[dict]) -> None:
    for i, b in enumerate(batches):
        for k, v in b.items():
            if i == 0 or k not in ("rewards", "masks"):  # shared by the agents: stored once
                out[f"{part}__u{u}__a{i}__{k}"] = v.astype(np.float32)


def _scale_q_heads(learner, scale: float) -> None:
    import torch
    from offline_marl.single_agent.critics import DoubleQ

    with torch.no_grad():
        for q in (learner.doubleQ.q1, learner.doubleQ.q2):
            q.network.fc3.weight.mul_(scale)
            q.network.fc3.bias.mul_(scale)
        DoubleQ.update_target_hard(learner.doubleQtarget, learner.doubleQ)


class _Outputs:
    """Forward hooks recording a module's outputs (and inputs) per call."""

    def __init__(self, modules: dict):
        self.calls = {k: [] for k in modules}
        self.handles = [m.register_forward_hook(self._hook(k)) for k, m in modules.items()]

    def _hook(self, key):
        def hook(module, inputs, output):
            self.calls[key].append((inputs[0].detach().clone(), output.detach().clone()))

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def record_iql_family(rng: np.random.Generator, out: dict, layouts: dict) -> None:
    import torch
    from offline_marl.multi_agent.iql_independent import IQLIndependentLearner
    from offline_marl.multi_agent.ma_iql import MaIQL
    from offline_marl.single_agent.iql import IQLLearner

    obs_spaces, act_spaces = box_spaces(OBS_DIMS, ACT_DIMS)
    for part in ("iql", "maiql", "bc"):
        torch.manual_seed(SEED)
        if part == "iql":
            learner = IQLLearner(
                **base_kwargs("iql", True), obs_space=_box(sum(OBS_DIMS)), act_space=_box(sum(ACT_DIMS))
            )
            units = [learner]
        elif part == "maiql":
            learner = MaIQL(
                **base_kwargs("ma-iql", True),
                n_learner=len(OBS_DIMS),
                obs_space=obs_spaces,
                act_space=act_spaces,
            )
            units = list(learner.learners)
        else:
            learner = IQLIndependentLearner(
                **base_kwargs("bc", True), n_learner=len(OBS_DIMS), obs_space=obs_spaces, act_space=act_spaces
            )
            units = list(learner.learners)
        round_params_to_float32(learner)
        if part != "bc":
            for unit in units:
                _scale_q_heads(unit, Q_SCALE[part])
        skip = ("_pos_encoding",) + (("doubleQ", ".V.") if part == "bc" else ())  # BC trains no Q, no V
        vec, layouts[part] = pack_params(learner, skip)
        out[f"{part}__init"] = vec.astype(np.float32)
        for u in range(UPDATES):
            batches = agent_batches(rng, memory=True)
            _store_batches(out, part, u, batches)
            hooks = _Outputs(
                {f"v{i}": unit.V.network for i, unit in enumerate(units)}
                | ({"vmix": learner.mixer_network_V.network} if part == "maiql" else {})
            )
            weights, norms = [], []

            def clamp(orig):
                def f(*a, **kw):
                    y = orig(*a, **kw)
                    if kw == {"max": 100.0}:
                        weights.append(y.detach().clone())
                    return y

                return f

            def clip(orig):
                def f(params, *a, **kw):
                    n = orig(params, *a, **kw)
                    norms.append(float(n))
                    return n

                return f

            with patched_attr(torch, "clamp", clamp), patched_attr(torch.nn.utils, "clip_grad_norm_", clip):
                if part == "iql":
                    stats = learner.update_from_batch(copy.deepcopy(joint_batch(batches)), "cpu")
                elif part == "maiql":
                    stats = learner.update_from_batch(copy.deepcopy(batches), "cpu")
                else:
                    st = [unit.update_from_batch(copy.deepcopy(b), "cpu") for unit, b in zip(units, batches)]
                    stats = {"loss_pi": sum(np.asarray(s["loss_pi"], dtype=np.float64).item() for s in st)}
            hooks.remove()
            if u == UPDATES - 1:
                out[f"{part}__after"] = pack_params(learner, skip)[0]
            for k in ("loss_v", "loss_pi", "loss_q"):
                out[f"{part}__u{u}__{k}"] = (
                    np.asarray(stats[k], dtype=np.float64).reshape(()) if k in stats else None
                )
            if part == "bc":
                continue
            gamma = IQL["discount_factor"]
            r, m = batches[0]["rewards"][:, 0], batches[0]["masks"][:, 0]
            # [unit][call][B]
            v = [[o[:, 0].numpy() for _, o in hooks.calls[f"v{i}"]] for i in range(len(units))]
            if any(len(c) != 3 for c in v):
                raise RuntimeError("expected 3 V calls per unit (V loss, AWR weights, TD target)")
            if part == "iql":
                (w,) = weights
                out[f"{part}__u{u}__awr_weight"] = w[:, 0].numpy()  # the clamp's result (the code negates it)
                out[f"{part}__u{u}__target"] = r + gamma * m * v[0][2]
            else:
                from offline_marl.multi_agent.mixer_networks import MixerNetwork

                out[f"{part}__u{u}__awr_weight"] = -np.asarray(stats["weights"])[:, 0]
                mix_calls = hooks.calls["vmix"]
                if len(mix_calls) != 3:
                    raise RuntimeError("expected 3 V-mixer calls (V loss, AWR weights, TD target)")
                wb = mix_calls[2][1]
                vn = torch.as_tensor(np.stack([vi[2] for vi in v], axis=1))
                v_next = MixerNetwork.mix(vn, wb[:, : len(units)], wb[:, len(units) :])[:, 0].numpy()
                out[f"{part}__u{u}__target"] = r + gamma * m * v_next
                out[f"{part}__u{u}__grad_norms"] = np.array(norms)  # before clipping, in the code's order


def record_td3(rng: np.random.Generator, out: dict, layouts: dict) -> None:
    import torch
    import torch.nn.functional as F
    from offline_marl.multi_agent.itd3 import ITD3Learner

    obs_spaces, act_spaces = box_spaces(OBS_DIMS, ACT_DIMS)

    def as_float64(orig):  # torch.FloatTensor(n, d) / torch.cuda.FloatTensor(n, d): float64 on the CPU
        def f(*shape):
            t = torch.empty(*shape, dtype=torch.float64)
            created.append(t)
            return t

        return f

    def recorded(orig):  # torch.randn_like: record the target smoothing noise
        def f(*a, **kw):
            y = orig(*a, **kw)
            noise.append(y.clone())
            return y

        return f

    def sample(orig):  # Normal.sample: record z = (sample - loc) / scale
        def f(self, *a, **kw):
            y = orig(self, *a, **kw)
            cem.append(((y - self.loc) / self.scale).clone())
            return y

        return f

    def mse(orig):  # OMAR's imitation target (the searched action)
        def f(x, target, *a, **kw):
            searched.append(target.detach().clone())
            return orig(x, target, *a, **kw)

        return f

    # the same for every method
    td3_batches = [agent_batches(rng, memory=False, n=TD3_ROWS) for _ in range(UPDATES)]
    for u, batches in enumerate(td3_batches):
        _store_batches(out, "td3", u, batches)
    for part, method in TD3_METHODS.items():
        torch.manual_seed(SEED)
        learner = ITD3Learner(
            **base_kwargs("itd3", False),
            **method,
            n_learner=len(OBS_DIMS),
            obs_space=obs_spaces,
            act_space=act_spaces,
        )
        round_params_to_float32(learner)
        with torch.no_grad():
            for agent, bias in zip(learner.learners, ACTOR_BIAS):
                agent.policy.l3.bias.copy_(torch.tensor(bias))
                agent.policytarget.l3.bias.copy_(torch.tensor(bias))
        vec, layouts[part] = pack_params(learner)
        out[f"{part}__init"] = vec.astype(np.float32)
        for u in range(UPDATES):
            batches = td3_batches[u]
            for i, agent in enumerate(learner.learners):
                created, noise, cem, searched = [], [], [], []
                hooks = _Outputs({"q1": agent.doubleQtarget.q1.network, "q2": agent.doubleQtarget.q2.network})
                with (
                    patched_attr(torch, "FloatTensor", as_float64),
                    patched_attr(torch.cuda, "FloatTensor", as_float64),
                    patched_attr(torch, "randn_like", recorded),
                    patched_attr(torch.distributions.Normal, "sample", sample),
                    patched_attr(F, "mse_loss", mse),
                ):
                    stats = agent.update_from_batch(copy.deepcopy(batches[i]), "cpu")
                hooks.remove()
                p = f"{part}__u{u}__a{i}__"
                for k, v in stats.items():
                    out[p + "stat__" + k] = np.asarray(v, dtype=np.float64).reshape(())
                (x1, q1), (x2, q2) = hooks.calls["q1"][0], hooks.calls["q2"][0]
                if len(hooks.calls["q1"]) != 1 or not torch.equal(x1, x2):
                    raise RuntimeError("expected one target-critic call per update")
                b = batches[i]
                out[p + "target_action"] = x1[:, OBS_DIMS[i] :].numpy()
                out[p + "target"] = (
                    b["rewards"] + IQL["discount_factor"] * b["masks"] * torch.minimum(q1, q2).numpy()
                )[:, 0]  # r + gamma m min(Q1', Q2')
                (z,) = noise
                out[p + "target_noise"] = z.numpy()
                if method["td3_omar_coeff"] > 0:  # CQL: uniform [B*K, d], N(0,1) of pi(o), N(0,1) of pi(o')
                    fills = [
                        t for t in created if t.shape[0] == TD3_ROWS * TD3["td3_omar_cql_num_sampled_actions"]
                    ]
                    if len(fills) != 3:
                        raise RuntimeError(f"expected 3 CQL draws, got {[tuple(t.shape) for t in created]}")
                    for key, t in zip(("cql_uniform", "cql_noise_cur", "cql_noise_new"), fills):
                        out[p + key] = t.numpy()
                    if u % TD3["td3_policy_freq"] == TD3["td3_policy_freq"] - 1:
                        if len(cem) != TD3["td3_omar_iters"]:
                            raise RuntimeError(f"expected {TD3['td3_omar_iters']} CEM draws, got {len(cem)}")
                        # (icql: the search is computed, unused: not stored)
                        if not method["td3_shortcut_omar"]:
                            out[p + "cem_z"] = torch.stack(cem).numpy()  # [iters, n_samples, B, d]
                            (s,) = searched
                            out[p + "searched"] = s.numpy()
        out[f"{part}__after"] = pack_params(learner)[0]


def record(moma_repo: Path) -> dict[str, np.ndarray]:
    out: dict = {}
    layouts: dict[str, list] = {}
    with official_float64(moma_repo / PKG_DIR, FILES) as root:
        _more_stand_ins()
        rng = np.random.default_rng(SEED)
        record_iql_family(rng, out, layouts)
        record_td3(rng, out, layouts)
    out = {k: v for k, v in out.items() if v is not None}
    meta = {
        "moma_files_sha256": sha256_of(root, FILES),
        "commit_read": "c276efc",
        "dtype": "float64",
        "seed": SEED,
        "obs_dims": OBS_DIMS,
        "act_dims": ACT_DIMS,
        "rows": ROWS,
        "td3_rows": TD3_ROWS,
        "updates": UPDATES,
        "hidden": HIDDEN,
        "lr": LR,
        "memory": MEMORY,
        "q_scale": Q_SCALE,
        "actor_bias": ACTOR_BIAS,
        "iql": IQL,
        "td3": TD3,
        "td3_methods": TD3_METHODS,
        "layouts": layouts,
        "train_agents_defaults": train_agents_defaults(root / "offline_marl/train_agents.py"),
    }
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def main(argv=None) -> Path:
    args = fixture_parser(
        __doc__, "--moma-repo", "a checkout of github.com/PBarde/moma-ppo", "moma_ppo_baselines_parity.npz"
    ).parse_args(argv)
    return write_fixture(record(args.moma_repo), args.out)


if __name__ == "__main__":
    main()
