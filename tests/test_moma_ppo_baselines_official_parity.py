"""Parity of our MOMA-PPO baseline learners with MOMA-PPO's own code (PBarde/moma-ppo, ``moma-ppo/offline_marl``).

``tests/fixtures/moma_ppo_baselines_parity.npz`` holds what the official learners computed on fixed minibatches, in
float64 (``scripts/moma_ppo_baselines_parity_fixture.py`` says how it was made and how to rebuild it; its ``meta``
records the sha256 of every official file used). Each part loads the official initial weights into our learner
(float64; our ensemble layout [M, in, out], padded entries 0), replays the two minibatches (and, for the TD3
family, the code's own random numbers), and compares every returned loss, the intermediate quantities the fixture
read through hooks, and every parameter (online and target networks) after the two updates within ``TOL``
(parameter changes within ``STEP_TOL``). N = 2 agents with obs dims (4, 3) and action dims (2, 1): our padding to
O = 4, A = 2 is exercised everywhere.

- ``iql`` (``single_agent/iql.py`` ``IQLLearner``) vs ``ContinuousIQL`` method "iql" (``central_obs="joint"``: the
  code's single-agent learner on the joint observation and action), with the self-attention history encoder
  (memory 3): the expectile V loss, the AWR weights min(exp(3 (Q' - V)), 100) per row (the clip binds on some rows:
  the Q heads' last layers were scaled by 8), the AWR loss, the TD target r + 0.99 m V(x'_next) per row, the Q
  loss, every parameter (encoder and its Polyak target included) after the V -> pi -> Q -> targets order twice.
- ``maiql`` (``multi_agent/ma_iql.py`` ``MaIQL``) vs method "maiql": the team AWR weights (clipped on about half
  the rows), the mixed TD target, the three losses and every parameter (per-agent nets, encoders, both mixers and the
  target Q mixer) with the per-network gradient clip at 1 (the code's norms before clipping, recorded, lie on both
  sides of 1).
- ``bc`` (``IQLIndependentLearner`` with alg ``bc``) vs method "bc": the summed BC losses and the policies and
  encoders after two steps (the code also builds Q / V networks and a target encoder for BC but never trains or
  reads them; ours builds none, so they are not compared).
- ``itd3bc`` / ``icql`` / ``iomar`` / ``iomar_bc`` (``multi_agent/itd3.py`` ``ITD3Learner`` = per-agent
  ``single_agent/td3.py`` ``TD3Learner``) vs ``ITD3`` with ``td3_presets.moma_ppo_preset`` ("itd3bc", "icql",
  "iomar", and "iomar" with ``omar_bc_alpha=2.5, bc_reduce="sum"``: the code's default ``td3_bc_coeff`` beside
  OMAR), sizes overridden as the fixture's (hidden 8, lr 1e-2, batch 16, CQL 5 samples per group, CEM 10 samples;
  noise clip 0.3 so that the clip binds on some draws). The code's target smoothing noise, CQL uniform actions and
  N(0, 1) draws and the CEM's normal draws are replayed into our draws (``torch.rand`` / ``torch.randn`` are
  answered from the fixture, in our order, shape-checked). Compared: the smoothed target action (the noise clip
  and the [-1, 1] clamp both bind), the TD target, the critic loss (CQL included) and the CQL term of both updates,
  the actor loss and -mean Q1(o, pi(o)) of the delayed actor step (update 2), OMAR's searched action a_hat, and
  every parameter after the critic-only update 1 and the critic + actor + targets update 2.
- The presets and ``ContinuousIQLConfig``'s defaults against ``train_agents.py``'s argparse defaults.

Deliberate differences and how they are handled: histories are not an input of ITD3 (README: "ITD3 baselines
without histories"), so the TD3 parts run the code with ``memory_len=0``; ICQL's CEM search, computed but unused by
the code (``td3_shortcut_omar``), is skipped by ours (its draws are simply not replayed); the ITD3 presets and the
IQL family take no gradient clip / clip 1 as the code. MATD3+BC is not in the released code (spec Q13: its design is
[inferred]), so there is nothing to replay for it.

Undocumented difference found (our learner is not changed here; papers/moma_ppo/README.md "Parity with the official
code"): with agents of unequal action dims, our IOMAR actor loss averages the imitation term (pi - a_hat)^2 and the
1e-3 pi^2 term over the padded action width A = max_i d_i (``common/algos/itd3_losses.py`` ``td3_mixed_actor_loss``,
``common/algos/omar.py`` ``omar_actor_loss``: ``.mean(dim=(-2, -1))``), while the code's ``F.mse_loss`` and
``(pi ** 2).mean()`` average over the agent's own d_i (``single_agent/td3.py`` ``update_pi``): for an agent with
d_i < A both terms are scaled by d_i / A. Every MOMA-PPO task has equal action dims per agent (Reacher 1 + 1, Ant
2 x 4), where the two agree. ``test_td3_family_equals_code`` runs our IOMAR as it is and pins the difference down
(agent 1's actor loss = the code's minus (1 - d_1 / A) x its OMAR term; agent 1's actor left out of the parameter
comparison); ``test_iomar_per_width_means_equal_code`` wraps the per-agent means around our loss functions (the
learner is not changed) and then everything, agent 1's actor included, equals the code.

Two more remarks: the code's expectile weights |tau - (q < v).float()| are float32 whatever the default dtype, so the
float64 replay gives our learner tau = float32(0.7) (in float32 runs both are float32); the attention key bias has an
exact gradient of 0 and is compared with ``KEY_BIAS_ATOL`` (rounding noise turned into steps by Adam).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

import common.algos.iql_continuous as iqlc
import common.algos.itd3 as itd3
from common.algos.iql_continuous import ContinuousIQL, ContinuousIQLConfig
from common.algos.itd3 import ITD3, ITD3Config
from common.networks.history import sinusoidal_positions
from papers.moma_ppo.td3_presets import MOMA_PPO_TD3, moma_ppo_preset
from scripts import parity_common
from scripts.parity_common import load_fixture, t64, unpack

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "moma_ppo_baselines_parity.npz"
TOL = dict(rtol=1e-10, atol=1e-12)
# parameter changes after Adam steps (see test_moma_ppo_official_parity.py)
STEP_TOL = dict(rtol=1e-10, atol=1e-11)
# The attention key bias b_k has an exact gradient of 0 (a shift of every key score), so float64 leaves rounding noise
# of ~1e-16 that Adam (eps 1e-8) turns into steps of up to lr * 1e-8 each: 6 steps at lr 1e-2 stay below 1e-9.
KEY_BIAS_ATOL = 1e-9  # observed: |change| <= 7e-11 on both sides
F64 = torch.float64
# asserts equality within TOL (or the tolerances given) and returns the largest absolute difference
assert_close = functools.partial(parity_common.assert_close, default_tol=TOL)
TD3_PARTS = ("itd3bc", "icql", "iomar", "iomar_bc")


@pytest.fixture(scope="module")
def fx():
    data, meta = load_fixture(FIXTURE)
    data["meta"] = meta  # the parsed JSON in place of its raw entry
    return data


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------------------------
# weight maps: official nn.Linear (w [out, in], b [out]) <-> our EnsembleLinear member m ([in, out], [1, out])
# ----------------------------------------------------------------------------------------------


class WeightMap:
    """Official state_dict names <-> slices of our parameters. ``linear(prefix, layer, m, rows, cols)`` maps
    ``prefix.weight`` / ``prefix.bias``; ``param(name, tensor_row)`` maps a whole vector (encoder norm / query)."""

    def __init__(self):
        self.entries: dict[str, tuple] = {}

    def linear(self, prefix, layer, m, rows=None, cols=None):
        rows = torch.arange(layer.weight.shape[1]) if rows is None else torch.as_tensor(rows)
        cols = torch.arange(layer.weight.shape[2]) if cols is None else torch.as_tensor(cols)
        self.entries[prefix + ".weight"] = ("w", layer, m, rows, cols)
        if layer.bias is not None:
            self.entries[prefix + ".bias"] = ("b", layer, m, rows, cols)

    def param(self, name, tensor, m):
        self.entries[name] = ("p", tensor, m, None, None)

    def load(self, sd: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, (kind, obj, m, rows, cols) in self.entries.items():
                if kind == "w":
                    obj.weight[m][rows[:, None], cols[None, :]] = sd[name].T
                elif kind == "b":
                    obj.bias[m, 0][cols] = sd[name]
                else:
                    obj[m].copy_(sd[name])

    def get(self, name) -> torch.Tensor:
        kind, obj, m, rows, cols = self.entries[name]
        if kind == "w":
            return obj.weight[m][rows[:, None], cols[None, :]].T
        if kind == "b":
            return obj.bias[m, 0][cols]
        return obj[m]

    def vector(self, layout, names) -> np.ndarray:
        return np.concatenate([self.get(n).detach().reshape(-1).numpy() for n, _ in layout if n in names])


def _zero_params(*modules) -> None:
    with torch.no_grad():
        for mod in modules:
            for p in mod.parameters():
                p.zero_()


def _map_mlp(wm, prefix, mlp, m, rows=None, cols=None):
    n = len(mlp.layers)
    for j, layer in enumerate(mlp.layers):
        wm.linear(f"{prefix}.fc{j + 1}", layer, m, rows if j == 0 else None, cols if j == n - 1 else None)


def _map_encoder(wm, prefix, enc, m, rows):
    for ours, theirs in (
        ("embed", "embed"),
        ("wq", "Wq"),
        ("wk", "Wk"),
        ("wv", "Wv"),
        ("soft_key", "soft_key"),
    ):
        wm.linear(f"{prefix}.network.{theirs}", getattr(enc, ours), m, rows if ours == "embed" else None)
    wm.param(f"{prefix}.network.norm.weight", enc.norm_weight, m)
    wm.param(f"{prefix}.network.norm.bias", enc.norm_bias, m)
    wm.param(f"{prefix}.network.soft_query", enc.query, m)


# ----------------------------------------------------------------------------------------------
# IQL, MAIQL, BC
# ----------------------------------------------------------------------------------------------


def iql_learner(fx, part: str) -> tuple[ContinuousIQL, WeightMap]:
    meta = fx["meta"]
    method = {"iql": "iql", "maiql": "maiql", "bc": "bc"}[part]
    kw = dict(
        method=method,
        hidden=(meta["hidden"],) * 2,
        lr=meta["lr"],
        batch_size=meta["rows"],
        memory_len=meta["memory"]["len"],
        memory_dim=meta["memory"]["dim"],
        lr_memory=meta["lr"],
    )
    # the code's expectile weights are float32 (``(q < v).float()``): tau as a float32 value
    if method != "bc":
        kw.update(
            gamma=meta["iql"]["discount_factor"],
            expectile=float(np.float32(meta["iql"]["expectile"])),
            beta=meta["iql"]["awr_temperature"],
            tau=meta["iql"]["target_update_coef"],
        )
    if method == "maiql":
        kw.update(grad_clip=meta["iql"]["grad_clip_norm"])
    learner = ContinuousIQL(meta["obs_dims"], meta["act_dims"], 1, ContinuousIQLConfig(**kw), dtype=F64)
    _zero_params(learner.nets, learner.targets)
    O, A, E = learner.obs_dim, learner.act_dim, meta["memory"]["dim"]
    wm = WeightMap()
    units = [("", None)] if method == "iql" else [(f"learners.{i}.", i) for i in range(learner.n_agents)]
    for m, (p, i) in enumerate(units):
        if i is None:  # centralized: joint obs and action, no padding
            x_rows = q_rows = h_rows = None
            a = learner.unit_act
            head_mean, head_std = list(range(a)), list(range(a, 2 * a))
        else:
            o, a = meta["obs_dims"][i], meta["act_dims"][i]
            x_rows = list(range(E)) + [E + k for k in range(o)]
            q_rows = x_rows + [E + O + k for k in range(a)]
            h_rows = list(range(o)) + [O + k for k in range(a)]
            head_mean, head_std = list(range(a)), [A + k for k in range(a)]
        pi = learner.nets["pi"]
        wm.linear(p + "policy.fc1", pi.trunk.layers[0], m, x_rows)
        wm.linear(p + "policy.fc2", pi.trunk.layers[1], m)
        wm.linear(p + "policy.mean_layer", pi.head, m, None, head_mean)
        wm.linear(p + "policy.log_std_layer", pi.head, m, None, head_std)
        _map_encoder(wm, p + "memory", learner.nets["enc"], m, h_rows)
        if method == "bc":
            continue
        for q in ("q1", "q2"):
            _map_mlp(wm, f"{p}doubleQ.{q}.network", learner.nets[q], m, q_rows)
            _map_mlp(wm, f"{p}doubleQtarget.{q}.network", learner.targets[q], m, q_rows)
        _map_mlp(wm, p + "V.network", learner.nets["v"], m, x_rows)
        _map_encoder(wm, p + "memorytarget", learner.targets["enc"], m, h_rows)
    if method == "maiql":
        _map_mlp(wm, "mixer_network_Q.network", learner.nets["qmix"], 0)
        _map_mlp(wm, "mixer_network_V.network", learner.nets["vmix"], 0)
        _map_mlp(wm, "target_mixer_network_Q.network", learner.targets["qmix"], 0)
    sd = unpack(fx[f"{part}__init"], meta["layouts"][part])
    names = {n for n, _ in meta["layouts"][part]}
    unmapped = names - set(wm.entries)
    if method == "bc":  # the code's BC target encoder is Polyak-updated but never read
        assert all(".memorytarget." in n for n in unmapped), unmapped
    else:
        assert not unmapped, unmapped
    wm.load(sd)
    for enc in [learner.nets["enc"]] + ([learner.targets["enc"]] if "enc" in learner.targets else []):
        # float64 positions (see the MAPPO test)
        enc.positions = sinusoidal_positions(enc.length, enc.emb_dim, F64)
    return learner, wm


def iql_batch(fx, part: str, u: int, learner: ContinuousIQL) -> dict[str, torch.Tensor]:
    """The fixture's per-agent minibatch in our layout: obs [1, B, N, O], memory [1, B, U, L, D]."""
    meta = fx["meta"]
    N, O, A, L = learner.n_agents, learner.obs_dim, learner.act_dim, learner.memory_len
    g = lambda i, k: fx[f"{part}__u{u}__a{i}__{k}"]  # noqa: E731
    B = g(0, "observations").shape[0]

    def padded(k, width):
        out = torch.zeros(1, B, N, width, dtype=F64)
        for i in range(N):
            out[0, :, i, : g(i, k).shape[-1]] = t64(g(i, k))
        return out

    batch = {
        "obs": padded("observations", O),
        "next_obs": padded("next_observations", O),
        "actions": padded("actions", A),
        "rewards": t64(g(0, "rewards"))[None, :, 0],
        "masks": t64(g(0, "masks"))[None, :, 0],
    }
    for key, ours in (("history_memories", "memory"), ("next_history_memories", "next_memory")):
        if learner.central:  # [joint obs ⊕ joint action] per step
            obs = np.concatenate([g(i, key)[..., :o] for i, o in enumerate(meta["obs_dims"])], -1)
            act = np.concatenate([g(i, key)[..., o:] for i, o in enumerate(meta["obs_dims"])], -1)
            batch[ours] = t64(np.concatenate([obs, act], -1))[None, :, None]
        else:
            mem = torch.zeros(1, B, N, L, O + A, dtype=F64)
            for i, o in enumerate(meta["obs_dims"]):
                h = t64(g(i, key))
                mem[0, :, i, :, :o] = h[..., :o]
                mem[0, :, i, :, O : O + h.shape[-1] - o] = h[..., o:]
            batch[ours] = mem
    return batch


