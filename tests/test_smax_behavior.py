"""The SMAX behavior learner (common/behavior/smax_ppo.py) and its masked PPO pieces (common/algos/ppo.py).

Without jax: masked sampling never picks an unavailable action (random logits and masks, adversarial logits), the
masked losses on hand-computed cases, validate(), and a learning check on a one-step game driven by the learner's own
policy (the advantaged action's probability rises, a masked action keeps probability 0). With jaxmarl (smax/3s_vs_3z,
tiny networks): two seeds trained together equal each seed trained alone, and a run killed after a checkpoint and
resumed equals the uninterrupted run. The jax tests compile two vmapped batch sizes (4 and 8 copies; ~9 s each).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from common.algos.ppo import (
    categorical_entropy,
    clipped_value_loss,
    masked_log_softmax,
    masked_mean,
    normalize_advantages,
    ppo_actor_loss,
    ppo_critic_loss,
)
from common.behavior.smax_acting import generator, masked_sample
from common.behavior.smax_ppo import SmaxPPO, SmaxPPOConfig
from common.behavior.smax_ppo_train import train

HAS_JAXMARL = importlib.util.find_spec("jaxmarl") is not None
needs_smax = pytest.mark.skipif(
    not HAS_JAXMARL,
    reason="jaxmarl is not installed: pip install -c constraints.txt -e '.[smax]' (bootstrap does)",
)
TINY = dict(hidden=(8, 8), n_envs=4, iterations=2, eval_every=1, eval_episodes=4)


# ---------------------------------------------------------------------------------------------- masked sampling


def test_masked_sampling_never_picks_an_unavailable_action():
    """Property: over random logits (scale up to 1e3, unavailable actions often given the LARGEST logit) and random
    masks with at least one available action per row, neither Gumbel sampling nor the greedy argmax ever returns an
    unavailable action; a row with one available action always returns it."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        G, R, K = rng.integers(1, 4), rng.integers(1, 40), rng.integers(1, 12)
        avail = rng.random((G, R, K)) < rng.uniform(0.05, 0.9)
        avail[np.arange(G)[:, None], np.arange(R)[None, :], rng.integers(0, K, (G, R))] = True  # >= 1 per row
        logits = rng.normal(0, 10 ** rng.uniform(-2, 3), (G, R, K)).astype(np.float32)
        if trial % 2:
            logits[~avail] = np.abs(logits).max() + 50.0  # the unavailable actions look best
        lt, at = torch.from_numpy(logits), torch.from_numpy(avail)
        gens = [generator(trial, g) for g in range(G)]
        for a in (masked_sample(lt, at, gens), masked_sample(lt, at, None)):
            assert a.shape == (G, R)
            assert at.gather(-1, a[..., None]).all(), f"trial {trial}: an unavailable action was chosen"
        only = avail.sum(-1) == 1
        if only.any():
            a = masked_sample(lt, at, gens).numpy()
            np.testing.assert_array_equal(a[only], avail.argmax(-1)[only])


def test_masked_sampling_follows_the_masked_softmax_and_each_group_its_own_noise():
    """Frequencies of 20,000 draws match softmax over the available actions (2, 0 on the unavailable ones); group
    1's draws do not depend on group 0's logits (its generator alone drives it)."""
    logits = torch.tensor([[[0.0, 1.0, 5.0, -1.0]] * 20_000, [[1.0, 0.0, 0.0, 0.0]] * 20_000])  # [2, R, 4]
    avail = torch.tensor([True, True, False, True]).expand(2, 20_000, 4)
    a = masked_sample(logits, avail, [generator(1, 0), generator(1, 1)])
    freq = torch.bincount(a[0], minlength=4).double() / 20_000
    p = torch.softmax(torch.tensor([0.0, 1.0, -1e9, -1.0], dtype=torch.float64), 0)
    torch.testing.assert_close(freq, p, atol=0.015, rtol=0)
    other = logits.clone()
    other[0] = torch.randn_like(other[0])
    b = masked_sample(other, avail, [generator(1, 0), generator(1, 1)])
    assert torch.equal(a[1], b[1])


# ---------------------------------------------------------------------------------------------- loss pieces


