"""Parity of our CAST-BCQ learner (papers/cast_bcq/cast_bcq.py) with the official code (JinmingM/CAST-BCQ,
``Multi-agent MuJoCo/agents/CAST.py`` from the archive at commit c5587eb2), by replaying the code's own outputs.

``tests/fixtures/cast_bcq_parity.npz`` holds what the official ``CAST_BCQ`` agents computed in float64 on fixed
inputs (``scripts/cast_bcq_parity_fixture.py`` says how they were made and how to rebuild them): two training
iterations of ``run_CAST.py``'s loop body (every agent's ``train`` then ``train_Qi`` on one shared row set) for
Hopper 3x1 (N = 3: the 6 sampled sub-teams) and HalfCheetah 2x3 (N = 2: the exact two-player credit), then
``select_action`` on three observations. Here the same inputs go through our public API in float64:
``CASTBCQ(..., dtype=torch.float64)`` with the code's widths and constants (``CASTConfig`` defaults), the code's
weights written into our ensembles (official ``nn.Linear`` [out, in] -> our [M, in, out]; the VAE's ``mean`` and
``log_std`` layers are the two halves of our encoder's last layer), ``prepare_data`` / ``sample_batch`` /
``update`` / ``act``. The random numbers are the code's: the recorded row indices replace ``sample_indices``, the
recorded VAE / decode noise is served by the learner's ``_randn`` in its draw order (VAE eps [M, B, L], target z
[M, B, 10, L], actor z [M, B, L]; select z [M, E, 100, L]), the recorded sub-teams replace
``sample_subteam_weights`` (as indices into ``subteam_support("code", 3)``).

Compared per iteration and agent, within 1e-10 relative (float64 on both sides; what differs is only the order of
float operations): the VAE, central critic, individual critic (Q_i) and actor losses, the central TD targets y [B]
and the counterfactual credits Delta [B] (the code's ``train`` / ``train_Qi`` returns), the gradient each optimizer
stepped with (16 fixed entries, the sum and the norm of every parameter); after the second iteration every
parameter of the online networks and of the two targets (Q^c', xi'); the actions ``select_action`` chose.

Documented deviations (papers/cast_bcq/README.md) and how the fixture sidesteps them: the code's data bugs live in
``run_CAST.py``'s buffer filling, which the fixture script replaces by its own (partners' actions sliced
``[j*A:(j+1)*A]``, next steps within the episode, terminal rows stored with done = 1, which ``CAST.py``'s target
handles as (1 - d)); rows that end by a time-out (our central loss weights them 0, the code has none) are never
drawn. Our obs_mode "cast_bcq" puts the agent's own joints first; the fixture feeds both sides the code's obs (every
agent: all index sets in agent order, then the public ones). No other option of ours is needed: the defaults are
the code's algorithm.

The same file holds the CAST authors' MABCQ (``agents/MABCQ.py``) on the Hopper file; see the section below for
what is compared there and for the one difference found (weight_tn's VAE means: before vs after the VAE step).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

import common.algos.streams as streams_mod
import papers.cast_bcq.cast_bcq as cast_mod
from common.algos.bcq import BCQ, BCQConfig
from common.networks.nets import polyak_update
from papers.cast_bcq.cast_bcq import CASTBCQ
from papers.cast_bcq.cast_config import CASTConfig
from papers.cast_bcq.cast_losses import subteam_support
from scripts import parity_common
from scripts.parity_common import load_fixture, summary

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "cast_bcq_parity.npz"
RTOL = 1e-10  # float64 on both sides
# entries and sums within RTOL of the parameter's norm, norms within RTOL
assert_summaries_close = functools.partial(parity_common.assert_summaries_close, rtol=RTOL)
TASKS = ("hopper3x1", "halfcheetah2x3")
# the fixture's order: vae, central, individual, actor
LOSSES = ("vae_loss", "central_loss", "qi_loss", "actor_loss")
# official network -> our learner attribute
OURS = {
    "vae": "vae",
    "actor": "actor",
    "critic": "critic",
    "centralcritic": "central_critic",
    "actor_target": "actor_target",
    "centralcritic_target": "central_target",
}
OURS_MABCQ = {
    "vae": "vae",
    "vae1": "vae1",
    "actor": "actor",
    "critic": "critic",
    "actor_target": "actor_target",
    "critic_target": "critic_target",
}


@pytest.fixture(scope="module")
def fixture():
    return load_fixture(FIXTURE)


# ---- the official layout of our parameters -------------------------------------------------------


def _layer(learner, net: str, name: str, L: int):
    """(our EnsembleLinear, output columns) holding the official parameter ``name`` ("e1.weight", "l4.bias", ...)
    of network ``net`` (CASTBCQ or MABCQ's BCQ)."""
    module = getattr(learner, (OURS if isinstance(learner, CASTBCQ) else OURS_MABCQ)[net])
    layer = name.rsplit(".", 1)[0]
    if net in ("vae", "vae1"):
        enc, dec = module.encoder.layers, module.decoder.layers
        table = {
            "e1": (enc[0], slice(None)),
            "e2": (enc[1], slice(None)),
            "mean": (enc[2], slice(0, L)),
            "log_std": (enc[2], slice(L, 2 * L)),
            "d1": (dec[0], slice(None)),
            "d2": (dec[1], slice(None)),
            "d3": (dec[2], slice(None)),
        }
        return table[layer]
    k = int(layer[1:]) - 1  # l1..l3 (actor, Q1 head), l4..l6 (Q2 head)
    if net in ("actor", "actor_target"):
        return module.net.layers[k], slice(None)
    return (module.head1 if k < 3 else module.head2).layers[k % 3], slice(None)


def official_view(learner, net: str, name: str, m: int, L: int, grad: bool = False) -> torch.Tensor | None:
    """Member m's parameter (or its gradient; None if it has none) in the official layout: weight [out, in],
    bias [out]."""
    lin, cols = _layer(learner, net, name, L)
    p = getattr(lin, name.rsplit(".", 1)[1])
    t = p.grad if grad else p.detach()
    if t is None:
        return None
    return t[m][:, cols].T if name.endswith("weight") else t[m, 0, cols]


def load_official_weights(learner, meta: dict) -> None:
    """The fixture's weight rule (scripts/cast_bcq_parity_fixture.py: RandomState(seed).uniform(-1, 1, shape) *
    gain / sqrt(fan_in), parameters in the listed order), agent i -> member i; targets copied from the online nets
    (the code's deepcopy)."""
    L = meta["latent_dim"]
    with torch.no_grad():
        for m, seed in enumerate(meta["weight_seeds"]):
            rs = np.random.RandomState(seed)
            for net, name, shape, fan_in, gain in meta["params"]:
                value = torch.from_numpy(rs.uniform(-1.0, 1.0, size=tuple(shape)) * gain / np.sqrt(fan_in))
                lin, cols = _layer(learner, net, name, L)
                if name.endswith("weight"):
                    lin.weight[m][:, cols] = value.T
                else:
                    lin.bias[m, 0, cols] = value
    learner.actor_target.load_state_dict(learner.actor.state_dict())
    if isinstance(learner, CASTBCQ):
        learner.central_target.load_state_dict(learner.central_critic.state_dict())
    else:
        learner.critic_target.load_state_dict(learner.critic.state_dict())


def summaries(learner, meta: dict, task_meta: dict, net: str, grad: bool = False) -> np.ndarray:
    """[N, P, n_pos + 2] for every parameter of official network ``net`` (``*_target``: the online one's names)."""
    base = net.replace("_target", "")
    names = [name for n, name, *_ in task_meta["params"] if n == base]
    return np.stack(
        [
            [
                summary(official_view(learner, net, name, m, task_meta["latent_dim"], grad), meta["n_pos"])
                for name in names
            ]
            for m in range(task_meta["n_agents"])
        ]
    )


# ---- the replay ------------------------------------------------------------------------------------


class _Noise:
    """Serves recorded N(0, 1) draws in the learner's draw order (the learner's ``_randn``), clipped as asked."""

    def __init__(self):
        self.queue: list[torch.Tensor] = []

    def __call__(self, shape, generator=None, clip=None):
        z = self.queue.pop(0)
        assert tuple(z.shape) == tuple(shape), (
            f"draw of shape {tuple(shape)}, the recorded one is {tuple(z.shape)}"
        )
        return z.clone() if clip is None else z.clamp(-clip, clip)


def _members(x: np.ndarray) -> torch.Tensor:
    """[N, ...] float32 record (agent i = member i of our one seed) -> float64 tensor."""
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def _tensors(g: dict, obs_index: list[int], N: int, A: int) -> dict[str, torch.Tensor]:
    """The fixture's flattened file as our step tensors (float64): every agent observes the full state reordered by
    agent_obs_index (the code's obs), the shared reward for every agent."""
    f64 = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))  # noqa: E731
    idx = np.asarray(obs_index)
    T, O = g["state"].shape[0], idx.size
    return {
        "obs": f64(np.broadcast_to(g["state"][:, None, idx], (T, N, O))),
        "next_obs": f64(np.broadcast_to(g["next_state"][:, None, idx], (T, N, O))),
        "actions": f64(g["actions"].reshape(T, N, A)),
        "rewards": f64(np.repeat(g["rewards"][:, None], N, 1)),
        "terminals": f64(g["terminals"]),
        "timeouts": f64(g["timeouts"]),
        "state": f64(g["state"]),
        "next_state": f64(g["next_state"]),
    }


