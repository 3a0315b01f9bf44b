"""Parity of our batched OMAR / MA-CQL / TD3 learner (common/algos/itd3.py, ``ITD3``) with the official OMAR code
(ling-pan/OMAR @0e52ad6, ``algorithms/maddpg.py`` ``MATD3.update`` / ``update_all_targets``), by replaying the code's
own outputs.

``tests/fixtures/omar_learner_parity.npz`` holds what the official ``MATD3`` computed in float64 on fixed inputs
(``scripts/omar_learner_parity_fixture.py`` says how it was made and how to rebuild it): N = 3 agents (obs 18,
action 2, hidden 8, batch 32), two update rounds of ``main.py`` (every agent's ``update`` on its own minibatch, then
``update_all_targets``), for three variants of the code from the same initial weights: ``td3`` (no CQL, no OMAR),
``macql`` (CQL, alpha 5) and ``omar`` (CQL alpha 1, OMAR's MPE search, omar_coe = tau = 0.7). Here the same inputs
go through our public API in float64: ``ITD3([18] * 3, [2] * 3, 1, cfg, dtype=torch.float64)`` (one seed, members =
agents), the code's weights written into our ensembles (official ``nn.Linear`` weight [out, in] -> our [M, in, out];
the input BatchNorms' affine parameters; the critic's fc1-3 / fc4-6 -> ``head1`` / ``head2``), then
``update(batch)`` twice. The random numbers are the code's: its CQL uniform actions U(-1, 1) (float32, row b*K + k)
are served to our ``torch.rand`` draw [M, B, K, A] as u = (a + 1) / 2 (exact), and the search's N(0, 1) draws
(the code's layout [K, B, A] per iteration) to our three ``torch.randn`` draws [M, B, K, A].

Compared within 1e-10 relative (float64 on both sides; only the order of float operations differs), per round and
agent: the critic loss, its TD part and the CQL penalty (the code's sum over both heads of mean(logsumexp over the
10 samples - log 0.5^d) - mean Q(data)), the TD targets y and Q1 / Q2 of the data (every row), each head's
logsumexp (every row), the actor loss and mean Q1(o, pi(o)), the gradient norms before the 0.5 clip, the gradients
each optimizer stepped with (after the clip; N_POS fixed entries, the sum and the norm of every parameter); OMAR's
sampled populations of the 3 iterations (which follow from the code's softmax-weighted means and RMS sigmas),
the imitation target a_hat (best sample vs pi(o)); every parameter of the online actor and critic after each
round, and of the targets (Polyak, rate 0.01) after the last; the BatchNorm running statistics of the actor, the
target actor and the target critic, and (td3, macql) of the critic.

Observed errors (relative as above): losses, y, Q of the data, logsumexp, CQL penalty, a_hat and the searched
populations <= 6e-16; gradient norms <= 9e-16; parameters <= 1.3e-13, targets <= 2.3e-15; gradients <= 4e-14 of the
network's gradient norm (the norm the 0.5 clip reads), which is their scale here: measured against a parameter's own
gradient norm they reached 1.2e-11 where this test was written and 1.2e-10 on the AMD EPYC project machine
(2026-11-25), at the actor's last-layer bias: its gradient is about 1e-4 of the actor's, because the critic's input
BatchNorm cancels the batch-mean action direction (papers/omar/README.md, "Input BatchNorm"), so float64 rounding of
the larger terms, which differs between CPUs, shows against its small norm.

The official file has no MA-TD3+BC and no MA-ICQ (only the CQL critic term and the OMAR actor term), so those two of
our variants have no official code to replay; ``td3`` (the code with ``--cql 0 --omar 0``) is our
``critic_reg="none", actor_reg="none"``.

What differs by design and how the inputs sidestep it: our ``search_action`` takes argmax over [samples, pi(o)]
(first maximum), the code max over [pi(o), best sample]: they differ only on an exact tie of Q1, and the fixture's
smallest |Q1(pi) - Q1(best sample)| is 1e-4 (pi wins on 12 of 192 rows, so both branches act). Our minibatch
sampling (fresh draws; the code's cycle of 10 minibatches is ``official_minibatches``) is not exercised: both sides
get the same fixed minibatches. The code's float32 / CUDA path runs in float64 on the CPU (the fixture's stand-ins).

One difference found, and fixed on 2026-11-24: in OMAR's actor step our search scored pi(o) with one more critic
forward than the code (the code reuses its Q1(o, pi(o)), algorithms/maddpg.py l. 247 and 326; ours called
``q_fn(pi)`` again in common/algos/omar.py ``search_action``), so the critic's BatchNorm running statistics took one
extra momentum step per update (``num_batches_tracked`` 7 vs 6 per update; after two rounds the running mean / var
differed by up to 22 % of their norm). Training was unaffected (every update uses batch statistics; parameters and
optimizer states of 30 float32 updates were bit-identical before and after the fix); the one eval-mode read of a
trained OMAR critic is Figure 1(d)'s landscape (papers/omar/landscape.py). The learner now passes its Q1(o, pi(o))
to the search (``search_action(..., q_pi=)``), and every BatchNorm statistic equals the code's.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

import common.algos.itd3 as itd3_mod
from common.algos.itd3 import ITD3, ITD3Config
from scripts import parity_common
from scripts.parity_common import load_fixture, summary

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "omar_learner_parity.npz"
RTOL = 1e-10  # float64 on both sides
VARIANTS = ("td3", "macql", "omar")
F64 = torch.float64
# entries and sums within RTOL of the parameter's norm, norms within RTOL
assert_summaries_close = functools.partial(parity_common.assert_summaries_close, rtol=RTOL)


@pytest.fixture(scope="module")
def fixture():
    return load_fixture(FIXTURE)


def config(meta: dict, variant: str) -> ITD3Config:
    """Our learner's settings for a variant of the code (everything else: ITD3Config's defaults, the code's)."""
    v = meta["variants"][variant]
    kw = dict(
        hidden=meta["hidden"],
        batch_size=meta["batch"],
        log_every=1,
        gamma=meta["gamma"],
        tau_target=meta["tau_target"],
        actor_lr=meta["lr"],
        critic_lr=meta["lr"],
    )
    if v["cql"]:
        kw.update(critic_reg="cql", cql_alpha=v["cql_alpha"], cql_n_actions=meta["cql_n_actions"])
    if v["omar"]:
        kw.update(
            actor_reg="omar",
            omar_tau=v["omar_coe"],
            omar_sampler="softmax",
            omar_iters=meta["omar_iters"],
            omar_n_samples=meta["omar_n_samples"],
            omar_mu0=0.0,
            omar_sigma0=2.0,
            omar_sigma_rule="code",
        )
    return ITD3Config(**kw)


