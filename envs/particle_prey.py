"""The fixed prey of the predator-prey particle worlds (envs/particles.py): the scripted rule
(:func:`flee_action`, OMAR's tag / world and OTC's predator_prey), our frozen learned prey (:class:`NumpyActor`
loaded by :func:`load_prey` from ``envs/assets/prey`` after its sha256 check), and the check of the prey options
of omar/tag and omar/world (:func:`prey_options`). The module docstring of envs/particles.py describes the options.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

PreyPolicy = Callable[[np.ndarray], np.ndarray]


# ---- learned, frozen prey ------------------------------------------------------------------------------
PREY_DIR = Path(__file__).resolve().parent / "assets" / "prey"  # <key>-<version>.npz, cards, manifest.json
PREY_VERSIONS = ("v2",)  # learned prey versions; "scripted" is the rule-based flee_action
PREY_KEYS = {"omar/tag": "tag", "omar/world": "world"}  # env name -> asset file prefix


def prey_file(env_name: str, version: str) -> str:
    """Asset file name of a learned prey, e.g. ``tag-v2.npz``."""
    return f"{PREY_KEYS[env_name]}-{version}.npz"


class NumpyActor:
    """A deterministic actor exported from ``common.networks.heads.DeterministicActor`` (one member), evaluated in numpy
    float64: ``x`` = obs zero-padded to the trained input width (the learner's padded obs),
    [``(x − mean) / sqrt(var + eps) · gamma + beta``, BatchNorm in eval mode, if exported], then
    (``x @ W_i + b_i`` -> ReLU) per hidden layer, ``max_action · tanh(x @ W_L + b_L)``.

    Arrays (``np.savez``): ``obs_dim`` (the env's real prey obs size), ``max_action``, ``n_layers`` and
    ``W{i}`` [in, out], ``b{i}`` [out]; with input BatchNorm also ``bn_mean``, ``bn_var``, ``bn_weight``,
    ``bn_bias`` [in] and ``bn_eps``."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        f64 = lambda k: np.asarray(arrays[k], dtype=np.float64)  # noqa: E731
        self.obs_dim = int(arrays["obs_dim"])
        self.max_action = float(arrays["max_action"])
        n = int(arrays["n_layers"])
        self.layers = [(f64(f"W{i}"), f64(f"b{i}")) for i in range(n)]
        self.in_dim = self.layers[0][0].shape[0]
        self.bn = None
        if "bn_mean" in arrays:
            scale = f64("bn_weight") / np.sqrt(f64("bn_var") + float(arrays["bn_eps"]))
            self.bn = (f64("bn_mean"), scale, f64("bn_bias"))
        if self.obs_dim > self.in_dim:
            raise ValueError(f"actor input width {self.in_dim} < obs_dim {self.obs_dim}")

    @classmethod
    def load(cls, path: Path) -> "NumpyActor":
        with np.load(path, allow_pickle=False) as z:
            return cls({k: z[k] for k in z.files})

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """obs [*, obs_dim] -> actions [*, A] in [−max_action, max_action]."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"NumpyActor expects obs with {self.obs_dim} entries, got shape {obs.shape}")
        x = np.zeros((*obs.shape[:-1], self.in_dim))
        x[..., : self.obs_dim] = obs
        if self.bn is not None:
            mean, scale, beta = self.bn
            x = (x - mean) * scale + beta
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < last:
                x = np.maximum(x, 0.0)
        return self.max_action * np.tanh(x)


_PREY_CACHE: dict[str, NumpyActor] = {}  # sha256 -> actor (files are read and checked on every load)


def load_prey(env_name: str, version: str, root: Path | str | None = None) -> NumpyActor:
    """The frozen learned prey ``version`` of ``env_name`` from ``root`` (default :data:`PREY_DIR`), after
    checking its sha256 against ``root/manifest.json``."""
    root = Path(root) if root is not None else PREY_DIR
    name = prey_file(env_name, version)
    path, manifest_path = root / name, root / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"prey weights {path} are missing (train them with: python -m papers.omar.prey --env {env_name})"
        )
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing: cannot verify the checksum of {path}")
    entry = json.loads(manifest_path.read_text()).get(name)
    if entry is None:
        raise ValueError(f"{manifest_path} has no entry for {name}: cannot verify the checksum of {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()  # a small file; envs/ imports nothing of ours
    if digest != entry["sha256"]:
        raise ValueError(
            f"checksum mismatch for prey weights {path}: sha256 {digest}, manifest says {entry['sha256']}"
        )
    if digest not in _PREY_CACHE:
        _PREY_CACHE[digest] = NumpyActor.load(path)
    return _PREY_CACHE[digest]


# ---- the scripted prey ---------------------------------------------------------------------------------
def flee_action(pos: np.ndarray, predators_rel: np.ndarray, turn: bool, edge: float = 0.9) -> np.ndarray:
    """Scripted prey rule: the unit vector away from the nearest predator (predators_rel [K, 2], relative to the
    prey); on each axis where ``|pos| >= edge`` a component pointing further out is reversed (``turn=True``,
    OMAR's worlds: the prey has inertia and only a reversed force brakes it near the edge) or set to 0
    (``turn=False``, OTC's velocity world: the prey stops at once and can be cornered). Returns [2]."""
    rel = np.asarray(predators_rel, dtype=np.float64).reshape(-1, 2)
    d = np.sqrt(np.sum(np.square(rel), axis=1))
    k = int(np.argmin(d))
    out = -rel[k] / d[k] if d[k] > 0 else np.zeros(2)
    outward = (np.abs(pos) >= edge) & (np.sign(out) == np.sign(pos))
    out[outward] = -out[outward] if turn else 0.0
    return out


def flee_policy(pos_at: int, pred_at: int, n_pred: int, turn: bool) -> PreyPolicy:
    """The scripted prey as an obs -> action callable, given where the prey's obs holds pos and predators."""

    def policy(obs: np.ndarray) -> np.ndarray:
        return flee_action(obs[pos_at : pos_at + 2], obs[pred_at : pred_at + 2 * n_pred], turn)

    policy.__name__ = policy.__qualname__ = "flee_nearest_predator"
    return policy


# ---- the prey options of tag and world -----------------------------------------------------------------
def _check_prey_policy(value, obs_dim: int):
    if value is not None and not callable(value):
        raise ValueError(
            f"prey_policy={value!r} is not allowed; it must be None (scripted prey) or a callable mapping the "
            f"prey's obs (np.ndarray [{obs_dim}]) to an action in [-1, 1]^2"
        )
    return value


def prey_options(env_name: str, prey_policy, prey, learn_prey, obs_dim: int) -> PreyPolicy | None:
    """Check the prey options of tag / world; returns the fixed prey's policy (None when learn_prey)."""
    _check_prey_policy(prey_policy, obs_dim)
    allowed = ("scripted", *PREY_VERSIONS)
    if not isinstance(prey, str) or prey not in allowed:
        raise ValueError(f"prey={prey!r} is not allowed; prey must be one of {', '.join(map(repr, allowed))}")
    if not isinstance(learn_prey, bool):
        raise ValueError(f"learn_prey={learn_prey!r} is not allowed; learn_prey must be True or False")
    if learn_prey and (prey != "scripted" or prey_policy is not None):
        raise ValueError(
            f"learn_prey=True makes the prey a learning agent; it cannot be combined with "
            f"prey={prey!r} / prey_policy={prey_policy!r}"
        )
    if prey_policy is not None and prey != "scripted":
        raise ValueError(f"give either prey={prey!r} or a prey_policy callable, not both")
    if learn_prey:
        return None
    if prey != "scripted":
        actor = load_prey(env_name, prey)
        if actor.obs_dim != obs_dim:
            raise ValueError(
                f"prey={prey!r} of {env_name} expects {actor.obs_dim} obs entries; the prey sees {obs_dim}"
            )
        return actor
    return prey_policy
