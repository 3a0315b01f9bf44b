"""Pack what a run on the lent GPU machine needs beyond the git tree, and unpack it there.

    python scripts/device_pack.py pack [--python 3.12] [--dataset data/.../x.npz ...] [--out .carry]
    python scripts/device_pack.py unpack [--carry .carry] [--site /tmp/site]    # on the device machine

Why: the device machine's image has torch and pytest but not mujoco, gymnasium, gymnasium-robotics or pettingzoo
(found 2026-11-26), cannot reach the network, and takes at most 64 MiB of untracked files (the ``carry`` paths of a
device call). The GPU tests and ``python -m papers.moma_ppo.bench --device cuda`` need none of this; runs that
build or evaluate in MuJoCo (world-model probes, Table 4a/4b cells) do.

pack (here, with network): downloads the wheels of the simulator stack at the versions installed in this venv for the
device's Python (``--python``; its platform manylinux x86_64), unpacks them without the assets no paper of ours
loads (gymnasium-robotics' adroit_hand, kitchen_franka and stls: 45 MB), and writes ``<out>/site.tar.xz``. Each
``--dataset`` npz (as common.datasets.dataset writes them: stored, not compressed) goes as ``<out>/data/<its path>.xz`` with the
bytes of ``next_obs`` zeroed (next_obs[t] = obs[t + 1] inside an episode: about half of an npz that xz then
squeezes to almost nothing), the rows where that does not hold in ``.rows.npz`` beside it, and its card (``.json``)
as is. ``<out>`` must be ignored by git (add it to .git/info/exclude) and named in the device call's ``carry``.

unpack (there): extracts the site packages to ``--site`` (then ``export PYTHONPATH=<site>:$PWD``), rebuilds every
dataset in place (its path in the tree) and checks its sha256 against the one recorded at pack time: a dataset
that does not come back bit-equal is an error, nothing runs on it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
from numpy.lib import format as npf

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "mujoco",
    "mujoco-core",
    "gymnasium",
    "gymnasium-robotics",
    "pettingzoo",
    "glfw",
    "PyOpenGL",
    "Farama-Notifications",
)
SKIP = (
    "gymnasium_robotics/envs/assets/adroit_hand/",
    "gymnasium_robotics/envs/assets/kitchen_franka/",
    "gymnasium_robotics/envs/assets/stls/",
)
KEY = "next_obs.npy"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _member_data(path: Path, name: str) -> tuple[int, int]:
    """(offset, length) in the file of the raw array bytes of npz member ``name`` (after its .npy header)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{path}: {name} is compressed; only stored npz members can be packed this way")
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        start = (
            info.header_offset
            + 30
            + int.from_bytes(local[26:28], "little")
            + int.from_bytes(local[28:30], "little")
        )
        f.seek(start)
        major, _ = npf.read_magic(f)
        read = {1: npf.read_array_header_1_0, 2: npf.read_array_header_2_0}.get(major)
        if read is None:
            raise ValueError(f"{path}: {name} has .npy format version {major}, not 1 or 2")
        shape, fortran, dtype = read(f)
        if fortran:
            raise ValueError(f"{path}: {name} is Fortran-ordered")
        return f.tell(), int(np.prod(shape)) * dtype.itemsize


def pack_dataset(path: Path, out: Path, root: Path = REPO) -> dict:
    """Packs one npz under ``root`` into ``out`` (module docstring); returns its manifest entry."""
    rel = path.resolve().relative_to(root.resolve())
    dest = out / "data" / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    raw = bytearray(path.read_bytes())
    entry = {"path": str(rel), "sha256": hashlib.sha256(raw).hexdigest(), "next_obs_zeroed": False}
    with np.load(path) as d:
        names = set(d.files)
        if "next_obs" in names and "obs" in names:
            obs, nxt = d["obs"], d["next_obs"]
            start, size = _member_data(path, KEY)
            if nxt.nbytes != size or obs.shape != nxt.shape:
                raise ValueError(f"{path}: next_obs does not match its header or obs' shape")
            expect = np.empty_like(nxt)
            expect[:-1] = obs[1:]
            expect[-1] = 0
            bad = np.flatnonzero((expect != nxt).reshape(len(nxt), -1).any(1))
            np.savez(dest.with_name(dest.name + ".rows.npz"), idx=bad, rows=nxt[bad])
            raw[start : start + size] = bytes(size)
            entry.update(next_obs_zeroed=True, start=start, size=size)
    with lzma.open(dest.with_name(dest.name + ".xz"), "wb", preset=6) as f:
        f.write(raw)
    card = path.with_name(path.name[: -len(".npz")] + ".json") if path.name.endswith(".npz") else None
    if card is not None and card.exists():
        shutil.copy2(card, dest.with_name(card.name))
        entry["card"] = card.name
    return entry