def _capture(monkeypatch, module, name, store: list, arg: int | None = None):
    """Wraps ``module.name`` so that its result (or its positional argument ``arg``) is appended to ``store``."""
    orig = getattr(module, name)

    def wrapped(*a, **kw):
        out = orig(*a, **kw)
        store.append((out if arg is None else a[arg]).detach().clone())
        return out

    monkeypatch.setattr(module, name, wrapped)


@pytest.mark.parametrize("part", ["iql", "maiql", "bc"])
def test_iql_family_equals_code(fx, part, monkeypatch):
    meta = fx["meta"]
    learner, wm = iql_learner(fx, part)
    layout = meta["layouts"][part]
    names = set(wm.entries)
    init = np.concatenate(
        [unpack(fx[f"{part}__init"], layout)[n].reshape(-1).numpy() for n, _ in layout if n in names]
    )
    np.testing.assert_array_equal(wm.vector(layout, names), init)  # the copy is exact
    weights, targets = [], []
    _capture(monkeypatch, iqlc, "awr_weights", weights)
    _capture(monkeypatch, iqlc, "twin_td_loss", targets, arg=2)
    for u in range(meta["updates"]):
        weights.clear()
        targets.clear()
        out = learner.update(iql_batch(fx, part, u, learner))
        for k in ("loss_v", "loss_pi", "loss_q"):
            if f"{part}__u{u}__{k}" in fx:
                assert_close(out[k].sum(), fx[f"{part}__u{u}__{k}"], f"{part} {k}, update {u + 1}")
        if part == "bc":
            continue
        ref_w = fx[f"{part}__u{u}__awr_weight"]
        assert 0 < int((ref_w == 100).sum()) < ref_w.size  # the weight clip binds on some rows
        assert_close(weights[0][0], ref_w, f"{part} AWR weights, update {u + 1}")
        assert_close(targets[0][0], fx[f"{part}__u{u}__target"], f"{part} TD target, update {u + 1}")
        if part == "maiql":
            norms = fx[f"{part}__u{u}__grad_norms"]
            assert (norms > 1).any() and (norms < 1).any()  # the per-network clip binds on some networks
    full, start = unpack(fx[f"{part}__after"], layout), unpack(fx[f"{part}__init"], layout)
    for n, _ in layout:
        if n not in names:
            continue
        ours, theirs = wm.get(n).detach() - start[n], full[n] - start[n]
        # exact gradient 0 (softmax shift invariance); both sides step on rounding noise
        if n.endswith("Wk.bias"):
            assert float(theirs.abs().max()) < KEY_BIAS_ATOL
            assert_close(ours, theirs, f"{part} {n} after two updates", rtol=0.0, atol=KEY_BIAS_ATOL)
        else:
            assert_close(ours, theirs, f"{part} {n} after two updates", **STEP_TOL)


