"""Parity of our ICQ-MA learner (papers/cast_bcq/icq_ma.py) with the CAST authors' official ICQ-MA (JinmingM/CAST-BCQ,
``Multi-agent MuJoCo/agents/ICQMA.py`` and ``baselines/run_ICQ.py`` from the archive at commit c5587eb2), by
replaying the code's own outputs.

``tests/fixtures/icq_ma_parity.npz`` holds what the official ``ICQ_MA`` computed in float64 on fixed inputs
(``scripts/icq_ma_parity_fixture.py`` says how they were made and how to rebuild them): two iterations of
``run_ICQ.py``'s loop body (``ICQ_MA.train`` on one row set) for Hopper 3x1 (N = 3, obs 7, state 11) and HalfCheetah
2x3 (N = 2, obs 11, state 17), then the actors' deterministic forward (``select_action``'s path). Here the same
inputs go through our public API in float64: ``ICQMA(..., dtype=torch.float64)`` with the code's widths and
constants (``ICQMAConfig`` defaults), the code's weights written into our ensembles (official ``nn.Linear``
[out, in] -> our [M, in, out]; agent i = member i of our one seed; the critic's Q1 head l1-l3 -> our critic, its Q2
head l4-l6 and the mixer's hyper_b_1 / V, which never get a gradient, have no counterpart), ``prepare_data`` /
``sample_batch`` (the recorded rows replace ``sample_indices``) / ``update`` / ``act``. The update draws no other
random number, on either side.

Options and inputs, and why (papers/cast_bcq/README.md's deviations):
- ``bug_compat=True``: the code's target, reward and gamma applied twice (agents/ICQMA.py l. 356 and 365). Our
  default (fixed) target is not the code's.
- ``actor_weighted=False`` (= ``actor_temp=inf``; the items' form): the code's actor loss does not weight by the
  advantage at all. ``policy_logpp`` is [B] and ``weights`` [B, 1] (agents/ICQMA.py l. 391-402), so their
  product broadcasts to [B, B] and the mean over it is -(1/B) sum_c k_c log pi_c * sum_b softmax_b =
  -mean_B(k log pi): the softmax weights sum to 1 and cancel. Our fixed loss -mean_B(k log pi B softmax_B(A / 100))
  equals that only when the softmax is uniform, i.e. at an infinite temperature (A / inf = 0). The MaMuJoCo items
  run the code's form (papers/cast_bcq/README.md's deviations); ``test_code_actor_weights_cancel`` shows the
  difference on the fixture.
- Data: the code skips terminal rows when it fills its buffer and we give time-out rows weight 0, so only rows that
  are neither are drawn (every drawn row bootstraps on both sides; the code's crossing of episode boundaries is a
  documented data bug the fixture script does not reproduce: next steps stay within the episode).
- Gradient clip: the code clips each critic's gradient and the mixer's separately at norm 20 (agents/ICQMA.py
  l. 374-378), and so does ``ICQMA.clip_critic_grads`` (this test found that it clipped once per seed over all
  critics and the mixer together until 2026-11-24). On the Hopper file no norm reaches 20 (checked); on the
  HalfCheetah file (rewards x 20, critic output gain 300) every norm exceeds 20, so the clips act there.

Compared per iteration within 1e-10 relative (float64 on both sides; what differs is only the order of float
operations): the critic + mixer loss, Q_tot [B] and the TD target y [B] (the inputs of the code's ``F.mse_loss``),
the per-agent target weights B softmax_B(Q'_i / 100) and the mixed one B softmax_B(u / 1000), the pre-clip gradient
norms, every actor loss, the gradient each optimizer stepped with (16 fixed entries, the sum and the norm of every
parameter); after the second iteration every parameter of the online networks and of the two targets; the
deterministic actions.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import common.algos.streams as streams_mod
import papers.cast_bcq.icq_ma as icq_mod
import papers.cast_bcq.icq_ma_losses as icq_losses_mod
from papers.cast_bcq.config import MUJOCO_METHODS
from papers.cast_bcq.icq_ma import ICQMA
from papers.cast_bcq.icq_ma_config import ICQMAConfig
from scripts import parity_common
from scripts.parity_common import load_fixture, summary

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "icq_ma_parity.npz"
RTOL = 1e-10  # float64 on both sides
# entries and sums within RTOL of the parameter's norm, norms within RTOL
assert_summaries_close = functools.partial(parity_common.assert_summaries_close, rtol=RTOL)
TASKS = ("hopper3x1", "halfcheetah2x3")
CLIP_TASK = "halfcheetah2x3"  # the code's clip acts there (module docstring)
NETS = ("actor", "critic", "mixer")
ACTOR_LAYERS = {"net.0": 0, "net.2": 1, "net.4": 2, "mu_layer": 3}


@pytest.fixture(scope="module")
def fixture():
    return load_fixture(FIXTURE)


def _ref(arrays: dict, task: str, key: str) -> np.ndarray:
    return arrays[f"{task}__{key}"]


# ---- the official layout of our parameters -------------------------------------------------------


def official_view(learner: ICQMA, net: str, name: str, i: int, grad: bool = False) -> torch.Tensor | None:
    """Agent i's parameter ``name`` of official network ``net`` (or its gradient) in the official layout (weight
    [out, in], bias [out]); None where ours has no counterpart (Q2 head, hyper_b_1, V) or no gradient."""
    layer, kind = name.rsplit(".", 1) if "." in name else (name, "")
    if net.startswith("actor"):
        if name == "log_std_logits":
            p, sl = learner.actor.log_std_logit, (i, 0)
        else:
            p, sl = getattr(learner.actor.net.layers[ACTOR_LAYERS[layer]], kind), i
    elif net.startswith("critic"):
        if layer not in ("l1", "l2", "l3"):
            return None
        module = learner.critic if net == "critic" else learner.critic_target
        p, sl = getattr(module.layers[int(layer[1]) - 1], kind), i
    else:
        module = learner.mixer if net == "mixer" else learner.mixer_target
        lin = {"hyper_w_1": module.hyper_w1, "hyper_w_final": module.hyper_wf}.get(layer)
        if lin is None:
            return None
        p, sl = getattr(lin, kind), 0
    t = p.grad if grad else p.detach()
    if t is None:
        return None
    t = t[sl]
    return t.T if kind == "weight" else t.reshape(-1)


def load_official_weights(learner: ICQMA, tm: dict) -> None:
    """The fixture's weight rule (RandomState(seed).uniform(-1, 1, shape) * gain / sqrt(fan_in), parameters in the
    listed order, one RandomState per agent and one for the mixer), written where ours has the parameter; targets
    copied from the online nets (the code's deepcopy)."""
    rs = {int(k): np.random.RandomState(v) for k, v in tm["weight_seeds"].items()}
    with torch.no_grad():
        for net, i, name, shape, fan_in, gain in tm["params"]:
            value = torch.from_numpy(rs[i].uniform(-1.0, 1.0, size=tuple(shape)) * gain / np.sqrt(fan_in))
            view = official_view(learner, net, name, max(i, 0))
            if view is not None:
                view.copy_(value.reshape(view.shape))
    learner.critic_target.load_state_dict(learner.critic.state_dict())
    learner.mixer_target.load_state_dict(learner.mixer.state_dict())


def _names(tm: dict, net: str) -> list[str]:
    base = net.replace("_target", "")
    first = -1 if base == "mixer" else 0
    return [name for n, i, name, *_ in tm["params"] if n == base and i == first]


def _mapped(tm: dict, net: str) -> np.ndarray:
    """Boolean [P]: the official parameters of ``net`` that ours has (not Q2's l4-l6, hyper_b_1, V)."""
    base = net.replace("_target", "")
    return np.array(
        [
            not (base == "critic" and name[:2] in ("l4", "l5", "l6"))
            and not (base == "mixer" and not name.startswith(("hyper_w_1", "hyper_w_final")))
            for name in _names(tm, net)
        ]
    )


def summaries(learner: ICQMA, tm: dict, net: str, n_pos: int, grad: bool = False) -> np.ndarray:
    """[n, P, n_pos + 2] over the agents (the mixer: n = 1) for every official parameter of ``net``."""
    who = [0] if net.startswith("mixer") else range(tm["n_agents"])
    return np.stack(
        [
            [summary(official_view(learner, net, name, i, grad), n_pos) for name in _names(tm, net)]
            for i in who
        ]
    )


# ---- the replay ------------------------------------------------------------------------------------


def _tensors(g: dict, obs_index: list[list[int]], N: int, A: int) -> dict[str, torch.Tensor]:
    """The fixture's flattened file as our step tensors (float64): agent i observes its own index set then the
    public ones (run_ICQ.py's obs; our obs mode ``own_public``), the shared reward for every agent."""
    f64 = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))  # noqa: E731
    T = g["state"].shape[0]
    return {
        "obs": f64(np.stack([g["state"][:, idx] for idx in obs_index], 1)),
        "next_obs": f64(np.stack([g["next_state"][:, idx] for idx in obs_index], 1)),
        "actions": f64(g["actions"].reshape(T, N, A)),
        "rewards": f64(np.repeat(g["rewards"][:, None], N, 1)),
        "terminals": f64(g["terminals"]),
        "timeouts": f64(g["timeouts"]),
        "state": f64(g["state"]),
        "next_state": f64(g["next_state"]),
    }


