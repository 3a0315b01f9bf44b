"""Record the official CAST-BCQ **SMAC** code's own targets, credits, losses, gradients and parameters on fixed
inputs, for the parity test of our SMAX learners (``tests/test_cast_bcq_smac_official_parity.py``).

What it does: loads, by file path, the pymarl learners of the ``SMAC/src`` folder of the official archive
(github.com/JinmingM/CAST-BCQ, ``SMAC.rar`` at commit c5587eb2; docs/cast_bcq_official_code.md):
``learners/cast_learner.py`` (with ``modules/critics/centralc.py``), ``learners/offpg_learner.py`` (ICQ's SMAC
learner: ``offpg_smac.yaml``, with ``modules/mixers/qmix.py``), ``learners/mbcq_learner.py`` (MABCQ) and
``learners/q_learner.py`` (I-BCQ with ``iql_smac.yaml``: no mixer), and runs their own ``train_critic`` / ``train``
with their own RMSprop optimizers and gradient clips. ``learners/__init__.py`` is not imported (it names a
``ShapleyLearner`` that does not exist); the learner files import their own modules (``components``, ``modules``,
``utils``) from the folder. Nothing of the official code is copied into this repository.

Stand-ins (only for what pymarl builds around a learner, or for a documented deviation of ours):
- ``args`` (SimpleNamespace: the configs' lr 5e-4, critic_lr 1e-4, RMSprop alpha 0.99 / eps 1e-5, grad_norm_clip
  20, mixing_embed_dim 32, target intervals that do not fire within these steps), ``scheme``, a logger, and the
  batch as the plain dict ``run.py`` builds from ICQ's h5 files (obs, state, actions, actions_onehot, avail_actions,
  reward, terminated, filled, batch_size, max_seq_length).
- The MAC (pymarl's ``BasicMAC`` + GRU agents, parameters shared by the agents) is replaced by our agent networks
  (``common.networks.nets.EnsembleMLP``, one member per agent: our "MLP agents on the agent's own observation, per-agent
  parameters"). ``forward(batch, t)`` returns what the learner reads from the controller: CAST / ICQ the softmax over
  all actions of the policy net's logits (``mask_before_softmax: False``; the training-mode epsilon floor of
  ``BasicMAC.forward`` is left out: a difference, see the test's docstring); MABCQ / I-BCQ (``RNNAgent1``) the
  tuple (Q [bs, N, K], log_softmax of the BC logits over all actions, the BC logits) from our nets ``q`` and ``bc``.
  Since the per-agent losses are the code's means over agents and the stand-in's parameters are per agent, the
  code's gradients, clips and RMSprop steps act on exactly our parameters.
- ICQ's per-agent critic (``OffPGCritic``: obs + agent id, shared, dueling v + a) is our ``q`` net (one output per
  action), placed in ``offpg_learner``'s namespace before the learner is built (so the learner builds its target
  and its own RMSprop on it). ICQ's mixer is the code's ``QMixer`` (``mixing_embed_dim`` 32) with our ``mix`` net's
  weights copied in: our mix net is one linear layer D -> (N + 1) * 32 whose outputs are [hyper_w_1(s) (agent-major,
  i * 32 + e), hyper_w_final(s)]; QMixer's hyper_b_1 and V take no part in ``k`` / ``forward`` (no gradient).
- CAST's ``CentralCritic`` is the official module with its three layers rebuilt at width HC (the code: 256; the
  width is not what is tested, a small one keeps the fixture small), placed in ``cast_learner``'s namespace before
  the learner is built.
- The central critic's ``random`` (``randint`` / ``sample`` of the sub-teams) is a seeded ``random.Random`` whose
  samples are recorded; the test hands them to our learner as ``batch["subteam"]``.
Spies (record, never change): ``torch.Tensor.backward`` (loss values), ``torch.nn.utils.clip_grad_norm_`` (the
gradients before the clip and the norm), every optimizer's ``step`` (the gradients after the clip),
``torch.gather`` / ``torch.clip`` / ``torch.Tensor.detach`` / ``F.softmax`` (the code's intermediate tensors), the
learners' ``build_td_lambda_targets`` (the critic targets), the central critic's credit function.
Every parameter, gradient and parameter-after is stored in OUR layout (EnsembleMLP: weight [M, I, O], bias
[M, 1, O]; the central critic's nn.Linear [O, I] transposed; QMixer's hyper_w_1 / hyper_w_final concatenated into
our mix layer) under ``<method>_it<i>__{grad_pre,grad,param}.<net>.<name>``: ``grad`` what each optimizer steps with
(after the clip), ``grad_pre`` the gradient before the clip only where the clip acted (elsewhere it is ``grad``,
checked here), ``param`` the parameters after the last iteration (the earlier ones shape its gradients).

Inputs (numpy's legacy RandomState, frozen streams), float64 throughout (default dtype float64 during the run):
N = 3 agents, K = 5 actions, obs 6, state 7; about 30 % of the actions unavailable, the data actions available.
Every batch is a set of two-step windows [bs 8, T 2] (one transition each), where the code's TD(lambda) target
(``utils/rl_utils.py``: lambda 0.75, gamma 0.99 hard-coded) is the one-step target and its per-time-step critic loop
one update: our one-step form. Rewards (``REWARD``) and weight scales (``NET_INIT``) are chosen so that the clip
at 20 acts in at least one update of every optimizer (and not in some others).
- ``cast_win`` (CAST): windows 2 and 5 terminal (their t = 1 is the stored terminal state with the padding action 0
  and a zero one-hot); two ``train_critic`` + ``train`` iterations on it.
- ``icq_win`` (ICQ-MA): the same layout (terminal rows included: the code's target softmax over the batch takes
  them, as ours over all B rows); two iterations.
- ``bcq_it0`` / ``bcq_it1`` (MABCQ, I-BCQ: one ``train`` on each, in turn): "cyclic" windows, window b = (x_b,
  x_{(b+1) mod 8}) of 8 steps x. The code's BC loss runs over every step of the batch (t = 0 and 1, l. 70 / 125),
  ours over the B transitions: with cyclic windows every step appears once at t = 0 and once at t = 1, so the two
  means coincide. Windows 1 and 6 are terminal; their t = 1 is still the next step x (with T = 2 the learners read
  the terminal flag only in the target of t = 0; a* and the BC loss read t = 1 regardless). gamma = float32(0.99)
  for these two: the code's ``terminated.float()`` rounds gamma (1 - d) to float32 (l. 48 / 114), which is exact
  when gamma is itself a float32 number.
- ``ep`` (CAST's credit): 3 episodes [bs 3, T 5]: episode 0 runs 4 transitions without terminal (its state at t = 4
  stored), episode 1 terminates at t = 2 (t = 4 padding), episode 2 at t = 1 (t = 3, 4 padding; padding is zeros,
  pymarl's). The credit on every step, from the initial critic.

Rebuild (a few seconds, CPU)::

    git -C <CAST-BCQ mirror> show c5587eb2:SMAC.rar > /tmp/cast_smac.rar
    mkdir -p /tmp/cast_official && bsdtar -xf /tmp/cast_smac.rar -C /tmp/cast_official   # apt: libarchive-tools
    python scripts/cast_bcq_smac_parity_fixture.py --smac-repo /tmp/cast_official/SMAC \\
        [--out tests/fixtures/cast_bcq_smac_parity.npz]
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common.networks.nets import EnsembleMLP  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_common import RecordedRandom, fixture_parser, load_module, sha256_of, weight_values, write_fixture  # noqa: E402

FILES = (
    "learners/cast_learner.py",
    "modules/critics/centralc.py",
    "learners/offpg_learner.py",
    "learners/mbcq_learner.py",
    "learners/q_learner.py",
    "utils/rl_utils.py",
    "modules/mixers/qmix.py",
)
N, K, O, D = 3, 5, 6, 7
H, HC = 6, 8  # agent nets' hidden width (ours 64), the critics' (code / ours 256)
EMBED = 32  # QMixer's mixing_embed_dim (offpg_smac.yaml; ours QMIX_EMBED)
LR, CRITIC_LR = 5e-4, 1e-4  # default.yaml lr; offpg_smac.yaml / cast_smac.yaml critic_lr
GAMMA = 0.99  # rl_utils.py's hard-coded gamma (ICQ, CAST)
GAMMA_BCQ = float(np.float32(0.99))  # MABCQ / I-BCQ: float32-exact (module docstring)
CLIP = 20.0  # grad_norm_clip
ITERS = 2
WIN_TERMINAL = (2, 5)
BCQ_TERMINAL = (1, 6)
# reward (mean, std) per batch: large enough that the clip at 20 acts in at least one update of every optimizer
REWARD = {"cast": (5.0, 20.0), "icq": (5.0, 20.0), "bcq_it0": (0.0, 150.0), "bcq_it1": (0.0, 0.3)}
# weight scales (our_net): large enough that the clip acts; bcq.q's offset keeps MABCQ's weights in (0.2, 1.8)
# on small rewards (bcq_it1), so that its gradient through E_V shows
NET_INIT = {
    "bcq.q": dict(gain=3.0, offset=5.0),
    "bcq.bc": dict(gain=3.0),
    "icq.q": dict(gain=3.0),
    "icq.pi": dict(gain=0.2, hidden_gain=15.0),
    "cast.pi": dict(gain=0.2, hidden_gain=15.0),
    "cast.qj": dict(gain=300.0),
}
EP_LEN = (4, 3, 2)  # transitions per episode of ``ep`` (T = 5)
SEED = 7
DRAW_SEED = 11


def our_net(
    members: int,
    inp: int,
    out: int,
    hidden: tuple,
    rs: np.random.RandomState,
    gain: float = 1.0,
    hidden_gain: float = 1.0,
    offset: float = 0.0,
):
    """An EnsembleMLP (our layout: weight [M, I, O], bias [M, 1, O]) with the weight rule; output layer x gain,
    hidden layers x hidden_gain, ``offset`` added to the output bias."""
    net = EnsembleMLP(members, inp, out, hidden).double()
    with torch.no_grad():
        for j, layer in enumerate(net.layers):
            g = gain if j == len(net.layers) - 1 else hidden_gain
            layer.weight.copy_(
                torch.from_numpy(weight_values(layer.weight.shape, layer.weight.shape[1], g, rs))
            )
            layer.bias.copy_(torch.from_numpy(weight_values(layer.bias.shape, layer.weight.shape[1], g, rs)))
        net.layers[-1].bias.add_(offset)
    return net


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


# ---- data -------------------------------------------------------------------------------------------------------


def _avail(rs, shape, act):
    av = (rs.uniform(size=(*shape, K)) < 0.7).astype(np.float64)
    np.put_along_axis(av, act[..., None], 1.0, axis=-1)
    return av


def make_windows(
    rs, bs: int, terminal: tuple[int, ...], reward: tuple[float, float]
) -> dict[str, np.ndarray]:
    act = rs.randint(0, K, size=(bs, 2, N))
    term = np.zeros((bs, 2, 1))
    term[list(terminal), 0, 0] = 1.0
    av = _avail(rs, (bs, 2, N), act)
    act[list(terminal), 1] = 0  # no action after a terminal step (pymarl's padding)
    onehot = np.eye(K)[act]
    onehot[list(terminal), 1] = 0.0
    return {
        "obs": rs.normal(size=(bs, 2, N, O)),
        "state": rs.normal(size=(bs, 2, D)),
        "actions": act[..., None],
        "actions_onehot": onehot,
        "avail_actions": av,
        "reward": rs.normal(*reward, size=(bs, 2, 1)),
        "terminated": term,
        "filled": np.ones((bs, 2, 1)),
    }


def make_cyclic(rs, bs: int, terminal: tuple[int, ...], reward: tuple[float, float]) -> dict[str, np.ndarray]:
    """Windows b = (x_b, x_{(b+1) mod bs}) of bs steps x (module docstring)."""
    act = rs.randint(0, K, size=(bs, N))
    x = {
        "obs": rs.normal(size=(bs, N, O)),
        "state": rs.normal(size=(bs, D)),
        "actions": act[..., None],
        "actions_onehot": np.eye(K)[act],
        "avail_actions": _avail(rs, (bs, N), act),
    }
    nxt = (np.arange(bs) + 1) % bs
    g = {k: np.stack([v, v[nxt]], axis=1) for k, v in x.items()}
    term = np.zeros((bs, 2, 1))
    term[list(terminal), 0, 0] = 1.0
    g.update(reward=rs.normal(*reward, size=(bs, 2, 1)), terminated=term, filled=np.ones((bs, 2, 1)))
    return g


def make_episodes(rs) -> dict[str, np.ndarray]:
    bs, T = len(EP_LEN), max(EP_LEN) + 1
    g = {
        "obs": rs.normal(size=(bs, T, N, O)),
        "state": rs.normal(size=(bs, T, D)),
        "reward": rs.normal(1.0, 1.0, size=(bs, T, 1)),
    }
    act = rs.randint(0, K, size=(bs, T, N))
    av = _avail(rs, (bs, T, N), act)
    term, filled = np.zeros((bs, T, 1)), np.zeros((bs, T, 1))
    for b, n in enumerate(EP_LEN):
        filled[b, : n + 1] = 1.0  # n transitions, then the last state
        act[b, n:] = 0  # no action at the last state nor in the padding
        if b > 0:
            term[b, n - 1] = 1.0
        for k in ("obs", "state", "reward"):
            g[k][b, n + 1 :] = 0.0
        g["reward"][b, n:] = 0.0
        av[b, n + 1 :] = 0.0
    onehot = np.eye(K)[act] * filled[..., None]
    for b, n in enumerate(EP_LEN):
        onehot[b, n:] = 0.0
    g.update(actions=act[..., None], actions_onehot=onehot, avail_actions=av, terminated=term, filled=filled)
    return g


def as_batch(g: dict[str, np.ndarray]) -> dict:
    out = {k: torch.from_numpy(v.astype(np.int64) if k == "actions" else v.copy()) for k, v in g.items()}
    out["batch_size"], out["max_seq_length"] = g["obs"].shape[0], g["obs"].shape[1]
    return out


# ---- stand-ins --------------------------------------------------------------------------------------------------


class _Logger:
    def __init__(self):
        self.console_logger = types.SimpleNamespace(info=lambda *a, **k: None)

    def log_stat(self, *a, **k):
        pass


def _args(**kw):
    base = dict(
        n_agents=N,
        n_actions=K,
        lr=LR,
        critic_lr=CRITIC_LR,
        optim_alpha=0.99,
        optim_eps=1e-5,
        grad_norm_clip=CLIP,
        learner_log_interval=2000,
        gamma=GAMMA,
        td_lambda=0.8,
        target_update_interval=600,
        mixer=None,
        state_shape=D,
        mixing_embed_dim=EMBED,
        device="cpu",
        agent="rnn1",
    )
    base.update(kw)
    return types.SimpleNamespace(**base)


SCHEME = {"state": {"vshape": D}, "obs": {"vshape": O}, "actions_onehot": {"vshape": (K,)}}


def _members(x: torch.Tensor) -> torch.Tensor:  # [bs, N, ...] -> [N, bs, ...]
    return x.transpose(0, 1)


class PolicyMAC:
    """CAST / ICQ stand-in controller: our per-agent net, softmax over all actions (the learner masks and
    renormalizes)."""

    def __init__(self, net):
        self.net = net

    def init_hidden(self, bs):
        pass

    def forward(self, batch, t, test_mode=False):
        return torch.softmax(_members(self.net(_members(batch["obs"][:, t]))), dim=-1)

    def parameters(self):
        return self.net.parameters()


class BCQMAC:
    """MABCQ / I-BCQ stand-in controller: (Q, log_softmax(BC logits), BC logits) from our nets q and bc."""

    def __init__(self, q, bc):
        self.q, self.bc = q, bc

    def init_hidden(self, bs):
        pass

    def forward(self, batch, t, test_mode=False):
        o = _members(batch["obs"][:, t])
        logits = _members(self.bc(o))  # [bs, N, K]
        return _members(self.q(o)), torch.log_softmax(logits, dim=-1), logits.reshape(-1, K)

    def parameters(self):
        return [*self.q.parameters(), *self.bc.parameters()]


class CriticStandIn(torch.nn.Module):
    """ICQ's per-agent critic: our q net on the agent's own observation, [bs, T, N, K]."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def _build_inputs(self, batch, bs, max_t):
        return batch["obs"]

    def forward(self, inputs):  # [bs, T, N, O]
        bs, T = inputs.shape[:2]
        x = inputs.permute(2, 0, 1, 3).reshape(N, bs * T, O)
        return self.net(x).reshape(N, bs, T, K).permute(1, 2, 0, 3)


