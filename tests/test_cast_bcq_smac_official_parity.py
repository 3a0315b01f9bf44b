"""Parity of our SMAX learners (papers/cast_bcq/smac.py) with the official CAST-BCQ **SMAC** code, by replaying the
code's own outputs recorded in ``tests/fixtures/cast_bcq_smac_parity.npz`` by ``scripts/cast_bcq_smac_parity_fixture.py``
(official ``SMAC/src`` of github.com/JinmingM/CAST-BCQ, ``SMAC.rar`` at c5587eb2; sha256 of each file in ``meta``).

Both sides run in float64 from the same initial weights (ours, copied into the code's stand-ins / modules), the
code with its own learners, RMSprop optimizers (alpha 0.99, eps 1e-5) and clip_grad_norm_ at 20, ours through
``SmaxLearner.update`` with our defaults (lr, critic_lr, grad_clip, icq_beta, the BCQ threshold, target periods,
CAST ``agent="pi"``, ``target="data"``, ``absent="zero"``: asserted equal to the fixture's settings, not passed);
the code's sub-team draws are replayed into ``batch["subteam"]``. Compared within RTOL = 1e-10 relative. The inputs
make the clip at 20 act in at least one update of every optimizer (asserted), and leave it idle in others.

What agrees (asserted), every update against the code's own values:
- I-BCQ / MABCQ, two ``train`` calls (two batches): the filtered next action a* (the code's filter over all actions
  at 0.5 + 1e-4 and its -1e8 / -9999999 argmax; the batches include a* on an unavailable action), the target y,
  MABCQ's clipped weight (some inside (0.2, 1.8), where its gradient through E_V counts), the loss (MSE / weighted
  TD + BC NLL over all actions + 1e-2 mean logits^2), the pre-clip norm and gradients of Q and BC nets, the clipped
  gradients, the parameters after both RMSprop steps.
- ICQ-MA, two ``train_critic`` + ``train`` iterations: the critic target's weights B softmax_B(Q'_tot / 1000) over
  all rows (terminal ones included) and the target y, QMIX's k from the code's own ``QMixer`` (our mix layer's
  weights copied into hyper_w_1 / hyper_w_final), the critic + mixer loss, pre-clip norm, gradients before / after
  the joint clip; then the actor from the critic and mixer *after* their step: Q_i(o, a), the weights
  B softmax_B(A / 0.1), the loss, its pre-clip norm and gradients; all parameters after.
- CAST (``agent="pi"``), two ``train_critic`` + ``train`` iterations: the central critic's target, loss, pre-clip
  norm, gradients before / after the clip; the credits with the code's draws from the updated critic; pi(a|o) (the
  softmax over the available actions), the agent loss (pi(a|o) regressed onto the credit), its pre-clip norm and
  gradients before / after the clip; all parameters after. The credits also on every step of 3 episodes ending
  early (padding included in the code's call).

Remaining differences (not asserted; module docstring of smac.py, papers/cast_bcq/README.md):
- shared vs per-agent parameters: pymarl shares one GRU agent (agent id and last action in its input), ours are
  per-agent MLPs on the agent's own observation. The replay's controller is a stand-in made of our nets; since
  the code's losses are means over agents, its gradient, clip and RMSprop act on exactly our parameters.
- episodes with TD(lambda) (lambda 0.75) vs our one-step targets on sampled time steps: the replay uses two-step
  windows, where the code's TD(lambda) is the one-step target and its per-time-step critic loop one update. The
  code's BC loss runs over every step of the episodes (last steps and padding included), ours over our rows: the
  BCQ batches are "cyclic" windows (every step at t = 0 of one window and t = 1 of another) where the two coincide.
  The code's ``terminated.float()`` rounds gamma (1 - d) to float32 in a float64 replay (``q_learner.py`` /
  ``mbcq_learner.py`` l. 114): the BCQ replays use gamma = float32(0.99) on both sides (in float32 training, as
  both run, the two agree).
- target copy timing: the code copies I-BCQ / MABCQ targets when ``episode`` (+10 per iteration) passes 200 since
  the last copy (after the 21st update, then every 20th), ours after every 20th update; ICQ / CAST every 600 critic
  steps (the code: one per time step of the episodes), ours every 600 updates. No copy falls in these steps.
- ICQ's critic is a dueling v + a head on obs + agent id (``OffPGCritic``), ours one output per action: a stand-in
  of our net in the code's learner.
- the ICQ softmaxes run over the 32 episodes at each time step in the code, over our B rows in ours: with windows
  the two are the same sets.
- the controller's training-mode epsilon floor (found in this replay's review; smac.py now has it, ``train_epsilon``,
  ``floored_policy``): the code's policy learners read ``BasicMAC.forward(batch, t)`` with test_mode False, which
  with ``mask_before_softmax: False`` (offpg_smac.yaml / cast_smac.yaml l. 7) returns (1 - eps) softmax_all + eps / K
  (``controllers/basic_controller.py`` l. 43-51), then masked and renormalized (``offpg_learner.py`` l. 68-70,
  ``cast_learner.py`` l. 64-66); eps is the action selector's, 0.5 at start and set from its schedule at every test
  run (``action_selectors.py`` l. 21 / 54: ICQ 0.5 -> 0.05 over 500k t_env, CAST 0.5 -> 0.001 over 200k; ours reads
  the schedule at every update). The stand-in controller leaves the floor out, so the replay runs ours with
  ``train_epsilon=False`` (eps = 0); ``floored_policy`` is checked on a hand-computed case in
  tests/test_cast_bcq_smac.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import papers.cast_bcq.smac as smac
import papers.cast_bcq.smac_losses as smac_losses
from papers.cast_bcq.grid_losses import masked_argmax
from papers.cast_bcq.smac import SmaxLearner
from papers.cast_bcq.smac_config import SmaxConfig
from scripts.parity_common import load_fixture

FIXTURE = Path(__file__).parent / "fixtures" / "cast_bcq_smac_parity.npz"
RTOL = 1e-10
GROUP_NORM = {
    "mabcq": {"q": "norm"},
    "i_bcq": {"q": "norm"},
    "icq": {"critic": "norm_q", "pi": "norm_pi"},
    "cast": {"qj": "norm_qj", "pi": "norm_pi"},
}


@pytest.fixture(scope="module")
def fx():
    torch.set_num_threads(1)
    return load_fixture(FIXTURE)


def close(ours, ref, what: str) -> None:
    ours = ours.detach().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs {ref.shape}"
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=RTOL * max(np.abs(ref).max(), 1e-300), err_msg=what)


def learner(arrays, meta, method: str, prefix: str, **kw) -> SmaxLearner:
    """Our learner at the fixture's sizes (our defaults otherwise), float64, the initial weights ``init.<prefix>``,
    targets = the initial weights."""
    default = SmaxConfig()
    assert (default.lr, default.critic_lr, default.grad_clip, default.gamma) == (
        meta["lr"],
        meta["critic_lr"],
        meta["clip"],
        meta["gamma"],
    )
    sizes = {"critic_hidden": meta["HC"]} if method in ("icq_ma", "cast_bcq") else {}
    if method in ("icq_ma", "cast_bcq"):
        kw.setdefault("train_epsilon", False)  # the stand-in controller has no epsilon floor (docstring)
    cfg = SmaxConfig(method=method, hidden=meta["H"], batch_size=8, log_every=1, **sizes, **kw)
    ln = SmaxLearner(meta["O"], meta["D"], meta["N"], meta["K"], cfg, seeds=[0])
    with torch.no_grad():
        for name, net in ln.nets.items():
            net.double()
            for pn, p in net.named_parameters():
                p.copy_(torch.from_numpy(arrays[f"init.{prefix}.{name}.{pn}"]))
        for name, t in ln.targets.items():
            t.double().load_state_dict(ln.nets[name].state_dict())
    return ln


def windows(arrays, name: str) -> dict[str, torch.Tensor]:
    """[S = 1, B] rows from two-step windows: t = 0 the transition, t = 1 the next step (r pre-scaled)."""
    g = {k[len(name) + 2 :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(name + "__")}
    act = g["actions"][..., 0].long()
    d = g["terminated"][:, 0, 0]
    return {
        "obs": g["obs"][None, :, 0],
        "next_obs": g["obs"][None, :, 1],
        "state": g["state"][None, :, 0],
        "next_state": g["state"][None, :, 1],
        "act": act[None, :, 0],
        "next_act": act[None, :, 1],
        "avail": g["avail_actions"][None, :, 0].bool(),
        "next_avail": g["avail_actions"][None, :, 1].bool(),
        "r": g["reward"][None, :, 0, 0],
        "d": d[None],
        "has_next": (1 - d)[None],
        "valid": torch.ones_like(d)[None],
    }


class Spy:
    """Records calls of the SMAX learner's functions (smac, smac_losses; their arguments and outputs) and, per update, each optimizer group's
    gradients before the clip with the norm (``clip_grad_norm_per_seed_``) and the gradients it steps with."""

    def __init__(self, ln: SmaxLearner, monkeypatch, *functions: str):
        self.calls: dict[str, list] = {f: [] for f in functions}
        self.pre: dict[str, tuple[dict, torch.Tensor]] = {}
        self.post: dict[str, dict] = {}
        for f in functions:  # wrapped in each module that calls it by name
            wrapped = self._wrap(f, getattr(smac_losses, f, None) or getattr(smac, f))
            for mod in (smac, smac_losses):
                if hasattr(mod, f):
                    monkeypatch.setattr(mod, f, wrapped)
        names = {id(p): f"{n}.{pn}" for n, net in ln.nets.items() for pn, p in net.named_parameters()}
        group_of = {tuple(id(p) for p in ps): g for g, ps in ln.groups.items()}
        clip = smac.clip_grad_norm_per_seed_

        def spy_clip(params, max_norm, n_seeds):
            ps = list(params)
            grads = {names[id(p)]: p.grad.clone() for p in ps}
            norms = clip(ps, max_norm, n_seeds)
            self.pre[group_of[tuple(id(p) for p in ps)]] = (grads, norms.clone())
            return norms

        monkeypatch.setattr(smac, "clip_grad_norm_per_seed_", spy_clip)
        for g, opt in ln.opts.items():
            opt.step = self._wrap_step(g, opt, names)

    def _wrap(self, name, fn):
        def f(*a, **k):
            out = fn(*a, **k)
            self.calls[name].append((a, out))
            return out

        return f

    def _wrap_step(self, group, opt, names):
        step = opt.step

        def wrapped(*a, **k):
            self.post[group] = {names[id(p)]: p.grad.clone() for g in opt.param_groups for p in g["params"]}
            return step(*a, **k)

        return wrapped

    def new_update(self):
        self.pre, self.post = {}, {}
        for v in self.calls.values():
            v.clear()


def check_groups(arrays, p: str, spy: Spy, norms: dict[str, str], what: str) -> list[float]:
    """Each group's pre-clip norm and gradients, and its clipped gradients, equal the code's (the fixture keeps the
    code's pre-clip gradients only where its clip acted; elsewhere they are its clipped ones); returns the norms."""
    assert set(spy.pre) == set(spy.post) == set(norms)
    out = []
    for group, key in norms.items():
        code_norm = float(arrays[p + key])
        grads, norm = spy.pre[group]
        close(norm[0], code_norm, f"{what}: {group} pre-clip gradient norm")
        for name, g in grads.items():
            ref = arrays.get(f"{p}grad_pre.{name}")
            if ref is None:
                assert code_norm <= 20.0, f"{what}: {name}: the fixture lacks the clipped gradient's source"
                ref = arrays[f"{p}grad.{name}"]
            close(g, ref, f"{what}: gradient of {name} before the clip")
        nets = {n.split(".")[0] for n in grads}
        code = {k[len(p + "grad.") :] for k in arrays if k.startswith(p + "grad.")}
        assert set(spy.post[group]) == set(grads) == {n for n in code if n.split(".")[0] in nets}
        for name, g in spy.post[group].items():
            close(g, arrays[f"{p}grad.{name}"], f"{what}: gradient of {name} after the clip")
        out.append(code_norm)
    return out


def check_params(arrays, p: str, ln: SmaxLearner, what: str) -> None:
    for name, net in ln.nets.items():
        for pn, prm in net.named_parameters():
            close(prm, arrays[f"{p}param.{name}.{pn}"], f"{what}: {name}.{pn} after the updates")


def test_fixture_provenance(fx):
    arrays, meta = fx
    assert meta["source"].endswith("c5587eb2") and len(meta["files"]) == 7
    assert all(len(h) == 64 for h in meta["files"].values())


# ---- MABCQ / I-BCQ ----------------------------------------------------------------------------------------------


def run_bcq(arrays, meta, method: str, monkeypatch, **kw) -> None:
    ln = learner(arrays, meta, method, "bcq", gamma=meta["gamma_bcq"], **kw)
    spy = Spy(ln, monkeypatch, "code_bcq_argmax", "bcq_target", "vd_weight")
    norms, unavail, filtered = [], 0, 0
    for it in range(2):
        p = f"{method}_it{it}__"
        b = windows(arrays, f"bcq_it{it}")
        spy.new_update()
        out = ln.update(b)
        (q2, allowed, av2), a_star = spy.calls["code_bcq_argmax"][0]
        np.testing.assert_array_equal(a_star.T.numpy(), arrays[p + "a_star"], f"{method} {it}: a*")
        live = b["d"][0] == 0  # rows whose y reads Q'(o', a*)
        # the code's -9999999 > -1e8
        unavail += int((~av2.gather(-1, a_star[..., None])[..., 0] & live).sum())
        filtered += int(((a_star != masked_argmax(q2, av2)) & live).sum())
        close(spy.calls["bcq_target"][0][1].T, arrays[p + "y"], f"{method} {it}: target y")
        if method == "mabcq":
            close(spy.calls["vd_weight"][0][1].T, arrays[p + "w"], f"{method} {it}: value-deviation weight")
        close(out["loss_q"][0] + out["loss_bc"][0], arrays[p + "loss"], f"{method} {it}: loss")
        norms += check_groups(arrays, p, spy, GROUP_NORM[method], f"{method} {it}")
    check_params(arrays, f"{method}_it1__", ln, method)
    assert max(norms) > 20.0 and min(norms) < 20.0  # the clip acts in one update, not in the other
    # live rows: a* on an unavailable action; a* moved by the filter
    assert unavail > 0 and filtered > unavail
    if method == "mabcq":
        w = arrays["mabcq_it1__w_raw"]
        # weights inside the clip: their gradient through E_V counts
        assert ((w > 0.2) & (w < 1.8)).sum() >= 10
    assert (ln.cfg.threshold, ln.cfg.target_period) == (0.5, 20)  # our defaults (the data asserted first)


@pytest.mark.parametrize("method", ["mabcq", "i_bcq"])
def test_bcq_update_equal_official(fx, monkeypatch, method):
    run_bcq(*fx, method, monkeypatch)


# ---- ICQ-MA -----------------------------------------------------------------------------------------------------


def run_icq(arrays, meta, monkeypatch, **kw) -> None:
    ln = learner(arrays, meta, "icq_ma", "icq", **kw)
    spy = Spy(ln, monkeypatch, "icq_ma_target", "icq_target_weights", "icq_policy_weights")
    b = windows(arrays, "icq_win")
    assert b["d"].sum() == 2  # terminal rows: in the target softmax on both sides
    norms = {"critic": [], "pi": []}
    for it in range(meta["iters"]):
        p = f"icq_it{it}__"
        spy.new_update()
        out = ln.update(b)
        close(
            spy.calls["icq_target_weights"][0][1][0],
            arrays[p + "w_target"],
            f"ICQ {it}: B softmax_B(Q'_tot/1000)",
        )
        close(spy.calls["icq_ma_target"][0][1][0], arrays[p + "y"], f"ICQ {it}: critic target")
        close(out["loss_q"][0], arrays[p + "loss_q"], f"ICQ {it}: critic + mixer loss")
        (q_data, _, _), w = spy.calls["icq_policy_weights"][0]
        close(q_data.T, arrays[p + "q_taken"], f"ICQ {it}: Q_i(o, a) of the updated critic")
        close(w.T, arrays[p + "w_pi"], f"ICQ {it}: policy weights B softmax_B(A / 0.1)")
        close(out["loss_pi"][0], arrays[p + "loss_pi"], f"ICQ {it}: actor loss")
        for g, n in zip(("critic", "pi"), check_groups(arrays, p, spy, GROUP_NORM["icq"], f"ICQ {it}")):
            norms[g].append(n)
    check_params(arrays, f"icq_it{meta['iters'] - 1}__", ln, "ICQ")
    assert all(max(v) > 20.0 for v in norms.values())  # both clips act
    assert (ln.cfg.icq_beta, ln.cfg.icq_alpha, ln.cfg.target_period) == (0.1, 1000.0, 600)  # our defaults


def test_icq_ma_update_equal_official(fx, monkeypatch):
    run_icq(*fx, monkeypatch)


# ---- CAST -------------------------------------------------------------------------------------------------------


def run_cast(arrays, meta, monkeypatch, **kw) -> None:
    ln = learner(arrays, meta, "cast_bcq", "cast", **kw)
    spy = Spy(ln, monkeypatch, "cast_credit", "credit_loss")
    q2: list = []
    ln.targets["qj"].register_forward_hook(lambda m, i, o: q2.append(o[..., 0].detach()))
    b = windows(arrays, "cast_win")
    norms = {"qj": [], "pi": []}
    for it in range(meta["iters"]):
        p = f"cast_it{it}__"
        spy.new_update()
        q2.clear()
        out = ln.update({**b, "subteam": torch.from_numpy(arrays[p + "masks"])[None]})
        # the target smac.py forms from the target critic's Q'(s', a'_data): y = r + gamma has_next Q'
        close(
            (b["r"] + ln.cfg.gamma * b["has_next"] * q2[0])[0], arrays[p + "y"], f"CAST {it}: central target"
        )
        close(out["loss_qj"][0], arrays[p + "loss_qj"], f"CAST {it}: central critic loss")
        close(spy.calls["cast_credit"][0][1][0], arrays[p + "credit"], f"CAST {it}: credits (updated critic)")
        (pi_a, delta), _ = spy.calls["credit_loss"][0]
        close(pi_a.T, arrays[p + "pi_taken"], f"CAST {it}: pi(a|o) over the available actions")
        close(out["loss_pi"][0], arrays[p + "loss_pi"], f"CAST {it}: agent loss (pi(a|o) onto the credit)")
        for g, n in zip(("qj", "pi"), check_groups(arrays, p, spy, GROUP_NORM["cast"], f"CAST {it}")):
            norms[g].append(n)
    check_params(arrays, f"cast_it{meta['iters'] - 1}__", ln, "CAST")
    assert all(max(v) > 20.0 for v in norms.values())  # both clips act
    assert (ln.cfg.agent, ln.cfg.target, ln.cfg.absent, ln.cfg.target_period) == ("pi", "data", "zero", 600)


def test_cast_update_equal_official(fx, monkeypatch):
    run_cast(*fx, monkeypatch)


def test_cast_credit_on_episodes_equal_official(fx):
    arrays, meta = fx
    ln = learner(arrays, meta, "cast_bcq", "cast")
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
        ours = smac_losses.cast_credit(ln.nets["qj"], s, a, masks, meta["K"], "zero")[0]
    close(ours, arrays["cast_ep__credit"][rows[:, 0], rows[:, 1]], "credits at the episodes' valid steps")