def test_masked_log_softmax_and_entropy_by_hand():
    logits = torch.tensor([[2.0, 2.0, 7.0, 2.0], [0.0, math.log(3.0), 0.0, 0.0]])
    avail = torch.tensor([[True, True, False, False], [True, True, False, False]])
    lp = masked_log_softmax(logits, avail)
    torch.testing.assert_close(
        lp[:, :2], torch.tensor([[math.log(0.5)] * 2, [math.log(0.25), math.log(0.75)]])
    )
    assert torch.all(lp[:, 2:].exp() == 0)  # exactly 0: never sampled, no NaN in p log p
    h = categorical_entropy(lp)
    torch.testing.assert_close(
        h, torch.tensor([math.log(2.0), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))])
    )


def test_weighted_actor_loss_value_loss_and_advantages_by_hand():
    ratio = torch.tensor([[1.1, 0.9, 2.0, 1.0]])
    adv = torch.tensor([[1.0, -2.0, 3.0, 5.0]])
    w = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last row is padding
    # min(rho A, clip(rho, 0.9, 1.1) A): 1.1, min(-1.8, -1.8) = -1.8, min(6, 3.3) = 3.3 -> -(1.1 - 1.8 + 3.3) / 3
    torch.testing.assert_close(ppo_actor_loss(ratio, adv, 0.1, w), torch.tensor([-2.6 / 3]))
    torch.testing.assert_close(ppo_actor_loss(ratio, adv, 0.1), torch.tensor([-(1.1 - 1.8 + 3.3 + 5.0) / 4]))
    # value loss: V = (1, 3), V_old = (0, 0), G = (0, 1), clip 0.5: V_c = (0.5, 0.5)
    # elementwise max((V - G)^2, (V_c - G)^2) = (max(1, .25), max(4, .25)) = (1, 4) -> 0.5 * 2.5 = 1.25
    v, vo, g = torch.tensor([[1.0, 3.0]]), torch.zeros(1, 2), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(clipped_value_loss(v, vo, g, 0.5), torch.tensor([1.25]))
    torch.testing.assert_close(
        clipped_value_loss(v, vo, g, 0.5, torch.tensor([[1.0, 0.0]])), torch.tensor([0.5])
    )
    # MOMA-PPO's form differs: max of the two batch means = max(2.5, 0.25)
    torch.testing.assert_close(ppo_critic_loss(v, vo, g, 0.5), torch.tensor([2.5]))
    # advantages normalised over weighted rows: rows (1, 3) of weight 1 -> mean 2, std 1 -> (-1, 1); padding ignored
    a = normalize_advantages(torch.tensor([[1.0, 3.0, 100.0]]), 0.0, torch.tensor([[1.0, 1.0, 0.0]]))
    torch.testing.assert_close(a[:, :2], torch.tensor([[-1.0, 1.0]]))
    torch.testing.assert_close(
        masked_mean(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)), torch.tensor([0.0])
    )


def test_config_validate_names_bad_values():
    with pytest.raises(ValueError, match=r"critic='qmix' is not allowed; choose one of \['mappo', 'ippo'\]"):
        SmaxPPOConfig(critic="qmix").validate()
    with pytest.raises(ValueError, match="n_envs=0 is not allowed; choose an integer >= 1"):
        SmaxPPOConfig(n_envs=0).validate()
    with pytest.raises(ValueError, match="clip=-0.1 is not allowed; choose a number > 0"):
        SmaxPPOConfig(clip=-0.1).validate()


# ---------------------------------------------------------------------------------------------- learning