def replay(task: str, arrays: dict, meta: dict, fields: dict | None = None) -> dict:
    """Our learner through the fixture's inputs: per iteration the losses, Q_tot, y, the softmax weights, the clip
    norms and the gradient summaries; after the last one the parameter summaries and the actions. ``fields``: the
    config fields (default: those the MaMuJoCo items run ICQ-MA with, papers/cast_bcq/config.py)."""
    fields = dict(MUJOCO_METHODS["icq_ma"].fields if fields is None else fields)
    actor_temp = fields.get("actor_temp", 100.0) if fields.get("actor_weighted", True) else math.inf
    tm = meta["tasks"][task]
    N, A, D, O, n_pos = tm["n_agents"], tm["act_dim"], tm["state_dim"], tm["obs_dim"], meta["n_pos"]
    g = {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(task + "__")}
    B, T = meta["batch"], g["state"].shape[0]
    cfg = ICQMAConfig(batch_size=B, log_every=1, **fields)
    learner = ICQMA([O] * N, [A] * N, 1, D, cfg, seeds=[0], dtype=torch.float64)
    load_official_weights(learner, tm)
    out = {"param0": {net: summaries(learner, tm, net, n_pos) for net in NETS}, "iters": []}
    data = learner.prepare_data(_tensors(g, tm["obs_index"], N, A))

    rows: list[torch.Tensor] = []
    spy: dict[str, list] = {"y": [], "q_tot": [], "softmax": []}
    target_value, critic_loss_fn = learner.target_value, icq_mod.icq_ma_critic_loss
    softmax_fn = icq_losses_mod.batch_softmax_weights
    learner.target_value = lambda batch: spy["y"].append(target_value(batch)) or spy["y"][-1]

    def sample_indices(rng, size, n_members, batch_size, replace=True):
        assert (size, n_members, batch_size) == (T, 1, B)
        return rows.pop(0)

    def critic_loss(q_tot, y, valid=None):
        spy["q_tot"].append(q_tot.detach())
        return critic_loss_fn(q_tot, y, valid)

    def batch_softmax_weights(x, temp, mask=None, dim=-1):
        w = softmax_fn(x, temp, mask, dim)
        spy["softmax"].append((temp, w))
        return w

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(streams_mod, "sample_indices", sample_indices)  # the training streams' row draw
        mp.setattr(icq_mod, "icq_ma_critic_loss", critic_loss)
        mp.setattr(icq_losses_mod, "batch_softmax_weights", batch_softmax_weights)  # used by the named losses
        for it in range(meta["iters"]):
            rows.append(torch.from_numpy(g["ind"][it][None].astype(np.int64)))  # [S = 1, B]
            batch = learner.sample_batch(data)
            assert float(batch["next_valid"].min()) == 1.0 and float(batch["terminals"].max()) == 0.0
            metrics = learner.update(batch)
            assert not rows
            (t_agent, w_agent), (t_total, w_total), (t_actor, _) = spy["softmax"]
            assert (t_agent, t_total, t_actor) == (100.0, 1000.0, actor_temp)  # the code's temperatures
            spy["softmax"].clear()
            out["iters"].append(
                {
                    # [1 + N]
                    "losses": np.concatenate([metrics["critic_loss"].numpy(), metrics["actor_loss"].numpy()]),
                    "q_tot": spy["q_tot"].pop()[0].numpy(),
                    "y": spy["y"].pop()[0].numpy(),  # [B]
                    "w_agent": w_agent[0].T.numpy(),
                    "w_total": w_total[0].numpy(),  # [N, B], [B]
                    "norm": metrics["critic_grad_norm"].numpy(),
                    "grad": {net: summaries(learner, tm, net, n_pos, grad=True) for net in NETS},
                }
            )
    out["param"] = {
        net: summaries(learner, tm, net, n_pos) for net in (*NETS, "critic_target", "mixer_target")
    }
    E = g["select"].shape[1]
    obs = np.stack([g["state"][:E, idx] for idx in tm["obs_index"]], 1)[None]  # [S = 1, E, N, O]
    # [N, E, A]
    out["select"] = learner.act(np.ascontiguousarray(obs, dtype=np.float64))[0].transpose(1, 0, 2)
    return out