def replay(task: str, arrays: dict, meta: dict) -> dict:
    """Our learner through the fixture's inputs: per iteration the losses, y, credit and gradient summaries; after
    the last one the parameter summaries and the selected actions."""
    tm = meta["tasks"][task]
    N, A, D, O = tm["n_agents"], tm["act_dim"], tm["state_dim"], tm["obs_dim"]
    g = {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(task + "__")}
    B, iters = meta["batch"], meta["iters"]
    learner = CASTBCQ(
        [O] * N, [A] * N, D, 1, CASTConfig(batch_size=B, log_every=1), seeds=[0], dtype=torch.float64
    )
    load_official_weights(learner, tm)
    out = {
        "param0": {
            net: summaries(learner, meta, tm, net) for net in ("vae", "actor", "critic", "centralcritic")
        }
    }

    data = learner.prepare_data(_tensors(g, tm["obs_index"], N, A))  # the code's obs, the shared reward
    idx, T = np.asarray(tm["obs_index"]), g["state"].shape[0]

    # the code's random numbers
    noise = _Noise()
    learner._randn = noise
    rows: list[torch.Tensor] = []
    draws: list[torch.Tensor] = []
    if N > 2:
        support = subteam_support("code", N)[0].numpy()  # [K, N-1]
        drop = g["subteam_drop"]  # [iters, N, 6, N-1]
        code_idx = np.array(
            [[[int(np.flatnonzero((support == d).all(-1))[0]) for d in agent] for agent in it] for it in drop]
        )  # [iters, N, 6] indices into the support
    spy = {"y": [], "credit": []}
    target_value, credit = learner.target_value, learner.credit
    learner.target_value = lambda batch: spy["y"].append(target_value(batch)) or spy["y"][-1]
    learner.credit = lambda batch: spy["credit"].append(credit(batch)) or spy["credit"][-1]

    def sample_indices(rng, size, n_members, batch_size, replace=True):
        assert (size, n_members, batch_size) == (T, 1, B)
        return rows.pop(0)

    def sample_subteam_weights(p, n_draws, shape, generator=None):
        assert tuple(shape) == (N, 1) and n_draws == 6
        return draws.pop(0)

    out["iters"] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(streams_mod, "sample_indices", sample_indices)  # the training streams' row draw
        mp.setattr(cast_mod, "sample_subteam_weights", sample_subteam_weights)
        for it in range(iters):
            rows.append(torch.from_numpy(g["ind"][it][None].astype(np.int64)))
            noise.queue += [_members(g["z_vae"][it]), _members(g["z_target"][it]), _members(g["z_actor"][it])]
            if N > 2:
                draws.append(torch.from_numpy(code_idx[it][:, None, :]))  # [M, R = 1, 6]
            metrics = learner.update(learner.sample_batch(data))
            assert not rows and not draws and not noise.queue, (
                "the update drew other random numbers than the code"
            )
            out["iters"].append(
                {
                    "losses": np.stack([metrics[k].numpy() for k in LOSSES], axis=-1),  # [N, 4]
                    "y": spy["y"].pop().numpy(),
                    "credit": spy["credit"].pop().numpy(),  # [N, B]
                    "grad": {
                        net: summaries(learner, meta, tm, net, grad=True)
                        for net in ("vae", "actor", "critic", "centralcritic")
                    },
                }
            )
    out["param"] = {net: summaries(learner, meta, tm, net) for net in OURS}
    # select_action: 100 candidates per observation, the code's z
    E = g["select"].shape[1]
    noise.queue.append(_members(g["select_z"]))  # [M, E, 100, L]
    sel_obs = np.broadcast_to(g["state"][:E, None, idx], (E, N, O))[None]  # [S = 1, E, N, O]
    # [N, E, A]
    out["select"] = learner.act(np.ascontiguousarray(sel_obs, dtype=np.float64))[0].transpose(1, 0, 2)
    assert not noise.queue
    return out


