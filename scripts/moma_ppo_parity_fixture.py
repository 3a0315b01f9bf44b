"""Record what MOMA-PPO's own code computes on fixed inputs, for the parity test of our MOMA-PPO pieces.

What it does: imports the official modules from a checkout of github.com/PBarde/moma-ppo (written against commit
c276efc; folder ``moma-ppo/offline_marl``) and runs them in float64 (``torch.set_default_dtype`` and ``.double()``:
the same code, less rounding) on fixed random inputs drawn from numpy seeds. Per part it stores the inputs (rounded
to float32 values, stored as float32), the official weights before (rounded likewise: arbitrary starting points)
and after, and the official outputs (float64); ``tests/test_moma_ppo_official_parity.py`` loads the weights into
our classes and replays every input through our public API. Weights are stored flat (one vector per model; the
names and shapes of the official ``state_dict`` entries in ``meta["layouts"]``).

Parts (keys ``<part>__<name>`` of the .npz; N = 2 agents with obs dims (4, 3), so our padding to O = 4 is exercised,
and action dims (2, 1) in the world model (padding to A = 2), (2, 2) in MAPPO: the code's ``update_from_batch`` ends
with ``torch.stack`` of the agents' actions for its statistics, which needs equal action dims, as in every task
of the paper):

- ``gae``: ``multi_agent/mappo.py`` ``MAPPO.get_gae`` on a buffer of 50 rows with random rewards, V(s), V(s'),
  terminals (masks) and time-outs (``time_out_masks``): returns and normalized advantages [50, 1].
- ``wm``: ``multi_agent/worldmodel_ensemble.py`` ``WorldModelEnsemble`` of 7 ``multi_agent/worldmodel.py``
  ``WorldModel`` members (``single_agent/world_models.py`` ``WorldModelNNs``: 4-hidden-layer T and R heads
  (``four_layers_wm=True``), the 2-layer mask head, width 8; the mask heads' output bias shifted by +0.15 so that
  both mask outcomes occur in (c)):
  (a) two ``update_from_batches`` per member, each on its own batch of 16 rows (Adam lr 1e-3, gradient-norm clip
      1.0, which binds on some members): the losses returned (NLL_T, NLL_R, BCE, before each step) and every
      member's weights after the two steps;
  (b) ``evaluate`` (on the initial weights) with one evaluation episode whose train and validation "datasets"
      return a fixed batch of 32 rows: T_dist_valid / R_dist_valid per member and the resulting ``top_wms``
      (elites). The Gaussian samples of the validation distances come from ``torch.randn_like``; for the members'
      valid T and R calls it returns noise drawn from a ``torch.Generator`` seeded with ``WM_EVAL_SEED`` in the
      order our ``validation_scores`` draws it (T noise [7, 32, 7], then R noise [7, 32, 2]), so our elite
      selection with a generator of that seed uses the same samples;
  (c) ``sample`` on 48 joint (obs, action) pairs (obs scaled from 0.05 to 400 so that eps_g and eps_r fall on
      both sides of l_eps; actions partly outside [-1, 1]) with the elites of (b), threshold 2.0 and again with
      threshold inf (the unclamped uncertainties), then ``train_rl_model_based.py``'s ``clip_to_dataset`` (the
      box of a stored 30-row dataset) and ``correct_rewards`` (lambda_aleatoric 0.5, lambda_g 0.1, lambda_r 0.05).
      The per-transition elite is drawn by ``torch.randint``; during ``sample`` that call is routed to a
      ``torch.Generator`` seeded with ``WM_SAMPLE_SEED`` (the official draw otherwise comes from the global stream
      after noise and Bernoulli draws whose results ``sample`` does not use), so our ``sample`` with a generator of
      the same seed picks the same elites.
- ``mappo``: ``multi_agent/mappo.py`` ``MAPPO`` (``single_agent/ppo.py`` ``PPOLearner`` with the self-attention
  history encoder, memory 3, embedding 8; ``GaussianPolicy`` without squashing; ``V``; ``MixerNetwork``; hidden 16)
  ``update_from_batch`` on a model-based batch of 32 rows (histories zero-padded at random episode starts) whose
  actions are sampled from the policy itself (``policy.act``), with the minibatch size 32 = the buffer (so the
  minibatch order drawn by ``torch.randperm`` only permutes rows inside means), Adam lr 1e-2 (large, so that the
  ratio and value clips bind within 5 steps), entropy target -2 and alpha step 1e-3, action penalty 1: once with
  1 epoch and once with 5, from the same initial weights. Before the update the log_std heads' bias is set to
  -2.5 (the joint entropy estimate is then below -2, so the adaptive alpha moves) and the mean heads' bias to
  +-1 (so some mean actions leave [-1, 1] and the action penalty acts). Stored: the initial and final parameters
  (alpha included), the returned means of the losses, and ``utils/histories.py`` ``next_histories`` of the batch
  (the s' histories).
- ``enc``: ``utils/histories.py`` ``HistoryEncoder`` (``utils/networks.py`` ``SelfAttention``; input 5, output 16,
  10 steps) on 20 histories, some zero-padded at the front (episode starts), and on one history alone (its cached
  batch-size-1 positions); its weights and ``positional_encoding``.

Nothing of the official code is copied into this repository: the script imports it from a checkout
(``train_rl_model_based.py``'s two helpers are taken from the parsed file, without running that module's imports:
loggers, env registries). Stand-ins are installed for the imports that do not matter here when they are missing:
``gym`` (``spaces.Box`` / ``Discrete`` from gymnasium), ``nop`` (the no-op object the code uses for absent
memories) and ``alfred.utils.recorder`` (a logger).

Rebuild the fixture (a few seconds, CPU)::

    git clone https://github.com/PBarde/moma-ppo /tmp/moma-ppo && git -C /tmp/moma-ppo checkout c276efc
    python scripts/moma_ppo_parity_fixture.py --moma-repo /tmp/moma-ppo [--out tests/fixtures/moma_ppo_parity.npz]

The file's ``meta`` entry (JSON) holds the sha256 of each official file used, the settings and the seeds.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import sys
import types
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_common import fixture_parser, install_gym_stand_in, require_files, sha256_of, write_fixture  # noqa: E402

PKG_DIR = "moma-ppo/offline_marl"  # the folder that holds the ``offline_marl`` package
FILES = (
    "offline_marl/multi_agent/mappo.py",
    "offline_marl/multi_agent/mixer_networks.py",
    "offline_marl/multi_agent/worldmodel.py",
    "offline_marl/multi_agent/worldmodel_ensemble.py",
    "offline_marl/single_agent/actors.py",
    "offline_marl/single_agent/critics.py",
    "offline_marl/single_agent/ppo.py",
    "offline_marl/single_agent/world_models.py",
    "offline_marl/utils/histories.py",
    "offline_marl/utils/networks.py",
    "offline_marl/utils/ml.py",
    "offline_marl/utils/base_algo.py",
    "offline_marl/train_rl_model_based.py",
)
OBS_DIMS, ACT_DIMS = (4, 3), (2, 1)
# the code's MAPPO stacks the agents' actions for its statistics: equal action dims only
PPO_ACT_DIMS = (2, 2)
SEED = 0  # numpy seed of the inputs; torch.manual_seed(SEED) before each official construction
WM = dict(
    n_members=7,
    n_elites=5,
    hidden=8,
    lr=1e-3,
    grad_clip=1.0,
    updates=2,
    train_rows=16,
    valid_rows=32,
    sample_rows=48,
    box_rows=30,
    box_half_width=0.25,
    sample_scale=(0.05, 400.0),
    mask_bias_shift=0.15,
    threshold=2.0,
    lambda_aleatoric=0.5,
    lambda_g=0.1,
    lambda_r=0.05,
)
WM_SAMPLE_SEED = 1234  # seed of the generator that draws the elite of each synthetic transition
WM_EVAL_SEED = 4321  # seed of the generator of the Gaussian samples in the elite scores
PPO = dict(
    rows=32,
    memory_len=3,
    memory_dim=8,
    hidden=16,
    lr=1e-2,
    gamma=0.99,
    lam=0.98,
    clip=0.2,
    critic_coef=0.5,
    alpha_lr=1e-3,
    entropy_target=-2.0,
    action_penalty=1.0,
    grad_clip=1.0,
    epochs=(1, 5),
    log_std_bias=-2.5,
    mean_bias=((1.0, -1.0), (-1.0, 0.0)),
)
PPO_STATS = (
    "loss",
    "actor_loss",
    "critic_weighted_loss",
    "entropy_bonus",
    "entropy_alpha",
    "action_penalty",
    "action_bound_error",
)  # the means update_from_batch returns, in this order
GAE_ROWS = 50
ENC = dict(in_dim=5, emb_dim=16, length=10, batch=20)


def _install_stand_ins() -> None:
    """``gym.spaces`` from gymnasium, a no-op ``nop.NOP`` and ``alfred.utils.recorder.Aggregator``, if absent."""
    install_gym_stand_in()
    try:
        import nop  # noqa: F401
    except ImportError:
        # absorbs any attribute, call and iteration (the code's stand-in for an absent memory encoder)
        class NOP:
            def __getattr__(self, name):
                return self

            def __call__(self, *args, **kwargs):
                return self

            def __iter__(self):
                return iter(())

        mod = types.ModuleType("nop")
        mod.NOP = NOP
        sys.modules["nop"] = mod
    try:
        import alfred.utils.recorder  # noqa: F401
    except ImportError:
        for name in ("alfred", "alfred.utils", "alfred.utils.recorder"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules["alfred.utils.recorder"].Aggregator = object  # only used by the parallel trainer


def _functions_from(path: Path, names: tuple[str, ...]) -> dict:
    """The top-level functions ``names`` of a Python file, compiled from the file itself with numpy as ``np``
    (the module's other imports are not run)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    if sorted(d.name for d in defs) != sorted(names):
        raise ValueError(f"{path} lacks one of {names}")
    ns = {"np": np}
    exec(compile(ast.Module(body=defs, type_ignores=[]), str(path), "exec"), ns)
    return {n: ns[n] for n in names}


@contextlib.contextmanager
def official_float64(root: Path, files):
    """While active: the official package in ``root`` (the folder that holds ``offline_marl``) importable (``files``
    checked, the stand-ins installed), torch on one thread with float64 as its default dtype (float32 again
    afterwards); yields ``root``."""
    require_files(root, files, "pass --moma-repo a checkout of PBarde/moma-ppo")
    _install_stand_ins()
    sys.path.insert(0, str(root))
    import torch

    # the code's Box()
    warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32.*")
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    try:
        yield root
    finally:
        torch.set_default_dtype(torch.float32)


@contextlib.contextmanager
def patched_attr(module, name, fn):
    orig = getattr(module, name)
    setattr(module, name, fn(orig))
    try:
        yield
    finally:
        setattr(module, name, orig)


def pack_params(module, skip=("_pos_encoding",)) -> tuple[np.ndarray, list]:
    """Every floating tensor of ``module.state_dict()`` (but ``skip``) flattened into one float64 vector, and its
    layout [(name, shape), ...] in that order (written to ``meta``)."""
    items = [
        (k, v)
        for k, v in module.state_dict().items()
        if v.is_floating_point() and not any(s_ in k for s_ in skip)
    ]
    vec = np.concatenate([v.detach().cpu().numpy().astype(np.float64).ravel() for _, v in items])
    return vec, [[k, list(v.shape)] for k, v in items]


def round_params_to_float32(module) -> None:
    """Round every trained parameter to a float32 value (kept in float64): the initial weights are then stored
    exactly as float32 (half the fixture's size); they are arbitrary starting points either way. The fixed
    positional encodings (a parameter without gradient) keep their float64 values."""
    import torch

    with torch.no_grad():
        for prm in module.parameters():
            if prm.is_floating_point() and prm.requires_grad:
                prm.copy_(prm.float().double())


def f32(x) -> np.ndarray:
    """An input rounded to float32 values (stored as float32 exactly, given to the code as float64)."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def box_spaces(obs_dims=OBS_DIMS, act_dims=ACT_DIMS):
    """The code's per-agent gym Boxes: observations unbounded, actions in [-1, 1]."""
    from gym.spaces import Box

    obs = [Box(low=-np.inf, high=np.inf, shape=(d,), dtype=np.float64) for d in obs_dims]
    act = [Box(low=-1.0, high=1.0, shape=(d,), dtype=np.float64) for d in act_dims]
    return obs, act


def _split(x: np.ndarray, dims) -> list[np.ndarray]:
    """[B, sum dims] -> per-agent [B, d_i]."""
    return np.split(x, np.cumsum(dims)[:-1], axis=-1)


# ----------------------------------------------------------------------------------------------
# parts (each writes its arrays into ``out`` and its weight layouts into ``layouts``)
# ----------------------------------------------------------------------------------------------


def record_gae(mappo, rng: np.random.Generator, out: dict) -> None:
    import torch

    n = GAE_ROWS
    r = f32(rng.normal(size=(n, 1)))
    v, nv = f32(rng.normal(size=(n, 1))), f32(rng.normal(size=(n, 1)))
    m = (rng.random((n, 1)) > 0.15).astype(np.float64)  # 1 = not terminal
    z = (rng.random((n, 1)) > 0.25).astype(np.float64)  # 1 = the rollout continues (0 = time-out)
    t = lambda a: torch.as_tensor(a)  # noqa: E731
    ret, adv = mappo.get_gae(rewards=t(r), masks=t(m), time_out_masks=t(z), values=t(v), next_values=t(nv))
    out.update(
        {
            "gae__rewards": r,
            "gae__values": v,
            "gae__next_values": nv,
            "gae__masks": m,
            "gae__zetas": z,
            "gae__returns": ret.numpy(),
            "gae__advantages": adv.numpy(),
        }
    )


def record_world_model(rng: np.random.Generator, helpers: dict, out: dict, layouts: dict) -> None:
    import torch
    from offline_marl.multi_agent.worldmodel_ensemble import WorldModelEnsemble

    obs_space, act_space = box_spaces()
    K, Oj, N, Aj = WM["n_members"], sum(OBS_DIMS), len(OBS_DIMS), sum(ACT_DIMS)
    torch.manual_seed(SEED)
    ens = WorldModelEnsemble(
        n_wm_trained=K,
        n_wm_used=WM["n_elites"],
        act_space=act_space,
        obs_space=obs_space,
        loss_weights={"T": 1.0, "R": 1.0, "masks": 1.0, "legal_moves": 1.0},
        memory_len=0,
        task_name="ant-parity",
        k_mixture_gaussian=1,
        deterministic_wm=False,
        hidden_size=WM["hidden"],
        lr=WM["lr"],
        train_device="cpu",
        weight_decay=0.0,
        four_layers_wm=True,
        spectral_norm=False,
        grad_clip_norm=WM["grad_clip"],
    )
    with torch.no_grad():
        for wm in ens.wms:
            wm._model.mask.network.fc3.bias.add_(WM["mask_bias_shift"])  # both mask outcomes occur in (c)
            round_params_to_float32(wm._model)
    init = copy.deepcopy([wm._model.state_dict() for wm in ens.wms])
    packed = [pack_params(wm._model) for wm in ens.wms]
    out["wm__init"] = np.stack([v for v, _ in packed])  # [K, P]
    layouts["wm"] = packed[0][1]

    def batch(rows: int) -> dict[str, np.ndarray]:
        """Joint arrays: obs / next_obs [B, Oj], actions [B, sum A] (some outside [-1, 1]), rewards [B, N] (the team
        reward copied), masks [B, N]."""
        r = f32(rng.normal(size=(rows, 1)))
        return {
            "observations": f32(rng.normal(size=(rows, Oj))),
            "actions": f32(rng.uniform(-1.3, 1.3, (rows, Aj))),
            "next_observations": f32(rng.normal(size=(rows, Oj))),
            "rewards": np.repeat(r, N, axis=1),
            "masks": np.repeat((rng.random((rows, 1)) > 0.2).astype(np.float64), N, axis=1),
        }

    def per_agent(b: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """The code's per-agent batches: obs / next_obs split by obs dims, actions by action dims, one column of
        rewards and masks each."""
        parts = {
            k: _split(b[k], OBS_DIMS if "observations" in k else ACT_DIMS if k == "actions" else (1,) * N)
            for k in b
        }
        return [{k: parts[k][i].copy() for k in b} for i in range(N)]

    # (a) two updates per member, each on its own batch (a second Adam step, where the gradient clip shows)
    losses, train = [], []
    for u in range(WM["updates"]):
        train.append([batch(WM["train_rows"]) for _ in range(K)])
        losses.append([])
        for wm, b in zip(ens.wms, train[-1]):
            st = wm.update_from_batches(per_agent(b), "cpu")
            losses[-1].append(
                [np.asarray(st[k], dtype=np.float64).item() for k in ("loss_T", "loss_R", "loss_masks")]
            )
    for key in train[0][0]:
        # [U, K, B, F]
        out[f"wm__train__{key}"] = np.array([[b[key] for b in bs] for bs in train], dtype=np.float32)
    out["wm__train_losses"] = np.array(losses)  # [U, K, 3]: NLL_T, NLL_R, BCE before each update
    out["wm__after"] = np.stack([pack_params(wm._model)[0] for wm in ens.wms])  # [K, P]

    # (b) elites on the initial weights: one evaluation episode on a fixed validation batch
    for wm, sd in zip(ens.wms, init):
        wm._model.load_state_dict(sd)
    valid = batch(WM["valid_rows"])
    for key, v in valid.items():
        out[f"wm__valid__{key}"] = v.astype(np.float32)
    fixed = SimpleNamespace(sample=lambda batch_size: per_agent(valid))
    # The Gaussian samples of the validation scores: drawn from a generator seeded with WM_EVAL_SEED in the order our
    # validation_scores draws them (T noise [K, V, Oj], then R noise [K, V, N]), and handed to the members' valid
    # T / R ``randn_like`` calls (per member the code samples train T, train R, valid T, valid R).
    gen = torch.Generator().manual_seed(WM_EVAL_SEED)
    V = WM["valid_rows"]
    noise_t = torch.randn((K, V, Oj), generator=gen, dtype=torch.float64)
    noise_r = torch.randn((K, V, N), generator=gen, dtype=torch.float64)
    calls = []

    def from_generator(orig):
        def randn_like(x, *a, **kw):
            k, j = divmod(len(calls), 4)
            calls.append(tuple(x.shape))
            if j == 2:
                return noise_t[k].clone()
            if j == 3:
                return noise_r[k].clone()
            return orig(x, *a, **kw)

        return randn_like

    torch.manual_seed(SEED + 1)
    with patched_attr(torch, "randn_like", from_generator):
        stats = ens.evaluate(fixed, fixed, max_eval_episode=1, batch_size=V)
    if calls != [(V, Oj), (V, N)] * (2 * K):
        raise RuntimeError(f"unexpected randn_like calls in evaluate: {calls}")
    out["wm__t_dist_valid"] = np.array([stats[f"wm_{k}_T_dist_valid"] for k in range(K)], dtype=np.float64)
    out["wm__r_dist_valid"] = np.array([stats[f"wm_{k}_R_dist_valid"] for k in range(K)], dtype=np.float64)
    out["wm__top_wms"] = np.asarray(ens.top_wms, dtype=np.int64)

    # (c) sample on the elites, then the dataset box and the penalty
    T = WM["box_rows"]
    w = WM["box_half_width"]
    box_obs, box_next = f32(rng.uniform(-w, w, size=(T, Oj))), f32(rng.uniform(-w, w, size=(T, Oj)))
    box_rew = f32(rng.uniform(-0.15, 0.15, size=(T, 1)))
    out.update(
        {
            "wm__box_obs": box_obs.astype(np.float32),
            "wm__box_next_obs": box_next.astype(np.float32),
            "wm__box_rewards": box_rew.astype(np.float32),
        }
    )
    box_ds = SimpleNamespace(
        datasets=[
            SimpleNamespace(observations=o, next_observations=no, rewards=box_rew[:, 0])
            for o, no in zip(_split(box_obs, OBS_DIMS), _split(box_next, OBS_DIMS))
        ]
    )
    rows = WM["sample_rows"]
    # in-distribution to far out: eps_g on both sides of 2
    scale = np.geomspace(*WM["sample_scale"], rows)[:, None]
    s_obs = f32(scale * rng.normal(size=(rows, Oj)))
    s_act = f32(rng.uniform(-1.5, 1.5, size=(rows, Aj)))
    out.update({"wm__sample_obs": s_obs.astype(np.float32), "wm__sample_actions": s_act.astype(np.float32)})
    s_batches = [
        {"observations": o, "actions": a} for o, a in zip(_split(s_obs, OBS_DIMS), _split(s_act, ACT_DIMS))
    ]
    for tag, thr in (("clamped", WM["threshold"]), ("raw", np.inf)):
        cfg = SimpleNamespace(
            n_wm_used=WM["n_elites"],
            ensemble_cov_norm_threshold=thr,
            wm_use_min_rewards=False,
            wm_use_all_min=False,
        )
        gen = torch.Generator().manual_seed(WM_SAMPLE_SEED)
        picks = []

        def seeded(orig):
            def randint(*a, **kw):
                x = orig(*a, generator=gen, **kw)
                picks.append(x.clone())
                return x

            return randint

        with patched_attr(torch, "randint", seeded):
            data = ens.sample(copy.deepcopy(s_batches), cfg, "cpu")
        out[f"wm__sample_{tag}__choice"] = picks[0].numpy().astype(np.int64)
        out[f"wm__sample_{tag}__next_obs"] = np.concatenate([d["next_observations"] for d in data], axis=1)
        for key in ("rewards", "masks"):
            out[f"wm__sample_{tag}__{key}"] = np.concatenate([d[key] for d in data], axis=1)  # [B, N]
        for key in ("ensemble_cov_norm", "rewards_cov", "model_max_cov_norm"):
            out[f"wm__sample_{tag}__{key}"] = data[0][key][:, 0]  # [B] (the same for every agent)
        if tag == "clamped":
            data = helpers["clip_to_dataset"](data, box_ds)
            out["wm__clipped__next_obs"] = np.concatenate([d["next_observations"] for d in data], axis=1)
            out["wm__clipped__rewards"] = np.concatenate([d["rewards"] for d in data], axis=1)
            data = helpers["correct_rewards"](
                data,
                reward_penalty_gaussian_std=WM["lambda_aleatoric"],
                reward_penalty_ensemble_std=WM["lambda_g"],
                reward_penalty_ensemble_reward_only_std=WM["lambda_r"],
            )
            out["wm__penalized__rewards"] = np.concatenate([d["rewards"] for d in data], axis=1)
            out["wm__penalty"] = data[0]["rewards_penalty"][:, 0]


def mappo_kwargs(epochs: int) -> dict:
    obs_space, act_space = box_spaces(act_dims=PPO_ACT_DIMS)
    return dict(
        alg_name="ma-ppo",
        n_learner=len(OBS_DIMS),
        grad_clip_norm=PPO["grad_clip"],
        batch_size=PPO["rows"],
        ppo_epochs_per_update=epochs,
        ppo_update_clip_param=PPO["clip"],
        discount_factor=PPO["gamma"],
        ppo_lamda=PPO["lam"],
        ppo_critic_loss_coeff=PPO["critic_coef"],
        ppo_entropy_bonus_coeff=PPO["alpha_lr"],
        ppo_entropy_target=PPO["entropy_target"],
        ppo_action_penalty_coeff=PPO["action_penalty"],
        act_space=act_space,
        obs_space=obs_space,
        ppo_actor_squashing="none",
        ppo_double_V=False,
        hidden_size=PPO["hidden"],
        lr_v=PPO["lr"],
        lr_pi=PPO["lr"],
        lr_memory=PPO["lr"],
        train_device="cpu",
        memory_len=PPO["memory_len"],
        memory_out_size=PPO["memory_dim"],
        memory_op="self-attention",
        state_dependent_std=True,
        task_name="ant-parity",
    )


def record_mappo(rng: np.random.Generator, out: dict, layouts: dict):
    import torch
    from offline_marl.multi_agent.mappo import MAPPO
    from offline_marl.utils.histories import next_histories

    def build(epochs: int):
        """The official learner, built from the same seed for every epoch count (identical initial weights)."""
        torch.manual_seed(SEED)
        learner = MAPPO(**mappo_kwargs(epochs))
        learner.double()  # entropy_alpha is created float32 explicitly
        round_params_to_float32(learner)
        with torch.no_grad():
            for agent, mb in zip(learner.learners, PPO["mean_bias"]):
                agent.policy.log_std_layer.bias.fill_(PPO["log_std_bias"])
                agent.policy.mean_layer.bias.copy_(torch.tensor(mb))
        return learner

    base = build(PPO["epochs"][0])
    vec, layouts["mappo"] = pack_params(base)
    out["mappo__init"] = vec.astype(np.float32)

    n, L = PPO["rows"], PPO["memory_len"]
    batches = []
    for o, a in zip(OBS_DIMS, PPO_ACT_DIMS):
        hist = f32(rng.normal(size=(n, L, o + a)))
        # stored history actions lie inside +-(1 - 1e-5)
        hist[:, :, o:] = f32(np.clip(hist[:, :, o:], -0.999, 0.999))
        start = rng.integers(0, L + 1, size=n)  # zero steps before each row's episode start
        hist[np.arange(L)[None, :] < start[:, None]] = 0.0
        batches.append(
            {
                "observations": f32(rng.normal(size=(n, o))),
                "next_observations": f32(rng.normal(size=(n, o))),
                "history_memories": hist,
            }
        )
    r = f32(rng.normal(size=(n, 1)))
    m = (rng.random((n, 1)) > 0.1).astype(np.float64)
    z = (rng.random((n, 1)) > 0.3).astype(np.float64)
    with torch.no_grad():  # actions sampled from the policy, as the rollouts collect them
        torch.manual_seed(SEED + 2)
        for b, learner in zip(batches, base.learners):
            t = {k: torch.as_tensor(v) for k, v in b.items()}
            b["actions"] = f32(
                learner.policy.act(
                    learner.concat_embedings_to_obs(t), sample=True, return_log_pi=False
                ).numpy()
            )
            b.update(rewards=r, masks=m, time_out_masks=z)
    for i, b in enumerate(batches):
        for k, v in b.items():
            out[f"mappo__batch__a{i}__{k}"] = v.astype(np.float32)
        out[f"mappo__next_histories__a{i}"] = next_histories(
            b["history_memories"], b["observations"], b["actions"]
        )

    for epochs in PPO["epochs"]:
        learner = build(epochs)
        # the minibatch order (one minibatch = the whole buffer: no effect on means)
        torch.manual_seed(SEED + 3)
        stats = learner.update_from_batch(copy.deepcopy(batches), "cpu")
        out[f"mappo__e{epochs}__after"] = pack_params(learner)[0]
        out[f"mappo__e{epochs}__stats"] = np.array(
            [np.asarray(stats[k], dtype=np.float64).item() for k in PPO_STATS]
        )
    return base


def record_encoder(rng: np.random.Generator, out: dict, layouts: dict) -> None:
    import torch
    from offline_marl.utils.histories import HistoryEncoder

    torch.manual_seed(SEED)
    enc = HistoryEncoder(
        num_in=ENC["in_dim"],
        num_out=ENC["emb_dim"],
        hidden_size=16,
        lr=1e-3,
        reduce_op="self-attention",
        max_history_len=ENC["length"],
        train_device="cpu",
        weight_decay=0,
    )
    round_params_to_float32(enc)
    vec, layouts["enc"] = pack_params(enc)
    out["enc__weights"] = vec.astype(np.float32)
    out["enc__positions"] = enc.network._pos_encoding.detach().numpy()[0]  # [L, E]
    h = f32(rng.normal(size=(ENC["batch"], ENC["length"], ENC["in_dim"])))
    start = rng.integers(0, ENC["length"], size=ENC["batch"])
    h[np.arange(ENC["length"])[None, :] < start[:, None]] = 0.0
    with torch.no_grad():
        out["enc__histories"] = h.astype(np.float32)
        out["enc__embedding"] = enc(torch.as_tensor(h), ENC["length"]).numpy()
        out["enc__embedding_b1"] = enc(torch.as_tensor(h[:1]), ENC["length"]).numpy()


def record(moma_repo: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    layouts: dict[str, list] = {}
    with official_float64(moma_repo / PKG_DIR, FILES) as root:
        helpers = _functions_from(
            root / "offline_marl/train_rl_model_based.py", ("clip_to_dataset", "correct_rewards")
        )
        rng = np.random.default_rng(SEED)
        mappo = record_mappo(rng, out, layouts)
        record_gae(mappo, rng, out)
        record_world_model(rng, helpers, out, layouts)
        record_encoder(rng, out, layouts)
    meta = {
        "moma_files_sha256": sha256_of(root, FILES),
        "commit_read": "c276efc",
        "dtype": "float64",
        "seed": SEED,
        "obs_dims": OBS_DIMS,
        "act_dims": ACT_DIMS,
        "ppo_act_dims": PPO_ACT_DIMS,
        "wm": WM,
        "wm_sample_seed": WM_SAMPLE_SEED,
        "wm_eval_seed": WM_EVAL_SEED,
        "ppo": PPO,
        "ppo_stats": PPO_STATS,
        "gae_rows": GAE_ROWS,
        "enc": ENC,
        "layouts": layouts,
    }
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def main(argv=None) -> Path:
    args = fixture_parser(
        __doc__, "--moma-repo", "a checkout of github.com/PBarde/moma-ppo", "moma_ppo_parity.npz"
    ).parse_args(argv)
    return write_fixture(record(args.moma_repo), args.out)


if __name__ == "__main__":
    main()