class Draws(RecordedRandom):
    """Stand-in for centralc's ``random``: a seeded random.Random, the ``sample`` results recorded."""

    def masks(self, start: int) -> np.ndarray:
        """bool [N, C, N] from the samples start .. start + N * 10 (agent-major, as the code draws)."""
        m = np.zeros((N, 10, N), bool)
        for i in range(N):
            for c in range(10):
                m[i, c, self.log[start + i * 10 + c]] = True
        return m


# ---- our layout of the code's modules ---------------------------------------------------------------------------


class Layout:
    """Maps the parameters of the code-side modules to our names and layout (module docstring)."""

    def __init__(self):
        self.owner: dict[int, tuple[str, str, str]] = {}  # id(param) -> (kind, net, code name)

    def add(self, kind: str, net: str, module: torch.nn.Module) -> None:
        for name, p in module.named_parameters():
            self.owner[id(p)] = (kind, net, name)

    def ours(self, params, values) -> dict[str, np.ndarray]:
        """{our key: array} of ``values`` (aligned with ``params``; None = no gradient) in our layout."""
        code: dict[tuple[str, str], dict[str, torch.Tensor | None]] = {}
        for p, v in zip(params, values, strict=True):
            kind, net, name = self.owner[id(p)]
            code.setdefault((kind, net), {})[name] = v
        out = {}
        for (kind, net), vals in code.items():
            if kind == "ens":
                out.update({f"{net}.{n}": _np(v) for n, v in vals.items()})  # every one has a gradient
            elif kind == "central":
                for j, fc in enumerate(("fc1", "fc2", "fc3")):
                    out[f"{net}.layers.{j}.weight"] = _np(vals[f"{fc}.weight"].T[None])
                    out[f"{net}.layers.{j}.bias"] = _np(vals[f"{fc}.bias"][None, None])
            elif kind == "qmix":
                # hyper_b_1 and V take no part in k or forward (no gradient; asserted in record_icq)
                out[f"{net}.layers.0.weight"] = _np(
                    torch.cat([vals["hyper_w_1.weight"].T, vals["hyper_w_final.weight"].T], dim=1)[None]
                )
                out[f"{net}.layers.0.bias"] = _np(
                    torch.cat([vals["hyper_w_1.bias"], vals["hyper_w_final.bias"]])[None, None]
                )
        return out

    def params(self, module: torch.nn.Module) -> dict[str, np.ndarray]:
        ps = list(module.parameters())
        return self.ours(ps, [p.detach() for p in ps])