# ---- the official layout of our parameters -------------------------------------------------------


def _module(learner: ITD3, net: str, name: str):
    """(module, attribute, is_linear) holding the official parameter ``name`` of network ``net``
    ("policy" / "critic" / "target_policy" / "target_critic")."""
    ours = {
        "policy": learner.actor,
        "critic": learner.critic,
        "target_policy": learner.actor_target,
        "target_critic": learner.critic_target,
    }[net]
    layer, attr = name.rsplit(".", 1)
    if layer == "in_fn":
        return (ours.net.norm if "policy" in net else ours.norm), attr, False
    k = int(layer[2:]) - 1  # fc1..fc3 (actor, Q1 head), fc4..fc6 (Q2 head)
    if "policy" in net:
        return ours.net.layers[k], attr, True
    return (ours.head1 if k < 3 else ours.head2).layers[k % 3], attr, True


def official_view(learner: ITD3, net: str, name: str, m: int, grad: bool = False) -> torch.Tensor:
    """Member m's parameter (or its gradient) in the official layout: Linear weight [out, in], bias [out]."""
    mod, attr, linear = _module(learner, net, name)
    p = getattr(mod, attr)
    t = p.grad if grad else p.detach()
    assert t is not None, f"{net}.{name} has no gradient"
    if not linear:
        return t[m]
    return t[m].T if attr == "weight" else t[m, 0]


def load_official_weights(learner: ITD3, arrays: dict, meta: dict) -> None:
    """The code's initial parameters (``init``, flat per agent in ``meta["params"]`` order), agent i -> member i;
    targets = copies (the code's hard_update; BN buffers at their defaults on both sides)."""
    with torch.no_grad():
        for m in range(meta["n_agents"]):
            flat, at = arrays["init"][m], 0
            for net, name, shape in meta["params"]:
                n = int(np.prod(shape))
                value = torch.from_numpy(flat[at : at + n].reshape(shape))
                at += n
                mod, attr, linear = _module(learner, net, name)
                p = getattr(mod, attr)
                if not linear:
                    p[m] = value
                elif attr == "weight":
                    p[m] = value.T
                else:
                    p[m, 0] = value
            assert at == flat.size
    learner.actor_target.load_state_dict(learner.actor.state_dict())
    learner.critic_target.load_state_dict(learner.critic.state_dict())