@pytest.fixture(scope="module")
def replayed(fixture):
    torch.set_num_threads(1)
    arrays, meta = fixture
    return {task: replay(task, arrays, meta) for task in TASKS}


# ---- the comparisons ---------------------------------------------------------------------------------


def test_fixture_provenance(fixture):
    """The fixture names the official files it ran (sha256) and has the inputs the replay relies on: no drawn row is
    terminal or a time-out; the temperatures act (agent weights clamped at 1 on some rows, below 1 on others); the
    code's clip acts on the HalfCheetah file only."""
    arrays, meta = fixture
    assert meta["commit"] == "c5587eb2"
    assert set(meta["cast_files_sha256"]) == {"agents/ICQMA.py", "common/agent_obs_index.py"}
    assert all(len(h) == 64 for h in meta["cast_files_sha256"].values())
    assert set(meta["tasks"]) == set(TASKS)
    B = meta["batch"]
    for task in TASKS:
        ind = _ref(arrays, task, "ind")
        assert (
            _ref(arrays, task, "timeouts")[ind].sum() == 0 and _ref(arrays, task, "terminals")[ind].sum() == 0
        )
        w = B * _ref(arrays, task, "softmax_agent")
        assert (w > 1).any() and (w < 1).any()
        norms = _ref(arrays, task, "clip_norms")  # [iters, N + 1]
        assert (norms > 20).all() if task == CLIP_TASK else np.sqrt(np.square(norms).sum(-1)).max() < 20


