"""Record the official ICQ-MA code's own losses, targets, softmax weights, gradients and actions on fixed inputs, for
the parity test of our learner (``tests/test_icq_ma_official_parity.py``).

What it does: imports ``agents/ICQMA.py`` and ``common/agent_obs_index.py`` from the ``Multi-agent MuJoCo`` folder of
the official archive (github.com/JinmingM/CAST-BCQ, ``Multi-agent MuJoCo.rar`` at commit c5587eb2;
docs/cast_bcq_official_code.md), builds one ``ICQ_MA`` (all agents of a task) and runs the code's own training loop
body (``baselines/run_ICQ.py``'s ``main``: per iteration one row index set ``ind``, then ``agents.train``) for
``ITERS`` iterations in float64, then the actors' deterministic forward (what ``ICQ_MA.select_action`` calls) on a
few observations. Nothing of the official code is copied into this repository: the script imports it from the folder
given on the command line. The synthetic file and the gradient spies are the CAST-BCQ fixture's
(``scripts/cast_bcq_parity_fixture.py``), the weight rule and the summaries ``scripts/parity_common.py``'s, as there.

Fixed inputs (numpy's legacy ``RandomState``, whose streams numpy keeps frozen):
- Data: ``cast_bcq_parity_fixture.make_data`` (T = 24 rows in 3 episodes; episodes 0 and 1 end by a terminal,
  episode 2 by a time-out), rewards scaled by the task's ``reward_scale``.
- The code's buffer is filled here, through its ``ReplayBuffer.store``, with what ``run_ICQ.py``'s
  ``populate_replay_buffer`` stores (state s and s', per agent its own index set then the public ones, its action
  slice ``[i*A:(i+1)*A]``, the shared reward), *minus its documented data bugs* (papers/cast_bcq/README.md): the
  next step is the next step of the same episode (the code: the next row of the file). Only rows that are neither
  terminal nor time-out are drawn: the code skips terminal rows when it fills its buffer (so it never meets
  done = 1), and our learner gives time-out rows weight 0.
- Network weights: every parameter of the code's networks (official layout, nn.Linear [out, in]; also the ones that
  never get a gradient: the critics' Q2 head l4-l6, the mixer's hyper_b_1 and V) is overwritten, in the order
  listed in ``meta``, with ``RandomState(seed).uniform(-1, 1, shape) * gain / sqrt(fan_in)`` (one ``RandomState``
  per agent for its actor then its critic, one for the mixer); gain 1 except the critics' output layer l3
  (``critic_gain``, per task with a ``reward_scale`` of the synthetic rewards: the temperatures 100 / 1000 and the
  clamp of the per-agent weights at 1 act on both files, strongly on the HalfCheetah one). The targets are deep
  copies, as in ``ICQ_MA.__init__``.
- The update draws no random number (``ind`` is passed in; the actor's log-likelihood and the deterministic
  forward sample nothing). ``torch.FloatTensor`` (the buffer's conversion) returns float64 and the default dtype is
  float64 during the run (``train``'s ``torch.zeros`` buffers Qs / targets_Qs), so the whole run is float64.

What is recorded, per task (key prefix ``<task>__``): the data and the drawn rows ``ind``; per iteration the
losses read at their ``backward`` (the critic + mixer loss, then agent i's actor loss), the inputs of the critic's
``F.mse_loss`` (Q_tot [B] and the target y [B]), every ``F.softmax`` output in call order (per agent the target
weight softmax_B(Q'_i / 100) [B]; the mixed one softmax_B(u / 1000) [B]; per agent in the actor loop
softmax_B(A_i / 100) [B] and the unused softmax_B(Q_i / 0.1)), the norms ``clip_grad_norm_`` returned (per critic,
then the mixer: the norms before the clip), the gradient each optimizer stepped with (16 entries at fixed flat
positions, the sum and the L2 norm of every parameter, official layout; zeros for a parameter without gradient);
the same summary of every parameter before the first iteration (``param0``) and after the last one (online and
target networks, ``param``); the deterministic actions. ``meta`` (JSON) holds the sha256 of each official file
used, the seeds, the sizes, the parameter list and the weight rule.

Two tasks: ``hopper3x1`` (N = 3, A = 1, obs 2 + 5 = 7, state 11; rewards x 0.2, critic output gain 3: the
gradient norms stay below the clip at 20, even jointly, |Q_tot| <= 1.6) and ``halfcheetah2x3`` (N = 2, A = 3,
obs 6 + 5 = 11, state 17; rewards x 20, critic output gain 300: |Q_tot| up to 158, every critic's and the mixer's
gradient norm far above 20, so the code's clip acts, and the code's actor weights B softmax_B(A_i / 100) span
0.57-1.58).

Rebuild the fixture (a few seconds, CPU; bit-identical on a rebuild with the same torch) from the official folder
extracted as the docstring of scripts/cast_bcq_parity_fixture.py shows (the same archive)::

    python scripts/icq_ma_parity_fixture.py --cast-repo "/tmp/cast_official/Multi-agent MuJoCo" \\
        [--out tests/fixtures/icq_ma_parity.npz]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cast_bcq_parity_fixture import CAST_REPO_HELP, CAST_REPO_HINT, N_POS, make_data, spy_steps  # noqa: E402
from parity_common import (  # noqa: E402
    fixture_parser,
    load_module,
    losses_at_backward,
    require_files,
    sha256_of,
    summary,
    write_fixture,
    write_weights,
)

FILES = ("agents/ICQMA.py", "common/agent_obs_index.py")
ITERS = 2  # training iterations (each: one ICQ_MA.train on one row set)
BATCH = 16  # rows per iteration
N_SELECT_OBS = 3  # observations handed to the actors' deterministic forward
# task -> (agent_obs_index key, n_agents, act_dim per agent, state dim, seed, reward scale, critic output gain)
TASKS = {
    "hopper3x1": ("Hopper-v2-3x1", 3, 1, 11, 1, 0.2, 3.0),
    "halfcheetah2x3": ("HalfCheetah-v2-2x3", 2, 3, 17, 2, 20.0, 300.0),
}


def param_list(
    agent, n_agents: int, critic_gain: float
) -> list[tuple[str, int, str, tuple[int, ...], int, float]]:
    """(net, agent, name, shape, fan_in, gain) of every parameter of the code's networks, in draw order: per agent
    its actor then its critic, then the mixer (agent -1)."""
    out = []

    def add(net: str, i: int, module) -> None:
        for name, p in module.named_parameters():
            if p.dim() == 2:
                fan_in = p.shape[1]
            else:  # a bias: the fan-in of its layer's weight; the actor's log_std_logits: 1
                layer = name.rsplit(".", 1)[0]
                w = dict(module.named_parameters()).get(layer + ".weight")
                fan_in = w.shape[1] if w is not None else 1
            gain = critic_gain if net == "critic" and name.split(".")[0] == "l3" else 1.0
            out.append((net, i, name, tuple(p.shape), int(fan_in), gain))

    for i in range(n_agents):
        add("actor", i, agent.actors[i])
        add("critic", i, agent.critics[i])
    add("mixer", -1, agent.mixer)
    return out


def _module(agent, net: str, i: int):
    return {
        "actor": lambda: agent.actors[i],
        "critic": lambda: agent.critics[i],
        "mixer": lambda: agent.mixer,
        "critic_target": lambda: agent.critics_target[i],
        "mixer_target": lambda: agent.target_mixer,
    }[net]()


def _summaries(agent, plist, net: str, n_agents: int) -> np.ndarray:
    """[n, P, N_POS + 2] over the agents (n = N) or the mixer (n = 1)."""
    base = net.replace("_target", "")
    who = [-1] if base == "mixer" else list(range(n_agents))
    return np.stack(
        [
            [
                summary(dict(_module(agent, net, i).named_parameters())[name], N_POS)
                for n, j, name, *_ in plist
                if n == base and j == (i if base != "mixer" else -1)
            ]
            for i in who
        ]
    )


@contextlib.contextmanager
def _float64():
    saved = torch.get_default_dtype(), torch.FloatTensor
    torch.set_default_dtype(torch.float64)
    torch.FloatTensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(saved[0])
        torch.FloatTensor = saved[1]


def record_task(task: str, icq, obs_index_table) -> tuple[dict[str, np.ndarray], dict]:
    key, N, A, D, seed, reward_scale, critic_gain = TASKS[task]
    sets = obs_index_table[key]
    # run_ICQ.py: own set, then the public ones
    obs_index = [list(sets[i]) + list(sets[-1]) for i in range(N)]
    O = len(obs_index[0])
    rs = np.random.RandomState(seed)
    data = make_data(N, A, D, rs)
    data["rewards"] = (data["rewards"] * np.float32(reward_scale)).astype(np.float32)
    T = data["state"].shape[0]
    draw_rows = np.flatnonzero((data["timeouts"] == 0) & (data["terminals"] == 0))
    ind = np.stack([draw_rows[rs.randint(0, draw_rows.size, size=BATCH)] for _ in range(ITERS)])  # [ITERS, B]

    torch.manual_seed(0)  # the code's own init is overwritten below; this only makes the script repeatable
    with _float64():  # float64 networks
        agent = icq.ICQ_MA(N, D, O, A, 1.0, torch.device("cpu"))
    assert all(
        p.dtype == torch.float64 for m in (*agent.actors, *agent.critics, agent.mixer) for p in m.parameters()
    )
    plist = param_list(agent, N, critic_gain)
    wrs = {i: np.random.RandomState(3000 * seed + i) for i in range(N)}
    wrs[-1] = np.random.RandomState(3000 * seed + 99)
    write_weights(
        (dict(_module(agent, net, i).named_parameters())[name], shape, fan_in, gain, wrs[i])
        for net, i, name, shape, fan_in, gain in plist
    )
    agent.actors_target = copy.deepcopy(agent.actors)  # ICQ_MA.__init__: targets are deep copies
    agent.critics_target = copy.deepcopy(agent.critics)
    agent.target_mixer = copy.deepcopy(agent.mixer)
    initial = {net: _summaries(agent, plist, net, N) for net in ("actor", "critic", "mixer")}

    # the buffer: run_ICQ.py's populate_replay_buffer without its data bug (module docstring)
    acts = data["actions"]
    cont = (data["terminals"] == 0) & (data["timeouts"] == 0)
    buf = icq.ReplayBuffer(N, D, O, A, T, torch.device("cpu"))
    for t in range(T):
        nxt = acts[t + 1] if cont[t] else np.zeros_like(acts[t])
        buf.store(
            data["state"][t],
            data["next_state"][t],
            [data["state"][t][obs_index[i]] for i in range(N)],
            [acts[t, i * A : (i + 1) * A] for i in range(N)],
            data["rewards"][t],
            [data["next_state"][t][obs_index[i]] for i in range(N)],
            [nxt[i * A : (i + 1) * A] for i in range(N)],
            float(data["terminals"][t]),
            float(data["timeouts"][t]),
        )

    # spies: losses at backward, mse_loss's inputs, softmax outputs, clip norms, gradients at each optimizer's step
    losses: list[float] = []
    mse: list[tuple[np.ndarray, np.ndarray]] = []
    softmaxes: list[np.ndarray] = []
    norms: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_
    F = icq.F

    def spy_mse(x, y, *a, **k):
        mse.append((x.detach().reshape(-1).numpy().copy(), y.detach().reshape(-1).numpy().copy()))
        return F.mse_loss(x, y, *a, **k)

    def spy_softmax(x, *a, **k):
        out = F.softmax(x, *a, **k)
        softmaxes.append(out.detach().reshape(-1).numpy().copy())
        return out

    def spy_clip(params, *a, **k):
        n = clip(params, *a, **k)
        norms.append(float(n))
        return n

    grads: dict[str, dict[str, np.ndarray]] = {}
    for i in range(N):
        for net, opt in (("critic", agent.critic_optimizer[i]), ("actor", agent.actor_optimizer[i])):
            grads[f"{net}{i}"] = {}
            spy_steps(opt, [n for n, _ in _module(agent, net, i).named_parameters()], grads[f"{net}{i}"])
    grads["mixer"] = {}
    spy_steps(agent.mixer_optimizer, [n for n, _ in agent.mixer.named_parameters()], grads["mixer"])

    out: dict[str, np.ndarray] = {f"{task}__{k}": v for k, v in data.items()}
    out[f"{task}__ind"] = ind
    loss_rec = np.zeros((ITERS, 1 + N))  # critic + mixer, actor of agent 0 .. N-1
    q_tot, y = np.zeros((ITERS, BATCH)), np.zeros((ITERS, BATCH))
    w_agent, w_total = np.zeros((ITERS, N, BATCH)), np.zeros((ITERS, BATCH))
    w_actor, w_unused = np.zeros((ITERS, N, BATCH)), np.zeros((ITERS, N, BATCH))
    norm_rec = np.zeros((ITERS, N + 1))  # clip_grad_norm_'s returns: critic 0 .. N-1, mixer
    n_par = {
        net: sum(p[0] == net and p[1] == (0 if net != "mixer" else -1) for p in plist)
        for net in ("actor", "critic", "mixer")
    }
    grad_rec = {
        net: np.zeros((ITERS, 1 if net == "mixer" else N, n_par[net], N_POS + 2))
        for net in ("actor", "critic", "mixer")
    }
    icq.F = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
    icq.F.softmax, icq.F.mse_loss = spy_softmax, spy_mse
    torch.nn.utils.clip_grad_norm_ = spy_clip
    try:
        with losses_at_backward(losses), _float64():
            for it in range(ITERS):
                losses.clear(), mse.clear(), softmaxes.clear(), norms.clear()
                closs = agent.train(buf, BATCH, ind[it])
                assert len(losses) == 1 + N and np.isclose(losses[0], float(closs))
                assert len(mse) == 1 and len(softmaxes) == 3 * N + 1 and len(norms) == N + 1
                loss_rec[it], norm_rec[it] = losses, norms
                q_tot[it], y[it] = mse[0]
                w_agent[it] = softmaxes[:N]
                w_total[it] = softmaxes[N]
                w_actor[it], w_unused[it] = softmaxes[N + 1 :: 2], softmaxes[N + 2 :: 2]
                for i in range(N):
                    for net in ("actor", "critic"):
                        grad_rec[net][it, i] = [
                            grads[f"{net}{i}"][n] for n, _ in _module(agent, net, i).named_parameters()
                        ]
                grad_rec["mixer"][it, 0] = [grads["mixer"][n] for n, _ in agent.mixer.named_parameters()]
            # select_action's path (deterministic=True: the tanh mean) on the first rows, in float64
            sel = np.zeros((N, N_SELECT_OBS, A))
            with torch.no_grad():
                for i in range(N):
                    o = torch.as_tensor(data["state"][:N_SELECT_OBS][:, obs_index[i]], dtype=torch.float64)
                    a, logp = agent.actors[i](o, True, False)
                    assert logp is None
                    sel[i] = a.numpy()
    finally:
        icq.F = F
        torch.nn.utils.clip_grad_norm_ = clip
    out.update(
        {
            f"{task}__losses": loss_rec,
            f"{task}__q_tot": q_tot,
            f"{task}__y": y,
            f"{task}__softmax_agent": w_agent,
            f"{task}__softmax_total": w_total,
            f"{task}__softmax_actor": w_actor,
            f"{task}__softmax_unused": w_unused,
            f"{task}__clip_norms": norm_rec,
            f"{task}__select": sel,
        }
    )
    for net in ("actor", "critic", "mixer"):
        out[f"{task}__grad__{net}"] = grad_rec[net]
        out[f"{task}__param0__{net}"] = initial[net]
    for net in ("actor", "critic", "mixer", "critic_target", "mixer_target"):
        out[f"{task}__param__{net}"] = _summaries(agent, plist, net, N)
    meta = {
        "index_key": key,
        "n_agents": N,
        "act_dim": A,
        "state_dim": D,
        "obs_dim": O,
        "obs_index": obs_index,
        "seed": seed,
        "reward_scale": reward_scale,
        "critic_gain": critic_gain,
        "weight_seeds": {str(i): 3000 * seed + (99 if i == -1 else i) for i in range(-1, N)},
        "params": [[net, i, name, list(shape), fan_in, gain] for net, i, name, shape, fan_in, gain in plist],
    }
    return out, meta


def record(cast_repo: Path) -> dict[str, np.ndarray]:
    require_files(cast_repo, FILES, CAST_REPO_HINT)
    torch.set_num_threads(1)
    icq = load_module(cast_repo / "agents" / "ICQMA.py", "cast_official_ICQMA", register=True)
    obs_index_table = load_module(
        cast_repo / "common" / "agent_obs_index.py", "cast_official_obs_index", register=True
    ).agent_obs_index
    out: dict[str, np.ndarray] = {}
    meta = {
        "cast_files_sha256": sha256_of(cast_repo, FILES),
        "commit": "c5587eb2",
        "iters": ITERS,
        "batch": BATCH,
        "n_pos": N_POS,
        "weight_rule": "RandomState(weight_seed).uniform(-1, 1, shape) * gain / sqrt(fan_in), params in order "
        "(fan_in 1 for log_std_logits)",
        "summary": "entries at unique(round(linspace(0, numel - 1, min(n_pos, numel)))), zero-padded to n_pos, "
        "then sum, L2 norm (official layout)",
        "losses": ["critic_mixer", "actor_0", "..."],
        "tasks": {},
    }
    for task in TASKS:
        arrays, meta["tasks"][task] = record_task(task, icq, obs_index_table)
        out.update(arrays)
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def main(argv=None) -> Path:
    args = fixture_parser(__doc__, "--cast-repo", CAST_REPO_HELP, "icq_ma_parity.npz").parse_args(argv)
    return write_fixture(record(args.cast_repo), args.out)


if __name__ == "__main__":
    main()
