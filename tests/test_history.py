"""common/networks/history.py: the dataset history builder on a hand-made dataset with terminals and time-outs (exact arrays),
the s' shift, the evaluation buffer, the self-attention encoder (the spec's formula evaluated by hand per member,
shapes, permutation properties, member independence), and its wiring into MAPPO (common/algos/mappo.py)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.algos.mappo import MAPPO, MAPPOConfig
from common.networks.history import (
    HISTORY_ACT_CLIP,
    DatasetHistories,
    HistoryPolicy,
    SelfAttentionHistoryEncoder,
    episode_starts,
    history_step,
    shift_history,
    sinusoidal_positions,
)

C = HISTORY_ACT_CLIP

# 9 steps, 1 agent: episode A = rows 0-4 (time-out at 4), B = rows 5-6 (terminal at 6), C = rows 7-8 (time-out)
TERM = np.array([0, 0, 0, 0, 0, 0, 1, 0, 0], bool)
TOUT = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1], bool)
OBS = np.arange(1, 10, dtype=np.float32)  # o_t = t + 1
ACT = np.array([0.1, 2.0, -0.3, -5.0, 0.5, 0.6, 1.0, -0.8, 0.9], np.float32)  # 2.0, -5.0 and 1.0 get clipped


def step(t):
    return [OBS[t], float(np.clip(ACT[t], -C, C))]


Z = [0.0, 0.0]
# L = 3, oldest first, zeros before the episode's start
EXPECTED = [
    [Z, Z, Z],
    [Z, Z, step(0)],
    [Z, step(0), step(1)],
    [step(0), step(1), step(2)],
    [step(1), step(2), step(3)],
    [Z, Z, Z],
    [Z, Z, step(5)],
    [Z, Z, Z],
    [Z, Z, step(7)],
]
EXPECTED_NEXT = [
    [Z, Z, step(0)],
    [Z, step(0), step(1)],
    [step(0), step(1), step(2)],
    [step(1), step(2), step(3)],
    [step(2), step(3), step(4)],
    [Z, Z, step(5)],
    [Z, step(5), step(6)],
    [Z, Z, step(7)],
    [Z, step(7), step(8)],
]


def hand_dataset(n_agents=1):
    obs = np.stack([OBS * (10**i) for i in range(n_agents)], 1)[..., None]  # [T, N, 1]
    act = np.stack([ACT] * n_agents, 1)[..., None]  # [T, N, 1]
    return DatasetHistories(torch.tensor(obs), torch.tensor(act), TERM, TOUT, length=3)


def test_episode_starts_cut_at_terminals_and_timeouts():
    assert episode_starts(TERM, TOUT).tolist() == [0, 0, 0, 0, 0, 5, 5, 7, 7]
    assert episode_starts(torch.zeros(4), torch.zeros(4)).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="must both be"):
        episode_starts(TERM, TOUT[:-1])


def test_dataset_histories_exact_arrays():
    hist = hand_dataset()
    rows = torch.arange(9)
    h = hist.histories(rows)  # [T, N=1, L=3, D=2]
    assert h.shape == (9, 1, 3, 2)
    torch.testing.assert_close(h[:, 0], torch.tensor(EXPECTED), rtol=0, atol=0)
    torch.testing.assert_close(hist.next_histories(rows)[:, 0], torch.tensor(EXPECTED_NEXT), rtol=0, atol=0)
    # any row shape: [2, 2] rows -> [2, 2, N, L, D]
    h2 = hist.histories(torch.tensor([[3, 6], [0, 8]]))
    assert h2.shape == (2, 2, 1, 3, 2)
    torch.testing.assert_close(h2[0, 1, 0], torch.tensor(EXPECTED[6]))


def test_dataset_histories_per_agent_own_pairs():
    hist = hand_dataset(n_agents=2)
    h = hist.histories(torch.arange(9))  # [T, 2, 3, 2]
    expected = torch.tensor(EXPECTED)
    torch.testing.assert_close(h[:, 0], expected)
    agent1 = expected.clone()
    agent1[..., 0] *= 10  # agent 1's obs are 10 (t + 1); its actions equal agent 0's here
    torch.testing.assert_close(h[:, 1], agent1)


def test_shift_history_gives_the_next_history_within_an_episode():
    hist = hand_dataset()
    rows = torch.arange(9)
    h, nh = hist.histories(rows)[:, 0], hist.next_histories(rows)[:, 0]  # [T, L, D]
    obs, act = torch.tensor(OBS)[:, None], torch.tensor(ACT)[:, None]
    torch.testing.assert_close(shift_history(h, history_step(obs, act)), nh, rtol=0, atol=0)


def test_history_policy_rolls_buffers_from_zeros():
    seen = []

    def act(obs, memory):  # obs [P, E, N, O], memory [P, E, N, L, D]
        seen.append(memory.clone())
        return obs[..., :1] * 3.0  # actions [P, E, N, 1]: 3, 6, 9 get clipped

    pol = HistoryPolicy(act, length=2, step_dim=2)
    for t in range(3):
        out = pol(np.full((1, 2, 1, 1), t + 1.0, np.float32))
        assert isinstance(out, np.ndarray) and out.shape == (1, 2, 1, 1)
    assert torch.equal(seen[0], torch.zeros(1, 2, 1, 2, 2))
    torch.testing.assert_close(seen[1][0, 0, 0], torch.tensor([[0.0, 0.0], [1.0, C]]))
    torch.testing.assert_close(seen[2][0, 1, 0], torch.tensor([[1.0, C], [2.0, C]]))
    pol.reset()
    pol(np.ones((1, 2, 1, 1), np.float32))
    assert torch.equal(seen[-1], torch.zeros(1, 2, 1, 2, 2))


# ---------------------------------------------------------------------------------------------- encoder


def reference_member(enc, m, h):
    """The spec's formula for member m, written out with that member's weights: h [B, L, D] -> [B, E]."""
    E = enc.emb_dim
    lin = lambda layer, x: x @ layer.weight[m] + (layer.bias[m, 0] if layer.bias is not None else 0.0)  # noqa: E731
    x = lin(enc.embed, h) + sinusoidal_positions(enc.length, E)
    q, k, v = lin(enc.wq, x), lin(enc.wk, x), lin(enc.wv, x)
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(E), dim=-1)
    z = x + att @ v
    z = (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-5)
    z = z * enc.norm_weight[m] + enc.norm_bias[m]
    w = torch.softmax(torch.tanh(lin(enc.soft_key, z)) @ enc.query[m], dim=-1)  # [B, L]
    return (w[..., None] * z).sum(-2)


def test_sinusoidal_positions_by_hand():
    P = sinusoidal_positions(3, 6)
    assert P[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert P[1, 0].item() == pytest.approx(math.sin(1.0))
    assert P[1, 1].item() == pytest.approx(math.cos(1.0))
    assert P[2, 2].item() == pytest.approx(math.sin(2.0 / 10000 ** (2 / 6)))
    assert P[2, 5].item() == pytest.approx(math.cos(2.0 / 10000 ** (4 / 6)))


def test_encoder_matches_the_formula_per_member_and_shapes():
    torch.manual_seed(0)
    enc = SelfAttentionHistoryEncoder(3, 5, emb_dim=8, length=4)
    with torch.no_grad():  # non-trivial LayerNorm affine
        enc.norm_weight.uniform_(0.5, 1.5)
        enc.norm_bias.uniform_(-0.5, 0.5)
    h = torch.randn(3, 6, 4, 5)
    out = enc(h)
    assert out.shape == (3, 6, 8)
    for m in range(3):
        torch.testing.assert_close(out[m], reference_member(enc, m, h[m]), rtol=1e-5, atol=1e-5)
    assert enc(h.reshape(3, 2, 3, 4, 5)).shape == (3, 2, 3, 8)  # any middle axes
    torch.testing.assert_close(enc(h.reshape(3, 2, 3, 4, 5)).reshape(3, 6, 8), out)
    assert {k for k, _ in enc.named_parameters()} == {
        "embed.weight",
        "embed.bias",
        "wq.weight",
        "wq.bias",
        "wk.weight",
        "wk.bias",
        "wv.weight",
        "wv.bias",
        "norm_weight",
        "norm_bias",
        "soft_key.weight",
        "query",
    }
    assert "positions" not in enc.state_dict()  # fixed, not saved
    with pytest.raises(ValueError, match="histories must be"):
        enc(torch.randn(3, 6, 5, 5))
    with pytest.raises(ValueError, match="length"):
        SelfAttentionHistoryEncoder(3, 5, 8, 0)


def test_encoder_permutations():
    torch.manual_seed(1)
    enc = SelfAttentionHistoryEncoder(2, 3, emb_dim=6, length=5)
    h = torch.randn(2, 7, 5, 3)
    out = enc(h)
    rows = torch.randperm(7)
    torch.testing.assert_close(enc(h[:, rows]), out[:, rows])  # rows are independent
    steps = torch.tensor([4, 0, 3, 1, 2])
    assert not torch.allclose(enc(h[:, :, steps]), out, atol=1e-4)  # positions make the order matter
    enc.positions.zero_()  # without positions, self-attention + attention pooling ignore the order
    torch.testing.assert_close(enc(h[:, :, steps]), enc(h), rtol=1e-5, atol=1e-6)


def test_encoder_members_are_independent():
    torch.manual_seed(2)
    enc = SelfAttentionHistoryEncoder(3, 4, emb_dim=8, length=3)
    h = torch.randn(3, 5, 3, 4)
    out = enc(h)
    with torch.no_grad():  # perturb member 1's parameters only
        for p in enc.parameters():
            p[1].add_(torch.randn_like(p[1]))
    new = enc(h)
    torch.testing.assert_close(new[[0, 2]], out[[0, 2]], rtol=0, atol=0)
    assert not torch.allclose(new[1], out[1])
    enc.zero_grad()
    enc(h)[0].sum().backward()  # member 0's output: no gradient on the other members' slices
    for name, p in enc.named_parameters():
        assert p.grad[1:].abs().max() == 0, name
    # one member built alone under the same seed equals that member of a batched encoder built under it
    torch.manual_seed(3)
    one = SelfAttentionHistoryEncoder(1, 4, emb_dim=8, length=3)
    torch.manual_seed(3)
    two = SelfAttentionHistoryEncoder(2, 4, emb_dim=8, length=3)
    for key in ("embed.weight", "embed.bias"):
        torch.testing.assert_close(one.state_dict()[key][0], two.state_dict()[key][0])


# ---------------------------------------------------------------------------------------------- MAPPO wiring

TINY = dict(hidden=(8, 8), minibatch_size=16, memory_len=3, memory_dim=4)


def mappo_batch(L, n, rng):
    S, N, O, A = L.n_seeds, L.n_agents, L.obs_dim, L.act_dim
    obs = torch.tensor(rng.normal(size=(S, n, N, O)), dtype=torch.float32)
    act = torch.tensor(rng.normal(size=(S, n, N, A)), dtype=torch.float32)
    mem = torch.tensor(rng.normal(size=(S, n, N, 3, O + A)), dtype=torch.float32)
    nxt = shift_history(mem, history_step(obs, act))
    return {
        "obs": obs,
        "next_obs": obs,
        "actions": act,
        "rewards": torch.tensor(rng.normal(size=(S, n))).float(),
        "masks": torch.ones(S, n),
        "zetas": torch.ones(S, n),
        "memory": mem,
        "next_memory": nxt,
    }


def test_mappo_builds_and_trains_the_encoder():
    L = MAPPO((3, 2), (2, 1), 2, MAPPOConfig(**TINY), seeds=[0, 1])
    assert isinstance(L.encoder, SelfAttentionHistoryEncoder) and L.encoder.n_members == 4
    assert L.encoder.in_dim == 3 + 2 and L.emb_dim == 4
    assert L.actor.trunk.layers[0].in_features == 4 + 3 and L.critic.layers[0].in_features == 4 + 3
    before = {k: v.clone() for k, v in L.encoder.state_dict().items()}
    L.update(mappo_batch(L, 32, np.random.default_rng(0)))
    assert all(not torch.equal(before[k], v) for k, v in L.encoder.state_dict().items())
    assert "encoder" in L.state_dict()
    # evaluation: a history-keeping greedy policy (fresh buffers per call of policy())
    pol = L.policy()
    assert isinstance(pol, HistoryPolicy)
    obs = np.random.default_rng(1).normal(size=(2, 3, 2, 3)).astype(np.float32)
    a0 = pol(obs)
    np.testing.assert_allclose(a0, L.greedy(obs, np.zeros((2, 3, 2, 3, 5), np.float32)), rtol=1e-6)
    pol(obs)
    assert pol.memory.shape == (2, 3, 2, 3, 5) and not torch.equal(
        pol.memory[..., -1, :], torch.zeros(2, 3, 2, 5)
    )
    with pytest.raises(ValueError, match="memory_len"):
        MAPPOConfig(policy="categorical", memory_len=3).validate()
    with pytest.raises(ValueError, match="memory_dim"):
        MAPPOConfig(memory_dim=64).validate()  # unused without memory_len
    with pytest.raises(ValueError, match="pass no encoder"):
        MAPPO((3, 2), (2, 1), 1, MAPPOConfig(**TINY), emb_dim=4)


def test_mappo_memory_off_unchanged_and_seeds_batched_equal_alone():
    off = MAPPO((3, 2), (2, 1), 1, MAPPOConfig(hidden=(8, 8)), seeds=[5])
    assert off.encoder is None and off.cfg.memory_len == 0
    # float64: the attention key bias has a zero gradient in exact math, and its float32 rounding noise (normalised
    # by Adam) depends on the member count
    f64 = torch.float64
    both = MAPPO((3, 2), (2, 1), 2, MAPPOConfig(**TINY), seeds=[3, 7], dtype=f64)
    alone = [MAPPO((3, 2), (2, 1), 1, MAPPOConfig(**TINY), seeds=[s], dtype=f64) for s in (3, 7)]
    batch = mappo_batch(both, 32, np.random.default_rng(2))
    both.update(batch)
    for s, a in enumerate(alone):
        a.update({k: v[s : s + 1] for k, v in batch.items()})
        for key, v in a.encoder.state_dict().items():
            torch.testing.assert_close(
                both.encoder.state_dict()[key][2 * s : 2 * s + 2], v, rtol=1e-9, atol=1e-10
            )
        torch.testing.assert_close(
            both.actor.state_dict()["head.weight"][2 * s : 2 * s + 2],
            a.actor.state_dict()["head.weight"],
            rtol=1e-9,
            atol=1e-10,
        )


def test_layer_norm_reference_agrees_with_torch():
    z = torch.randn(4, 6)
    ref = (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(F.layer_norm(z, (6,)), ref, rtol=1e-5, atol=1e-6)
