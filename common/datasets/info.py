"""Command line: ``python -m common.datasets.info info PATH_OR_ID`` prints a dataset's card and verifies
its checksum, shapes and dtypes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping, Sequence

from common.datasets.card import DatasetError
from common.datasets.dataset import Dataset
from common.datasets.returns import normalize


def _format_card(card: Mapping[str, Any]) -> str:
    lines = []
    for k, v in card.items():
        if k == "returns":
            continue
        if k == "arrays" and isinstance(v, Mapping):
            lines.append("arrays:")
            lines += [f"  {a:<16} {tuple(m['shape'])} {m['dtype']}" for a, m in v.items()]
            continue
        if k == "libraries" and isinstance(v, Mapping):
            lines.append("libraries: " + ", ".join(f"{n} {ver}" for n, ver in v.items()))
            continue
        if isinstance(v, (dict, list)) and len(json.dumps(v)) > 80:
            v = json.dumps(v, indent=2).replace("\n", "\n  ")
        elif isinstance(v, (dict, list)):
            v = json.dumps(v)
        lines.append(f"{k}: {v}")
    r = card.get("returns") or {}
    lines.append(f"episode returns ({card.get('return_mode')}, E={card.get('n_episodes')}):")

    def f(x):
        return "n/a" if x is None else f"{x:.4g}"

    lines.append(
        f"  mean {f(r.get('mean'))}  std {f(r.get('std'))}  min {f(r.get('min'))}  max {f(r.get('max'))}"
    )
    q = r.get("quantiles") or {}
    if q:
        lines.append("  quantiles " + "  ".join(f"q{k}={f(v)}" for k, v in q.items()))
    refs = card.get("ref_scores")
    if (
        refs
        and refs.get("random") is not None
        and refs.get("expert") is not None
        and r.get("mean") is not None
    ):
        lines.append(f"  normalized mean {normalize(r['mean'], refs):.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m common.datasets.info",
        description="Inspect offmarl-repro datasets (.npz + .json card). Cache root: $OFFMARL_DATA, else "
        "$XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("info", help="print a dataset's card and verify its checksum, shapes and dtypes")
    p.add_argument(
        "path", help="base path (with or without .npz/.json) or a dataset id like omar/spread/medium-v1"
    )
    args = ap.parse_args(argv)
    if args.cmd == "info":
        try:
            ds = Dataset.load(args.path)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(_format_card(ds.card))
        print(f"checksum OK (sha256 {ds.card['sha256']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