# ----------------------------------------------------------------------------------------------
# the TD3 family
# ----------------------------------------------------------------------------------------------


def td3_config(fx, part: str, **kw) -> ITD3Config:
    meta, t = fx["meta"], fx["meta"]["td3"]
    method = "iomar" if part == "iomar_bc" else part
    extra = dict(omar_bc_alpha=2.5, bc_reduce="sum") if part == "iomar_bc" else {}
    sizes = dict(
        hidden=meta["hidden"],
        actor_lr=meta["lr"],
        critic_lr=meta["lr"],
        batch_size=meta["td3_rows"],
        target_noise_clip=t["td3_noise_clip"],
        log_every=1,
    )
    if method != "itd3bc":
        sizes["cql_n_actions"] = t["td3_omar_cql_num_sampled_actions"]
    if method == "iomar":
        sizes["omar_n_samples"] = t["td3_omar_num_samples"]
    return ITD3Config(**moma_ppo_preset(method, **sizes, **extra, **kw))


def td3_learner(fx, part: str, act_dims=None) -> tuple[ITD3, WeightMap]:
    meta = fx["meta"]
    obs_dims, act_dims = meta["obs_dims"], act_dims or meta["act_dims"]
    learner = ITD3(obs_dims, act_dims, 1, td3_config(fx, part), dtype=F64)
    _zero_params(learner.actor, learner.critic, learner.actor_target, learner.critic_target)
    O = learner.obs_dim
    wm = WeightMap()
    for i, (o, a) in enumerate(zip(obs_dims, meta["act_dims"])):
        p = f"learners.{i}."
        q_rows = list(range(o)) + [O + k for k in range(a)]
        for ours, theirs in ((learner.critic, "doubleQ"), (learner.critic_target, "doubleQtarget")):
            _map_mlp(wm, f"{p}{theirs}.q1.network", ours.head1, i, q_rows)
            _map_mlp(wm, f"{p}{theirs}.q2.network", ours.head2, i, q_rows)
        for ours, theirs in ((learner.actor, "policy"), (learner.actor_target, "policytarget")):
            for j, layer in enumerate(ours.net.layers):
                wm.linear(
                    f"{p}{theirs}.l{j + 1}",
                    layer,
                    i,
                    list(range(o)) if j == 0 else None,
                    list(range(a)) if j == 2 else None,
                )
    layout = meta["layouts"][part]
    assert {n for n, _ in layout} == set(wm.entries)
    wm.load(unpack(fx[f"{part}__init"], layout))
    return learner, wm


