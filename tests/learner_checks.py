"""What the learners' tests share: synthetic team data, the checkpoint-and-resume check and the NaN-guard check.

``team_data`` draws in one fixed order (obs, actions, rewards, next_obs, then the random terminals / time-outs
asked for, then the state pair), so a test that asks for the same arrays gets the same numbers on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pytest
import torch

from common.datasets.dataset import Dataset


def team_data(
    t: int,
    n: int,
    o: int,
    a: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    state_dim: int = 0,
    p_terminal: float = 0.1,
    p_timeout: float = 0.0,
    shared_reward: bool = False,
) -> dict[str, torch.Tensor]:
    """``t`` random transitions of ``n`` agents (obs width ``o``, actions in [-1, 1]^a): rewards per agent (or one
    team reward copied to every agent), terminals / time-outs drawn with probability ``p_terminal`` /
    ``p_timeout`` (0: all zero; set fixed ones after), and ``state`` / ``next_state`` of width ``state_dim`` > 0."""
    g = torch.Generator().manual_seed(seed)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    def flags(p: float) -> torch.Tensor:
        return (torch.rand(t, generator=g) < p).to(dtype) if p > 0 else torch.zeros(t, dtype=dtype)

    d = {
        "obs": normal(t, n, o),
        "actions": torch.rand(t, n, a, generator=g, dtype=dtype) * 2 - 1,
        "rewards": normal(t, 1).expand(t, n).clone() if shared_reward else normal(t, n),
        "next_obs": normal(t, n, o),
    }
    d["terminals"], d["timeouts"] = flags(p_terminal), flags(p_timeout)
    if state_dim:
        d["state"], d["next_state"] = normal(t, state_dim), normal(t, state_dim)
    return d


def toy_dataset(
    obs_dims=(5, 4),
    act_dims=(2, 1),
    *,
    t: int = 40,
    state_dim: int = 0,
    ends: int = 10,
    timeouts: bool = False,
) -> Dataset:
    """A ``Dataset`` of ``t`` random transitions, agents with the given (padded) widths: the padding zero, a
    terminal at rows 9, 9 + ends, ...; with ``timeouts`` also a time-out at rows 19, 39, ...; a random state
    (next_state = state) of width ``state_dim`` > 0."""
    rng = np.random.default_rng(0)
    n, Ow, Aw = len(obs_dims), max(obs_dims), max(act_dims)
    om = np.arange(Ow)[None] < np.array(obs_dims)[:, None]
    am = np.arange(Aw)[None] < np.array(act_dims)[:, None]
    obs, nxt = rng.normal(size=(t, n, Ow)) * om, rng.normal(size=(t, n, Ow)) * om
    act = rng.uniform(-1, 1, (t, n, Aw)) * am
    term, tout = np.zeros(t, bool), np.zeros(t, bool)
    term[9::ends] = True
    if timeouts:
        tout[19::20] = True
    st = rng.normal(size=(t, state_dim)) if state_dim else None
    return Dataset.from_arrays(
        "toy",
        "random",
        obs,
        act,
        rng.normal(size=(t, n)),
        nxt,
        term,
        tout,
        state=st,
        next_state=st,
        obs_dims=obs_dims,
        act_dims=act_dims,
    )


def max_diff(sd1, sd2) -> float:
    """The largest |difference| between two sequences of state dicts with the same keys in the same order."""
    err = 0.0
    for a, b in zip(sd1, sd2, strict=True):
        assert list(a) == list(b)
        for k in a:
            err = max(err, (a[k].double().cpu() - b[k].double().cpu()).abs().max().item())
    return err


def const_mlp(net, values) -> None:
    """Every layer of an ensemble MLP zero, the last bias = ``values`` [M, out] (float64): the net outputs
    ``values`` whatever its input."""
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        net.layers[-1].bias.copy_(torch.tensor(values, dtype=torch.float64)[:, None, :])


def assert_resume_identical(
    make: Callable[[], object],
    data: dict,
    tmp_path,
    names: Iterable[str],
    *,
    make_resumed: Callable[[], object] | None = None,
    moment: str = "exp_avg",
):
    """A learner trained 3 updates, checkpointed (torch.save of its state_dict) and trained 2 more equals a fresh
    one (``make_resumed``, default ``make``) that loads the checkpoint and trains the same 2: its step, every named
    network's tensors, every named optimizer's (``*_opt``) ``moment`` and the training stream ``rng``. Returns the
    two learners and the first one's final state_dict for further checks."""
    L = make()
    prep = L.prepare_data(data)
    for _ in range(3):
        L.update(L.sample_batch(prep))
    torch.save(L.state_dict(), tmp_path / "ckpt.pt")
    for _ in range(2):
        L.update(L.sample_batch(prep))
    R = (make_resumed or make)()
    R.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=False))
    for _ in range(2):
        R.update(R.sample_batch(prep))
    assert R.step == L.step == 5
    sl, sr = L.state_dict(), R.state_dict()
    for name in names:
        a, b = sl[name], sr[name]
        if name.endswith("_opt"):
            a, b = a["state"], b["state"]
            assert a.keys() == b.keys() and all(torch.equal(a[k][moment], b[k][moment]) for k in a), name
        else:
            assert all(torch.equal(a[k], b[k]) for k in a), name
    assert torch.equal(sl["rng"], sr["rng"])
    return L, R, sl


def assert_same_policy(L, R, obs: np.ndarray) -> None:
    """Both learners' policies give the same actions, bit for bit, on ``obs`` (cast to float32)."""
    obs = obs.astype(np.float32)
    assert np.array_equal(L.policy()(obs), R.policy()(obs))


def record_decodes(monkeypatch, vae) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Wraps ``vae.decode`` (for the test's duration): each call appends its latent z and its decoded actions
    (detached copies) to the two lists returned."""
    zs: list[torch.Tensor] = []
    decoded: list[torch.Tensor] = []
    orig = vae.decode

    def recording_decode(obs, z=None):
        zs.append(z.detach().clone())
        out = orig(obs, z)
        decoded.append(out.detach().clone())
        return out

    monkeypatch.setattr(vae, "decode", recording_decode)
    return zs, decoded


def assert_nan_guard(
    L, data: dict, loss: str = "critic_loss", poison: Callable[[dict], None] | None = None
) -> None:
    """One update on a batch of ``data``, then a NaN in that batch's first reward (and ``poison(batch)``, for the
    fields a learner masks the reward with): the second update raises FloatingPointError naming ``loss`` and
    update 2."""
    batch = L.sample_batch(L.prepare_data(data))
    L.update(batch)
    batch["rewards"][0, 0] = float("nan")
    if poison is not None:
        poison(batch)
    with pytest.raises(FloatingPointError, match=f"{loss} is not finite at update 2"):
        L.update(batch)
