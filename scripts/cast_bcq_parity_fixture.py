"""Record the official CAST-BCQ code's own losses, targets, credits, gradients and actions on fixed inputs, for the
parity test of our learner (``tests/test_cast_bcq_official_parity.py``).

What it does: imports ``agents/CAST.py`` and ``common/agent_obs_index.py`` from the ``Multi-agent MuJoCo`` folder of
the official archive (github.com/JinmingM/CAST-BCQ, ``Multi-agent MuJoCo.rar`` at commit c5587eb2;
docs/cast_bcq_official_code.md), builds one ``CAST_BCQ`` agent per agent of two tasks, and runs the code's own
training loop body (``run_CAST.py``'s ``main``: per iteration one shared row index set ``ind``, then for every agent
``agent.train`` and ``agent.train_Qi``) for ``ITERS`` iterations in float64, then ``agent.select_action`` on a few
observations. Nothing of the official code is copied into this repository: the script imports it from the folder
given on the command line.

Fixed inputs (all drawn from numpy's legacy ``RandomState``, whose streams numpy keeps frozen):
- Data: a synthetic flattened D4RL-like file per task (T rows in 3 episodes; episodes 0 and 1 end by a terminal,
  episode 2 by a time-out): ``state`` [T, D], ``next_state`` [T, D], joint ``actions`` [T, N*A] (the single-agent
  action, agent i = slice i*A:(i+1)*A), ``rewards`` [T], ``terminals`` / ``timeouts`` [T].
- The code's buffers are filled here, through the code's ``ReplayBuffer.store``, with what ``run_CAST.py``'s
  ``populate_replay_buffer`` stores, *minus its documented data bugs* (papers/cast_bcq/README.md; it cannot run
  here anyway: it needs MuJoCo, D4RL and the dataset pickles): the partners' actions are sliced
  ``[j*A:(j+1)*A]`` (the code: ``[j:j+A]``), the next row is the next step of the same episode (the code: the next
  row of the file), terminal rows are stored (with done = 1; the code skips them, CAST.py's target handles them as
  r + (1 - d) gamma ...), and rows that end by a time-out are never drawn (our central loss weights them 0).
  The observation of every agent is the code's: the full state reordered by ``agent_obs_index`` (all agents' sets,
  then the public ones).
- Network weights: every parameter of the code's networks (official layout, nn.Linear [out, in]) is overwritten,
  in the order listed in ``meta``, with ``RandomState(seed).uniform(-1, 1, shape) * gain / sqrt(fan_in)``, one
  ``RandomState`` per (task, agent), gain 1 except the central critic's output layers (``CENTRAL_GAIN``: credits of
  order 1, so that the code's weight clip(exp Delta, 0, 10) is hit on some rows). Targets are deep copies, as in
  ``CAST_BCQ.__init__``.
- Random numbers: ``torch.randn`` / ``torch.randn_like`` (the VAE's reparameterisation noise, the decode z of the
  target's 10 candidates, of the actor loss and of ``select_action``'s 100 candidates) are replaced by draws from a
  ``RandomState`` (rounded to float32, stored as such) and recorded with their role; ``CAST.random`` (the sub-team
  draws of ``train_Qi`` for N > 2: ``random.randint`` then ``random.sample``) by a seeded ``random.Random`` whose
  draws are recorded. ``torch.FloatTensor`` (the buffer's and ``select_action``'s conversion) is made to return
  float64, so the whole run is float64.

What is recorded, per task (key prefix ``<task>__``): the data and the drawn row indices ``ind``; per iteration and
agent the four losses (read at their ``backward``: VAE, central critic, individual critic Q_i, actor), the central
TD targets y [B] (``train``'s return), the credits Delta [B] (``train_Qi``'s return), and each optimizer's gradients
at its ``step`` (16 entries at fixed flat positions, the sum and the L2 norm of every parameter, official layout);
the same summary of every parameter before the first iteration (``param0``) and, after the last one, of the online
and the target networks (``param``); the actions of ``select_action``. ``meta`` (JSON) holds the sha256 of each
official file used, the seeds, the sizes, the parameter list and the weight rule.

Two tasks: ``hopper3x1`` (N = 3, A = 1, D = 11: the N > 2 path with 6 sub-team draws) and ``halfcheetah2x3``
(N = 2, A = 3, D = 17: the exact two-player path). Besides CAST-BCQ, the CAST authors' MABCQ (``agents/MABCQ.py``,
``run_MABCQ.py``'s loop body: every agent's ``train`` on its own row set) runs on the Hopper file the same way (keys
``hopper3x1__mabcq__*``: losses of G, G1, the critic and the actor, y, gradients of the four optimizers, parameters
before and after); its module hard-codes ``device = "cuda"``, which the script sets to "cpu".

Rebuild the fixture (about 10 seconds, CPU; bit-identical on a rebuild with the same torch)::

    git clone https://github.com/JinmingM/CAST-BCQ /tmp/CAST-BCQ
    git -C /tmp/CAST-BCQ show c5587eb2:"Multi-agent MuJoCo.rar" > /tmp/cast_mujoco.rar
    mkdir -p /tmp/cast_official && bsdtar -xf /tmp/cast_mujoco.rar -C /tmp/cast_official   # apt: libarchive-tools
    python scripts/cast_bcq_parity_fixture.py --cast-repo "/tmp/cast_official/Multi-agent MuJoCo" \\
        [--out tests/fixtures/cast_bcq_parity.npz]
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_common import (  # noqa: E402
    RecordedRandom,
    fixture_parser,
    load_module,
    losses_at_backward,
    require_files,
    sha256_of,
    summary,
    write_fixture,
    write_weights,
)

FILES = ("agents/CAST.py", "agents/MABCQ.py", "common/agent_obs_index.py")
ITERS = 2  # training iterations (each: every agent's train + train_Qi on one shared row set)
BATCH = 16  # rows per iteration
EPISODES = (9, 8, 7)  # episode lengths of the synthetic file: T = 24
N_SELECT_OBS = 3  # observations handed to select_action per agent
N_POS = 16  # fixed flat positions per parameter in the gradient / parameter summaries
CENTRAL_GAIN = 80.0  # gain of the central critic's output layers (l3, l6)
NETS = ("vae", "actor", "critic", "centralcritic")  # CAST_BCQ attributes, in the order the weights are drawn
# task -> (agent_obs_index key, n_agents, act_dim per agent, state dim, seed)
TASKS = {
    "hopper3x1": ("Hopper-v2-3x1", 3, 1, 11, 1),
    "halfcheetah2x3": ("HalfCheetah-v2-2x3", 2, 3, 17, 2),
}
MABCQ_TASK = "hopper3x1"  # the task of the MABCQ record
CAST_REPO_HELP = (
    "the 'Multi-agent MuJoCo' folder extracted from JinmingM/CAST-BCQ's archive (commit c5587eb2)"
)
CAST_REPO_HINT = (
    "pass --cast-repo the 'Multi-agent MuJoCo' folder of JinmingM/CAST-BCQ's archive (commit c5587eb2)"
)


def param_list(agent) -> list[tuple[str, str, tuple[int, ...], int, float]]:
    """(net, name, shape, fan_in, gain) of every parameter of the code's four networks, in draw order."""
    out = []
    for net in NETS:
        module = getattr(agent, net)
        for name, p in module.named_parameters():
            layer = name.rsplit(".", 1)[0]
            fan_in = getattr(module, layer).weight.shape[1]
            gain = CENTRAL_GAIN if net == "centralcritic" and layer in ("l3", "l6") else 1.0
            out.append((net, name, tuple(p.shape), int(fan_in), gain))
    return out