def central_critic(centralc, scheme, args, qj0: EnsembleMLP):
    """The official CentralCritic with its three layers at width HC carrying our qj's weights."""
    cc = centralc.CentralCritic(scheme, args)
    for j, name in enumerate(("fc1", "fc2", "fc3")):
        lin = qj0.layers[j]
        new = torch.nn.Linear(lin.weight.shape[1], lin.weight.shape[2]).double()
        with torch.no_grad():
            new.weight.copy_(lin.weight[0].T)
            new.bias.copy_(lin.bias[0, 0])
        setattr(cc, name, new)
    return cc


def load_qmix(qmix: torch.nn.Module, mix0: EnsembleMLP) -> None:
    """Our mix layer's weights into the code's QMixer (hyper_w_1: outputs [0, N*E), hyper_w_final: [N*E, N*E + E))."""
    W, b = mix0.layers[0].weight[0], mix0.layers[0].bias[0, 0]  # [D, (N+1)E], [(N+1)E]
    with torch.no_grad():
        qmix.hyper_w_1.weight.copy_(W[:, : N * EMBED].T)
        qmix.hyper_w_1.bias.copy_(b[: N * EMBED])
        qmix.hyper_w_final.weight.copy_(W[:, N * EMBED :].T)
        qmix.hyper_w_final.bias.copy_(b[N * EMBED :])