def summaries(learner: ITD3, meta: dict, nets: tuple[str, ...], grad: bool = False, target: bool = False):
    """[N, P, n_pos + 2] over the official parameters of ``nets`` ("policy", "critic"), in the fixture's order."""
    names = [(net, name) for net, name, _ in meta["params"] if net in nets]
    return np.stack(
        [
            [
                summary(
                    official_view(learner, ("target_" if target else "") + net, name, m, grad), meta["n_pos"]
                )
                for net, name in names
            ]
            for m in range(meta["n_agents"])
        ]
    )


def close(ours, ref, what: str) -> float:
    """Within RTOL of the reference's largest magnitude; returns that relative error."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    scale = max(float(np.abs(ref).max()), 1e-300)
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=RTOL * scale, err_msg=what)
    return float(np.abs(ours - ref).max() / scale)


# ---- the replay ------------------------------------------------------------------------------------


class _Draws:
    """Serves the code's draws to our ``torch.rand`` / ``torch.randn`` calls (learner generator only), in order."""

    def __init__(self, gen: torch.Generator):
        self.gen, self.rand, self.randn = gen, [], []

    def _pop(self, queue, shape, generator, dtype):
        assert generator is self.gen, "a draw outside the learner's training stream"
        assert queue, f"an unexpected draw of shape {tuple(shape)}"
        z = queue.pop(0)
        assert tuple(z.shape) == tuple(shape), (
            f"draw of shape {tuple(shape)}, the recorded one is {tuple(z.shape)}"
        )
        return z.to(dtype)

    def fake_rand(self, shape, generator=None, dtype=None, device=None):
        return self._pop(self.rand, shape, generator, dtype)

    def fake_randn(self, shape, generator=None, dtype=None, device=None):
        return self._pop(self.randn, shape, generator, dtype)


def replay(variant: str, arrays: dict, meta: dict) -> dict:
    """Our learner through the fixture's inputs: per round the metrics, y, Q(data), logsumexp, the search and the
    gradient summaries; the parameter summaries after every round, targets and BN buffers after the last."""
    N, O, A, R, B = meta["n_agents"], meta["obs_dim"], meta["act_dim"], meta["rounds"], meta["batch"]
    K, n_pos = meta["cql_n_actions"], meta["n_pos"]
    g = {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(variant + "__")}
    learner = ITD3([O] * N, [A] * N, 1, config(meta, variant), seeds=[0], dtype=F64)
    load_official_weights(learner, arrays, meta)
    draws = _Draws(learner.gen)
    spy = {"y": [], "td": [], "lse": [], "a_hat": [], "samples": []}
    td_target, critic_td_loss, search_action = (
        itd3_mod.td_target,
        itd3_mod.critic_td_loss,
        itd3_mod.search_action,
    )
    logsumexp = torch.logsumexp

    def spy_td_target(*a, **k):
        spy["y"].append(td_target(*a, **k))
        return spy["y"][-1]

    def spy_td_loss(q1, q2, y, w=None):
        spy["td"].append((q1.detach().clone(), q2.detach().clone()))
        return critic_td_loss(q1, q2, y, w)

    def spy_lse(*a, **k):
        out = logsumexp(*a, **k)
        spy["lse"].append(out.detach().clone())
        return out

    def spy_search(q_fn, pi, **k):
        def q_spy(a):
            if a.shape[2] > 1:  # a sampled population (the final call scores pi(o) alone)
                spy["samples"].append(a.clone())
            return q_fn(a)

        spy["a_hat"].append(search_action(q_spy, pi, **k))
        return spy["a_hat"][-1]

    out = {"rounds": []}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(itd3_mod, "td_target", spy_td_target)
        mp.setattr(itd3_mod, "critic_td_loss", spy_td_loss)
        mp.setattr(itd3_mod, "search_action", spy_search)
        mp.setattr(torch, "logsumexp", spy_lse)
        mp.setattr(torch, "rand", draws.fake_rand)
        mp.setattr(torch, "randn", draws.fake_randn)
        for r in range(R):
            t = lambda k: torch.from_numpy(arrays[k][r].astype(np.float64))  # noqa: E731 [N, B, ...], member = agent
            batch = {
                "obs": t("obs"),
                "actions": t("actions"),
                "rewards": t("rewards"),
                "next_obs": t("next_obs"),
                "terminals": t("dones"),
            }
            # the code's U(-1, 1) actions, rows b*K + k -> our u in [0, 1): a = 2u - 1 exactly
            if "cql_u" in g:
                draws.rand.append(
                    torch.from_numpy((g["cql_u"][r].astype(np.float64) + 1.0) / 2.0).view(N, B, K, A)
                )
            if "eps" in g:  # per iteration the code's [K, B, A] -> our [M, B, K, A]
                eps = torch.from_numpy(g["eps"][r].astype(np.float64))  # [N, iters, K, B, A]
                draws.randn += [eps[:, j].transpose(1, 2) for j in range(eps.shape[1])]
            metrics = learner.update(batch)
            assert not draws.rand and not draws.randn, "the update drew fewer random numbers than the code"
            (y,), ((q1, q2),) = spy["y"], spy["td"]
            rec = {
                "metrics": {k: v.numpy().copy() for k, v in metrics.items()},
                "y": y.numpy().copy(),
                "q_data": torch.stack([q1, q2], dim=1).numpy(),  # [N, 2, B]
                "grad_critic": summaries(learner, meta, ("critic",), grad=True),
                "grad_actor": summaries(learner, meta, ("policy",), grad=True),
                "param": summaries(learner, meta, ("policy", "critic")),
            }
            if "cql_u" in g:
                assert len(spy["lse"]) == 2
                rec["lse"] = torch.stack(spy["lse"], dim=1).numpy()  # [N, 2, B]
            if "eps" in g:
                rec["a_hat"] = spy["a_hat"][0].numpy().copy()
                rec["samples"] = torch.stack(spy["samples"], dim=1).numpy()  # [N, iters, B, K, A]
            out["rounds"].append(rec)
            for v in spy.values():
                v.clear()
    out["target"] = summaries(learner, meta, ("policy", "critic"), target=True)
    bns = [
        learner.actor.net.norm,
        learner.critic.norm,
        learner.actor_target.net.norm,
        learner.critic_target.norm,
    ]
    out["buffers"] = np.stack(
        [
            [
                [summary(bn.running_mean[m], n_pos), summary(bn.running_var[m], n_pos)]
                # [N, 4, 2, n_pos + 2], the code's NETS order
                for bn in bns
            ]
            for m in range(N)
        ]
    )
    out["bn_count"] = np.array([[int(bn.num_batches_tracked[m]) for bn in bns] for m in range(N)])
    return out