def td3_batch(fx, u: int, learner: ITD3) -> dict[str, torch.Tensor]:
    meta = fx["meta"]
    O, A = learner.obs_dim, learner.act_dim
    g = lambda i, k: fx[f"td3__u{u}__a{i}__{k}"]  # noqa: E731
    N, B = learner.n_agents, g(0, "observations").shape[0]

    def padded(k, width):
        out = torch.zeros(N, B, width, dtype=F64)
        for i in range(N):
            out[i, :, : g(i, k).shape[-1]] = t64(g(i, k))
        return out

    r, m = t64(g(0, "rewards"))[:, 0], t64(g(0, "masks"))[:, 0]
    assert len(meta["obs_dims"]) == N
    return {
        "obs": padded("observations", O),
        "next_obs": padded("next_observations", O),
        "actions": padded("actions", A),
        "rewards": r.expand(N, B).clone(),
        "terminals": (1.0 - m).expand(N, B).clone(),
    }


def td3_draws(fx, part: str, u: int, learner: ITD3) -> list[tuple[str, torch.Tensor]]:
    """The code's random numbers of update u in our order and layout: target noise [M, B, A]; CQL (uniform as
    u = (a + 1) / 2, N(0, 1) of pi(o), of pi(o')) [M, B, K, A]; on the actor step the CEM draws [M, B, n, A]."""
    cfg, meta = learner.cfg, fx["meta"]
    M, A = learner.n_members, learner.act_dim
    p = f"{part}__u{u}__a"
    B = fx[p + "0__target_noise"].shape[0]

    def per_member(key, shape, fn=lambda x: x):
        out = torch.zeros(M, *shape, A, dtype=F64)
        for i, a in enumerate(meta["act_dims"]):
            out[i, ..., :a] = t64(fn(fx[p + f"{i}__{key}"])).reshape(*shape, a)
        return out

    draws = [("randn", per_member("target_noise", (B,)))]
    if cfg.critic_reg == "cql":
        K = cfg.cql_n_actions
        draws += [
            ("rand", per_member("cql_uniform", (B, K), lambda a: (a + 1.0) / 2.0)),
            ("randn", per_member("cql_noise_cur", (B, K))),
            ("randn", per_member("cql_noise_new", (B, K))),
        ]
    if cfg.actor_reg == "omar" and (u + 1) % cfg.policy_delay == 0:
        for it in range(cfg.omar_iters):  # z [iters, n, B, d] -> [B, n, d]
            draws.append(
                (
                    "randn",
                    per_member("cem_z", (B, cfg.omar_n_samples), lambda z, it=it: np.swapaxes(z[it], 0, 1)),
                )
            )
    return draws