@contextlib.contextmanager
def patched(module, **attrs):
    saved = {k: getattr(module, k) for k in attrs}
    for k, v in attrs.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(module, k, v)


def spy_optimizer(opt, log: list) -> None:
    """Records the gradients the optimizer steps with (after the clip): log gets [(params, grads)] per step."""
    step = opt.step

    def wrapped(*a, **k):
        ps = [p for g in opt.param_groups for p in g["params"]]
        log.append((ps, [None if p.grad is None else p.grad.clone() for p in ps]))
        return step(*a, **k)

    opt.step = wrapped


@contextlib.contextmanager
def spies(log: dict):
    saved = (
        torch.Tensor.backward,
        torch.nn.utils.clip_grad_norm_,
        torch.gather,
        torch.clip,
        torch.Tensor.detach,
        F.softmax,
    )

    def backward(t, *a, **k):
        log.setdefault("loss", []).append(float(t.detach()))
        return saved[0](t, *a, **k)

    def clip(params, *a, **k):
        ps = list(params)
        log.setdefault("pre", []).append((ps, [None if p.grad is None else p.grad.clone() for p in ps]))
        out = saved[1](ps, *a, **k)
        log.setdefault("norm", []).append(float(out))
        return out

    def rec(key, fn):
        def f(*a, **k):
            out = fn(*a, **k)
            log.setdefault(key, []).append((a, out))
            return out

        return f

    torch.Tensor.backward, torch.nn.utils.clip_grad_norm_ = backward, clip
    torch.gather, torch.clip, F.softmax = (
        rec("gather", saved[2]),
        rec("clip", saved[3]),
        rec("softmax", saved[5]),
    )
    torch.Tensor.detach = rec("detach", saved[4])
    try:
        yield
    finally:
        (
            torch.Tensor.backward,
            torch.nn.utils.clip_grad_norm_,
            torch.gather,
            torch.clip,
            torch.Tensor.detach,
            F.softmax,
        ) = saved


