"""Record the official CAST-BCQ **SMAC** code's own targets, credits, losses, gradients and parameters on fixed
inputs, for the parity test of our SMAX learners (``tests/test_cast_bcq_smac_official_parity.py``).

What it does: loads, by file path, the pymarl learners of the ``SMAC/src`` folder of the official archive
(github.com/JinmingM/CAST-BCQ, ``SMAC.rar`` at commit c5587eb2; docs/cast_bcq_official_code.md):
``learners/cast_learner.py`` (with ``modules/critics/centralc.py``), ``learners/offpg_learner.py`` (ICQ's SMAC
learner: ``offpg_smac.yaml``), ``learners/mbcq_learner.py`` (MABCQ) and ``learners/q_learner.py`` (I-BCQ with
``iql_smac.yaml``: no mixer). ``learners/__init__.py`` is not imported (it names a ``ShapleyLearner`` that does not
exist); the learner files import their own modules (``components``, ``modules``, ``utils``) from the folder.
Nothing of the official code is copied into this repository.

Stand-ins (only for what pymarl builds around a learner, each a documented deviation of ours or plumbing):
- ``args`` (SimpleNamespace), ``scheme``, a logger with ``log_stat`` / ``console_logger.info``, and the batch as
  the plain dict ``run.py`` builds from ICQ's h5 files (keys obs, state, actions, actions_onehot, avail_actions,
  reward, terminated, filled, batch_size, max_seq_length).
- The MAC (pymarl's ``BasicMAC`` + GRU agents ``rnn`` / ``rnn1``) is replaced by our agent networks
  (``common.nets.EnsembleMLP``, one member per agent, our layout, our README's "MLP agents 64-64 on the agent's own
  observation, per-agent parameters"): ``forward(batch, t)`` returns what the learner reads from the controller:
  CAST / ICQ: the softmax over all actions of the policy net's logits (the controller's epsilon floor, a
  behaviour-policy device, is left out); MABCQ / I-BCQ: (Q [bs, N, K], log_softmax of the BC logits [bs, N, K], the
  BC logits), i.e. ``RNNAgent1`` with its two heads as our two nets ``q`` and ``bc``.
- ICQ's per-agent critic (``OffPGCritic``: obs + agent id, shared) and mixer (``QMixer``'s normalized |W1| |w_final|)
  are replaced after construction by our ``q`` net and our mixer (``mixer_weights`` of our ``mix`` net): our README's
  "ICQ-MA ... the code's mixer (state weights |W(s)| normalized, no bias)" on our networks.
- CAST's ``CentralCritic`` is the official module; only its three layers are rebuilt at width HC (the code: 256)
  to keep the fixture small (the width is not what is tested).
- RMSprop (every learner) is replaced by Adam at our lr (README: "Adam 5e-4 ... instead of RMSprop"); where our
  loss is the sum over agents of per-agent means (per-agent parameters) and the code's the mean over agents, the
  stand-in Adam steps with N x the code's gradient (after the code's clip), i.e. with our gradient.
- The central critic's ``random`` (``randint`` / ``sample`` of the sub-teams) is a seeded ``random.Random`` whose
  samples are recorded; the test hands them to our learner as ``batch["subteam"]``.
Spies (record, never change): ``torch.Tensor.backward`` (loss values), ``torch.nn.utils.clip_grad_norm_`` (norms
before the clip), ``torch.gather`` / ``torch.clip`` / ``torch.ones_like`` / ``F.softmax`` (the code's intermediate
tensors), the learners' ``build_td_lambda_targets`` (the critic targets), the optimizers' ``step`` (gradients after
the clip).

Inputs (numpy's legacy RandomState, frozen streams), float64 throughout (default dtype float64 during the run):
N = 3 agents, K = 5 actions, obs 6, state 7; about 30 % of the actions unavailable, the data actions available.
- ``win`` (CAST): 8 two-step windows [bs 8, T 2] (one transition each; rows 2 and 5 terminal: their t = 1 is the
  stored terminal state with the padding action 0 and a zero one-hot), two ``train_critic`` + ``train`` iterations.
  With T = 2 the code's TD(lambda) target (lambda hard-coded to 0.75 in ``utils/rl_utils.py``) is exactly the
  one-step SARSA target r + gamma (1 - d) Q'(s', a'_data) and its per-time-step critic loop is one update: our
  documented one-step form.
- ``win_icq``: the same windows without terminal rows (see the test's docstring: the code's batch softmax of the
  target includes terminal rows, ours does not), one ``train_critic`` + ``train``.
- ``ep`` (MABCQ, I-BCQ, CAST's credit): 3 episodes [bs 3, T 5]: episode 0 runs 4 transitions without terminal
  (its state at t = 4 stored), episode 1 terminates at t = 2 (t = 4 padding), episode 2 at t = 1 (t = 3, 4
  padding; padding is zeros, pymarl's). One ``train`` of each BCQ learner; CAST's credit on all steps.

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
from common.nets import EnsembleMLP  # noqa: E402
from papers.cast_bcq.smac import mixer_weights  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_common import (RecordedRandom, fixture_parser, load_module, sha256_of, weight_values,  # noqa: E402
                           write_fixture)

FILES = ("learners/cast_learner.py", "modules/critics/centralc.py", "learners/offpg_learner.py",
         "learners/mbcq_learner.py", "learners/q_learner.py", "utils/rl_utils.py")
N, K, O, D = 3, 5, 6, 7
H, HC = 8, 16  # agent nets' hidden width (ours 64), the central critic's / mixer's (code / ours 256)
LR = 5e-4
GAMMA = 0.99
CLIP = 20.0  # pymarl's grad_norm_clip
ITERS = 2  # CAST iterations on ``win``
WIN_TERMINAL = (2, 5)
EP_LEN = (4, 3, 2)  # transitions per episode of ``ep`` (T = 5)
SEED = 7
DRAW_SEED = 11


def our_net(members: int, inp: int, out: int, hidden: int, rs: np.random.RandomState, gain: float = 1.0):
    """An EnsembleMLP (our layout: weight [M, I, O], bias [M, 1, O]) with the weight rule; output layer x gain."""
    net = EnsembleMLP(members, inp, out, (hidden, hidden)).double()
    with torch.no_grad():
        for j, layer in enumerate(net.layers):
            g = gain if j == len(net.layers) - 1 else 1.0
            layer.weight.copy_(torch.from_numpy(weight_values(layer.weight.shape, layer.weight.shape[1], g, rs)))
            layer.bias.copy_(torch.from_numpy(weight_values(layer.bias.shape, layer.weight.shape[1], g, rs)))
    return net


def net_arrays(prefix: str, net: EnsembleMLP) -> dict[str, np.ndarray]:
    return {f"{prefix}.{n}": p.detach().numpy().copy() for n, p in net.named_parameters()}


def grad_arrays(prefix: str, net: EnsembleMLP) -> dict[str, np.ndarray]:
    return {f"{prefix}.{n}": (p.grad if p.grad is not None else torch.zeros_like(p)).detach().numpy().copy()
            for n, p in net.named_parameters()}


# ---- data -------------------------------------------------------------------------------------------------------

def _avail(rs, shape, act):
    av = (rs.uniform(size=(*shape, K)) < 0.7).astype(np.float64)
    np.put_along_axis(av, act[..., None], 1.0, axis=-1)
    return av


def make_windows(rs, bs: int, terminal: tuple[int, ...]) -> dict[str, np.ndarray]:
    act = rs.randint(0, K, size=(bs, 2, N))
    term = np.zeros((bs, 2, 1))
    term[list(terminal), 0, 0] = 1.0
    av = _avail(rs, (bs, 2, N), act)
    act[list(terminal), 1] = 0  # no action after a terminal step (pymarl's padding)
    onehot = np.eye(K)[act]
    onehot[list(terminal), 1] = 0.0
    return {"obs": rs.normal(size=(bs, 2, N, O)), "state": rs.normal(size=(bs, 2, D)), "actions": act[..., None],
            "actions_onehot": onehot, "avail_actions": av, "reward": rs.normal(1.0, 1.0, size=(bs, 2, 1)),
            "terminated": term, "filled": np.ones((bs, 2, 1))}


def make_episodes(rs) -> dict[str, np.ndarray]:
    bs, T = len(EP_LEN), max(EP_LEN) + 1
    g = {"obs": rs.normal(size=(bs, T, N, O)), "state": rs.normal(size=(bs, T, D)),
         "reward": rs.normal(1.0, 1.0, size=(bs, T, 1))}
    act = rs.randint(0, K, size=(bs, T, N))
    av = _avail(rs, (bs, T, N), act)
    term, filled = np.zeros((bs, T, 1)), np.zeros((bs, T, 1))
    for b, n in enumerate(EP_LEN):
        filled[b, : n + 1] = 1.0  # n transitions, then the last state
        act[b, n:] = 0  # no action at the last state nor in the padding
        if b > 0:
            term[b, n - 1] = 1.0
        for k in ("obs", "state", "reward"):
            g[k][b, n + 1:] = 0.0
        g["reward"][b, n:] = 0.0
        av[b, n + 1:] = 0.0
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
    base = dict(n_agents=N, n_actions=K, lr=LR, critic_lr=LR, optim_alpha=0.99, optim_eps=1e-5, grad_norm_clip=CLIP,
                learner_log_interval=2000, gamma=GAMMA, td_lambda=0.8, target_update_interval=600, mixer=None,
                state_shape=D, mixing_embed_dim=32, device="cpu", agent="rnn1")
    base.update(kw)
    return types.SimpleNamespace(**base)


SCHEME = {"state": {"vshape": D}, "obs": {"vshape": O}, "actions_onehot": {"vshape": (K,)}}


def _members(x: torch.Tensor) -> torch.Tensor:  # [bs, N, ...] -> [N, bs, ...]
    return x.transpose(0, 1)


class PolicyMAC:
    """CAST / ICQ stand-in controller: our per-agent net, softmax over all actions (the learner masks and renormalizes)."""

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


class MixerStandIn(torch.nn.Module):
    """ICQ's mixer: Q_tot = sum_i k_i(s) Q_i with k = mixer_weights(our mix net(s)); ``k`` as QMixer.k."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def k(self, states):
        return mixer_weights(self.net(states.unsqueeze(0))[0])  # [bs, T, N]

    def forward(self, agent_qs, states):
        return (self.k(states) * agent_qs).sum(-1, keepdim=True)


