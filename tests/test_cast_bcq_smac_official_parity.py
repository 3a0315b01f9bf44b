"""Parity of our SMAX learners (papers/cast_bcq/smac.py) with the official CAST-BCQ **SMAC** code, by replaying the
code's own outputs recorded in ``tests/fixtures/cast_bcq_smac_parity.npz`` by ``scripts/cast_bcq_smac_parity_fixture.py``
(official ``SMAC/src`` of github.com/JinmingM/CAST-BCQ, ``SMAC.rar`` at c5587eb2; sha256 of each file in ``meta``).

Both sides run in float64 with the same weights (ours, copied into the code's modules / stand-ins) and the code's
sub-team draws replayed into ``batch["subteam"]``; compared within RTOL = 1e-10 relative.

Our documented SMAX choices (papers/cast_bcq/README.md, "StarCraft items on SMAX") and what the replay does with each:
- reward x 10 (``reward_scale``): ``prepare_data`` (float32) is bypassed; our batches are built here with
  r = the code's reward, i.e. rewards fed pre-scaled (SMAC's scale).
- MLP agents with per-agent parameters instead of pymarl's shared GRU: the code's controller is a stand-in made of
  our nets. Our per-agent losses are sums over agents of per-agent means, the code's means over agents: our
  gradients are N x the code's (checked as such); the code's optimizer stand-in steps with N x its gradient.
- Adam 5e-4 and Polyak targets instead of RMSprop and hard copies: Adam stand-ins at our lr on the code's side; the
  code's targets are not copied within these few steps, so our targets are reset to the initial weights before a
  second update.
- one-step targets on transitions instead of TD(lambda) on episodes: the critic updates are replayed on two-step
  windows (T = 2), where the code's TD(lambda) target is the one-step target and its per-time-step loop one update.
- ICQ-MA's temperatures: the SMAC code's actor temperature is 0.1 (``learners/offpg_learner.py`` l. 85), ours 100
  (the MuJoCo ICQ-MA code's); the replay sets ``icq_beta=0.1``.
- MABCQ's V' (Jiang & Lu's next-state value; the code's V = the target y) and |E_V|: not replayed (shown apart).

What agrees (asserted): CAST: the central critic's target, loss, gradient (the code's clip inactive, norm < 20,
asserted), parameters after two updates, the credits with the code's draws (windows and every valid step of
episodes that end early); the code's agent loss is our ``credit_loss`` of the code's regressed quantity. ICQ-MA:
the critic target (with the code's batch softmax weights), critic + mixer loss, gradients and parameters after;
our policy weights and actor loss from the code's Q values. MABCQ / I-BCQ: the BCQ-filtered next action a* and
Q'(o', a*), the target y.
Differences found (not asserted equal; see the fixture script and the README's parity section): CAST regresses
the softmax probability pi(a|o) in the code, Q_i(o, a) in ours; ICQ-MA's policy step uses the critic and mixer
after their step in the code (``run.py`` l. 188-189), before it in ours; the code's BC losses include padded and
last steps and take the softmax over all actions; MABCQ's weight is not detached in the code; no SMAX learner
clips gradients (the code: norm 20).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import papers.cast_bcq.smac as smac
from papers.cast_bcq.smac import SmaxConfig, SmaxLearner, bcq_target, filter_allowed, icq_policy_weights
from papers.cast_bcq.grid import awbc_loss, credit_loss, masked_argmax
from scripts.parity_common import load_fixture

FIXTURE = Path(__file__).parent / "fixtures" / "cast_bcq_smac_parity.npz"
RTOL = 1e-10


@pytest.fixture(scope="module")
def fx():
    torch.set_num_threads(1)
    return load_fixture(FIXTURE)


def close(ours, ref, what: str) -> None:
    ours = ours.detach().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    ref = np.asarray(ref)
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=RTOL * max(np.abs(ref).max(), 1e-300), err_msg=what)


def learner(arrays, meta, method: str, bs: int, **kw) -> SmaxLearner:
    cfg = SmaxConfig(method=method, hidden=meta["H"], lr=meta["lr"], batch_size=bs, gamma=meta["gamma"],
                     log_every=1, **({"critic_hidden": meta["HC"]} if method in ("icq_ma", "cast_bcq") else {}), **kw)
    ln = SmaxLearner(meta["O"], meta["D"], meta["N"], meta["K"], cfg, seeds=[0])
    with torch.no_grad():
        for name, net in ln.nets.items():
            net.double()
            for pn, p in net.named_parameters():
                p.copy_(torch.from_numpy(arrays[f"init.{name}.{pn}"]))
    reset_targets(ln)
    return ln


def reset_targets(ln: SmaxLearner) -> None:
    """The code's targets: the initial weights (no hard copy within these steps)."""
    for k, t in ln.targets.items():
        t.double()
        with torch.no_grad():
            for pn, p in t.named_parameters():
                p.copy_(INIT[k][pn])