def _load(src: Path, rel: str, name: str):
    return load_module(src / rel, name, register=True)


def _grads(p: str, lay: Layout, log: dict, steps: list, owners) -> dict[str, np.ndarray]:
    """The gradients each optimizer steps with (after the clip), the gradients before the clip where the clip acted
    (elsewhere they are the same tensors, checked here), the parameters after (``owners``; the last iteration only:
    the earlier ones shape its gradients)."""
    out = {}
    post = {id(q): g for ps, gs in steps for q, g in zip(ps, gs, strict=True)}
    for (ps, gs), norm in zip(log["pre"], log["norm"], strict=True):
        if norm > CLIP:
            out.update({f"{p}grad_pre.{k}": v for k, v in lay.ours(ps, gs).items()})
        else:
            assert all(
                (g is None and post[id(q)] is None) or torch.equal(g, post[id(q)]) for q, g in zip(ps, gs)
            )
    for ps, gs in steps:
        out.update({f"{p}grad.{k}": v for k, v in lay.ours(ps, gs).items()})
    for m in owners:
        out.update({f"{p}param.{k}": v for k, v in lay.params(m).items()})
    return out


# ---- the records ------------------------------------------------------------------------------------------------


def record_cast(mods, win: dict, ep: dict, qj0: EnsembleMLP, pi0: EnsembleMLP) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    draws = Draws(DRAW_SEED)
    mods["centralc"].random = draws
    mac = PolicyMAC(copy.deepcopy(pi0))
    with patched(
        mods["cast"], CentralCritic=lambda scheme, args: central_critic(mods["centralc"], scheme, args, qj0)
    ):
        learner = mods["cast"].CastLearner(mac, SCHEME, _Logger(), _args())
    cc = learner.centralcritic
    lay = Layout()
    lay.add("central", "qj", cc)
    lay.add("ens", "pi", mac.net)
    steps: list = []
    spy_optimizer(learner.centralcritic_optimiser, steps)
    spy_optimizer(learner.agent_optimiser, steps)
    targets: list = []
    orig = mods["cast"].build_td_lambda_targets

    def spy_targets(*a, **k):
        y = orig(*a, **k)
        targets.append(y.detach().clone())
        return y

    shap: list = []
    orig_ex = type(cc).get_ex_according_to_mcshap_mask

    def spy_ex(self, x):
        s = orig_ex(self, x)
        shap.append(s.clone())
        return s

    type(cc).get_ex_according_to_mcshap_mask = spy_ex
    batch = as_batch(win)
    try:
        with patched(mods["cast"], build_td_lambda_targets=spy_targets):
            for it in range(ITERS):
                log: dict = {}
                start, steps[:] = len(draws.log), []
                with spies(log):
                    learner.train_critic(
                        batch,
                        best_batch=None,
                        log={
                            k: []
                            for k in (
                                "critic_loss",
                                "critic_grad_norm",
                                "td_error_abs",
                                "target_mean",
                                "q_taken_mean",
                            )
                        },
                        t_env=0,
                    )
                    learner.train(batch, 0, None)
                p = f"cast_it{it}__"
                assert len(log["loss"]) == len(log["norm"]) == len(steps) == 2
                out[p + "y"] = _np(targets[it])[:, 0, 0]  # [bs] (T = 2: one step)
                out[p + "loss_qj"], out[p + "loss_pi"] = np.array(log["loss"][0]), np.array(log["loss"][1])
                out[p + "norm_qj"], out[p + "norm_pi"] = np.array(log["norm"][0]), np.array(log["norm"][1])
                # gather(mac_out, actions): pi(a|o), t=0
                out[p + "pi_taken"] = _np(log["gather"][0][1])[:, 0, :, 0]
                out[p + "masks"] = draws.masks(start)
                out[p + "credit"] = _np(shap[it])[:, 0, :, 0]  # [bs, N] at t = 0
                out.update(_grads(p, lay, log, steps, (cc, mac.net) if it == ITERS - 1 else ()))
        # the credit on the episodes (all steps, padding included), from the initial weights
        fresh = copy.deepcopy(learner.target_centralcritic)  # never updated: the initial weights
        start = len(draws.log)
        eb = as_batch(ep)
        s = orig_ex(fresh, fresh._build_inputs(eb, eb["batch_size"], eb["max_seq_length"]))
        out["cast_ep__credit"] = _np(s).reshape(eb["batch_size"], eb["max_seq_length"], N)
        out["cast_ep__masks"] = draws.masks(start)
    finally:
        type(cc).get_ex_according_to_mcshap_mask = orig_ex
    return out