def make_data(n: int, a: int, d: int, rs: np.random.RandomState) -> dict[str, np.ndarray]:
    """A flattened file of len(EPISODES) episodes (float32 values, as the code's buffers hold)."""
    T = sum(EPISODES)
    state = rs.normal(size=(T, d)).astype(np.float32)
    next_state = np.empty_like(state)
    terminals, timeouts = np.zeros(T, np.float32), np.zeros(T, np.float32)
    start = 0
    for e, length in enumerate(EPISODES):
        end = start + length
        next_state[start : end - 1] = state[start + 1 : end]
        next_state[end - 1] = rs.normal(size=d).astype(np.float32)  # the step after the episode's last row
        if e < len(EPISODES) - 1:
            terminals[end - 1] = 1.0
        else:
            timeouts[end - 1] = 1.0
        start = end
    return {
        "state": state,
        "next_state": next_state,
        "actions": rs.uniform(-0.95, 0.95, size=(T, n * a)).astype(np.float32),
        "rewards": rs.normal(1.0, 1.0, size=T).astype(np.float32),
        "terminals": terminals,
        "timeouts": timeouts,
    }


class _Noise:
    """Stand-in for torch.randn / torch.randn_like: RandomState normals rounded to float32, returned as float64,
    each draw recorded with its shape."""

    def __init__(self, seed: int):
        self.rs = np.random.RandomState(seed)
        self.log: list[np.ndarray] = []

    def draw(self, shape) -> torch.Tensor:
        x = self.rs.standard_normal(size=tuple(shape)).astype(np.float32)
        self.log.append(x)
        return torch.from_numpy(x.astype(np.float64))

    def randn(self, *size, **_):
        shape = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        return self.draw(shape)

    def randn_like(self, t, **_):
        return self.draw(t.shape)

    def take(self, k: int) -> list[np.ndarray]:
        out, self.log = self.log[:k], self.log[k:]
        return out