@pytest.fixture(scope="module")
def replayed(fixture):
    torch.set_num_threads(1)
    arrays, meta = fixture
    return {task: replay(task, arrays, meta) for task in TASKS}


# ---- the comparisons ---------------------------------------------------------------------------------


def _ref(arrays: dict, task: str, key: str) -> np.ndarray:
    return arrays[f"{task}__{key}"]


def test_fixture_provenance(fixture):
    """The fixture names the official files it ran (sha256) and the inputs the replay relies on."""
    arrays, meta = fixture
    assert meta["commit"] == "c5587eb2"
    assert set(meta["cast_files_sha256"]) == {
        "agents/CAST.py",
        "agents/MABCQ.py",
        "common/agent_obs_index.py",
    }
    assert all(len(h) == 64 for h in meta["cast_files_sha256"].values())
    assert set(meta["tasks"]) == set(TASKS)
    for task in TASKS:
        tm = meta["tasks"][task]
        ind = _ref(arrays, task, "ind")
        assert _ref(arrays, task, "timeouts")[ind].sum() == 0  # time-out rows never drawn
        assert _ref(arrays, task, "terminals")[ind].sum() >= 1  # terminal rows are: (1 - d) is exercised
        credit = _ref(arrays, task, "credit")
        assert (np.exp(credit) > 10).any() and (credit < 0).any()  # the weight's clip and exp < 1 both occur
        assert tm["n_agents"] == {"hopper3x1": 3, "halfcheetah2x3": 2}[task]


