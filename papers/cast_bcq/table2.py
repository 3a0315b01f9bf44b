"""CAST-BCQ Table 2: average score on data of different quality, five methods x three MaMuJoCo tasks (§4.3.3).

    python papers/cast_bcq/table2.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/cast_bcq/table2.py --dataset mixed --env mamujoco/hopper-3x1     # part of the grid

Row groups (``dataset``): 'mixed' = "Multi-Agent MuJoCo, Medium-Expert", the uncoordinated data (Figure 4's
runs, copied when run there); 'medium' / 'expert' = "D4RL (Multi-Agent Variation)", the single-agent SAC medium
/ expert data with the action split per agent. Columns: BCQ (central), I-BCQ, MABCQ, ICQ-MA, CAST-BCQ. Score =
raw return of the last evaluation, mean over seeds (the paper prints no spread); every record also holds the
D4RL-normalized score, the best evaluation and the mean of the last 10. Verdicts: t2_ours_best_uncoordinated,
t2_ours_beats_central_bcq_uncoordinated, t2_ours_best_decentralized_d4rl, t2_split_easier (soft), each once the
cells it reads are complete (the 'mixed' claims need only the 'mixed' row).
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


def _beats(records, datasets, others) -> tuple[bool, str]:
    """cast_bcq's final score > each of ``others``' on every env and dataset of ``datasets``."""
    rows, ok_all = [], True
    for d in datasets:
        for e in C.MUJOCO_ENVS:
            f = {m: M.finals(records, env=e, dataset=d, method=m)[0] for m in ("cast_bcq", *others)}
            ok = all(f["cast_bcq"] > f[m] for m in others)
            ok_all &= ok
            rows.append(f"{M.SHORT[e]} {d}: {'yes' if ok else 'no'} ({M.describe(f)})")
    return ok_all, "; ".join(rows)


def _split_easier(records) -> tuple[bool, str]:
    pairs = [(e, m) for e in C.MUJOCO_ENVS for m in METHODS]
    fin = {(e, d, m): M.finals(records, env=e, dataset=d, method=m)[0] for e, m in pairs for d in ("medium", "mixed")}
    easier = [fin[(e, "medium", m)] >= fin[(e, "mixed", m)] for e, m in pairs]
    return sum(easier) >= 8, f"medium >= mixed in {sum(easier)} of {len(pairs)} method x env pairs (holds if >= 8): " + \
        ", ".join(f"{M.SHORT[e]}/{m}" for (e, m), ok in zip(pairs, easier) if ok)


DECENTRALIZED = ("i_bcq", "icq_ma")  # BCQ and MABCQ need joint observations (§4.1)
CHECKS: dict[str, M.Check] = {  # claim -> (the cells it reads, its judge)
    "t2_ours_best_uncoordinated": (M.grid_of(C.MUJOCO_ENVS, METHODS, ("mixed",)),
                                   lambda r: _beats(r, ("mixed",), [m for m in METHODS if m != "cast_bcq"])),
    "t2_ours_beats_central_bcq_uncoordinated": (M.grid_of(C.MUJOCO_ENVS, ("bcq", "cast_bcq"), ("mixed",)),
                                                lambda r: _beats(r, ("mixed",), ["bcq"])),
    "t2_ours_best_decentralized_d4rl": (M.grid_of(C.MUJOCO_ENVS, ("cast_bcq", *DECENTRALIZED), ("medium", "expert")),
                                        lambda r: _beats(r, ("medium", "expert"), DECENTRALIZED)),
    "t2_split_easier": (M.grid_of(C.MUJOCO_ENVS, METHODS, ("medium", "mixed")), _split_easier),
}


def verdicts(records) -> dict[str, tuple[bool, str]]:
    return M.judge_all(CHECKS, records)


def finish(records, results: Path, profile: str) -> None:
    M.write_verdicts(records, results, profile, ITEM, CHECKS)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, DATASETS, argv)


if __name__ == "__main__":
    main()