@contextlib.contextmanager
def patched_attr(noise: _Noise):
    """torch.randn / randn_like from ``noise``; torch.FloatTensor returns float64 (the run is float64)."""
    saved = torch.randn, torch.randn_like, torch.FloatTensor
    torch.randn, torch.randn_like = noise.randn, noise.randn_like
    torch.FloatTensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64)
    try:
        yield
    finally:
        torch.randn, torch.randn_like, torch.FloatTensor = saved


def spy_steps(opt: torch.optim.Optimizer, names: list[str], record: dict[str, np.ndarray]) -> None:
    """Record the summary of every parameter's gradient at the optimizer's step (before the step)."""
    step = opt.step

    def wrapped(*a, **k):
        params = [p for g in opt.param_groups for p in g["params"]]
        for name, p in zip(names, params, strict=True):
            record[name] = summary(p.grad, N_POS)  # zeros for None (MABCQ's Q2 head)
        return step(*a, **k)

    opt.step = wrapped


def set_weights(agents, nets, plist, seed0: int, targets: dict[str, str]) -> dict[str, np.ndarray]:
    """Every agent's networks ``nets`` made float64 and overwritten by the weight rule (agent i: RandomState(seed0 +
    i), the parameters in ``plist``'s order), then its targets made deep copies (``targets``: target attribute ->
    online attribute, as the code's ``__init__`` does). Returns every parameter's summary before training, per net
    [N, P, N_POS + 2]."""
    for i, ag in enumerate(agents):
        for net in nets:
            getattr(ag, net).double()
        wrs = np.random.RandomState(seed0 + i)
        write_weights(
            (dict(getattr(ag, net).named_parameters())[name], shape, fan_in, gain, wrs)
            for net, name, shape, fan_in, gain in plist
        )
        for target, online in targets.items():
            setattr(ag, target, copy.deepcopy(getattr(ag, online)))
    return {
        net: np.stack([[summary(p, N_POS) for _, p in getattr(ag, net).named_parameters()] for ag in agents])
        for net in nets
    }