@pytest.mark.parametrize("task", TASKS)
def test_weights_loaded_as_the_code_had_them(fixture, replayed, task):
    """Our copy of the weight rule and of the layer layouts gives the code's initial parameters."""
    arrays, meta = fixture
    for net, ours in replayed[task]["param0"].items():
        assert_summaries_close(
            ours, _ref(arrays, task, f"param0__{net}"), meta["n_pos"], f"{task} initial {net}"
        )


@pytest.mark.parametrize("task", TASKS)
def test_losses_targets_credits_equal_official(fixture, replayed, task):
    """VAE / central / Q_i / actor losses, central TD targets y and credits Delta, both iterations, every agent."""
    arrays, meta = fixture
    for it, ours in enumerate(replayed[task]["iters"]):
        np.testing.assert_allclose(
            ours["losses"],
            _ref(arrays, task, "losses")[it],
            rtol=RTOL,
            atol=0,
            err_msg=f"{task} iteration {it}: losses {LOSSES}",
        )
        for key in ("y", "credit"):
            ref = _ref(arrays, task, key)[it]
            np.testing.assert_allclose(
                ours[key],
                ref,
                rtol=RTOL,
                atol=RTOL * np.abs(ref).max(),
                err_msg=f"{task} iteration {it}: {key}",
            )


@pytest.mark.parametrize("task", TASKS)
def test_gradients_equal_official(fixture, replayed, task):
    """The gradient each of the four optimizers stepped with, both iterations (the second one reads the Adam-stepped
    networks and the Polyak-stepped targets of the first)."""
    arrays, meta = fixture
    for it, ours in enumerate(replayed[task]["iters"]):
        for net, s in ours["grad"].items():
            assert_summaries_close(
                s,
                _ref(arrays, task, f"grad__{net}")[it],
                meta["n_pos"],
                f"{task} iteration {it}: gradient of {net}",
            )