def record_icq(mods, win: dict, q0, pi0, mix0) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    mac = PolicyMAC(copy.deepcopy(pi0))
    with patched(mods["offpg"], OffPGCritic=lambda scheme, args: CriticStandIn(copy.deepcopy(q0))):
        learner = mods["offpg"].OffPGLearner(mac, SCHEME, _Logger(), _args())
    assert type(learner.mixer).__name__ == "QMixer"  # the code's own mixer
    load_qmix(learner.mixer, mix0)
    load_qmix(learner.target_mixer, mix0)
    lay = Layout()
    lay.add("ens", "q", learner.critic.net)
    lay.add("qmix", "mix", learner.mixer)
    lay.add("ens", "pi", mac.net)
    steps: list = []
    for opt in (learner.critic_optimiser, learner.mixer_optimiser, learner.agent_optimiser):
        spy_optimizer(opt, steps)
    targets: list = []
    orig = mods["offpg"].build_td_lambda_targets

    def spy_targets(*a, **k):
        y = orig(*a, **k)
        targets.append(y.detach().clone())
        return y

    batch = as_batch(win)
    bs = win["obs"].shape[0]
    with patched(mods["offpg"], build_td_lambda_targets=spy_targets):
        for it in range(ITERS):
            log: dict = {}
            steps[:] = []
            with spies(log):
                learner.train_critic(
                    batch,
                    best_batch=None,
                    log={
                        k: []
                        for k in (
                            "critic_loss",
                            "critic_grad_norm",
                            "td_error_abs",
                            "target_mean",
                            "q_taken_mean",
                            "q_max_mean",
                            "q_min_mean",
                            "q_max_var",
                            "q_min_var",
                        )
                    },
                    t_env=0,
                )
                learner.train(batch, 0, None)
            p = f"icq_it{it}__"
            assert len(log["loss"]) == len(log["norm"]) == 2 and len(steps) == 3
            mixer_grads = dict(zip([id(q) for q in steps[1][0]], steps[1][1]))
            assert all(
                mixer_grads[id(prm)] is None
                for n, prm in learner.mixer.named_parameters()
                if not n.startswith(("hyper_w_1.", "hyper_w_final."))
            )  # hyper_b_1, V: not in k
            out[p + "y"] = _np(targets[it])[:, 0, 0]
            # bs softmax_bs(Q'_tot / 1000), t = 1
            out[p + "w_target"] = _np(log["softmax"][0][1])[:, 1, 0] * bs
            out[p + "loss_q"], out[p + "loss_pi"] = np.array(log["loss"][0]), np.array(log["loss"][1])
            out[p + "norm_q"], out[p + "norm_pi"] = np.array(log["norm"][0]), np.array(log["norm"][1])
            # train: gather(q_vals, actions) -> q_taken [bs, 1, N]; the advantage softmax over the batch
            out[p + "q_taken"] = _np(log["gather"][-2][1]).reshape(bs, N)
            out[p + "w_pi"] = _np(log["softmax"][1][1]).reshape(bs, N) * bs
            last = it == ITERS - 1
            out.update(
                _grads(p, lay, log, steps, (learner.critic.net, learner.mixer, mac.net) if last else ())
            )
    return out


