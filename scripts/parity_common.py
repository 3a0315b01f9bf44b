"""Helpers shared by the official-code parity fixtures (``scripts/*_parity_fixture.py``) and their tests
(``tests/test_*official_parity.py``, ``tests/test_envs_omar_parity.py``).

The fixture scripts import it as ``parity_common`` (their own folder is on ``sys.path``: ``python scripts/X.py``, or
the ``sys.path.insert`` at their top when imported from elsewhere); the tests as ``scripts.parity_common`` (the
repository root is on ``sys.path``, tests/conftest.py). It holds no official code and imports torch only inside the
functions that need it, so a script's ``--help`` stays cheap.

- official files: ``require_files`` (the checkout has them), ``sha256_of`` (their hashes for ``meta``),
  ``load_module`` (a file imported by path), ``install_gym_stand_in`` (``gym`` from gymnasium when absent);
- fixture files: ``fixture_parser`` / ``write_fixture`` (a script's ``main``), ``load_fixture`` (arrays and meta);
- recorded inputs: ``weight_values`` / ``write_weights`` (the CAST-BCQ fixtures' weight rule), ``RecordedRandom`` (a seeded stand-in
  for the ``random`` module whose samples are recorded), ``losses_at_backward`` (every loss at its ``backward``);
- parameter summaries: ``positions`` / ``summary`` (what the fixtures store per parameter or gradient),
  ``assert_summaries_close`` (the tests' comparison of them);
- flat weights and tolerances of the MOMA-PPO tests: ``t64``, ``unpack``, ``assert_close``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import random
import sys
import types
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


# ---- official files ---------------------------------------------------------------------------------------------


def require_files(root: Path, files, hint: str) -> None:
    """FileNotFoundError "<root> lacks <files>: <hint>" unless every path of ``files`` is a file under ``root``."""
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{root} lacks {', '.join(missing)}: {hint}")


def sha256_of(root: Path, files) -> dict[str, str]:
    """{relative path: sha256 hex digest} of the official files used (recorded in a fixture's ``meta``)."""
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files}