@pytest.mark.parametrize("task", TASKS)
def test_parameters_and_actions_after_two_iterations(fixture, replayed, task):
    """Online and target networks after the two iterations; the actions select_action chose afterwards."""
    arrays, meta = fixture
    for net, s in replayed[task]["param"].items():
        assert_summaries_close(s, _ref(arrays, task, f"param__{net}"), meta["n_pos"], f"{task}: {net} after")
    np.testing.assert_allclose(
        replayed[task]["select"],
        _ref(arrays, task, "select"),
        rtol=RTOL,
        atol=RTOL,
        err_msg=f"{task}: selected actions",
    )


# ---- MABCQ (the CAST authors' re-implementation, agents/MABCQ.py) ---------------------------------------------
#
# The fixture also holds two iterations of ``run_MABCQ.py``'s loop body (every agent's ``MABCQ.train`` on its own
# row set) on the Hopper 3x1 file, float64, with the code's unguarded weights (our ``BCQConfig(guard=False)``).
# The code computes weight_tn = mu_G / mu_G1 from a second, no-grad pass through G and G1 *after* their Adam step
# (agents/MABCQ.py lines 204-208), and so does ``BCQ.update`` (``BCQ.latent_means``; this test found that ours
# used the means of the training pass, before the step, until 2026-11-24). The whole update is compared twice:
# ``BCQ.update`` itself (losses, targets and the parameters after both iterations), and our public pieces called
# in the code's order (``vae_losses``, the VAE step, ``latent_means``, ``critic_loss``, the critic step,
# ``actor_loss``, the actor step, the Polyak steps), which also exposes every gradient: all equal the code's
# within 1e-10.


def _mabcq_learner(arrays: dict, meta: dict):
    mm, g = meta["mabcq"], {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith("hopper3x1__")}
    N, A, O = mm["n_agents"], mm["act_dim"], mm["obs_dim"]
    cfg = BCQConfig(variant="mabcq", guard=False, batch_size=meta["batch"], log_every=1)
    learner = BCQ([O] * N, [A] * N, 1, cfg, seeds=[0], dtype=torch.float64)
    load_official_weights(learner, mm)
    data = learner.prepare_data(_tensors(g, meta["tasks"]["hopper3x1"]["obs_index"], N, A))
    return learner, data, g


def replay_mabcq(arrays: dict, meta: dict, whole_update: bool) -> list[dict]:
    """Our MABCQ on the fixture's inputs. whole_update: ``BCQ.update`` (losses and y recorded); else the code's
    order through the public pieces (losses, y, gradients; the parameters after the last iteration)."""
    mm = meta["mabcq"]
    learner, data, g = _mabcq_learner(arrays, meta)
    noise = _Noise()
    learner._randn = noise
    spy: list[torch.Tensor] = []
    target_value = learner.target_value
    learner.target_value = lambda batch: spy.append(target_value(batch)) or spy[-1]
    out = []
    with pytest.MonkeyPatch.context() as mp:
        rows: list[torch.Tensor] = []
        # the training streams' row draw
        mp.setattr(streams_mod, "sample_indices", lambda *a, **k: rows.pop(0))
        for it in range(meta["iters"]):
            # [M, B]: one row set per agent
            rows.append(torch.from_numpy(g["mabcq__ind"][it].astype(np.int64)))
            noise.queue += [
                _members(g[f"mabcq__{k}"][it]) for k in ("z_vae", "z_vae1", "z_target", "z_actor")
            ]
            batch = learner.sample_batch(data)
            if whole_update:
                m = learner.update(batch)
                out.append(
                    {
                        "vae_loss": m["vae_loss"].numpy(),
                        "critic_loss": m["critic_loss"].numpy(),
                        "actor_loss": m["actor_loss"].numpy(),
                        "y": spy.pop().numpy(),
                    }
                )
                assert not rows and not noise.queue
                continue
            rec = {"grad": {}}
            vloss = learner.vae_losses(batch)
            CASTBCQ._step(learner.vae_opt, vloss)
            # the code's second pass: the stepped G and G1's latent means
            mu, mu1 = learner.latent_means(batch)
            closs, w, _ = learner.critic_loss(batch, mu, mu1)
            CASTBCQ._step(learner.critic_opt, closs)
            aloss = learner.actor_loss(batch, w)
            CASTBCQ._step(learner.actor_opt, aloss, inputs=list(learner.actor.parameters()))
            polyak_update(learner.critic_target, learner.critic, learner.cfg.tau)
            polyak_update(learner.actor_target, learner.actor, learner.cfg.tau)
            rec.update(
                vae_loss=vloss.detach().numpy(),
                critic_loss=closs.detach().numpy(),
                actor_loss=aloss.detach().numpy(),
                y=spy.pop().numpy(),
            )
            rec["grad"] = {
                net: summaries(learner, meta, mm, net, grad=True)
                for net in ("vae", "vae1", "critic", "actor")
            }
            out.append(rec)
            assert not rows and not noise.queue
    out.append({"param": {net: summaries(learner, meta, mm, net) for net in OURS_MABCQ}})
    return out