class AdamStandIn(torch.optim.Adam):
    """Adam at our lr in place of pymarl's RMSprop; steps with ``scale`` x the gradient it finds (the code's, after
    the code's clip), recorded in ``log``."""

    def __init__(self, params, scale: float, log: list):
        super().__init__(list(params), lr=LR)
        self.scale, self.log = scale, log

    @torch.no_grad()
    def step(self, closure=None):
        ps = [p for g in self.param_groups for p in g["params"]]
        self.log.append([None if p.grad is None else p.grad.detach().clone() for p in ps])
        for p in ps:
            if p.grad is not None:
                p.grad.mul_(self.scale)
        return super().step(closure)


class Draws(RecordedRandom):
    """Stand-in for centralc's ``random``: a seeded random.Random, the ``sample`` results recorded."""

    def masks(self, start: int) -> np.ndarray:
        """bool [N, C, N] from the samples start .. start + N * 10 (agent-major, as the code draws)."""
        m = np.zeros((N, 10, N), bool)
        for i in range(N):
            for c in range(10):
                m[i, c, self.log[start + i * 10 + c]] = True
        return m


@contextlib.contextmanager
def spies(log: dict):
    saved = (torch.Tensor.backward, torch.nn.utils.clip_grad_norm_, torch.gather, torch.clip, torch.ones_like,
             F.softmax)

    def backward(t, *a, **k):
        log.setdefault("loss", []).append(float(t.detach()))
        return saved[0](t, *a, **k)

    def clip(params, *a, **k):
        out = saved[1](params, *a, **k)
        log.setdefault("norm", []).append(float(out))
        return out

    def rec(key, fn):
        def f(*a, **k):
            out = fn(*a, **k)
            log.setdefault(key, []).append((a, out))
            return out
        return f

    torch.Tensor.backward, torch.nn.utils.clip_grad_norm_ = backward, clip
    torch.gather, torch.clip, torch.ones_like = rec("gather", saved[2]), rec("clip", saved[3]), rec("ones", saved[4])
    F.softmax = rec("softmax", saved[5])
    try:
        yield
    finally:
        (torch.Tensor.backward, torch.nn.utils.clip_grad_norm_, torch.gather, torch.clip, torch.ones_like,
         F.softmax) = saved