@pytest.mark.parametrize("critic", ["mappo", "ippo"])
def test_ppo_learns_a_one_step_game_and_respects_the_masks(critic):
    """One-step episodes, two agents, three actions; team reward = the share of agents playing action 2; agent 1 may
    not play action 2 (masked). Sampling from the learner's own policy, 12 iterations raise agent 0's probability of
    action 2 from 1/3 to > 0.7, agent 1 never plays it, and its probability stays exactly 0."""
    torch.manual_seed(0)
    E, N, O, K = 32, 2, 3, 3
    lr = SmaxPPO(
        N, O, 4, K, SmaxPPOConfig(critic=critic, hidden=(16, 16), n_envs=E, iterations=12), seeds=[5]
    )
    obs = np.zeros((E, 2, N, O), np.float32)
    obs[..., 0] = 1.0
    avail = np.ones((E, 2, N, K), bool)
    avail[:, :, 1, 2] = False

    def prob_of_2() -> float:
        x = torch.cat([torch.from_numpy(obs[:1, 0]), torch.eye(N)[None]], -1)  # [1, N, O + N]
        return masked_log_softmax(lr.actor(x), torch.from_numpy(avail[:1, 0]))[0, :, 2].exp().tolist()

    p0 = prob_of_2()
    assert abs(p0[0] - 1 / 3) < 0.05 and p0[1] == 0.0
    for _ in range(12):
        a = lr.policy()(obs[:, 0], avail[:, 0])  # [E, N]
        assert not np.any(a[:, 1] == 2)
        ro = {
            "obs": obs,
            "state": np.zeros((E, 2, 4), np.float32),
            "avail": avail,
            "actions": a[:, None],
            "reward": (a == 2).mean(1, keepdims=True).astype(np.float32),
            "live": np.ones((E, 1), bool),
            "terminated": np.ones((E, 1), bool),
            "truncated": np.zeros((E, 1), bool),
        }
        lr.update(ro)
    p1 = prob_of_2()
    assert p1[0] > 0.7 and p1[1] == 0.0, (p0, p1)


# ---------------------------------------------------------------------------------------------- on SMAX


@pytest.fixture(scope="module")
def alone():
    return train("smax/3s_vs_3z", SmaxPPOConfig(**TINY), seeds=[7])


def _same_run(a, b, member: int, atol: float = 0.0) -> None:
    for name in ("actor", "critic"):
        sa = getattr(a.learner, name).state_dict()
        sb = getattr(b.learner, name).state_dict()
        for k in sa:
            torch.testing.assert_close(
                sa[k][member : member + 1], sb[k], rtol=0, atol=atol, msg=f"{name}.{k}"
            )
    for x, y in zip(a.log, b.log):
        for k in ("env_steps", "win_rate", "return"):
            assert x[k][member] == y[k][0], (k, x, y)
    for k in ("win_rate", "sampled_win_rate"):
        assert [e[k][member] for e in a.evals] == [e[k][0] for e in b.evals], k


@needs_smax
def test_two_seeds_trained_together_equal_each_seed_alone(alone):
    """Seeds [3, 7] batched on one member axis (8 env copies in one vmap): seed 7's networks, rollouts and
    evaluations equal the run of seed 7 alone (4 copies): the same episodes, parameters equal to float rounding
    (zero-weight padding rows in the smaller seed's minibatches reorder float sums)."""
    both = train("smax/3s_vs_3z", SmaxPPOConfig(**TINY), seeds=[3, 7])
    assert both.learner.actor.n_members == 2 and len(both.log) == 2 and len(both.evals) == 3
    _same_run(both, alone, 1, atol=1e-6)  # measured: 6e-8
    w = both.learner.actor.state_dict()["layers.0.weight"]
    assert not torch.equal(w[0], w[1])  # seed 3 is another network


@needs_smax
def test_killed_run_resumes_to_the_uninterrupted_run(alone, tmp_path):
    ckpt = tmp_path / "run.pt"
    first = train(
        "smax/3s_vs_3z", SmaxPPOConfig(**TINY), seeds=[7], checkpoint=ckpt, checkpoint_every=1, stop_at=1
    )
    assert first.learner.iteration == 1 and ckpt.exists()
    resumed = train("smax/3s_vs_3z", SmaxPPOConfig(**TINY), seeds=[7], checkpoint=ckpt, checkpoint_every=1)
    assert resumed.resumed_from == 1
    _same_run(resumed, alone, 0)
    assert [s[0] for s in resumed.snapshots] == [0, 1, 2]
    with pytest.raises(ValueError, match="written by a different run"):
        train("smax/3s_vs_3z", SmaxPPOConfig(**{**TINY, "lr": 1e-3}), seeds=[7], checkpoint=ckpt)