INIT: dict = {}


def windows(arrays, name: str) -> dict[str, torch.Tensor]:
    """[S = 1, B] rows from two-step windows: t = 0 the transition, t = 1 the next step."""
    g = {k[len(name) + 2:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(name + "__")}
    act = g["actions"][..., 0].long()
    d = g["terminated"][:, 0, 0]
    return {"obs": g["obs"][None, :, 0], "next_obs": g["obs"][None, :, 1], "state": g["state"][None, :, 0],
            "next_state": g["state"][None, :, 1], "act": act[None, :, 0], "next_act": act[None, :, 1],
            "avail": g["avail_actions"][None, :, 0].bool(), "next_avail": g["avail_actions"][None, :, 1].bool(),
            "r": g["reward"][None, :, 0, 0], "d": d[None], "has_next": (1 - d)[None], "valid": torch.ones_like(d)[None]}


def spy_steps(ln: SmaxLearner, name: str, log: list) -> None:
    opt = ln.opts[name]
    step = opt.step

    def wrapped(*a, **k):
        log.append([p.grad.detach().clone() for g in opt.param_groups for p in g["params"]])
        return step(*a, **k)

    opt.step = wrapped


def _setup_init(arrays):
    INIT.clear()
    for k in ("q", "mix", "qj"):
        INIT[k] = {key.split(".", 2)[2]: torch.from_numpy(v) for key, v in arrays.items()
                   if key.startswith(f"init.{k}.")}


def test_fixture_provenance(fx):
    arrays, meta = fx
    assert meta["source"].endswith("c5587eb2") and len(meta["files"]) == 6
    assert all(len(h) == 64 for h in meta["files"].values())


# ---- CAST -------------------------------------------------------------------------------------------------------

def test_cast_critic_credit_and_loss_equal_official(fx, monkeypatch):
    arrays, meta = fx
    _setup_init(arrays)
    ln = learner(arrays, meta, "cast_bcq", 8)
    b = windows(arrays, "win")
    seen: dict = {"y": [], "credit": []}
    td, cc = smac.td_error_loss, smac.cast_credit

    def td_spy(q, y, kind, weight=None):
        seen["y"].append(y.detach().clone())
        return td(q, y, kind, weight)

    def credit_spy(*a, **k):
        out = cc(*a, **k)
        seen["credit"].append(out.clone())
        return out

    monkeypatch.setattr(smac, "td_error_loss", td_spy)
    monkeypatch.setattr(smac, "cast_credit", credit_spy)
    grads: list = []
    spy_steps(ln, "qj", grads)
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    for it in range(meta["iters"]):
        p = f"cast_it{it}__"
        if it:
            reset_targets(ln)
        out = ln.update({**b, "subteam": torch.from_numpy(arrays[p + "masks"])[None]})
        close(seen["y"][it][0], arrays[p + "y"], f"iteration {it}: central TD target")
        close(out["loss_qj"][0], arrays[p + "loss_qj"], f"iteration {it}: central critic loss")
        assert arrays[p + "norm_qj"] < 20.0  # the code's clip at 20 does not act here (ours never clips)
        ours = [t[0] for t in grads[it]]  # EnsembleLinear: W [I, O], b [1, O]
        for j, layer in enumerate(ln.nets["qj"].layers):
            close(ours[2 * j].T, arrays[p + "grad." + names[2 * j]], f"iteration {it}: grad {names[2 * j]}")
            close(ours[2 * j + 1][0], arrays[p + "grad." + names[2 * j + 1]], f"iteration {it}: grad bias {j}")
            close(layer.weight[0].T, arrays[p + "param." + names[2 * j]], f"iteration {it}: {names[2 * j]} after")
            close(layer.bias[0, 0], arrays[p + "param." + names[2 * j + 1]], f"iteration {it}: bias {j} after")
        close(seen["credit"][it][0], arrays[p + "credit"], f"iteration {it}: credits")
        # the code's agent loss is our credit loss (mean over rows and agents) of its regressed quantity pi(a|o)
        pi_taken = torch.from_numpy(arrays[p + "pi_taken"]).T  # [N, B]
        credit = torch.from_numpy(arrays[p + "credit"]).T
        close(credit_loss(pi_taken, credit).mean(), arrays[p + "loss_agent"], f"iteration {it}: agent loss form")


def test_cast_credit_on_episodes_equal_official(fx):
    arrays, meta = fx
    _setup_init(arrays)
    ln = learner(arrays, meta, "cast_bcq", 8)
    state = torch.from_numpy(arrays["ep__state"])
    act = torch.from_numpy(arrays["ep__actions"][..., 0]).long()
    filled, term = arrays["ep__filled"][..., 0], arrays["ep__terminated"][..., 0]
    mask = filled[:, :-1].copy()
    mask[:, 1:] *= 1 - term[:, :-2]  # the code's mask: the transitions of each episode
    rows = np.argwhere(mask > 0)
    assert len(rows) == sum((4, 3, 2))
    s = state[rows[:, 0], rows[:, 1]][None]
    a = act[rows[:, 0], rows[:, 1]][None]
    masks = torch.from_numpy(arrays["cast_ep__masks"])[None]
    with torch.no_grad():
        ours = smac.cast_credit(ln.nets["qj"], s, a, masks, meta["K"], "zero")[0]
    close(ours, arrays["cast_ep__credit"][rows[:, 0], rows[:, 1]], "credits at the episodes' valid steps")


# ---- ICQ-MA -----------------------------------------------------------------------------------------------------

def test_icq_ma_critic_equal_official(fx, monkeypatch):
    arrays, meta = fx
    _setup_init(arrays)
    ln = learner(arrays, meta, "icq_ma", 8, icq_beta=0.1)
    b = windows(arrays, "win_icq")
    seen: list = []
    tgt = smac.icq_ma_target

    def spy(*a, **k):
        y = tgt(*a, **k)
        seen.append(y.clone())
        return y

    monkeypatch.setattr(smac, "icq_ma_target", spy)
    grads: list = []
    spy_steps(ln, "q", grads)
    out = ln.update(b)
    close(seen[0][0], arrays["icq__y"], "ICQ-MA target (with the code's batch softmax weights)")
    close(out["loss_q"][0], arrays["icq__loss_q"], "critic + mixer loss")
    assert arrays["icq__norm_q"] < 20.0  # the code's joint clip of critic + mixer does not act here
    params = [(f"q.{n}", p) for n, p in ln.nets["q"].named_parameters()] + \
             [(f"mix.{n}", p) for n, p in ln.nets["mix"].named_parameters()]
    for (name, p), g in zip(params, grads[0], strict=True):
        close(g, arrays[f"icq__grad.{name}"], f"gradient {name}")
        close(p, arrays[f"icq__param.{name}"], f"{name} after the step")


def test_icq_ma_policy_pieces_equal_official(fx):
    """Our policy weights and actor loss, fed the code's Q values (its critic after its step), equal the code's."""
    arrays, meta = fx
    _setup_init(arrays)
    ln = learner(arrays, meta, "icq_ma", 8, icq_beta=0.1)
    b = windows(arrays, "win_icq")
    N, K = meta["N"], meta["K"]
    with torch.no_grad():
        for name in ("q", "mix"):  # the code's critic and mixer after its critic step
            for pn, p in ln.nets[name].named_parameters():
                p.copy_(torch.from_numpy(arrays[f"icq__param.{name}.{pn}"]))
    obs, a = ln._members(b["obs"]), ln._members(b["act"])
    avail = ln._members(b["avail"])
    q_all = ln.nets["q"](obs)
    q_data = q_all.gather(-1, a[..., None])[..., 0]
    close(q_data.T, arrays["icq__q_taken"], "Q_i(o, a) the code's actor step reads")
    logits = smac.masked_logits(ln.nets["pi"](obs), avail)
    pi = torch.softmax(logits, -1)
    v = (pi * q_all.masked_fill(~avail, 0.0)).sum(-1)
    w = icq_policy_weights(q_data, v, 0.1)
    close(w.T, arrays["icq__w_pi"], "policy weights B softmax_B(A / 0.1)")
    k = smac.mixer_weights(ln.nets["mix"](b["state"]))  # [1, B, N]
    loss = awbc_loss(logits, a, w * ln._members(k))
    close(loss.sum() / N, arrays["icq__loss_pi"], "actor loss (ours: sum over agents = N x the code's mean)")
    loss.sum().backward()
    for pn, p in ln.nets["pi"].named_parameters():
        close(p.grad, N * torch.from_numpy(arrays[f"icq__grad.pi.{pn}"]), f"actor gradient {pn} (N x the code's)")


# ---- MABCQ / I-BCQ ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["mabcq", "i_bcq"])
def test_bcq_filter_and_target_equal_official(fx, method):
    arrays, meta = fx
    _setup_init(arrays)
    ln = learner(arrays, meta, method, 8, bcq_threshold=0.5)  # the code's 0.5 for both (ours: I-BCQ 0.3)
    obs = torch.from_numpy(arrays["ep__obs"])
    avail = torch.from_numpy(arrays["ep__avail_actions"]).bool()
    r = torch.from_numpy(arrays["ep__reward"][..., 0])
    term = arrays["ep__terminated"][..., 0]
    filled = arrays["ep__filled"][..., 0]
    mask = filled[:, :-1].copy()
    mask[:, 1:] *= 1 - term[:, :-2]
    rows = np.argwhere(mask > 0)
    bi, ti = rows[:, 0], rows[:, 1]
    o2 = ln._members(obs[bi, ti + 1][None])  # [N, R, O]
    av2 = ln._members(avail[bi, ti + 1][None])
    d = torch.from_numpy(term[bi, ti])
    with torch.no_grad():
        allowed = filter_allowed(ln.nets["bc"](o2), av2, ln.cfg.threshold)
        a_star = masked_argmax(ln.nets["q"](o2), allowed)
        y, _ = bcq_target(ln.nets["q"](o2), ln.targets["q"](o2), allowed, r[bi, ti][None].expand(3, -1),
                          d[None].expand(3, -1), meta["gamma"])
    p = method + "__"
    live = d.numpy() == 0  # a* after a terminal step is multiplied by 0 on both sides
    # the filters coincide where G's most likely action over *all* actions is available: the code normalizes
    # G(a|o') by the max over all actions (mbcq_learner.py l. 99-105), ours by the max over the available ones
    with torch.no_grad():
        g = torch.softmax(ln.nets["bc"](o2), -1)
        top_avail = av2.gather(-1, g.argmax(-1, keepdim=True))[..., 0].T.numpy()
        code_allowed = av2 & (g / g.amax(-1, keepdim=True) + 1e-4 > 0.5)
        code_a_star = masked_argmax(ln.nets["q"](o2), code_allowed)
    same = live[:, None] & top_avail
    assert same.sum() == 19 and (live[:, None] & ~top_avail).sum() == 2  # the fixture's 2 entries where they may differ
    np.testing.assert_array_equal(a_star.T.numpy()[same], arrays[p + "a_star"][bi, ti][same])
    np.testing.assert_array_equal(code_a_star.T.numpy()[live], arrays[p + "a_star"][bi, ti][live])  # the diagnosis
    assert (a_star.T.numpy() != arrays[p + "a_star"][bi, ti])[live[:, None] & ~top_avail].sum() == 1  # one a* differs
    keep = same | ~live[:, None]
    want = r[bi, ti][:, None].numpy() + meta["gamma"] * (1 - term[bi, ti])[:, None] * arrays[p + "q_next"][bi, ti]
    close(y.T.numpy()[keep], want[keep], "targets y = r + gamma (1 - d) Q'(o', a*)")
    if method == "mabcq":
        # the code's ``terminated.float()`` makes gamma (1 - d) float32 in this float64 replay: gamma = float32(0.99)
        g32 = float(np.float32(meta["gamma"]))
        v = r[bi, ti][:, None].numpy() + g32 * (1 - term[bi, ti])[:, None] * arrays[p + "q_next"][bi, ti]
        close(v, arrays[p + "V"][bi, ti], "the code's V (= its target y, with gamma = float32(0.99))")
