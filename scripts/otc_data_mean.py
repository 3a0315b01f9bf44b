"""Add ``extra.normalized_data_mean`` (the D4RL-normalized mean return of the dataset a run trained on) to OTC's
MaMuJoCo records written before papers/otc/deploy.py recorded it; it is the yardstick of Table 1's precondition
t1_pi0_reasonable where no published offline level exists (papers/otc/claims.py).

A record is filled only from the dataset its config names, loaded (or rebuilt) here, and only when that dataset's
card sha256 equals the record's ``data_sha256``: data rebuilt on another CPU type differ and are not used. Records
that already have the field, or whose data are not on this machine, are left as they are (``--dry-run`` lists
them). The files are rewritten atomically, every other line byte for byte.

    python scripts/otc_data_mean.py --profile quick [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.datasets.returns import normalize  # noqa: E402
from common.running.atomic import atomic_write_text  # noqa: E402
from papers.otc.deploy_env import load_dataset  # noqa: E402


def fill(path: Path, dry_run: bool) -> tuple[int, int]:
    """Fill the records of one file: (records filled, records left without the field)."""
    lines, filled, left, cards = path.read_text(encoding="utf-8").splitlines(keepends=True), 0, 0, {}
    for i, line in enumerate(lines):
        rec = json.loads(line)
        extra, spec = rec.get("extra") or {}, (rec.get("config") or {}).get("dataset") or {}
        if (
            "normalized_s0" not in extra
            or "normalized_data_mean" in extra
            or "mamujoco" not in str(spec.get("env"))
        ):
            continue
        key = json.dumps(spec, sort_keys=True)
        if key not in cards:
            cards[key] = load_dataset(spec).card
        card = cards[key]
        if card.get("sha256") != extra.get("data_sha256"):
            left += 1
            print(
                f"{path.name}:{i + 1} {rec['run_id']}: data here {str(card.get('sha256'))[:12]} != record's "
                f"{str(extra.get('data_sha256'))[:12]}; left"
            )
            continue
        extra["normalized_data_mean"] = float(normalize(card["returns"]["mean"], card))
        lines[i] = json.dumps(rec, allow_nan=False, separators=(",", ":")) + "\n"  # as record_line writes
        filled += 1
        print(
            f"{path.name}:{i + 1} {rec['run_id']}: normalized_data_mean {extra['normalized_data_mean']:.2f}"
        )
    if filled and not dry_run:
        atomic_write_text(path, "".join(lines))
    return filled, left


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"), help="records' profile")
    ap.add_argument("--results", type=Path, default=ROOT / "results", help="results root (default: results/)")
    ap.add_argument("--dry-run", action="store_true", help="list what would be filled; write nothing")
    args = ap.parse_args(argv)
    folder = args.results / args.profile / "otc"
    if not folder.is_dir():
        ap.error(f"--results/--profile: no folder {folder}")
    total = [0, 0]
    for path in sorted(folder.glob("*.jsonl")):
        f, lt = fill(path, args.dry_run)
        total[0], total[1] = total[0] + f, total[1] + lt
    print(f"{'would fill' if args.dry_run else 'filled'} {total[0]} records; {total[1]} left (other data)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