def record_task(task: str, cast, obs_index_table) -> tuple[dict[str, np.ndarray], dict]:
    key, N, A, D, seed = TASKS[task]
    index_sets = obs_index_table[key]
    obs_index = np.concatenate(index_sets)  # run_CAST.py: every agent sees all sets, then the public ones
    O, L = len(obs_index), 2 * A
    rs = np.random.RandomState(seed)
    data = make_data(N, A, D, rs)
    T = data["state"].shape[0]
    draw_rows = np.flatnonzero(data["timeouts"] == 0)  # time-out rows are never drawn
    ind = np.stack([draw_rows[rs.randint(0, draw_rows.size, size=BATCH)] for _ in range(ITERS)])  # [ITERS, B]

    torch.manual_seed(0)  # the code's own init is overwritten below; this only makes the script repeatable
    agents = [cast.CAST_BCQ(D, O, A, 1.0, N, torch.device("cpu"), "CAST-BCQ") for _ in range(N)]
    plist = param_list(agents[0])
    # CAST_BCQ.__init__: targets are deep copies; ``initial`` lets the test check its copy of the weight rule first
    initial = set_weights(
        agents, NETS, plist, 1000 * seed, {"actor_target": "actor", "centralcritic_target": "centralcritic"}
    )

    # the buffers: run_CAST.py's populate_replay_buffer without its data bugs (module docstring)
    acts = data["actions"]
    cont = (data["terminals"] == 0) & (data["timeouts"] == 0)
    buffers = []
    for i in range(N):
        partners = [j for j in range(N) if j != i]
        buf = cast.ReplayBuffer(D, O, A, T, N)
        for t in range(T):
            nxt = acts[t + 1] if cont[t] else np.zeros_like(acts[t])
            s = np.concatenate([data["state"][t]] + [acts[t, j * A : (j + 1) * A] for j in partners])
            s2 = np.concatenate([data["next_state"][t]] + [nxt[j * A : (j + 1) * A] for j in partners])
            buf.store(
                s,
                data["state"][t][obs_index],
                acts[t, i * A : (i + 1) * A],
                data["rewards"][t],
                s2,
                data["next_state"][t][obs_index],
                nxt[i * A : (i + 1) * A],
                float(data["terminals"][t]),
                float(data["terminals"][t]),
            )
        buffers.append(buf)

    # spies: losses at backward (below), gradients at each optimizer's step
    losses: list[float] = []
    grads: list[dict[str, np.ndarray]] = [dict() for _ in range(N)]
    opt_of = {
        "vae": "vae_optimizer",
        "actor": "actor_optimizer",
        "critic": "critic_optimizer",
        "centralcritic": "centralcritic_optimizer",
    }
    for i, ag in enumerate(agents):
        for net, opt in opt_of.items():
            names = [f"{net}.{n}" for n, _ in getattr(ag, net).named_parameters()]
            spy_steps(getattr(ag, opt), names, grads[i])

    noise, subteams = _Noise(10_000 + seed), RecordedRandom(20_000 + seed)  # CAST.random: the sub-team draws
    cast.random = subteams
    out: dict[str, np.ndarray] = {f"{task}__{k}": v for k, v in data.items()}
    out[f"{task}__ind"] = ind
    loss_rec = np.zeros((ITERS, N, 4))  # vae, central, individual (Q_i), actor
    y_rec, credit_rec = np.zeros((ITERS, N, BATCH)), np.zeros((ITERS, N, BATCH))
    grad_rec = {net: np.zeros((ITERS, N, sum(p[0] == net for p in plist), N_POS + 2)) for net in NETS}
    z_vae, z_actor = np.zeros((ITERS, N, BATCH, L), np.float32), np.zeros((ITERS, N, BATCH, L), np.float32)
    z_target = np.zeros((ITERS, N, BATCH, 10, L), np.float32)
    drops = np.zeros((ITERS, N, 6, max(N - 1, 1)), bool)
    with losses_at_backward(losses), patched_attr(noise):
        for it in range(ITERS):
            for i, ag in enumerate(agents):  # run_CAST.py main(): train, then train_Qi, agent by agent
                losses.clear()
                y, closs, _ = ag.train(buffers[i], BATCH, ind[it])
                credit, qloss = ag.train_Qi(buffers[i], BATCH, ind[it])
                assert len(losses) == 4  # vae, central, Q_i, actor: the returned ones are the 2nd and 3rd
                assert np.isclose(losses[1], float(closs)) and np.isclose(losses[2], float(qloss))
                loss_rec[it, i] = losses
                y_rec[it, i], credit_rec[it, i] = y[:, 0], credit[:, 0]
                for net in NETS:
                    grad_rec[net][it, i] = [
                        grads[i][f"{net}.{n}"] for n, _ in getattr(ag, net).named_parameters()
                    ]
                # the draws of this agent's update: VAE eps [B, L], target z [B*10, L], actor z [B, L]
                e, zt, za = noise.take(3)
                assert e.shape == (BATCH, L) and zt.shape == (BATCH * 10, L) and za.shape == (BATCH, L)
                z_vae[it, i], z_target[it, i], z_actor[it, i] = e, zt.reshape(BATCH, 10, L), za
                if N > 2:  # the 6 sub-teams (indices into the partners, agent order) whose actions are zeroed
                    assert len(subteams.log) == 6
                    for j, members in enumerate(subteams.log):
                        drops[it, i, j, members] = True
                assert not subteams.log[6:] and not noise.log
                subteams.log.clear()
        # select_action on the first rows of the file: 100 candidates, z [100, L] each
        sel_obs = data["state"][:N_SELECT_OBS][:, obs_index]  # [E, O]
        sel = np.zeros((N, N_SELECT_OBS, A))
        z_sel = np.zeros((N, N_SELECT_OBS, 100, L), np.float32)
        for i, ag in enumerate(agents):
            for e in range(N_SELECT_OBS):
                sel[i, e] = ag.select_action(sel_obs[e].astype(np.float64))
                (z_sel[i, e],) = noise.take(1)
    out.update(
        {
            f"{task}__losses": loss_rec,
            f"{task}__y": y_rec,
            f"{task}__credit": credit_rec,
            f"{task}__z_vae": z_vae,
            f"{task}__z_target": z_target,
            f"{task}__z_actor": z_actor,
            f"{task}__select_z": z_sel,
            f"{task}__select": sel,
        }
    )
    if N > 2:
        out[f"{task}__subteam_drop"] = drops
    for net in NETS:
        out[f"{task}__grad__{net}"] = grad_rec[net]
        out[f"{task}__param0__{net}"] = initial[net]
    for net in (*NETS, "actor_target", "centralcritic_target"):
        out[f"{task}__param__{net}"] = np.stack(
            [[summary(p, N_POS) for _, p in getattr(ag, net).named_parameters()] for ag in agents]
        )
    meta = {
        "index_key": key,
        "n_agents": N,
        "act_dim": A,
        "state_dim": D,
        "obs_dim": O,
        "latent_dim": L,
        "obs_index": obs_index.tolist(),
        "seed": seed,
        "weight_seeds": [1000 * seed + i for i in range(N)],
        "noise_seed": 10_000 + seed,
        "subteam_seed": 20_000 + seed,
        "params": [[net, name, list(shape), fan_in, gain] for net, name, shape, fan_in, gain in plist],
    }
    return out, meta


