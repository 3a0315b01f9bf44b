"""CAST-BCQ Table 2: average score on data of different quality, five methods x three MaMuJoCo tasks (§4.3.3).

    python papers/cast_bcq/table2.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/cast_bcq/table2.py --dataset mixed --env mamujoco/hopper-3x1     # part of the grid

Row groups (``dataset``): 'mixed' = "Multi-Agent MuJoCo, Medium-Expert", the uncoordinated data (Figure 4's
runs, copied when run there); 'medium' / 'expert' = "D4RL (Multi-Agent Variation)", the single-agent SAC medium
/ expert data with the action split per agent. Columns: BCQ (central), I-BCQ, MABCQ, ICQ-MA, CAST-BCQ. Score =
raw return of the last evaluation, mean over seeds (the paper prints no spread); every record also holds the
D4RL-normalized score, the best evaluation and the mean of the last 10. Verdicts: t2_ours_best_uncoordinated,
t2_ours_beats_central_bcq_uncoordinated, t2_ours_best_decentralized_d4rl, t2_split_easier (soft), on a complete
grid only.
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import config as C
from papers.cast_bcq import mujoco_items as M

ITEM = Path(__file__).stem
METHODS = C.TABLE2_METHODS
DATASETS = C.MUJOCO_DATASETS


def build_cells(profile):
    return M.cells(ITEM, profile, DATASETS, METHODS)


def verdicts(records) -> dict[str, tuple[bool, str]]:
    fin = {(e, d): {m: M.finals(records, env=e, dataset=d, method=m)[0] for m in METHODS}
           for e in C.MUJOCO_ENVS for d in DATASETS}

    def beats(d: str, others) -> tuple[bool, list[str]]:
        rows = []
        for e in C.MUJOCO_ENVS:
            f = fin[(e, d)]
            ok = all(f["cast_bcq"] > f[m] for m in others)
            rows.append(f"{M.SHORT[e]} {d}: {'yes' if ok else 'no'} ({M.describe({m: f[m] for m in ('cast_bcq', *others)})})")
        return all(r.split(": ")[1].startswith("yes") for r in rows), rows

    best_u, ev_u = beats("mixed", [m for m in METHODS if m != "cast_bcq"])
    central, ev_c = beats("mixed", ["bcq"])
    dec = [beats(d, ["i_bcq", "icq_ma"]) for d in ("medium", "expert")]
    pairs = [(e, m) for e in C.MUJOCO_ENVS for m in METHODS]
    easier = [fin[(e, "medium")][m] >= fin[(e, "mixed")][m] for e, m in pairs]
    return {
        "t2_ours_best_uncoordinated": (best_u, "; ".join(ev_u)),
        "t2_ours_beats_central_bcq_uncoordinated": (central, "; ".join(ev_c)),
        "t2_ours_best_decentralized_d4rl": (all(h for h, _ in dec), "; ".join(r for _, rows in dec for r in rows)),
        "t2_split_easier": (sum(easier) >= 8, f"medium >= mixed in {sum(easier)} of {len(pairs)} method x env pairs "
                            f"(holds if >= 8): " + ", ".join(f"{M.SHORT[e]}/{m}" for (e, m), ok in zip(pairs, easier)
                                                            if ok)),
    }


def finish(records, results: Path, profile: str) -> None:
    grid = [{"env": e, "dataset": d, "method": m} for d in DATASETS for e in C.MUJOCO_ENVS for m in METHODS]
    M.write_if_complete(records, results, profile, ITEM, grid, lambda: verdicts(records))


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, DATASETS, argv)


if __name__ == "__main__":
    main()
