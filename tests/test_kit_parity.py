"""The paper kit (issue 20) changed no number: smoke Table 3, run by the code before the kit
(``BEFORE_KIT``, read from git history) and by this tree on the same cached data, gives records with the
same config hashes, scores, curves and data identity for the same seeds.

Part of Table 3's smoke grid (one task x one dataset kind x the four methods x the smoke seeds) keeps
the test short; every cell of every OMAR item is also checked for an unchanged config hash.
"""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from common.records import read_records

ROOT = Path(__file__).resolve().parent.parent
BEFORE_KIT = "a226af3"  # the last commit before common/ held the paper kit
GRID = ["--env", "omar/spread", "--dataset", "expert"]
SAME = ("config_hash", "config", "score", "normalized", "curve", "extra", "nonfinite", "method", "keys", "seed")
HASHES = """
import importlib, json, sys
from common.profiles import get_profile
from papers.omar import config as C
out = {}
for item in ["table1", "table2", "table3", "table4", "table5", "table6", "figure1", "figure2", "figure3", "figure4",
             "diagnose_table5"]:
    mod = importlib.import_module("papers.omar." + item)
    for prof in ("smoke", "quick", "full"):
        for c in mod.build_cells(get_profile(prof, C.PROFILE_OVERRIDES)):
            out[prof + "/" + item + "/" + json.dumps(c.keys, sort_keys=True)] = c.config_hash
print(json.dumps(out, sort_keys=True))
"""


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    """The tree at BEFORE_KIT, extracted with ``git archive`` (needs this repository's history)."""
    try:
        blob = subprocess.run(["git", "archive", "--format=tar", BEFORE_KIT], cwd=ROOT, capture_output=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"commit {BEFORE_KIT} (before the paper kit) is not in this checkout's history ({e}): a "
                    "shallow clone cannot run this test; fetch the history (git fetch --unshallow) to run it")
    dst = tmp_path_factory.mktemp("before_kit")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dst, filter="data")
    return dst


def _env(root: Path, data: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(root), "OFFMARL_DATA": str(data), "OMP_NUM_THREADS": "1"}


def test_every_omar_cell_keeps_its_config_hash(before):
    def hashes(root):
        p = subprocess.run([sys.executable, "-c", HASHES], cwd=root, env=_env(root, root / "data"),
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(p.stdout)

    old, new = hashes(before), hashes(ROOT)
    assert len(new) > 700 and old == new


def test_smoke_table3_records_equal_before_and_after_the_kit(before, tmp_path):
    data = tmp_path / "data"  # one cache: the old run generates the datasets, the new run loads them
    recs = {}
    for name, root in (("before", before), ("after", ROOT)):
        out = tmp_path / name
        p = subprocess.run([sys.executable, "papers/omar/table3.py", "--profile", "smoke", *GRID, "--results",
                            str(out), "--no-report"], cwd=root, env=_env(root, data), capture_output=True, text=True,
                           timeout=900)
        assert p.returncode == 0, p.stderr[-3000:]
        recs[name] = {(json.dumps(r["keys"], sort_keys=True), r["seed"]): r
                      for r in read_records(out / "smoke" / "omar" / "table3.jsonl")}
    assert len(recs["after"]) == 4 * 2 and recs["after"].keys() == recs["before"].keys()
    for k, new in recs["after"].items():
        old = recs["before"][k]
        assert {f: new.get(f) for f in SAME} == {f: old.get(f) for f in SAME}, k
    assert any(r["score"] is not None for r in recs["after"].values())