def test_mabcq_weights_loaded_as_the_code_had_them(fixture):
    arrays, meta = fixture
    learner, _, _ = _mabcq_learner(arrays, meta)
    for net in ("vae", "vae1", "actor", "critic"):
        assert_summaries_close(
            summaries(learner, meta, meta["mabcq"], net),
            arrays[f"hopper3x1__mabcq__param0__{net}"],
            meta["n_pos"],
            f"MABCQ initial {net}",
        )


def test_mabcq_pieces_in_the_code_order_equal_official(fixture):
    """Every loss (G + G1, critic, actor), target, gradient and final parameter of the code's two iterations."""
    torch.set_num_threads(1)
    arrays, meta = fixture
    ours = replay_mabcq(arrays, meta, whole_update=False)
    ref = {k: arrays[f"hopper3x1__mabcq__{k}"] for k in ("losses", "y")}
    for it, o in enumerate(ours[:-1]):
        r = ref["losses"][it]  # [N, 4]: G, G1, critic, actor
        np.testing.assert_allclose(
            o["vae_loss"], r[:, 0] + r[:, 1], rtol=RTOL, atol=0, err_msg=f"iteration {it}: VAE"
        )
        np.testing.assert_allclose(
            o["critic_loss"], r[:, 2], rtol=RTOL, atol=0, err_msg=f"iteration {it}: critic"
        )
        np.testing.assert_allclose(
            o["actor_loss"], r[:, 3], rtol=RTOL, atol=0, err_msg=f"iteration {it}: actor"
        )
        np.testing.assert_allclose(
            o["y"],
            ref["y"][it],
            rtol=RTOL,
            atol=RTOL * np.abs(ref["y"][it]).max(),
            err_msg=f"iteration {it}: y",
        )
        for net, s in o["grad"].items():
            assert_summaries_close(
                s,
                arrays[f"hopper3x1__mabcq__grad__{net}"][it],
                meta["n_pos"],
                f"MABCQ iteration {it}: gradient of {net}",
            )
    for net, s in ours[-1]["param"].items():
        assert_summaries_close(
            s, arrays[f"hopper3x1__mabcq__param__{net}"], meta["n_pos"], f"MABCQ: {net} after"
        )


def test_mabcq_update_equals_official(fixture):
    """``BCQ.update`` itself, both iterations: every loss (G + G1, critic, actor), target and final parameter."""
    torch.set_num_threads(1)
    arrays, meta = fixture
    ours = replay_mabcq(arrays, meta, whole_update=True)
    for it, o in enumerate(ours[:-1]):
        r = arrays["hopper3x1__mabcq__losses"][it]  # [N, 4]: G, G1, critic, actor
        np.testing.assert_allclose(
            o["vae_loss"], r[:, 0] + r[:, 1], rtol=RTOL, atol=0, err_msg=f"iteration {it}: VAE"
        )
        np.testing.assert_allclose(
            o["critic_loss"], r[:, 2], rtol=RTOL, atol=0, err_msg=f"iteration {it}: critic"
        )
        np.testing.assert_allclose(
            o["actor_loss"], r[:, 3], rtol=RTOL, atol=0, err_msg=f"iteration {it}: actor"
        )
        y = arrays["hopper3x1__mabcq__y"][it]
        np.testing.assert_allclose(
            o["y"], y, rtol=RTOL, atol=RTOL * np.abs(y).max(), err_msg=f"iteration {it}: y"
        )
    for net, s in ours[-1]["param"].items():
        assert_summaries_close(
            s, arrays[f"hopper3x1__mabcq__param__{net}"], meta["n_pos"], f"MABCQ: {net} after"
        )