def unpack_dataset(entry: dict, carry: Path, root: Path = REPO) -> None:
    """Rebuilds one packed npz at its path under ``root``; SystemExit when its sha256 is not the packed one."""
    rel = Path(entry["path"])
    src = carry / "data" / rel
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(src.with_name(src.name + ".xz")) as f:
        raw = bytearray(f.read())
    if entry["next_obs_zeroed"]:
        with np.load(io.BytesIO(bytes(raw))) as d:
            obs = d["obs"]
        nxt = np.empty_like(obs)
        nxt[:-1] = obs[1:]
        nxt[-1] = 0
        r = np.load(src.with_name(src.name + ".rows.npz"))
        nxt[r["idx"]] = r["rows"]
        start, size = int(entry["start"]), int(entry["size"])
        raw[start : start + size] = np.ascontiguousarray(nxt).tobytes()
    sha = hashlib.sha256(raw).hexdigest()
    if sha != entry["sha256"]:
        raise SystemExit(f"{rel}: rebuilt sha256 {sha[:12]} differs from the packed {entry['sha256'][:12]}")
    target.write_bytes(raw)
    if "card" in entry:
        shutil.copy2(src.with_name(entry["card"]), target.with_name(entry["card"]))
    print(f"unpacked {rel} (sha256 {sha[:12]} checked)")


def pack_site(out: Path, python: str) -> Path:
    pins = [f"{p}=={metadata.version(p)}" for p in PACKAGES]
    with tempfile.TemporaryDirectory() as tmp:
        wheels, site = Path(tmp) / "wheels", Path(tmp) / "site"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            python,
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "-d",
            str(wheels),
            *pins,
        ]
        subprocess.run(cmd, check=True)
        for whl in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(whl) as zf:
                zf.extractall(site, [n for n in zf.namelist() if not n.startswith(SKIP)])
        dest = out / "site.tar.xz"
        with tarfile.open(dest, "w:xz") as tar:
            tar.add(site, arcname=".")
    return dest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python scripts/device_pack.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pk = sub.add_parser("pack", help="here: site packages + datasets into --out")
    pk.add_argument("--python", default="3.12", help="the device machine's Python version (default 3.12)")
    pk.add_argument(
        "--dataset", action="append", default=[], type=Path, help="an npz under the repository (repeat)"
    )
    pk.add_argument("--out", type=Path, default=REPO / ".carry", help="the carry folder (default .carry)")
    pk.add_argument(
        "--no-site", action="store_true", help="datasets only (the site tarball is already there)"
    )
    up = sub.add_parser("unpack", help="there: extract the site packages, rebuild and check the datasets")
    up.add_argument("--carry", type=Path, default=REPO / ".carry")
    up.add_argument("--site", type=Path, default=Path("/tmp/site"))
    a = p.parse_args(argv)
    if a.cmd == "pack":
        a.out.mkdir(parents=True, exist_ok=True)
        for d in a.dataset:
            if not d.exists() or d.suffix != ".npz":
                p.error(f"--dataset {d}: not an existing .npz file")
        entries = [pack_dataset(d, a.out) for d in a.dataset]
        (a.out / "manifest.json").write_text(json.dumps({"datasets": entries}, indent=1))
        if not a.no_site:
            print(f"site packages: {pack_site(a.out, a.python)}")
        total = sum(f.stat().st_size for f in a.out.rglob("*") if f.is_file())
        print(f"{a.out}: {total / 2**20:.1f} MiB (a device call carries at most 64 MiB with the tree)")
    else:
        a.site.mkdir(parents=True, exist_ok=True)
        site = a.carry / "site.tar.xz"
        if site.exists():
            with tarfile.open(site) as tar:
                tar.extractall(a.site)
            print(f"site packages in {a.site}: export PYTHONPATH={a.site}:$PWD")
        manifest = a.carry / "manifest.json"
        for entry in json.loads(manifest.read_text())["datasets"] if manifest.exists() else []:
            unpack_dataset(entry, a.carry)


if __name__ == "__main__":
    main()