def load_module(path: Path, name: str, *, register: bool):
    """The Python file ``path`` imported as a module called ``name``; ``register``: also entered in ``sys.modules``
    before it runs (needed where the file's classes are pickled, copied or looked up by module name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def install_gym_stand_in(*, discrete=None, env_api: bool = False) -> None:
    """If ``gym`` cannot be imported: a stand-in ``gym`` whose ``spaces.Box`` / ``spaces.Discrete`` are gymnasium's
    (``discrete``, if given, replaces ``Discrete``); with ``env_api`` also ``gym.Env``, ``spaces.MultiDiscrete`` /
    ``spaces.Tuple`` (gymnasium's) and an inert ``gym.envs.registration`` (``register``, ``EnvSpec``)."""
    try:
        import gym  # noqa: F401

        return
    except ImportError:
        pass
    import gymnasium

    spaces = types.ModuleType("gym.spaces")
    spaces.Box = gymnasium.spaces.Box
    spaces.Discrete = gymnasium.spaces.Discrete if discrete is None else discrete
    gym_mod = types.ModuleType("gym")
    gym_mod.spaces = spaces
    modules = {"gym": gym_mod, "gym.spaces": spaces}
    if env_api:
        spaces.MultiDiscrete, spaces.Tuple = gymnasium.spaces.MultiDiscrete, gymnasium.spaces.Tuple
        gym_mod.Env = gymnasium.Env
        envs_mod, reg = types.ModuleType("gym.envs"), types.ModuleType("gym.envs.registration")
        reg.register = lambda *a, **k: None
        reg.EnvSpec = object
        envs_mod.registration = reg
        gym_mod.envs = envs_mod
        modules.update({"gym.envs": envs_mod, "gym.envs.registration": reg})
    sys.modules.update(modules)


# ---- fixture files ----------------------------------------------------------------------------------------------


def fixture_parser(doc: str, repo_flag: str, repo_help: str, fixture_name: str) -> argparse.ArgumentParser:
    """A fixture script's command line: ``repo_flag`` (required, the official checkout) and ``--out`` (default
    tests/fixtures/``fixture_name``); the description is the first paragraph of ``doc``, the rest of the module
    docstring being the script's documentation."""
    ap = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(repo_flag, type=Path, required=True, help=repo_help)
    ap.add_argument(
        "--out",
        type=Path,
        default=FIXTURES / fixture_name,
        help=f"fixture file to write (default tests/fixtures/{fixture_name})",
    )
    return ap


def write_fixture(arrays: dict[str, np.ndarray], out: Path) -> Path:
    """``np.savez_compressed`` to a temporary file next to ``out``, then renamed onto ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(arrays)} arrays)")
    return out


def load_fixture(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(every array of the .npz, its ``meta`` entry parsed from JSON); the arrays keep the raw ``meta`` entry."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(str(arrays["meta"]))


# ---- recorded inputs --------------------------------------------------------------------------------------------


def weight_values(shape, fan_in: int, gain: float, rs: np.random.RandomState) -> np.ndarray:
    """The CAST-BCQ fixtures' weight rule (the tests apply the same one): U(-1, 1) * gain / sqrt(fan_in)."""
    return rs.uniform(-1.0, 1.0, size=shape) * gain / np.sqrt(fan_in)


def write_weights(draws) -> None:
    """The fixtures' weights written in draw order: for each ``(parameter, shape, fan_in, gain, rs)`` of ``draws``,
    the torch parameter becomes ``weight_values(shape, fan_in, gain, rs)`` (each draw advances ``rs``)."""
    import torch

    with torch.no_grad():
        for param, shape, fan_in, gain, rs in draws:
            param.copy_(torch.from_numpy(weight_values(shape, fan_in, gain, rs)))


class RecordedRandom:
    """Stand-in for an official module's ``random`` (``randint`` / ``sample``): a seeded ``random.Random`` whose
    ``sample`` results are recorded in ``log``."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.log: list[list[int]] = []

    def randint(self, lo, hi):
        return self.r.randint(lo, hi)

    def sample(self, population, k):
        out = self.r.sample(population, k)
        self.log.append(list(out))
        return out


@contextlib.contextmanager
def losses_at_backward(losses: list[float]):
    """While active, every ``torch.Tensor.backward`` first appends ``float(loss)`` to ``losses``."""
    import torch

    backward = torch.Tensor.backward

    def spy_backward(self, *a, **k):
        losses.append(float(self.detach()))
        return backward(self, *a, **k)

    torch.Tensor.backward = spy_backward
    try:
        yield losses
    finally:
        torch.Tensor.backward = backward


# ---- parameter summaries ----------------------------------------------------------------------------------------


def positions(numel: int, n_pos: int) -> np.ndarray:
    """The fixed flat positions of a summary: ``n_pos`` evenly spaced indices (all of them if fewer)."""
    return np.unique(np.linspace(0, numel - 1, min(n_pos, numel)).round().astype(np.int64))


def summary(t, n_pos: int) -> np.ndarray:
    """[n_pos + 2] float64 summary of a tensor (official layout): the entries at ``positions`` (zero-padded), the
    sum, the L2 norm; zeros for None (a parameter without gradient)."""
    import torch

    out = np.zeros(n_pos + 2)
    if t is None:
        return out
    flat = t.detach().reshape(-1).to(torch.float64).numpy()
    pos = positions(flat.size, n_pos)
    out[: pos.size] = flat[pos]
    out[n_pos], out[n_pos + 1] = flat.sum(), np.sqrt(np.square(flat).sum())
    return out


def assert_summaries_close(
    ours: np.ndarray, ref: np.ndarray, n_pos: int, what: str, *, rtol: float, scale: str = "param"
) -> float:
    """Summaries [..., P, n_pos + 2] (P parameters): entries and sums within ``rtol`` of the parameter's norm, norms
    within ``rtol`` (``scale="param"``); or, with ``scale="net"``, entries, sums and norms within ``rtol`` of the norm
    over the P parameters (the whole network's, e.g. the gradient norm its clip reads). "net" is for a parameter whose
    own norm is a tiny fraction of the terms that produce it, where float64 rounding of those terms, which differs
    between CPUs, shows against its own norm. Returns the worst error / scale."""
    norms = ref[..., n_pos + 1 : n_pos + 2]
    if scale == "net":
        norms = np.broadcast_to(np.sqrt(np.square(norms).sum(axis=-2, keepdims=True)), norms.shape)
    elif scale != "param":
        raise ValueError(f"scale {scale!r} is not one of 'param', 'net'")
    norms = np.maximum(norms, 1e-300)
    err = np.abs(ours - ref)[..., : n_pos + 2] / norms
    bad = np.argwhere(err > rtol)
    assert bad.size == 0, (
        f"{what}: {len(bad)} summary entries differ (relative to the {scale} norm), first at "
        f"{bad[0].tolist()}: ours {ours[tuple(bad[0])]!r}, official {ref[tuple(bad[0])]!r}"
    )
    return float(err.max())


# ---- flat weights and tolerances (MOMA-PPO tests) ---------------------------------------------------------------


def t64(x):
    """A float64 torch tensor of ``x``."""
    import torch

    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def unpack(vec: np.ndarray, layout) -> dict:
    """A flat vector of a fixture -> {official state_dict name: float64 tensor} (``layout``: [(name, shape), ...]
    from ``meta``, in order; the vector must be used up exactly)."""
    out, i = {}, 0
    for name, shape in layout:
        n = int(np.prod(shape, dtype=np.int64))
        out[name] = t64(vec[i : i + n]).reshape(shape)
        i += n
    assert i == vec.size
    return out


def assert_close(ours, theirs, what: str, default_tol: dict, **tol) -> float:
    """``np.testing.assert_allclose(ours, theirs reshaped to ours' shape, **(tol or default_tol))`` in float64 (a
    partial ``tol`` is not merged with ``default_tol``); returns the largest absolute difference."""
    import torch

    a = np.asarray(ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    np.testing.assert_allclose(a, b.reshape(a.shape), **(tol or default_tol), err_msg=what)
    return float(np.max(np.abs(a - b.reshape(a.shape)))) if a.size else 0.0