def _load(src: Path, rel: str, name: str):
    return load_module(src / rel, name, register=True)


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


# ---- the records ------------------------------------------------------------------------------------------------

def record_cast(mods, win: dict, ep: dict, qj0: EnsembleMLP, pi0: EnsembleMLP) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    draws = Draws(DRAW_SEED)
    mods["centralc"].random = draws
    mac = PolicyMAC(copy.deepcopy(pi0))
    learner = mods["cast"].CastLearner(mac, SCHEME, _Logger(), _args())
    cc = learner.centralcritic
    # the official critic at width HC, its weights = our qj's (nn.Linear [out, in] = ours transposed)
    for j, name in enumerate(("fc1", "fc2", "fc3")):
        lin = qj0.layers[j]
        new = torch.nn.Linear(lin.weight.shape[1], lin.weight.shape[2]).double()
        with torch.no_grad():
            new.weight.copy_(lin.weight[0].T)
            new.bias.copy_(lin.bias[0, 0])
        setattr(cc, name, new)
    learner.target_centralcritic = copy.deepcopy(cc)
    learner.centralcritic_params = learner.c_params = list(cc.parameters())
    steps: list = []
    learner.centralcritic_optimiser = AdamStandIn(learner.centralcritic_params, 1.0, steps)
    targets: list = []
    orig = mods["cast"].build_td_lambda_targets

    def spy_targets(*a, **k):
        y = orig(*a, **k)
        targets.append(y.detach().clone())
        return y

    mods["cast"].build_td_lambda_targets = spy_targets
    shap: list = []
    orig_ex = type(cc).get_ex_according_to_mcshap_mask

    def spy_ex(self, x):
        s = orig_ex(self, x)
        shap.append(s.clone())
        return s

    type(cc).get_ex_according_to_mcshap_mask = spy_ex
    batch = as_batch(win)
    try:
        for it in range(ITERS):
            log: dict = {}
            start = len(draws.log)
            with spies(log):
                learner.train_critic(batch, best_batch=None, log={k: [] for k in (
                    "critic_loss", "critic_grad_norm", "td_error_abs", "target_mean", "q_taken_mean")}, t_env=0)
                learner.train(batch, 0, None)
            p = f"cast_it{it}__"
            out[p + "y"] = _np(targets[it])[:, 0, 0]  # [bs] (T = 2: one step)
            out[p + "loss_qj"] = np.array(log["loss"][0])
            out[p + "norm_qj"] = np.array(log["norm"][0])
            out[p + "loss_agent"] = np.array(log["loss"][1])
            out[p + "pi_taken"] = _np(log["gather"][0][1]).reshape(-1, N)  # gather(mac_out, actions) at t = 0
            out[p + "masks"] = draws.masks(start)
            out[p + "credit"] = _np(shap[it])[:, 0, :, 0] if shap[it].dim() == 4 else _np(shap[it])[:, 0]
            for (name, _), g in zip(cc.named_parameters(), steps[it]):
                out[p + "grad." + name] = _np(g)
            for name, prm in cc.named_parameters():
                out[p + "param." + name] = _np(prm)
        # the credit on the episodes (all steps, padding included), from the initial weights
        fresh = copy.deepcopy(learner.target_centralcritic)  # never updated: the initial weights
        start = len(draws.log)
        eb = as_batch(ep)
        cinputs = fresh._build_inputs(eb, eb["batch_size"], eb["max_seq_length"])
        s = orig_ex(fresh, cinputs)
        out["cast_ep__credit"] = _np(s).reshape(eb["batch_size"], eb["max_seq_length"], N)
        out["cast_ep__masks"] = draws.masks(start)
    finally:
        mods["cast"].build_td_lambda_targets = orig
        type(cc).get_ex_according_to_mcshap_mask = orig_ex
    return out


