"""scripts/device_pack.py: a dataset packed with its next_obs bytes zeroed comes back bit-equal (sha256) on unpack,
episode ends included; a damaged pack is refused; a compressed npz is refused at pack time."""

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location(
    "device_pack", Path(__file__).resolve().parents[1] / "scripts" / "device_pack.py"
)
device_pack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_pack)


def _dataset(root: Path, compressed: bool = False) -> Path:
    g = np.random.default_rng(0)
    T = 300
    obs = g.normal(size=(T, 2, 5)).astype(np.float32)
    nxt = np.empty_like(obs)
    nxt[:-1] = obs[1:]
    nxt[-1] = g.normal(size=(2, 5))
    ends = np.arange(T) % 50 == 49
    nxt[ends] = g.normal(size=(int(ends.sum()), 2, 5))  # an episode's last next_obs is not the next row's obs
    path = root / "data" / "toy" / "d-v1.npz"
    path.parent.mkdir(parents=True)
    (np.savez_compressed if compressed else np.savez)(
        path, obs=obs, next_obs=nxt, actions=g.normal(size=(T, 2, 3)), timeouts=ends
    )
    path.with_name("d-v1.json").write_text(json.dumps({"name": "toy"}))
    return path


def test_pack_then_unpack_is_bit_equal(tmp_path):
    root, carry = tmp_path / "repo", tmp_path / "carry"
    path = _dataset(root)
    original = path.read_bytes()
    entry = device_pack.pack_dataset(path, carry, root)
    assert entry["next_obs_zeroed"] and entry["path"] == "data/toy/d-v1.npz"
    rows = np.load(carry / "data" / "data" / "toy" / "d-v1.npz.rows.npz")
    assert rows["idx"].tolist() == [49, 99, 149, 199, 249, 299]  # the episode ends only
    path.unlink()
    path.with_name("d-v1.json").unlink()
    device_pack.unpack_dataset(entry, carry, root)
    assert path.read_bytes() == original
    assert json.loads(path.with_name("d-v1.json").read_text()) == {"name": "toy"}
    with np.load(path) as d:  # a valid npz again (the zip's CRCs are the original's)
        assert np.array_equal(d["next_obs"][:-1][~d["timeouts"][:-1]], d["obs"][1:][~d["timeouts"][:-1]])


def test_damaged_pack_is_refused(tmp_path):
    root, carry = tmp_path / "repo", tmp_path / "carry"
    entry = device_pack.pack_dataset(_dataset(root), carry, root)
    rows_file = carry / "data" / "data" / "toy" / "d-v1.npz.rows.npz"
    r = dict(np.load(rows_file))
    r["rows"][0] += 1.0
    np.savez(rows_file, **r)
    with pytest.raises(SystemExit, match="sha256 .* differs from the packed"):
        device_pack.unpack_dataset(entry, carry, root)


def test_compressed_npz_is_refused(tmp_path):
    path = _dataset(tmp_path / "repo", compressed=True)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("next_obs.npy").compress_type != zipfile.ZIP_STORED
    with pytest.raises(ValueError, match="next_obs.npy is compressed"):
        device_pack.pack_dataset(path, tmp_path / "carry", tmp_path / "repo")