@pytest.fixture(scope="module")
def replayed(fixture):
    torch.set_num_threads(1)
    arrays, meta = fixture
    return {v: replay(v, arrays, meta) for v in VARIANTS}


# ---- the comparisons ---------------------------------------------------------------------------------


def test_fixture_provenance(fixture):
    """The fixture names the official files it ran (sha256) and its inputs exercise what the test claims."""
    arrays, meta = fixture
    assert meta["commit"] == "0e52ad6"
    assert set(meta["omar_files_sha256"]) == {
        "algorithms/maddpg.py",
        "utils/agents.py",
        "utils/networks.py",
        "utils/misc.py",
        "utils/noise.py",
    }
    assert set(meta["variants"]) == set(VARIANTS)
    assert arrays["dones"].sum() > 0 and (arrays["dones"] == 0).sum() > 0  # (1 - d) acts
    for v in VARIANTS:
        assert meta["checks"][v]["critic_clipped"] > 0  # the 0.5 clip binds on the critic
    assert meta["checks"]["td3"]["actor_clipped"] > 0 and meta["checks"]["omar"]["actor_clipped"] > 0
    # OMAR: no tie between pi(o) and the best sample (our tie-breaking differs), and both win on some rows
    assert meta["checks"]["omar"]["min_abs_q_pi_minus_best_sample"] > 1e-6
    assert 0 < meta["checks"]["omar"]["pi_wins_rows"] < meta["rounds"] * meta["n_agents"] * meta["batch"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_critic_losses_targets_equal_official(fixture, replayed, variant):
    """Critic loss, its TD part, the CQL penalty and each head's logsumexp, y and Q1 / Q2 of the data (every row)."""
    arrays, meta = fixture
    g = {k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith(variant + "__")}
    for r, ours in enumerate(replayed[variant]["rounds"]):
        what = f"{variant} round {r}"
        close(ours["metrics"]["critic_loss"], g["losses"][r, :, 0], f"{what}: critic loss")
        close(ours["metrics"]["td"], g["losses"][r, :, 1], f"{what}: TD part")
        close(ours["y"], g["y"][r], f"{what}: y")
        close(ours["q_data"], g["q_data"][r], f"{what}: Q1 / Q2 of the data")
        close(ours["metrics"]["q1"], g["q_data"][r, :, 0].mean(-1), f"{what}: mean Q1 of the data")
        if "lse" in g:
            close(ours["lse"], g["lse"][r], f"{what}: logsumexp over the 10 uniform samples")
            ref = (g["lse"][r] - g["q_data"][r]).mean(-1).sum(-1)  # the code's cql_term1 + cql_term2
            close(ours["metrics"]["cql"], ref, f"{what}: CQL penalty")
        else:
            assert "cql" not in ours["metrics"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_actor_losses_equal_official(fixture, replayed, variant):
    """The actor loss and mean Q1(o, pi(o)) of the actor step, every round and agent."""
    arrays, meta = fixture
    for r, ours in enumerate(replayed[variant]["rounds"]):
        close(
            ours["metrics"]["actor_loss"],
            arrays[f"{variant}__losses"][r, :, 2],
            f"{variant} round {r}: actor loss",
        )
        close(
            ours["metrics"]["q_pi"], arrays[f"{variant}__q_pi"][r], f"{variant} round {r}: mean Q1(o, pi(o))"
        )


def test_omar_search_equals_official(fixture, replayed):
    """OMAR's 3 x 10 search: every population we scored is the code's (clip(mu_j + sigma_j * eps), mu_j / sigma_j
    the code's softmax(Q1)-weighted mean and RMS sigma of the previous population), and a_hat (best sample or pi)."""
    arrays, meta = fixture
    for r, ours in enumerate(replayed["omar"]["rounds"]):
        mu, sigma = arrays["omar__mu"][r], arrays["omar__sigma"][r]  # [N, iters, B, A]
        eps = arrays["omar__eps"][r].astype(np.float64).transpose(0, 1, 3, 2, 4)  # [N, iters, B, K, A]
        ref = np.clip(mu[:, :, :, None] + sigma[:, :, :, None] * eps, -1.0, 1.0)
        close(ours["samples"], ref, f"omar round {r}: sampled populations")
        np.testing.assert_array_equal(mu[:, 0], 0.0)
        np.testing.assert_array_equal(sigma[:, 0], 2.0)
        close(ours["a_hat"], arrays["omar__a_hat"][r], f"omar round {r}: a_hat")


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_equal_official(fixture, replayed, variant):
    """Gradient norms before the clip, and every gradient the optimizers stepped with (after the 0.5 clip)."""
    arrays, meta = fixture
    for r, ours in enumerate(replayed[variant]["rounds"]):
        ref = arrays[f"{variant}__norms"][r]
        close(ours["metrics"]["critic_grad_norm"], ref[:, 0], f"{variant} round {r}: critic grad norm")
        close(ours["metrics"]["actor_grad_norm"], ref[:, 1], f"{variant} round {r}: actor grad norm")
        for net in ("critic", "actor"):
            assert_summaries_close(
                ours[f"grad_{net}"],
                arrays[f"{variant}__grad_{net}"][r],
                meta["n_pos"],
                f"{variant} round {r}: {net} gradients",
                scale="net",
            )


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameters_and_targets_equal_official(fixture, replayed, variant):
    """Every online parameter after each round (Adam, lr 0.01) and every target parameter after the last
    (Polyak, rate 0.01, parameters only)."""
    arrays, meta = fixture
    for r, ours in enumerate(replayed[variant]["rounds"]):
        assert_summaries_close(
            ours["param"], arrays[f"{variant}__param"][r], meta["n_pos"], f"{variant} round {r}: parameters"
        )
    assert_summaries_close(
        replayed[variant]["target"],
        arrays[f"{variant}__target"],
        meta["n_pos"],
        f"{variant}: target parameters",
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_bn_running_stats_equal_official(fixture, replayed, variant):
    """BatchNorm running mean / var and batch counts of the actor, the critic and both targets (OMAR's critic took
    one extra running-statistics step per update before 2026-11-24: the module docstring)."""
    arrays, meta = fixture
    ours, ref = replayed[variant]["buffers"], arrays[f"{variant}__buffers"]
    assert_summaries_close(ours, ref, meta["n_pos"], f"{variant}: BN running statistics")
    np.testing.assert_array_equal(replayed[variant]["bn_count"], arrays[f"{variant}__bn_count"])
