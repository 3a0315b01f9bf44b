"""Parity of our MOMA-PPO pieces with MOMA-PPO's own code (PBarde/moma-ppo, ``moma-ppo/offline_marl``).

``tests/fixtures/moma_ppo_parity.npz`` holds what the official modules computed on fixed inputs, in float64
(``scripts/moma_ppo_parity_fixture.py`` says how it was made and how to rebuild it; its ``meta`` entry records the
sha256 of every official file used). Each part loads the official weights into our classes and replays the inputs
through our public API; every quantity must equal the code's within ``TOL`` (both sides in float64: the same math,
different summation orders). N = 2 agents with obs dims (4, 3): our padding to O = 4 is in every part.

- GAE with time-outs (``multi_agent/mappo.py`` ``get_gae``) vs ``gae_with_timeouts`` + ``normalize_advantages``.
- World-model ensemble (``multi_agent/worldmodel_ensemble.py``, ``worldmodel.py``, ``single_agent/world_models.py``;
  7 members, 4-layer T / R heads, 2-layer mask head, action dims (2, 1)):
  the losses NLL_T, NLL_R, BCE of each member on its own batch before each of two Adam steps, and the weights after
  them, with the per-member gradient clip binding on some members (``WorldModelEnsemble.losses`` / ``update``;
  a first Adam step barely depends on a clip, the second does); the validation scores and the elites
  (``validation_scores`` / ``select_elites`` with the same Gaussian samples: the fixture drew them from a generator
  seeded with ``wm_eval_seed`` in our order); ``sample`` on the elites (the elite of each transition from a generator
  seeded with ``wm_sample_seed`` in both): eps_g, eps_r and the aleatoric norm, clamped at l_eps = 2 and unclamped,
  the chosen member, next obs, reward and mask, without clipping and with the dataset box
  (``train_rl_model_based.py`` ``clip_to_dataset``), and the penalty and penalized reward (``correct_rewards``).
  The inputs give eps_g from 0.23 to 154 (11 of 48 rows >= 2) and eps_r above 2 on 2 rows, so the clamp binds on
  some rows and not on others (the aleatoric norm, 3.9 to 113, is clamped on every row); the box clips 38 % of the
  next-obs entries and 44 % of the rewards; the elites are members 3, 4, 2, 6, 5 (best first).
- MAPPO (``multi_agent/mappo.py`` ``update_from_batch`` with the self-attention history encoder, memory 3): the
  s' histories (``utils/histories.py`` ``next_histories`` vs our ``shift_history`` / ``history_step``), the means of
  the losses over the minibatches, alpha, and every parameter after an update of 1 and of 5 epochs (one minibatch =
  the whole buffer, so the code's ``torch.randperm`` order only permutes rows inside means). The learning rate 1e-2
  makes the ratio clip and the value clip bind within the 5 epochs (checked below), the log_std bias -2.5 puts the
  joint entropy estimate below the target -2 (alpha moves) and the mean bias +-1 puts some mean actions outside
  [-1, 1] (the action penalty acts). Action dims (2, 2): the code's update needs equal action dims (it stacks them).
- The history encoder (``utils/networks.py`` ``SelfAttention`` via ``HistoryEncoder``) vs
  ``SelfAttentionHistoryEncoder``, and the positional encodings, on histories zero-padded at episode starts. Our
  encoder's positions buffer is built in float32 whatever the module's dtype; for the float64 comparison (here and
  in MAPPO) it is rebuilt in float64 (:func:`float64_positions`).

Documented quirks (papers/moma_ppo/README.md, spec §8) and where they stand here: Q1 (the code's rollout cut tests
the clamped eps_g > l_eps, which never fires; our default cuts on the unclamped eps_g >= l_eps) concerns the rollout
loop, not compared; we compare both the clamped and the unclamped eps_g, from which either rule reads. Q2 / Q3
(reward of the sampled member, the mask of its agents) and Q8 (unconstrained mixer) are our defaults, used here.
Q5: our elites are scored once on the whole validation split; with one evaluation episode on a fixed batch the
code's ``evaluate`` scores the same rows, so the two agree exactly here. Q9 (max of batch-mean value losses, ratio
exponent clamp, std + 1e-3, alpha updated before its use) and Q10 (history actions clipped, no padding mask) are
reproduced and covered. Our ``obs_norm`` option ([I]) is off, as in the code.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from common.algos.mappo import MAPPO, MAPPOConfig
from common.algos.ppo import gae_with_timeouts, normalize_advantages
from common.datasets.dataset import Dataset
from common.networks.history import (
    SelfAttentionHistoryEncoder,
    history_step,
    shift_history,
    sinusoidal_positions,
)
from papers.moma_ppo.worldmodel import WorldModelEnsemble
from papers.moma_ppo.worldmodel_data import JointLayout, WMData, WorldModelConfig
from scripts import parity_common
from scripts.parity_common import load_fixture, t64, unpack

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "moma_ppo_parity.npz"
TOL = dict(rtol=1e-10, atol=1e-12)  # float64 on both sides (observed: <= 4e-14 relative, 1e-14 absolute)
# Parameters after Adam steps are compared as changes (after - before). Where the exact gradient is 0 but float64
# leaves rounding noise (the attention key bias b_k: common/networks/history.py "Numerics"), Adam's normalisation turns noise
# of ~1e-17 into a step of up to lr * 1e-17 / 1e-8 = lr * 1e-9 that differs between the two implementations.
STEP_TOL = dict(rtol=1e-10, atol=1e-11)  # observed: 6e-13 absolute on changes up to 5e-2 (lr 1e-2)
F64 = torch.float64
# asserts equality within TOL (or the tolerances given) and returns the largest absolute difference
assert_close = functools.partial(parity_common.assert_close, default_tol=TOL)


@pytest.fixture(scope="module")
def fx():
    data, meta = load_fixture(FIXTURE)
    data["meta"] = meta  # the parsed JSON in place of its raw entry
    return data


def pad(x: np.ndarray, dims, width: int) -> torch.Tensor:
    """Joint columns [..., sum dims] -> our per-agent padded layout [..., N, width] (zeros in the padding)."""
    parts = np.split(np.asarray(x, dtype=np.float64), np.cumsum(dims)[:-1], axis=-1)
    out = np.zeros((*parts[0].shape[:-1], len(dims), width))
    for i, p in enumerate(parts):
        out[..., i, : p.shape[-1]] = p
    return t64(out)


# ----------------------------------------------------------------------------------------------
# GAE
# ----------------------------------------------------------------------------------------------


def test_gae_with_timeouts_equals_code(fx):
    # [1, n]
    g = {k: t64(fx[f"gae__{k}"][:, 0])[None] for k in ("rewards", "values", "next_values", "masks", "zetas")}
    ppo = fx["meta"]["ppo"]
    # every case occurs
    assert 0 < g["masks"].mean() < 1 and 0 < g["zetas"].mean() < 1 and g["zetas"][0, -1] == 1
    adv, ret = gae_with_timeouts(
        g["rewards"], g["values"], g["next_values"], g["masks"], g["zetas"], ppo["gamma"], ppo["lam"]
    )
    assert_close(ret[0], fx["gae__returns"][:, 0], "GAE returns")
    assert_close(
        normalize_advantages(adv, 1e-3)[0], fx["gae__advantages"][:, 0], "GAE advantages (normalized)"
    )


# ----------------------------------------------------------------------------------------------
# world model
# ----------------------------------------------------------------------------------------------


def wm_config(meta, **kw) -> WorldModelConfig:
    w = meta["wm"]
    return WorldModelConfig(
        n_members=w["n_members"],
        n_elites=w["n_elites"],
        hidden=w["hidden"],
        t_layers=4,
        r_layers=4,
        mask_layers=2,
        lr=w["lr"],
        grad_clip=w["grad_clip"],
        threshold=w["threshold"],
        lambda_aleatoric=w["lambda_aleatoric"],
        lambda_g=w["lambda_g"],
        lambda_r=w["lambda_r"],
        **kw,
    )


def load_wm(fx, key: str = "wm__init", **kw) -> WorldModelEnsemble:
    """Our ensemble (one group of 7, float64) with the code's member weights ``fx[key]`` [K, P]."""
    meta = fx["meta"]
    wm = WorldModelEnsemble(
        JointLayout(meta["obs_dims"], meta["act_dims"]), wm_config(meta, **kw), seeds=(0,), dtype=F64
    )
    with torch.no_grad():
        for k, vec in enumerate(fx[key]):
            sd = unpack(vec, meta["layouts"]["wm"])
            for layers, head, n in (
                (wm.heads.T.net.layers, "T", 5),
                (wm.heads.R.net.layers, "R", 5),
                (wm.heads.mask.layers, "mask", 3),
            ):
                assert len(layers) == n
                for j, layer in enumerate(layers):
                    layer.weight[k].copy_(sd[f"{head}.network.fc{j + 1}.weight"].T)
                    layer.bias[k, 0].copy_(sd[f"{head}.network.fc{j + 1}.bias"])
    return wm