MABCQ_NETS = ("vae", "vae1", "actor", "critic")  # MABCQ attributes, in the order the weights are drawn
MABCQ_OPTS = {
    "vae": "vae_optimizer",
    "vae1": "vae_optimizer1",
    "critic": "critic_optimizer",
    "actor": "actor_optimizer",
}


def record_mabcq(task: str, mabcq, obs_index_table) -> tuple[dict[str, np.ndarray], dict]:
    """The CAST authors' MABCQ (agents/MABCQ.py, one agent per agent, ``run_MABCQ.py``'s loop body: every agent's
    ``train`` on its own row set) on the task's data, float64, ``ITERS`` iterations. Recorded per iteration and
    agent: the four losses at their ``backward`` (G, G1, critic, actor), the TD targets y [B] (``train``'s return),
    the gradient summaries at each optimizer's step; the parameter summaries before and after."""
    key, N, A, D, seed = TASKS[task]
    obs_index = np.concatenate(obs_index_table[key])  # run_MABCQ.py: the full state reordered, as CAST's
    O, L = len(obs_index), 2 * A
    rs = np.random.RandomState(seed)
    data = make_data(N, A, D, rs)  # the same file as CAST's record of this task
    T = data["state"].shape[0]
    rs = np.random.RandomState(100 + seed)
    draw_rows = np.flatnonzero(data["timeouts"] == 0)
    ind = draw_rows[rs.randint(0, draw_rows.size, size=(ITERS, N, BATCH))]  # an independent row set per agent

    # the module hard-codes "cuda" (its buffer's and train's .to(device)); no other change
    mabcq.device = "cpu"
    torch.manual_seed(0)
    agents = [mabcq.MABCQ(O, A, 1.0, "cpu") for _ in range(N)]
    plist = []
    for net in MABCQ_NETS:
        module = getattr(agents[0], net)
        for name, p in module.named_parameters():
            plist.append(
                (net, name, tuple(p.shape), int(getattr(module, name.rsplit(".", 1)[0]).weight.shape[1]), 1.0)
            )
    initial = set_weights(
        agents, MABCQ_NETS, plist, 2000 * seed, {"actor_target": "actor", "critic_target": "critic"}
    )

    acts = data["actions"]
    cont = (data["terminals"] == 0) & (data["timeouts"] == 0)
    buffers = []
    for i in range(N):  # run_MABCQ.py's populate_replay_buffer without its data bugs (as for CAST)
        buf = mabcq.ReplayBuffer(O, A, T)
        for t in range(T):
            nxt = acts[t + 1] if cont[t] else np.zeros_like(acts[t])
            buf.store(
                data["state"][t][obs_index],
                acts[t, i * A : (i + 1) * A],
                data["rewards"][t],
                data["next_state"][t][obs_index],
                nxt[i * A : (i + 1) * A],
                float(data["terminals"][t]),
                float(data["terminals"][t]),
            )
        buffers.append(buf)

    losses: list[float] = []
    grads: list[dict[str, np.ndarray]] = [dict() for _ in range(N)]
    for i, ag in enumerate(agents):
        for net, opt in MABCQ_OPTS.items():
            spy_steps(
                getattr(ag, opt), [f"{net}.{n}" for n, _ in getattr(ag, net).named_parameters()], grads[i]
            )
    noise = _Noise(30_000 + seed)
    loss_rec, y_rec = np.zeros((ITERS, N, 4)), np.zeros((ITERS, N, BATCH))
    grad_rec = {net: np.zeros((ITERS, N, sum(p[0] == net for p in plist), N_POS + 2)) for net in MABCQ_NETS}
    z = {k: np.zeros((ITERS, N, BATCH, L), np.float32) for k in ("z_vae", "z_vae1", "z_actor")}
    z["z_target"] = np.zeros((ITERS, N, BATCH, 10, L), np.float32)
    with losses_at_backward(losses), patched_attr(noise):
        for it in range(ITERS):
            for i, ag in enumerate(agents):
                losses.clear()
                y = ag.train(buffers[i], BATCH, ind[it, i])
                assert len(losses) == 4
                loss_rec[it, i], y_rec[it, i] = losses, y[:, 0]
                for net in MABCQ_NETS:
                    grad_rec[net][it, i] = [
                        grads[i][f"{net}.{n}"] for n, _ in getattr(ag, net).named_parameters()
                    ]
                # train's draws: eps of G and G1 (their training pass), eps of G and G1 again (the no-grad pass
                # that reads their latent means for weight_tn; the eps do not matter there), target z [B*10, L],
                # actor z [B, L]
                e, e1, _, _, zt, za = noise.take(6)
                assert e.shape == e1.shape == za.shape == (BATCH, L) and zt.shape == (BATCH * 10, L)
                z["z_vae"][it, i], z["z_vae1"][it, i], z["z_actor"][it, i] = e, e1, za
                z["z_target"][it, i] = zt.reshape(BATCH, 10, L)
                assert not noise.log
    p = f"{task}__mabcq__"
    out = {p + "ind": ind, p + "losses": loss_rec, p + "y": y_rec, **{p + k: v for k, v in z.items()}}
    for net in MABCQ_NETS:
        out[p + f"grad__{net}"] = grad_rec[net]
        out[p + f"param0__{net}"] = initial[net]
    for net in (*MABCQ_NETS, "actor_target", "critic_target"):
        out[p + f"param__{net}"] = np.stack(
            [[summary(q, N_POS) for _, q in getattr(ag, net).named_parameters()] for ag in agents]
        )
    meta = {
        "obs_dim": O,
        "latent_dim": L,
        "n_agents": N,
        "act_dim": A,
        "row_seed": 100 + seed,
        "weight_seeds": [2000 * seed + i for i in range(N)],
        "noise_seed": 30_000 + seed,
        "params": [[net, name, list(shape), fan_in, gain] for net, name, shape, fan_in, gain in plist],
    }
    return out, meta