def _replay(monkeypatch, queue: list):
    """torch.rand / torch.randn answered from ``queue`` (name, tensor) in order, shapes checked."""
    for name in ("rand", "randn"):
        orig = getattr(torch, name)

        def fake(*shape, generator=None, dtype=None, device=None, _name=name, _orig=orig, **kw):
            if generator is None:  # not a training-stream draw of ours (e.g. a module's init)
                return _orig(*shape, dtype=dtype, device=device, **kw)
            want, t = queue.pop(0)
            shape = (
                tuple(shape[0])
                if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size))
                else shape
            )
            assert want == _name and tuple(t.shape) == tuple(shape), (want, _name, tuple(t.shape), shape)
            return t.to(dtype=dtype or F64)

        monkeypatch.setattr(torch, name, fake)


def run_td3(fx, part, monkeypatch, learner, wm, padded_mean=False):
    """Replays both updates; returns our and the code's parameter changes [P] and the official names compared.
    ``padded_mean``: our IOMAR actor as it is (the imitation and pi^2 means over the padded width A): the actor loss
    of an agent with d_i < A must then equal the code's minus (1 - d_i / A) * its OMAR term, and that agent's actor
    (and actor target) is left out of the parameter comparison."""
    meta = fx["meta"]
    layout = meta["layouts"][part]
    names = set(wm.entries)
    init = fx[f"{part}__init"].astype(np.float64)
    np.testing.assert_array_equal(wm.vector(layout, names), init)
    targets, target_actions, searched = [], [], []
    _capture(monkeypatch, itd3, "critic_td_loss", targets, arg=2)
    _capture(monkeypatch, itd3, "smoothed_target_action", target_actions)
    if learner.cfg.actor_reg == "omar":
        _capture(monkeypatch, itd3, "search_action", searched)
    queue: list = []
    _replay(monkeypatch, queue)
    clipped = clamped = 0
    for u in range(meta["updates"]):
        queue[:] = td3_draws(fx, part, u, learner)
        targets.clear(), target_actions.clear(), searched.clear()
        out = learner.update(td3_batch(fx, u, learner))
        assert not queue  # every replayed draw consumed
        for i, a in enumerate(meta["act_dims"]):
            p = f"{part}__u{u}__a{i}__"
            z = fx[p + "target_noise"]
            clipped += int(
                (np.abs(meta["td3"]["td3_policy_noise"] * z) > meta["td3"]["td3_noise_clip"]).sum()
            )
            clamped += int((np.abs(fx[p + "target_action"]) == 1).sum())
            assert_close(
                target_actions[0][i, :, :a], fx[p + "target_action"], f"{part} target action {i}, u{u + 1}"
            )
            assert_close(targets[0][i], fx[p + "target"], f"{part} TD target {i}, update {u + 1}")
            assert_close(
                out["critic_loss"][i], fx[p + "stat__loss_q"], f"{part} critic loss {i}, update {u + 1}"
            )
            # the code returns it on actor steps
            if learner.cfg.critic_reg == "cql" and p + "stat__loss_cql" in fx:
                assert_close(out["cql"][i], fx[p + "stat__loss_cql"], f"{part} CQL term {i}, update {u + 1}")
            if (u + 1) % learner.cfg.policy_delay:
                assert p + "stat__loss_pi" not in fx
                continue
            ref = fx[p + "stat__loss_pi"]
            if padded_mean and a < learner.act_dim:
                ref = ref - (1.0 - a / learner.act_dim) * fx[p + "stat__loss_omar"]
            assert_close(out["actor_loss"][i], ref, f"{part} actor loss {i}, update {u + 1}")
            assert_close(
                -out["q_pi"][i], fx[p + "stat__loss_td3"], f"{part} -mean Q1(o, pi(o)) {i}, update {u + 1}"
            )
            if p + "searched" in fx:
                assert_close(
                    searched[0][i, :, :a], fx[p + "searched"], f"{part} OMAR a_hat {i}, update {u + 1}"
                )
    assert clipped > 0 and clamped > 0  # the noise clip and the target clamp bind
    if padded_mean:
        names = {
            n
            for n in names
            if not any(
                n.startswith(f"learners.{i}.policy")
                for i, a in enumerate(meta["act_dims"])
                if a < learner.act_dim
            )
        }
    keep = np.concatenate([np.full(int(np.prod(shape)), n in names) for n, shape in layout])
    after = fx[f"{part}__after"]
    return wm.vector(layout, names) - init[keep], after[keep] - init[keep]