@pytest.mark.parametrize("task", TASKS)
def test_weights_loaded_as_the_code_had_them(fixture, replayed, task):
    """Our copy of the weight rule and of the layer layouts gives the code's initial parameters."""
    arrays, meta = fixture
    tm = meta["tasks"][task]
    for net, ours in replayed[task]["param0"].items():
        keep = _mapped(tm, net)
        assert_summaries_close(
            ours[:, keep],
            _ref(arrays, task, f"param0__{net}")[:, keep],
            meta["n_pos"],
            f"{task} initial {net}",
        )


@pytest.mark.parametrize("task", TASKS)
def test_critic_target_loss_and_weights_equal_official(fixture, replayed, task):
    """Both iterations: the critic + mixer loss, Q_tot and the target y (bug_compat: the code's doubled r and gamma),
    the in-sample weights B softmax_B(Q'_i / 100) per agent and B softmax_B(u / 1000), the pre-clip gradient
    norms (Hopper: ours is the joint norm of the code's per-network ones)."""
    arrays, meta = fixture
    B = meta["batch"]
    for it, ours in enumerate(replayed[task]["iters"]):
        for key, ref in (
            ("q_tot", _ref(arrays, task, "q_tot")[it]),
            ("y", _ref(arrays, task, "y")[it]),
            ("w_agent", B * _ref(arrays, task, "softmax_agent")[it]),
            ("w_total", B * _ref(arrays, task, "softmax_total")[it]),
        ):
            np.testing.assert_allclose(
                ours[key],
                ref,
                rtol=RTOL,
                atol=RTOL * np.abs(ref).max(),
                err_msg=f"{task} iteration {it}: {key}",
            )
        np.testing.assert_allclose(
            ours["losses"][0],
            _ref(arrays, task, "losses")[it, 0],
            rtol=RTOL,
            atol=0,
            err_msg=f"{task} iteration {it}: critic + mixer loss",
        )
        norms = _ref(arrays, task, "clip_norms")[it]
        want = np.sqrt(np.square(norms).sum(keepdims=True))  # ours logs the joint pre-clip norm of the seed
        np.testing.assert_allclose(
            ours["norm"], want, rtol=RTOL, atol=0, err_msg=f"{task} iteration {it}: norms"
        )