def wm_weights(wm: WorldModelEnsemble, meta) -> np.ndarray:
    """Our weights in the fixture's packed layout [K, P] (the inverse of :func:`load_wm`)."""
    heads = {"T": wm.heads.T.net.layers, "R": wm.heads.R.net.layers, "mask": wm.heads.mask.layers}
    rows = []
    for k in range(wm.n_members):
        parts = []
        for name, shape in meta["layouts"]["wm"]:
            head, _, fc, kind = name.split(".")
            layer = heads[head][int(fc[2:]) - 1]
            parts.append((layer.weight[k].T if kind == "weight" else layer.bias[k, 0]).detach().reshape(-1))
        rows.append(torch.cat(parts).numpy())
    return np.stack(rows)


def joint_inputs(wm: WorldModelEnsemble, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
    lay = wm.layout
    return lay.inputs(pad(obs, lay.obs_dims, lay.obs_pad), pad(actions, lay.act_dims, lay.act_pad))


def test_world_model_loss_and_update_equal_code(fx):
    meta = fx["meta"]
    wm = load_wm(fx)
    np.testing.assert_array_equal(wm_weights(wm, meta), fx["wm__init"])  # the copy is exact and complete
    tr = {
        k: fx[f"wm__train__{k}"] for k in ("observations", "actions", "next_observations", "rewards", "masks")
    }
    clipped = []
    for u in range(meta["wm"]["updates"]):  # [U, K, B, ...]: each member its own batch at each update
        batch = {
            "inputs": joint_inputs(wm, tr["observations"][u], tr["actions"][u]),
            "next_obs": t64(tr["next_observations"][u]),
            "rewards": t64(tr["rewards"][u]),
            "masks": t64(tr["masks"][u]),
        }
        losses = wm.losses(batch)
        for j, name in enumerate(("nll_t", "nll_r", "bce")):
            assert_close(
                losses[name], fx["wm__train_losses"][u, :, j], f"world-model {name} per member, update {u}"
            )
        clipped.append(wm.update(batch)["grad_norm"] > meta["wm"]["grad_clip"])
    clipped = torch.stack(clipped)
    # the per-member clip binds on some members, not all
    assert bool(clipped.any()) and not bool(clipped.all())
    after, before = wm_weights(wm, meta), fx["wm__init"]
    assert_close(
        after - before, fx["wm__after"] - before, "world-model weights after the updates", **STEP_TOL
    )


def test_world_model_elites_equal_code(fx):
    meta = fx["meta"]
    wm = load_wm(fx)
    va = {
        k: fx[f"wm__valid__{k}"] for k in ("observations", "actions", "next_observations", "rewards", "masks")
    }
    V = len(va["observations"])
    data = WMData(
        inputs=joint_inputs(wm, va["observations"], va["actions"]),
        next_obs=t64(va["next_observations"]),
        rewards=t64(va["rewards"]),
        masks=t64(va["masks"]),
        train=[torch.arange(V)],
        valid=[torch.arange(V)],
    )
    gen = torch.Generator().manual_seed(meta["wm_eval_seed"])
    elites = wm.select_elites(data, generator=gen)
    assert_close(wm.elite_scores, 0.5 * (fx["wm__t_dist_valid"] + fx["wm__r_dist_valid"]), "elite scores")
    assert elites[0].tolist() == fx["wm__top_wms"].tolist()  # the same members, best first
    assert elites[0].tolist() != list(range(meta["wm"]["n_elites"]))  # not trivially the first five


def box_dataset(fx) -> Dataset:
    """The stored box rows as one of our datasets (zero actions; one episode)."""
    meta = fx["meta"]
    dims, O = meta["obs_dims"], max(meta["obs_dims"])
    obs, nxt = pad(fx["wm__box_obs"], dims, O).numpy(), pad(fx["wm__box_next_obs"], dims, O).numpy()
    T, N = obs.shape[:2]
    rew = np.repeat(fx["wm__box_rewards"], N, axis=1)
    act = np.zeros((T, N, max(meta["act_dims"])), np.float32)
    tout = np.zeros(T, bool)
    tout[-1] = True
    return Dataset.from_arrays(
        "test/moma-parity",
        "medium",
        obs,
        act,
        rew,
        nxt,
        np.zeros(T, bool),
        tout,
        obs_dims=dims,
        act_dims=meta["act_dims"],
    )


@pytest.mark.parametrize("clip", [False, True])
def test_world_model_sample_equals_code(fx, clip):
    """``sample`` with clipping off (the code's ``sample`` output) and on (after ``clip_to_dataset``); the penalty
    (``correct_rewards``) applies in both on our side, so without clipping it is checked on ``rewards_clipped``."""
    meta = fx["meta"]
    wm = load_wm(fx, clip_to_dataset=clip)
    wm.set_elites(fx["wm__top_wms"])
    if clip:
        wm.set_box(box_dataset(fx))
    lay = wm.layout
    obs, act = (
        pad(fx["wm__sample_obs"], lay.obs_dims, lay.obs_pad),
        pad(fx["wm__sample_actions"], lay.act_dims, lay.act_pad),
    )
    out = wm.sample(obs, act, generator=torch.Generator().manual_seed(meta["wm_sample_seed"]))
    c, r = "wm__sample_clamped__", "wm__sample_raw__"
    np.testing.assert_array_equal(fx[c + "choice"], fx[r + "choice"])
    # the same elite per transition
    assert out["member"].tolist() == fx["wm__top_wms"][fx[c + "choice"]].tolist()
    for ours, theirs in (
        ("eps_g", "ensemble_cov_norm"),
        ("eps_r", "rewards_cov"),
        ("aleatoric", "model_max_cov_norm"),
    ):
        assert_close(out[ours], fx[c + theirs], f"{ours} (clamped at l_eps)")
        assert_close(out[ours + "_raw"], fx[r + theirs], f"{ours} (unclamped)")
    thr = meta["wm"]["threshold"]
    assert 0 < int((out["eps_g_raw"] >= thr).sum()) < len(out["eps_g_raw"]) and bool(
        (out["eps_r_raw"] > thr).any()
    )
    assert_close(out["masks"], fx[c + "masks"], "mask")
    assert 0 < float(out["masks"].mean()) < 1
    if clip:
        next_obs, rew = fx["wm__clipped__next_obs"], fx["wm__clipped__rewards"]
        assert (fx[c + "next_obs"] != next_obs).mean() > 0.1 and (fx[c + "rewards"] != rew).mean() > 0.1
    else:
        next_obs, rew = fx[c + "next_obs"], fx[c + "rewards"]
    assert_close(lay.joint_obs(out["next_obs"]), next_obs, "next obs")
    assert bool((out["next_obs"][:, 1, 3] == 0).all())  # agent 1's padded column stays 0
    assert_close(out["rewards_clipped"], rew, "reward before the penalty")
    assert_close(out["penalty"], fx["wm__penalty"], "penalty")
    if clip:
        assert_close(out["rewards"], fx["wm__penalized__rewards"], "penalized reward (after clipping)")


# ----------------------------------------------------------------------------------------------
# MAPPO and the history encoder
# ----------------------------------------------------------------------------------------------


def _set_linear(layer, m: int, w: torch.Tensor, b: torch.Tensor | None, rows=None, cols=None) -> None:
    """Our EnsembleLinear member m ([in, out] weights) <- an nn.Linear's (w [out, in], b [out]); ``rows``: the
    input rows of ours that the official inputs map to, ``cols`` likewise for the outputs (other entries kept)."""
    rows = torch.arange(w.shape[1]) if rows is None else torch.as_tensor(rows)
    cols = torch.arange(w.shape[0]) if cols is None else torch.as_tensor(cols)
    with torch.no_grad():
        layer.weight[m][rows[:, None], cols[None, :]] = w.T
        if b is not None:
            layer.bias[m, 0][cols] = b


def _mappo_map(meta):
    """(our module, member, official name prefix, input rows, output cols) of every official linear layer: the
    code's agent i reads [emb ⊕ o_i] (history steps [o_i ⊕ a_i]); ours the padded [emb ⊕ o_i ⊕ 0] ([o ⊕ 0 ⊕ a ⊕ 0]);
    our actor's head is [mean | log_std]."""
    O, A, E = max(meta["obs_dims"]), max(meta["ppo_act_dims"]), meta["ppo"]["memory_dim"]
    maps = []
    for i, (o, a) in enumerate(zip(meta["obs_dims"], meta["ppo_act_dims"])):
        x_rows = list(range(E)) + list(range(E, E + o))
        h_rows = list(range(o)) + list(range(O, O + a))
        p = f"learners.{i}."
        maps += [
            ("encoder.embed", i, p + "memory.network.embed", h_rows, None),
            ("encoder.wq", i, p + "memory.network.Wq", None, None),
            ("encoder.wk", i, p + "memory.network.Wk", None, None),
            ("encoder.wv", i, p + "memory.network.Wv", None, None),
            ("encoder.soft_key", i, p + "memory.network.soft_key", None, None),
            ("actor.trunk.layers.0", i, p + "policy.fc1", x_rows, None),
            ("actor.trunk.layers.1", i, p + "policy.fc2", None, None),
            ("actor.head", i, p + "policy.mean_layer", None, list(range(a))),
            ("actor.head", i, p + "policy.log_std_layer", None, list(range(A, A + a))),
            ("critic.layers.0", i, p + "V.network.fc1", x_rows, None),
            ("critic.layers.1", i, p + "V.network.fc2", None, None),
            ("critic.layers.2", i, p + "V.network.fc3", None, None),
        ]
    maps += [(f"mixer.layers.{j}", 0, f"mixer_network_V.network.fc{j + 1}", None, None) for j in range(3)]
    return maps


def float64_positions(enc: SelfAttentionHistoryEncoder) -> None:
    """Our encoder builds its fixed positions buffer in float32 at construction (``sinusoidal_positions``' default
    dtype) and ``.to(float64)`` keeps those float32-rounded values (relative error ~3e-8, then ~1e-8 in the
    embeddings); the code's are float64. For a float64 comparison the buffer is rebuilt in float64 (in float32 runs
    both round to the same float32 positions)."""
    enc.positions = sinusoidal_positions(enc.length, enc.emb_dim, F64)


def _module(learner: MAPPO, path: str):
    obj = learner
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def load_mappo(fx, epochs: int) -> MAPPO:
    meta, ppo = fx["meta"], fx["meta"]["ppo"]
    cfg = MAPPOConfig(
        hidden=(ppo["hidden"],) * 2,
        lr=ppo["lr"],
        grad_clip=ppo["grad_clip"],
        gamma=ppo["gamma"],
        lam=ppo["lam"],
        epochs=epochs,
        minibatch_size=ppo["rows"],
        clip=ppo["clip"],
        value_clip=ppo["clip"],
        critic_coef=ppo["critic_coef"],
        alpha_lr=ppo["alpha_lr"],
        entropy_target=ppo["entropy_target"],
        action_penalty=ppo["action_penalty"],
        memory_len=ppo["memory_len"],
        memory_dim=ppo["memory_dim"],
    )
    learner = MAPPO(meta["obs_dims"], meta["ppo_act_dims"], 1, cfg, dtype=F64)
    sd = unpack(fx["mappo__init"], meta["layouts"]["mappo"])
    with torch.no_grad():
        for prm in learner.parameters():  # the padded entries (absent from the code's layers) stay 0
            prm.zero_()
    for path, m, name, rows, cols in _mappo_map(meta):
        _set_linear(_module(learner, path), m, sd[name + ".weight"], sd.get(name + ".bias"), rows, cols)
    with torch.no_grad():
        for i in range(len(meta["obs_dims"])):
            p = f"learners.{i}.memory.network."
            learner.encoder.norm_weight[i].copy_(sd[p + "norm.weight"])
            learner.encoder.norm_bias[i].copy_(sd[p + "norm.bias"])
            learner.encoder.query[i].copy_(sd[p + "soft_query"])
    assert float(sd["entropy_alpha"]) == learner.cfg.alpha0 == 0.0
    float64_positions(learner.encoder)
    return learner


def mappo_state(learner: MAPPO, alpha: float, meta) -> np.ndarray:
    """Our parameters in the fixture's packed layout (the inverse of :func:`load_mappo`)."""
    got: dict[str, torch.Tensor] = {"entropy_alpha": torch.tensor([alpha], dtype=F64)}
    for path, m, name, rows, cols in _mappo_map(meta):
        layer = _module(learner, path)
        rows = torch.arange(layer.weight.shape[1]) if rows is None else torch.as_tensor(rows)
        cols = torch.arange(layer.weight.shape[2]) if cols is None else torch.as_tensor(cols)
        got[name + ".weight"] = layer.weight[m][rows[:, None], cols[None, :]].T
        if layer.bias is not None:
            got[name + ".bias"] = layer.bias[m, 0][cols]
    for i in range(len(meta["obs_dims"])):
        p = f"learners.{i}.memory.network."
        got[p + "norm.weight"], got[p + "norm.bias"] = (
            learner.encoder.norm_weight[i],
            learner.encoder.norm_bias[i],
        )
        got[p + "soft_query"] = learner.encoder.query[i]
    return np.concatenate([got[name].detach().reshape(-1).numpy() for name, _ in meta["layouts"]["mappo"]])


def mappo_batch(fx) -> dict[str, torch.Tensor]:
    """The fixture's per-agent batch in our layout: [S = 1, n, N, ...], histories [1, n, N, L, O + A]."""
    meta = fx["meta"]
    O, A = max(meta["obs_dims"]), max(meta["ppo_act_dims"])
    agents = range(len(meta["obs_dims"]))
    a = lambda i, k: fx[f"mappo__batch__a{i}__{k}"]  # noqa: E731

    def per_agent(k: str, width: int) -> torch.Tensor:
        out = torch.zeros(a(0, k).shape[0], len(agents), width, dtype=F64)
        for i in agents:
            out[:, i, : a(i, k).shape[-1]] = t64(a(i, k))
        return out[None]

    n, L = a(0, "observations").shape[0], meta["ppo"]["memory_len"]
    mem = torch.zeros(1, n, len(agents), L, O + A, dtype=F64)
    for i, o in zip(agents, meta["obs_dims"]):
        h = t64(a(i, "history_memories"))  # [n, L, o_i + a_i]
        mem[0, :, i, :, :o] = h[..., :o]
        mem[0, :, i, :, O : O + h.shape[-1] - o] = h[..., o:]
    obs, act = per_agent("observations", O), per_agent("actions", A)
    return {
        "obs": obs,
        "next_obs": per_agent("next_observations", O),
        "actions": act,
        "rewards": t64(a(0, "rewards"))[None, :, 0],
        "masks": t64(a(0, "masks"))[None, :, 0],
        "zetas": t64(a(0, "time_out_masks"))[None, :, 0],
        "memory": mem,
        # the s' histories, as our rollouts build them
        "next_memory": shift_history(mem, history_step(obs, act)),
    }


def test_next_histories_equal_code(fx):
    meta = fx["meta"]
    O, batch = max(meta["obs_dims"]), mappo_batch(fx)
    for i, o in enumerate(meta["obs_dims"]):
        ref = fx[f"mappo__next_histories__a{i}"]  # [n, L, o_i + a_i]
        ours = batch["next_memory"][0, :, i]
        assert_close(
            torch.cat([ours[..., :o], ours[..., O : O + ref.shape[-1] - o]], -1), ref, f"s' histories {i}"
        )
        assert bool((ours[..., o:O] == 0).all())


@pytest.mark.parametrize("epochs", [1, 5])
def test_mappo_update_equals_code(fx, epochs):
    meta = fx["meta"]
    learner = load_mappo(fx, epochs)
    init = fx["mappo__init"].astype(np.float64)
    np.testing.assert_array_equal(mappo_state(learner, 0.0, meta), init)  # the copy is exact and complete
    batch = mappo_batch(fx)
    mean_actions = learner.greedy(batch["obs"], batch["memory"])
    assert bool((mean_actions.abs() > 1).any())  # the action penalty acts from the first step
    v_old = learner.values(batch["obs"], batch["memory"])
    if epochs == 5:  # the value clip binds at the 5th step: after 4 epochs some V_tot is beyond V_old +- clip
        four = load_mappo(fx, 4)
        four.update(batch)
        assert (
            float((four.values(batch["obs"], batch["memory"]) - v_old).abs().max()) > learner.cfg.value_clip
        )
    out = learner.update(batch)
    if epochs == 5:
        assert float(out["clip_frac"][0]) > 0  # the ratio clip binds
    ref = dict(zip(meta["ppo_stats"], fx[f"mappo__e{epochs}__stats"]))
    coef = learner.cfg.critic_coef
    for ours, theirs, scale in (
        ("loss", "loss", 1.0),
        ("actor_loss", "actor_loss", 1.0),
        ("critic_loss", "critic_weighted_loss", coef),
        ("entropy_bonus", "entropy_bonus", 1.0),
        ("action_penalty", "action_penalty", 1.0),
    ):
        assert_close(scale * out[ours], ref[theirs], f"{ours} (mean over {epochs} steps)")
    assert ref["entropy_bonus"] != 0 and ref["action_penalty"] > 0
    after = fx[f"mappo__e{epochs}__after"]
    alpha = float(learner.alpha[0])
    assert alpha > 0
    names = [name for name, _ in meta["layouts"]["mappo"]]
    assert_close(alpha, after[names.index("entropy_alpha")], "alpha")  # the entropy weight after the update
    assert_close(
        mappo_state(learner, alpha, meta) - init,
        after - init,
        f"parameters after {epochs} epochs",
        **STEP_TOL,
    )


def test_history_encoder_equals_code(fx):
    e = fx["meta"]["enc"]
    sd = unpack(fx["enc__weights"], fx["meta"]["layouts"]["enc"])
    enc = SelfAttentionHistoryEncoder(1, e["in_dim"], e["emb_dim"], e["length"]).to(F64)
    for ours, theirs in (
        ("embed", "embed"),
        ("wq", "Wq"),
        ("wk", "Wk"),
        ("wv", "Wv"),
        ("soft_key", "soft_key"),
    ):
        _set_linear(getattr(enc, ours), 0, sd[f"network.{theirs}.weight"], sd.get(f"network.{theirs}.bias"))
    float64_positions(enc)
    with torch.no_grad():
        enc.norm_weight[0].copy_(sd["network.norm.weight"])
        enc.norm_bias[0].copy_(sd["network.norm.bias"])
        enc.query[0].copy_(sd["network.soft_query"])
    assert_close(
        sinusoidal_positions(e["length"], e["emb_dim"], F64), fx["enc__positions"], "positional encodings"
    )
    h = t64(fx["enc__histories"])
    # padded and full histories
    assert bool((h[:, 0] == 0).all(-1).any()) and bool((h[:, 0] != 0).any(-1).any())
    with torch.no_grad():
        assert_close(enc(h[None])[0], fx["enc__embedding"], "history embeddings")
        assert_close(enc(h[None, :1])[0], fx["enc__embedding_b1"], "history embedding, batch of 1")