def per_width(monkeypatch, learner: ITD3) -> None:
    """Our OMAR actor losses with the imitation and 1e-3 pi^2 means taken over each agent's own action dims (the
    code's ``F.mse_loss`` / ``(pi ** 2).mean()``): the padded-width means times A / d_i."""
    scale = torch.tensor([learner.act_dim / learner.act_dims[i] for i in learner.agents.tolist()], dtype=F64)

    def fixed(orig, mixed: bool):
        def f(q_pi, pi, *a, **kw):
            # td3_mixed_actor_loss(q_pi, pi, a_data, a_hat, *, tau, bc_alpha, action_reg, bc_reduce)
            if mixed:
                a_hat, tau, reg = a[1], kw["tau"], kw["action_reg"]
            else:  # omar_actor_loss(q_pi, pi, a_hat, tau, action_reg)
                a_hat, tau, reg = a
            extra = tau * (pi - a_hat.detach()).square().mean(dim=(-2, -1)) + reg * pi.square().mean(
                dim=(-2, -1)
            )
            return orig(q_pi, pi, *a, **kw) + (scale - 1.0) * extra

        return f

    monkeypatch.setattr(itd3, "td3_mixed_actor_loss", fixed(itd3.td3_mixed_actor_loss, True))
    monkeypatch.setattr(itd3, "omar_actor_loss", fixed(itd3.omar_actor_loss, False))