def record_icq(mods, win: dict, q0, pi0, mix0) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    mac = PolicyMAC(copy.deepcopy(pi0))
    learner = mods["offpg"].OffPGLearner(mac, SCHEME, _Logger(), _args(critic_lr=LR))
    learner.critic = CriticStandIn(copy.deepcopy(q0))
    learner.mixer = MixerStandIn(copy.deepcopy(mix0))
    learner.target_critic, learner.target_mixer = copy.deepcopy(learner.critic), copy.deepcopy(learner.mixer)
    learner.critic_params = list(learner.critic.parameters())
    learner.mixer_params = list(learner.mixer.parameters())
    learner.c_params = learner.critic_params + learner.mixer_params
    learner.agent_params = list(mac.parameters())
    c_steps, m_steps, a_steps = [], [], []
    learner.critic_optimiser = AdamStandIn(learner.critic_params, 1.0, c_steps)
    learner.mixer_optimiser = AdamStandIn(learner.mixer_params, 1.0, m_steps)
    learner.agent_optimiser = AdamStandIn(learner.agent_params, float(N), a_steps)
    targets: list = []
    orig = mods["offpg"].build_td_lambda_targets

    def spy_targets(*a, **k):
        y = orig(*a, **k)
        targets.append(y.detach().clone())
        return y

    mods["offpg"].build_td_lambda_targets = spy_targets
    batch = as_batch(win)
    log: dict = {}
    try:
        with spies(log):
            learner.train_critic(batch, best_batch=None, log={k: [] for k in (
                "critic_loss", "critic_grad_norm", "td_error_abs", "target_mean", "q_taken_mean", "q_max_mean",
                "q_min_mean", "q_max_var", "q_min_var")}, t_env=0)
            learner.train(batch, 0, None)
    finally:
        mods["offpg"].build_td_lambda_targets = orig
    out["icq__y"] = _np(targets[0])[:, 0, 0]
    out["icq__w_target"] = _np(log["softmax"][0][1])[:, 1, 0] * win["obs"].shape[0]  # bs softmax_bs(Q'_tot/1000), t=1
    out["icq__loss_q"] = np.array(log["loss"][0])
    out["icq__norm_q"] = np.array(log["norm"][0])
    out["icq__loss_pi"] = np.array(log["loss"][1])
    out["icq__norm_pi"] = np.array(log["norm"][1])
    # train: gather(q_vals, actions) -> q_taken [bs, 1, N]; the advantage softmax over the batch
    out["icq__q_taken"] = _np(log["gather"][-2][1]).reshape(-1, N)
    out["icq__w_pi"] = _np(log["softmax"][1][1]).reshape(-1, N) * win["obs"].shape[0]
    for prefix, net, steps in (("q", learner.critic.net, c_steps), ("mix", learner.mixer.net, m_steps),
                               ("pi", mac.net, a_steps)):
        for (name, _), g in zip(net.named_parameters(), steps[0]):
            out[f"icq__grad.{prefix}.{name}"] = _np(g)
        out.update({f"icq__{k}": v for k, v in net_arrays(f"param.{prefix}", net).items()})
    return out