@pytest.mark.parametrize("task", TASKS)
def test_actor_losses_equal_official(fixture, replayed, task):
    """Both iterations, every agent: the actor loss (k(s) of the stepped mixer, log pi of the Gaussian with the
    learned state-independent sigma; actor_temp=inf, see the module docstring)."""
    arrays, meta = fixture
    for it, ours in enumerate(replayed[task]["iters"]):
        np.testing.assert_allclose(
            ours["losses"][1:],
            _ref(arrays, task, "losses")[it, 1:],
            rtol=RTOL,
            atol=0,
            err_msg=f"{task} iteration {it}: actor losses",
        )


@pytest.mark.parametrize("task", TASKS)
def test_gradients_equal_official(fixture, replayed, task):
    """The gradient each optimizer stepped with (critics and mixer after the clip, actors), both iterations; the
    code's parameters that ours lacks (Q2 head, hyper_b_1, V) never get one."""
    arrays, meta = fixture
    tm = meta["tasks"][task]
    for it, ours in enumerate(replayed[task]["iters"]):
        for net, s in ours["grad"].items():
            ref, keep = _ref(arrays, task, f"grad__{net}")[it], _mapped(tm, net)
            assert not ref[:, ~keep].any(), f"{net}: an unmapped official parameter got a gradient"
            assert_summaries_close(
                s[:, keep], ref[:, keep], meta["n_pos"], f"{task} iteration {it}: gradient of {net}"
            )


@pytest.mark.parametrize("task", TASKS)
def test_parameters_and_actions_after_two_iterations(fixture, replayed, task):
    """Online networks and the critic / mixer targets after the two iterations; the deterministic actions."""
    arrays, meta = fixture
    tm = meta["tasks"][task]
    for net, s in replayed[task]["param"].items():
        keep = _mapped(tm, net)
        assert_summaries_close(
            s[:, keep], _ref(arrays, task, f"param__{net}")[:, keep], meta["n_pos"], f"{task}: {net} after"
        )
    np.testing.assert_allclose(
        replayed[task]["select"],
        _ref(arrays, task, "select"),
        rtol=RTOL,
        atol=RTOL,
        err_msg=f"{task}: actions",
    )


# ---- the two differences found (not documented deviations; see papers/cast_bcq/README.md) ----------------------


def test_code_actor_weights_cancel(fixture, replayed):
    """The code's actor loss is -mean_B(k log pi): its advantage weights (recorded, far from uniform on the
    HalfCheetah file) cancel in the [B, B] broadcast. Our fixed form (actor_temp = 100, weighted) gives another
    loss; the items' form (actor_weighted = False, the replay above) is the code's, as is actor_temp = inf."""
    arrays, meta = fixture
    B = meta["batch"]
    w = B * _ref(arrays, CLIP_TASK, "softmax_actor")
    assert np.ptp(w) > 0.3  # the weights the code computes and then cancels
    ours = replay(CLIP_TASK, arrays, meta, {"bug_compat": True})["iters"][0]["losses"][1:]
    ref = _ref(arrays, CLIP_TASK, "losses")[0, 1:]
    np.testing.assert_allclose(replayed[CLIP_TASK]["iters"][0]["losses"][1:], ref, rtol=RTOL, atol=0)
    assert (np.abs(ours - ref) > 1e-3 * np.abs(ref)).all(), (ours, ref)
    inf_temp = replay(CLIP_TASK, arrays, meta, {"bug_compat": True, "actor_temp": math.inf})
    np.testing.assert_allclose(inf_temp["iters"][0]["losses"][1:], ref, rtol=RTOL, atol=0)


def test_the_clips_act_per_network(fixture, replayed):
    """On the HalfCheetah file the code's per-network clips bind on every critic and on the mixer, and a joint clip
    (one norm per seed over all of them, what ours did before) would have stepped other gradients: the comparison
    above (``test_gradients_equal_official``) can tell the two rules apart."""
    arrays, meta = fixture
    norms = _ref(arrays, CLIP_TASK, "clip_norms")[0]  # [N + 1]: critic 0 .. N-1, mixer
    joint = np.sqrt(np.square(norms).sum())
    # joint coef / the network's own
    ratio = min(1.0, 20 / (joint + 1e-6)) / np.minimum(1.0, 20 / (norms + 1e-6))
    assert (ratio < 0.9).all(), ratio