def record(cast_repo: Path) -> dict[str, np.ndarray]:
    require_files(cast_repo, FILES, CAST_REPO_HINT)
    torch.set_num_threads(1)
    cast = load_module(cast_repo / "agents" / "CAST.py", "cast_official_CAST", register=True)
    obs_index_table = load_module(
        cast_repo / "common" / "agent_obs_index.py", "cast_official_obs_index", register=True
    ).agent_obs_index
    out: dict[str, np.ndarray] = {}
    meta = {
        "cast_files_sha256": sha256_of(cast_repo, FILES),
        "commit": "c5587eb2",
        "iters": ITERS,
        "batch": BATCH,
        "episodes": list(EPISODES),
        "n_pos": N_POS,
        "weight_rule": "RandomState(weight_seed).uniform(-1, 1, shape) * gain / sqrt(fan_in), params in order",
        "summary": "entries at unique(round(linspace(0, numel - 1, min(n_pos, numel)))), zero-padded to n_pos, "
        "then sum, L2 norm (official layout)",
        "losses": ["vae", "central", "individual", "actor"],
        "tasks": {},
    }
    for task in TASKS:
        arrays, meta["tasks"][task] = record_task(task, cast, obs_index_table)
        out.update(arrays)
    mabcq = load_module(cast_repo / "agents" / "MABCQ.py", "cast_official_MABCQ", register=True)
    arrays, meta["mabcq"] = record_mabcq(MABCQ_TASK, mabcq, obs_index_table)
    out.update(arrays)
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def main(argv=None) -> Path:
    args = fixture_parser(__doc__, "--cast-repo", CAST_REPO_HELP, "cast_bcq_parity.npz").parse_args(argv)
    return write_fixture(record(args.cast_repo), args.out)


if __name__ == "__main__":
    main()