def record_bcq(mods, ep: dict, q0, bc0, which: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    mac = BCQMAC(copy.deepcopy(q0), copy.deepcopy(bc0))
    cls = mods["mbcq"].MBCQLearner if which == "mabcq" else mods["q"].QLearner
    learner = cls(mac, SCHEME, _Logger(), _args())
    steps: list = []
    learner.optimiser = AdamStandIn(learner.params, float(N), steps)
    log: dict = {}
    with spies(log):
        learner.train(as_batch(ep), 0, 0)
    p = which + "__"
    # gather #1: Q(o, a_data) [bs, T-1, N]; gather #2: Q'(o', a*) with index a* [bs, T-1, N, 1]
    out[p + "q_data"] = _np(log["gather"][0][1])[..., 0]
    out[p + "a_star"] = _np(log["gather"][1][0][2])[..., 0]
    out[p + "q_next"] = _np(log["gather"][1][1])[..., 0]
    out[p + "loss"] = np.array(log["loss"][0])
    out[p + "norm"] = np.array(log["norm"][0])
    if which == "mabcq":
        out[p + "V"] = _np(log["ones"][1][0][0])  # th.ones_like(V), V = the targets [bs, T-1, N]
        out[p + "w_raw"] = _np(log["clip"][0][0][0])
        out[p + "w"] = _np(log["clip"][0][1])
    for prefix, net, off in (("q", mac.q, 0), ("bc", mac.bc, len(list(mac.q.parameters())))):
        names = [n for n, _ in net.named_parameters()]
        for j, name in enumerate(names):
            g = steps[0][off + j]
            out[f"{p}grad.{prefix}.{name}"] = _np(g) if g is not None else np.zeros(0)
        out.update({f"{p}{k}": v for k, v in net_arrays(f"param.{prefix}", net).items()})
    return out


def record(src: Path) -> dict[str, np.ndarray]:
    torch.set_num_threads(1)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    sys.path.insert(0, str(src))
    try:
        mods = {"centralc": _load(src, "modules/critics/centralc.py", "modules.critics.centralc"),
                "cast": _load(src, "learners/cast_learner.py", "cast_smac_learner"),
                "offpg": _load(src, "learners/offpg_learner.py", "cast_smac_offpg_learner"),
                "mbcq": _load(src, "learners/mbcq_learner.py", "cast_smac_mbcq_learner"),
                "q": _load(src, "learners/q_learner.py", "cast_smac_q_learner")}
        rs = np.random.RandomState(SEED)
        win = make_windows(rs, 8, WIN_TERMINAL)
        win_icq = make_windows(rs, 8, ())
        ep = make_episodes(rs)
        wrs = np.random.RandomState(SEED + 1)
        nets = {"q": our_net(N, O, K, H, wrs, 3.0), "bc": our_net(N, O, K, H, wrs, 3.0),
                "pi": our_net(N, O, K, H, wrs, 3.0), "mix": our_net(1, D, N, HC, wrs),
                "qj": our_net(1, D + N * K, 1, HC, wrs, 3.0)}
        out: dict[str, np.ndarray] = {}
        for name, g in (("win", win), ("win_icq", win_icq), ("ep", ep)):
            out.update({f"{name}__{k}": v for k, v in g.items()})
        for name, net in nets.items():
            out.update(net_arrays("init." + name, net))
        out.update(record_cast(mods, win, ep, nets["qj"], nets["q"]))
        out.update(record_icq(mods, win_icq, nets["q"], nets["pi"], nets["mix"]))
        out.update(record_bcq(mods, ep, nets["q"], nets["bc"], "mabcq"))
        out.update(record_bcq(mods, ep, nets["q"], nets["bc"], "i_bcq"))
    finally:
        torch.set_default_dtype(prev)
        sys.path.remove(str(src))
    meta = {"files": sha256_of(src, FILES),
            "source": "github.com/JinmingM/CAST-BCQ SMAC.rar at c5587eb2", "N": N, "K": K, "O": O, "D": D, "H": H,
            "HC": HC, "lr": LR, "gamma": GAMMA, "clip": CLIP, "iters": ITERS, "seed": SEED, "draw_seed": DRAW_SEED,
            "torch": torch.__version__}
    out["meta"] = np.array(json.dumps(meta))
    return out


def main(argv=None) -> Path:
    a = fixture_parser(__doc__, "--smac-repo", "the extracted SMAC folder (holds src/)",
                       "cast_bcq_smac_parity.npz").parse_args(argv)
    src = a.smac_repo / "src" if (a.smac_repo / "src").is_dir() else a.smac_repo
    return write_fixture(record(src), a.out)


if __name__ == "__main__":
    main()
