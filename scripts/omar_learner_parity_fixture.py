"""Record the official OMAR learner's own losses, targets, gradients, search and parameters on fixed minibatches,
for the parity test of our batched learner (``tests/test_omar_learner_official_parity.py``).

What it does: imports ``algorithms/maddpg.py`` (class ``MATD3``) and ``utils/`` (``agents.py``, ``networks.py``,
``misc.py``, ``noise.py``) from a checkout of the official repository (github.com/ling-pan/OMAR, written against
commit 0e52ad6; docs/omar_official_code.md), builds ``MATD3`` for N = 3 agents with MPE-like sizes (obs 18,
action 2, hidden 8, batch 32) and runs ``main.py``'s update round twice: for every agent ``MATD3.update(sample,
a_i)`` on its own fixed minibatch, then ``update_all_targets()``. Three variants of the code, from the same
initial weights:

- ``td3``:   ``cql=False, omar=None``: the plain independent TD3 actor-critic (``--cql 0 --omar 0``);
- ``macql``: ``cql=True, cql_alpha=5.0``: MA-CQL (spread medium / expert's alpha);
- ``omar``:  ``cql=True, cql_alpha=1.0, omar=True, omar_coe=0.7``: OMAR with the MPE search (3 iterations x 10
  samples, mu0 0, sigma0 2; simple_world medium-replay's (tau, alpha)), so both the imitation and the Q term of the
  actor loss act.

The code has no MA-TD3+BC and no MA-ICQ (``maddpg.py`` has only the CQL critic term and the OMAR actor term), so
nothing of ours for those two can be replayed against it.

Nothing of the official code is copied into this repository: the script imports it from the folder given on the
command line. Stand-ins (this is a CPU, float64 run of GPU float32 code): ``Tensor.cuda`` returns the tensor itself;
``torch.cuda.FloatTensor(*shape)`` (the search's mu / sigma buffers) returns a float64 CPU tensor;
``torch.set_default_dtype(float64)`` while the networks are built, so every parameter and Adam state is float64;
the search's Gaussian draw is returned in [B, K, A] memory order (below), because the code's
``sample(...).permute(1, 0, 2).clamp(...).view(-1, A)`` needs a contiguous clamp result, which the torch of 2022
returned and today's torch (which keeps the permuted strides) does not: the values and their order are unchanged.

Fixed inputs (numpy's legacy ``RandomState``, whose streams numpy keeps frozen):
- Minibatches: per round and agent 32 rows (obs, next obs ~ N(0, 1), actions ~ U(-0.95, 0.95), rewards ~ N(0, 1),
  about one terminal in five), float32 values (what the code's buffer holds), fed as float64 in the code's
  ``sample`` layout (lists over agents).
- Weights: the code's own initialisation (torch's default, the actor's last layer U(+-3e-3)) under
  ``torch.manual_seed(0)``, recorded in full (``init``; layout in ``meta["params"]``); every variant starts from
  them (``load_state_dict``); the targets are the code's ``hard_update`` copies.
- Random numbers: the CQL uniform actions are the code's own draws (``torch.FloatTensor(B*K, A).uniform_(-1, 1)``
  from torch's global generator, float32), captured as drawn (``torch.FloatTensor`` returns the tensor it records).
  The search's Gaussian draws (``torch.distributions.Normal(mu, sigma).sample((K,))``, i.e. ``torch.normal(loc,
  scale)``) come from a stand-in for ``torch.normal`` that draws eps from a ``RandomState`` rounded to float32 and
  returns eps * scale + loc, the same float operations as torch's CPU kernel (``normal_(0, 1)``, then ``mul_(std)``,
  ``add_(mean)``); eps is recorded in the code's layout [K, B, A].

What is recorded, per variant v (key prefix ``<v>__``), round r and agent i:
``losses`` [R, N, 3] (critic loss, its TD part MSE(Q1, y) + MSE(Q2, y), actor loss; read at ``backward`` and at
``MSELoss``), ``y`` [R, N, B] (the TD target the code regresses on), ``q_data`` [R, N, 2, B] (Q1, Q2 of the data),
``lse`` [R, N, 2, B] (CQL only: ``T * logsumexp((Q_k(o, a_k) - log 0.5^d) / T)`` over the 10 samples, per head),
``q_pi`` [R, N] (mean Q1(o, pi(o)) of the actor step), ``norms`` [R, N, 2] (critic and actor gradient norms before
the 0.5 clip, ``clip_grad_norm``'s return), ``grad_critic`` / ``grad_actor`` [R, N, P, N_POS + 2] (summaries of
the gradients the optimizers stepped with, i.e. after the clip: N_POS fixed flat entries, the sum, the L2 norm of
every parameter, official layout: Linear weight [out, in]), ``param`` [R, N, P, N_POS + 2] (online actor + critic
after each round, after ``update_all_targets``), ``target`` [N, P, N_POS + 2] (target actor + critic after the last
round), ``buffers`` [N, 4, 2, N_POS + 2] (summaries of the input BatchNorm's running mean / var of the policy,
critic, target policy and target critic after the last round; ``bn_count`` [N, 4]: their
``num_batches_tracked``). CQL variants: ``cql_u`` [R, N, B*K, A] float32 (the uniform draws, the code's row order
b*K + k). OMAR: ``eps`` [R, N, 3, K, B, A] float32, ``mu`` / ``sigma``
[R, N, 3, B, A] (the search's sampling distribution at each iteration), ``a_hat`` [R, N, B, A] (the imitation
target ``max_acs``), ``pi_wins`` [R, N] (rows where pi(o) beat the best sample). Shared: ``init`` [N, P_all],
the minibatches ``obs`` / ``next_obs`` [R, N, B, O], ``actions`` [R, N, B, A], ``rewards`` / ``dones`` [R, N, B].
``meta`` (JSON) holds the sha256 of each official file used, the sizes, the parameter layout, the variants'
settings and checks on the inputs (the smallest |Q1(pi) - Q1(best sample)|: no tie, where our tie-breaking differs).

Rebuild the fixture (about 2 seconds, CPU; bit-identical on a rebuild with the same torch)::

    git clone https://github.com/ling-pan/OMAR /tmp/OMAR && git -C /tmp/OMAR checkout 0e52ad6
    python scripts/omar_learner_parity_fixture.py --omar-repo /tmp/OMAR \\
        [--out tests/fixtures/omar_learner_parity.npz]

(Equivalently, from a mirror without a work tree: ``git --git-dir=<mirror> archive 0e52ad6 | tar -x -C /tmp/OMAR``.)
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parity_common import fixture_parser, require_files, sha256_of, summary, write_fixture  # noqa: E402

FILES = ("algorithms/maddpg.py", "utils/agents.py", "utils/networks.py", "utils/misc.py", "utils/noise.py")
N_AGENTS, OBS, ACT, HIDDEN, BATCH, ROUNDS = 3, 18, 2, 8, 32, 2
K_CQL, OMAR_ITERS, OMAR_SAMPLES = 10, 3, 10
N_POS = 8  # fixed flat positions per parameter in the summaries
GAMMA, TAU, LR = 0.95, 0.01, 0.01  # the code's MPE defaults
VARIANTS = {
    "td3": {"cql": False, "cql_alpha": None, "omar": None, "omar_coe": None},
    "macql": {"cql": True, "cql_alpha": 5.0, "omar": None, "omar_coe": None},
    "omar": {"cql": True, "cql_alpha": 1.0, "omar": True, "omar_coe": 0.7},
}
NETS = ("policy", "critic", "target_policy", "target_critic")  # TD3Agent attributes


def _import_official(repo: Path):
    require_files(repo, FILES, "pass --omar-repo a checkout of ling-pan/OMAR")
    sys.path.insert(0, str(repo))
    import algorithms.maddpg as maddpg  # the official module, from the checkout

    if not str(Path(maddpg.__file__).resolve()).startswith(str(repo.resolve())):
        raise ImportError(f"algorithms.maddpg came from {maddpg.__file__}, not from {repo}")
    return maddpg


class _Normal:
    """Stand-in for torch.normal(loc, scale): eps ~ RandomState N(0, 1) rounded to float32, returned as
    eps * scale + loc in float64 (torch's CPU kernel: normal_(0, 1), mul_(std), add_(mean)); records eps, loc,
    scale. The result's memory is in [B, K, A] order (see ``__call__``)."""

    def __init__(self, seed: int):
        self.rs = np.random.RandomState(seed)
        self.log: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __call__(self, mean, std, *a, **k):
        assert isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and not a and not k
        eps = self.rs.standard_normal(size=tuple(mean.shape)).astype(np.float32)
        # loc / scale are expanded over K
        self.log.append((eps, mean[0].numpy().copy(), std[0].numpy().copy()))
        x = torch.from_numpy(eps.astype(np.float64)) * std + mean  # [K, B, A]
        # the same values stored in [B, K, A] memory order: the code's ``sample(...).permute(1, 0, 2).clamp(...)
        # .view(-1, A)`` needs the clamped tensor contiguous, as torch's clamp returned it in 2022; today's clamp
        # keeps the permuted strides and the view fails (values and their logical order are unchanged)
        return x.permute(1, 0, 2).contiguous().permute(1, 0, 2)


class _Functional:
    """maddpg.py's ``F`` (torch.nn.functional) with ``mse_loss`` (the actor's imitation term) spied on; torch's own
    losses keep the real one."""

    def __init__(self, mse_loss):
        self.mse_loss = mse_loss

    def __getattr__(self, name):
        return getattr(torch.nn.functional, name)


@contextlib.contextmanager
def _stand_ins(normal: _Normal, uniforms: list[torch.Tensor]):
    """CPU float64 stand-ins for the code's CUDA calls; torch.normal from ``normal``; torch.FloatTensor records
    the tensors it makes (the CQL uniform draws fill them in place)."""
    saved = torch.Tensor.cuda, torch.cuda.FloatTensor, torch.FloatTensor, torch.normal

    def float_tensor(*shape):
        t = torch.empty(*shape, dtype=torch.float32)
        uniforms.append(t)
        return t

    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.cuda.FloatTensor = lambda *shape: torch.empty(*shape, dtype=torch.float64)
    torch.FloatTensor, torch.normal = float_tensor, normal
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.cuda.FloatTensor, torch.FloatTensor, torch.normal = saved


def make_batches(rs: np.random.RandomState) -> dict[str, np.ndarray]:
    R, N, B = ROUNDS, N_AGENTS, BATCH
    f32 = np.float32
    return {
        "obs": rs.normal(size=(R, N, B, OBS)).astype(f32),
        "actions": rs.uniform(-0.95, 0.95, size=(R, N, B, ACT)).astype(f32),
        "rewards": rs.normal(size=(R, N, B)).astype(f32),
        "next_obs": rs.normal(size=(R, N, B, OBS)).astype(f32),
        "dones": (rs.uniform(size=(R, N, B)) < 0.2).astype(f32),
    }


def build(maddpg, variant: dict):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params = [
            {"num_in_pol": OBS, "num_out_pol": ACT, "num_in_critic": OBS + ACT} for _ in range(N_AGENTS)
        ]
        return maddpg.MATD3(
            params,
            ["td3"] * N_AGENTS,
            gamma=GAMMA,
            tau=TAU,
            lr=LR,
            hidden_dim=HIDDEN,
            discrete_action=False,
            agent_max_actions=[1.0] * N_AGENTS,
            cql=variant["cql"],
            cql_alpha=variant["cql_alpha"],
            lse_temp=1.0,
            num_sampled_actions=K_CQL,
            omar=variant["omar"],
            omar_coe=variant["omar_coe"],
            omar_mu=0.0,
            omar_sigma=2.0,
            omar_num_samples=OMAR_SAMPLES,
            omar_num_elites=OMAR_SAMPLES,
            omar_iters=OMAR_ITERS,
            batch_size=BATCH,
            env_id="simple_spread",
        )
    finally:
        torch.set_default_dtype(old)


def param_names(agent) -> list[tuple[str, str, tuple[int, ...]]]:
    """(net, name, shape) of the online actor's and critic's parameters, official order."""
    return [
        (net, n, tuple(p.shape))
        for net in ("policy", "critic")
        for n, p in getattr(agent, net).named_parameters()
    ]


def record_variant(maddpg, name: str, init_state: list[dict], batches: dict, seed: int) -> tuple[dict, dict]:
    variant = VARIANTS[name]
    normal, uniforms = _Normal(10_000 + seed), []
    with _stand_ins(normal, uniforms):  # OMAR's constructor makes its mu / sigma buffers on the GPU
        ma = build(maddpg, variant)
    ma.prep_training(device="cpu")  # every network in train mode (BN batch statistics), as main.py
    for ag, st in zip(ma.agents, init_state):
        for net in NETS:
            getattr(ag, net).load_state_dict(st[net])
    R, N, B = ROUNDS, N_AGENTS, BATCH
    plist = param_names(ma.agents[0])
    P = len(plist)

    # spies: the losses at backward, the MSE terms, logsumexp, clip norms, Q1 calls, a_hat (F.mse_loss), grads
    rec: dict[str, list] = {k: [] for k in ("backward", "mse", "lse", "norm", "q1", "mimic")}
    backward, mse, lse, clip = (
        torch.Tensor.backward,
        maddpg.MSELoss,
        torch.logsumexp,
        torch.nn.utils.clip_grad_norm,
    )
    functional = maddpg.F
    mse_loss = functional.mse_loss

    def spy_backward(self, *a, **k):
        rec["backward"].append(float(self.detach()))
        return backward(self, *a, **k)

    def spy_mse(inp, target):
        rec["mse"].append((inp.detach().clone(), target.detach().clone()))
        return mse(inp, target)

    def spy_lse(*a, **k):
        out = lse(*a, **k)
        rec["lse"].append(out.detach().clone())
        return out

    def spy_clip(params, max_norm, *a, **k):
        # torch deprecates the code's clip_grad_norm (it calls clip_grad_norm_)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            out = clip(params, max_norm, *a, **k)
        rec["norm"].append(float(out))
        return out

    def spy_mse_loss(inp, target, *a, **k):
        rec["mimic"].append(target.detach().clone())
        return mse_loss(inp, target, *a, **k)

    grads: list[dict[str, np.ndarray]] = [dict() for _ in range(N)]
    for i, ag in enumerate(ma.agents):
        ag.critic.Q1 = (lambda f: lambda x: rec["q1"].append(f(x)) or rec["q1"][-1])(ag.critic.Q1)
        for net, opt in (("policy", ag.policy_optimizer), ("critic", ag.critic_optimizer)):
            names = [f"{net}.{n}" for n, _ in getattr(ag, net).named_parameters()]
            step = opt.step

            def wrapped(*a, _names=names, _opt=opt, _step=step, _g=grads[i], **k):
                ps = [p for g in _opt.param_groups for p in g["params"]]
                for nm, p in zip(_names, ps, strict=True):
                    _g[nm] = summary(p.grad, N_POS)
                return _step(*a, **k)

            opt.step = wrapped

    cql, omar = variant["cql"], bool(variant["omar"])
    out = {
        "losses": np.zeros((R, N, 3)),
        "y": np.zeros((R, N, B)),
        "q_data": np.zeros((R, N, 2, B)),
        "q_pi": np.zeros((R, N)),
        "norms": np.zeros((R, N, 2)),
        "grad_critic": None,
        "grad_actor": None,
    }
    g_crit, g_act = np.zeros((R, N, 14, N_POS + 2)), np.zeros((R, N, 8, N_POS + 2))
    param = np.zeros((R, N, P, N_POS + 2))
    if cql:
        out["lse"], out["cql_u"] = np.zeros((R, N, 2, B)), np.zeros((R, N, B * K_CQL, ACT), np.float32)
    if omar:
        out["eps"] = np.zeros((R, N, OMAR_ITERS, OMAR_SAMPLES, B, ACT), np.float32)
        out["mu"], out["sigma"] = np.zeros((R, N, OMAR_ITERS, B, ACT)), np.zeros((R, N, OMAR_ITERS, B, ACT))
        out["a_hat"], out["pi_wins"] = np.zeros((R, N, B, ACT)), np.zeros((R, N), np.int64)
    margins = []
    torch.Tensor.backward, maddpg.MSELoss, torch.logsumexp = spy_backward, spy_mse, spy_lse
    torch.nn.utils.clip_grad_norm = spy_clip
    maddpg.F = _Functional(spy_mse_loss)
    try:
        with _stand_ins(normal, uniforms):
            for r in range(R):
                # main.py: one sample per agent, update(sample, a_i), then update_all_targets
                for i in range(N):
                    t = {
                        k: [torch.from_numpy(v[r, j].astype(np.float64)) for j in range(N)]
                        for k, v in batches.items()
                    }
                    sample = (t["obs"], t["actions"], t["rewards"], t["next_obs"], t["dones"])
                    for v in rec.values():
                        v.clear()
                    ma.update(sample, i)
                    assert len(rec["backward"]) == 2 and len(rec["mse"]) == 2 and len(rec["norm"]) == 2
                    (q1d, y1), (q2d, y2) = rec["mse"]
                    assert torch.equal(y1, y2)
                    td = float(mse(q1d, y1) + mse(q2d, y2))  # the code's TD part (its own MSELoss)
                    out["losses"][r, i] = [rec["backward"][0], td, rec["backward"][1]]
                    out["y"][r, i] = y1[:, 0].numpy()
                    out["q_data"][r, i] = torch.stack([q1d[:, 0], q2d[:, 0]]).numpy()
                    out["norms"][r, i] = rec["norm"]
                    # the actor step's first Q1: Q1(o, pi)
                    out["q_pi"][r, i] = float(rec["q1"][0].detach().mean())
                    if cql:
                        assert len(rec["lse"]) == 2 and len(uniforms) == 1
                        out["lse"][r, i] = torch.stack([x[:, 0] for x in rec["lse"]]).numpy()
                        out["cql_u"][r, i] = uniforms.pop().numpy()
                    if omar:
                        assert (
                            len(normal.log) == OMAR_ITERS and len(rec["mimic"]) == 1 and len(rec["q1"]) == 4
                        )
                        for j, (eps, loc, scale) in enumerate(normal.log):
                            out["eps"][r, i, j], out["mu"][r, i, j], out["sigma"][r, i, j] = eps, loc, scale
                        normal.log.clear()
                        a_hat = rec["mimic"][0]
                        out["a_hat"][r, i] = a_hat.numpy()
                        q_pi_rows = rec["q1"][0].detach()[:, 0]  # [B]
                        # last population's best
                        q_best = rec["q1"][-1].view(B, OMAR_SAMPLES).max(dim=1).values
                        margins.append(float((q_pi_rows - q_best).detach().abs().min()))
                        out["pi_wins"][r, i] = int((q_pi_rows > q_best).sum())
                    assert not normal.log and not uniforms
                    g_crit[r, i] = [
                        grads[i][f"critic.{n}"] for n, _ in ma.agents[i].critic.named_parameters()
                    ]
                    g_act[r, i] = [grads[i][f"policy.{n}"] for n, _ in ma.agents[i].policy.named_parameters()]
                ma.update_all_targets()
                for i, ag in enumerate(ma.agents):
                    param[r, i] = [
                        summary(p, N_POS)
                        for net in ("policy", "critic")
                        for _, p in getattr(ag, net).named_parameters()
                    ]
    finally:
        torch.Tensor.backward, maddpg.MSELoss, torch.logsumexp = backward, mse, lse
        torch.nn.utils.clip_grad_norm = clip
        maddpg.F = functional
    out["grad_critic"], out["grad_actor"], out["param"] = g_crit, g_act, param
    out["target"] = np.stack(
        [
            [
                summary(p, N_POS)
                for net in ("target_policy", "target_critic")
                for _, p in getattr(ag, net).named_parameters()
            ]
            for ag in ma.agents
        ]
    )
    # BN running statistics [N, 4 nets, 2 (mean, var), N_POS + 2] and counts [N, 4]
    out["buffers"] = np.stack(
        [
            [
                [
                    summary(getattr(ag, net).in_fn.running_mean, N_POS),
                    summary(getattr(ag, net).in_fn.running_var, N_POS),
                ]
                for net in NETS
            ]
            for ag in ma.agents
        ]
    )
    out["bn_count"] = np.array(
        [[int(getattr(ag, net).in_fn.num_batches_tracked) for net in NETS] for ag in ma.agents]
    )
    checks = {
        "critic_clipped": int((out["norms"][..., 0] > 0.5).sum()),
        "actor_clipped": int((out["norms"][..., 1] > 0.5).sum()),
        "n_updates": R * N,
    }
    if omar:
        checks["min_abs_q_pi_minus_best_sample"] = min(margins)
        checks["pi_wins_rows"] = int(out["pi_wins"].sum())
    return out, checks


def record(repo: Path, seed: int = 0) -> dict[str, np.ndarray]:
    torch.set_num_threads(1)
    maddpg = _import_official(repo)
    rs = np.random.RandomState(seed)
    batches = make_batches(rs)
    torch.manual_seed(seed)
    ref = build(maddpg, VARIANTS["td3"])  # the code's own initialisation
    init_state = [
        {net: {k: v.clone() for k, v in getattr(ag, net).state_dict().items()} for net in NETS}
        for ag in ref.agents
    ]
    plist = param_names(ref.agents[0])
    out: dict[str, np.ndarray] = {k: v for k, v in batches.items()}
    out["init"] = np.stack(
        [
            np.concatenate(
                [
                    p.detach().reshape(-1).numpy()
                    for net in ("policy", "critic")
                    for p in getattr(ag, net).parameters()
                ]
            )
            for ag in ref.agents
        ]
    )
    meta = {
        "commit": "0e52ad6",
        "omar_files_sha256": sha256_of(repo, FILES),
        "n_agents": N_AGENTS,
        "obs_dim": OBS,
        "act_dim": ACT,
        "hidden": HIDDEN,
        "batch": BATCH,
        "rounds": ROUNDS,
        "cql_n_actions": K_CQL,
        "omar_iters": OMAR_ITERS,
        "omar_n_samples": OMAR_SAMPLES,
        "n_pos": N_POS,
        "gamma": GAMMA,
        "tau_target": TAU,
        "lr": LR,
        "seed": seed,
        "torch": torch.__version__,
        "params": [[net, n, list(s)] for net, n, s in plist],
        "variants": VARIANTS,
        "checks": {},
    }
    for name in VARIANTS:
        rec, checks = record_variant(maddpg, name, init_state, batches, seed)
        out.update({f"{name}__{k}": v for k, v in rec.items()})
        meta["checks"][name] = checks
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def main(argv=None) -> Path:
    ap = fixture_parser(
        __doc__, "--omar-repo", "a checkout of github.com/ling-pan/OMAR (0e52ad6)", "omar_learner_parity.npz"
    )
    ap.add_argument(
        "--seed", type=int, default=0, help="seed of the minibatches, the init and the draws (default 0)"
    )
    args = ap.parse_args(argv)
    arrays = record(args.omar_repo, args.seed)
    write_fixture(arrays, args.out)
    print(json.dumps(json.loads(str(arrays["meta"]))["checks"], indent=1))
    return args.out


if __name__ == "__main__":
    main()