def record_bcq(mods, batches, q0, bc0, which: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    mac = BCQMAC(copy.deepcopy(q0), copy.deepcopy(bc0))
    cls = mods["mbcq"].MBCQLearner if which == "mabcq" else mods["q"].QLearner
    learner = cls(mac, SCHEME, _Logger(), _args(gamma=GAMMA_BCQ, target_update_interval=200))
    lay = Layout()
    lay.add("ens", "q", mac.q)
    lay.add("ens", "bc", mac.bc)
    steps: list = []
    spy_optimizer(learner.optimiser, steps)
    for it, g in enumerate(batches):
        log: dict = {}
        steps[:] = []
        with spies(log):
            learner.train(as_batch(g), 0, 0)  # episode_num 0: no target copy
        p = f"{which}_it{it}__"
        assert len(log["loss"]) == len(log["norm"]) == len(steps) == 1
        # gather #1: Q(o, a_data) [bs, T-1, N]; gather #2: Q'(o', a*) with index a* [bs, T-1, N, 1]
        out[p + "q_data"] = _np(log["gather"][0][1])[:, 0]
        out[p + "a_star"] = _np(log["gather"][1][0][2])[:, 0, :, 0]
        out[p + "q_next"] = _np(log["gather"][1][1])[:, 0]
        y = log["detach"][0][0][0]  # the first detach of train: targets.detach() (l. 117 / 126)
        assert y.shape == (g["obs"].shape[0], 1, N)
        out[p + "y"] = _np(y)[:, 0]
        out[p + "loss"], out[p + "norm"] = np.array(log["loss"][0]), np.array(log["norm"][0])
        if which == "mabcq":
            out[p + "w_raw"] = _np(log["clip"][0][0][0])[:, 0]  # th.clip's input 1 + (V - E_V) / E_V
            out[p + "w"] = _np(log["clip"][0][1])[:, 0]
        out.update(_grads(p, lay, log, steps, (mac.q, mac.bc) if it == len(batches) - 1 else ()))
    return out


def record(src: Path) -> dict[str, np.ndarray]:
    torch.set_num_threads(1)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    sys.path.insert(0, str(src))
    try:
        mods = {
            "centralc": _load(src, "modules/critics/centralc.py", "modules.critics.centralc"),
            "cast": _load(src, "learners/cast_learner.py", "cast_smac_learner"),
            "offpg": _load(src, "learners/offpg_learner.py", "cast_smac_offpg_learner"),
            "mbcq": _load(src, "learners/mbcq_learner.py", "cast_smac_mbcq_learner"),
            "q": _load(src, "learners/q_learner.py", "cast_smac_q_learner"),
        }
        rs = np.random.RandomState(SEED)
        data = {
            "cast_win": make_windows(rs, 8, WIN_TERMINAL, REWARD["cast"]),
            "icq_win": make_windows(rs, 8, WIN_TERMINAL, REWARD["icq"]),
            "bcq_it0": make_cyclic(rs, 8, BCQ_TERMINAL, REWARD["bcq_it0"]),
            "bcq_it1": make_cyclic(rs, 8, BCQ_TERMINAL, REWARD["bcq_it1"]),
            "ep": make_episodes(rs),
        }
        wrs = np.random.RandomState(SEED + 1)
        hid, hidc = (H, H), (HC, HC)
        shapes = {
            "bcq.q": (N, O, K, hid),
            "bcq.bc": (N, O, K, hid),
            "icq.q": (N, O, K, hidc),
            "icq.pi": (N, O, K, hid),
            "icq.mix": (1, D, (N + 1) * EMBED, ()),
            "cast.pi": (N, O, K, hid),
            "cast.qj": (1, D + N * K, 1, hidc),
        }
        nets = {k: our_net(*shape, wrs, **NET_INIT.get(k, {})) for k, shape in shapes.items()}
        out: dict[str, np.ndarray] = {}
        for name, g in data.items():
            out.update({f"{name}__{k}": v for k, v in g.items()})
        for name, net in nets.items():
            out.update({f"init.{name}.{n}": _np(p) for n, p in net.named_parameters()})
        out.update(record_cast(mods, data["cast_win"], data["ep"], nets["cast.qj"], nets["cast.pi"]))
        out.update(record_icq(mods, data["icq_win"], nets["icq.q"], nets["icq.pi"], nets["icq.mix"]))
        for which in ("mabcq", "i_bcq"):
            out.update(
                record_bcq(mods, (data["bcq_it0"], data["bcq_it1"]), nets["bcq.q"], nets["bcq.bc"], which)
            )
    finally:
        torch.set_default_dtype(prev)
        sys.path.remove(str(src))
    meta = {
        "files": sha256_of(src, FILES),
        "source": "github.com/JinmingM/CAST-BCQ SMAC.rar at c5587eb2",
        "N": N,
        "K": K,
        "O": O,
        "D": D,
        "H": H,
        "HC": HC,
        "lr": LR,
        "critic_lr": CRITIC_LR,
        "gamma": GAMMA,
        "gamma_bcq": GAMMA_BCQ,
        "clip": CLIP,
        "iters": ITERS,
        "seed": SEED,
        "draw_seed": DRAW_SEED,
        "reward": REWARD,
        "torch": torch.__version__,
    }
    out["meta"] = np.array(json.dumps(meta))
    return out


def main(argv=None) -> Path:
    a = fixture_parser(
        __doc__, "--smac-repo", "the extracted SMAC folder (holds src/)", "cast_bcq_smac_parity.npz"
    ).parse_args(argv)
    src = a.smac_repo / "src" if (a.smac_repo / "src").is_dir() else a.smac_repo
    return write_fixture(record(src), a.out)


if __name__ == "__main__":
    main()