@pytest.mark.parametrize("part", TD3_PARTS)
def test_td3_family_equals_code(fx, part, monkeypatch):
    learner, wm = td3_learner(fx, part)
    ours, theirs = run_td3(fx, part, monkeypatch, learner, wm, padded_mean=learner.cfg.actor_reg == "omar")
    assert_close(ours, theirs, f"{part} parameters after two updates", **STEP_TOL)


@pytest.mark.parametrize("part", ["iomar", "iomar_bc"])
def test_iomar_per_width_means_equal_code(fx, part, monkeypatch):
    """With the imitation and pi^2 means over each agent's own action dims (wrapped around our losses, not changed
    in the learner), IOMAR equals the code everywhere, the agent with d_1 = 1 < A = 2 included: the padded-width
    mean is the only difference."""
    learner, wm = td3_learner(fx, part)
    per_width(monkeypatch, learner)
    ours, theirs = run_td3(fx, part, monkeypatch, learner, wm)
    assert_close(ours, theirs, f"{part} parameters after two updates (per-width means)", **STEP_TOL)


def test_defaults_equal_train_agents(fx):
    """Our presets and ContinuousIQLConfig's defaults are ``train_agents.py``'s argparse defaults."""
    d = fx["meta"]["train_agents_defaults"]
    lr = d["iql_lr"]  # overrides lr_q, lr_v, lr_pi (sanity_check_config)
    assert MOMA_PPO_TD3 == dict(
        MOMA_PPO_TD3,
        hidden=d["hidden_size"],
        actor_lr=lr,
        critic_lr=lr,
        batch_size=d["batch_size"],
        gamma=d["discount_factor"],
        tau_target=d["target_update_coef"],
        target_noise=d["td3_policy_noise"],
        target_noise_clip=d["td3_noise_clip"],
        policy_delay=d["td3_policy_freq"],
    )
    for method in ("icql", "iomar"):
        p = moma_ppo_preset(method)
        assert (p["cql_alpha"], p["cql_temp"], p["cql_n_actions"], p["cql_noise"]) == (
            d["td3_omar_cql_alpha"],
            d["td3_omar_cql_lse_temp"],
            d["td3_omar_cql_num_sampled_actions"],
            d["td3_omar_cql_sample_noise_level"],
        )
    p = moma_ppo_preset("iomar")
    assert (
        p["omar_tau"],
        p["omar_iters"],
        p["omar_n_samples"],
        p["omar_n_elites"],
        p["omar_mu0"],
        p["omar_sigma0"],
    ) == (
        d["td3_omar_coeff"],
        d["td3_omar_iters"],
        d["td3_omar_num_samples"],
        d["td3_omar_num_elites"],
        d["td3_init_omar_mu"],
        d["td3_init_omar_sigma"],
    )
    assert moma_ppo_preset("itd3bc")["td3bc_alpha"] == d["td3_bc_coeff"]
    c = ContinuousIQLConfig()
    assert (
        c.hidden,
        c.lr,
        c.batch_size,
        c.gamma,
        c.expectile,
        c.beta,
        c.tau,
        c.grad_clip,
        c.memory_len,
        c.memory_dim,
        c.lr_memory,
        c.memory_backprop_actor,
        c.action_aware_mixer,
        c.independent_awr,
    ) == (
        (d["hidden_size"],) * 2,
        lr,
        d["batch_size"],
        d["discount_factor"],
        d["expectile"],
        d["awr_temperature"],
        d["target_update_coef"],
        d["grad_clip_norm"],
        d["memory_len"],
        d["memory_out_size"],
        d["lr_memory"],
        d["memory_backprop_actor"],
        d["independent_awr"] is False and d["action_aware_mixer"],
        d["independent_awr"],
    )
