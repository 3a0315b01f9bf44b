"""OTC Figure 5: OTC versus Balanced Replay, uniform sampling from the merged data, and online data only (Sec. 4.3).

    python papers/otc/figure5.py --profile smoke      # or quick / full; --help

The figure is missing from our copy and its panels are not named ("e.g., Figure 5d"): we take four tasks that
cover every robot and data kind [I C26] (published.FIG5_CELLS): halfcheetah random and medium-replay, walker2d
medium, hopper medium-replay. Base learner BCQ; OTC = d_e with the adaptive alpha (bcq_otc_de, Table 1's cells,
copied when Table 1 ran them); uniform = bcq (Table 1's); Balanced Replay (bcq_br: Lee et al. 2021's sampler
with its density-ratio net, papers/otc/balanced_replay.py, without its Q-ensemble: the paper compares sampling
strategies) and online only (bcq_online: 128 rows uniform from D^1 u ... u D^k) are new. Grids: full = the four
tasks; quick = halfcheetah medium-replay (the spec's cut); smoke = hopper medium-replay. Outputs under
<results>/<profile>/otc/: figure5_<env>_<dataset>.png and the verdicts of f5_otc_best, f5_br_uniform_susceptible,
f5_online_only_insufficient, f5_online_only_overfits on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

from papers.otc import mujoco_items as M
from papers.otc.published import FIG5_CELLS, FIG5_METHODS

ITEM = Path(__file__).stem
OTC, BR, UNIFORM, ONLINE = FIG5_METHODS


def tasks(profile: str) -> list[tuple[str, str]]:
    if profile == "full":
        return list(FIG5_CELLS)
    if profile == "quick":
        return [("mamujoco/halfcheetah-2x3", "medium-replay")]
    return [("mamujoco/hopper-3x1", "medium-replay")]


def grid(profile: str) -> list[tuple[str, str, str]]:
    return [(e, d, m) for e, d in tasks(profile) for m in FIG5_METHODS]


def build_cells(profile):
    return M.cells(ITEM, profile, grid(profile.name))


def verdicts(records, profile: str) -> dict[str, tuple[bool, str]]:
    best, sus, insuff, overfit, rows, ev_over = True, True, True, False, [], []
    for e, d in tasks(profile):
        f = {m: M.finals(records, env=e, dataset=d, method=m)[0] for m in FIG5_METHODS}
        best &= all(f[OTC] > f[m] for m in (BR, UNIFORM, ONLINE))
        sus &= f[BR] < f[OTC] and f[UNIFORM] < f[OTC]
        insuff &= f[ONLINE] < f[OTC]
        rows.append(f"{d}/{M.SHORT[e]}: " + ", ".join(f"{m} {f[m]:.1f}" for m in FIG5_METHODS))
        on = M.curve_values(records, "score", env=e, dataset=d, method=ONLINE)  # [seeds, K + 1]
        if on.shape[1] >= 3:
            mean, last_std = on.mean(0), on[:, -1].std()
            falls = mean[1:-1].max() - mean[-1] > last_std
            overfit |= bool(falls)
            ev_over.append(f"{d}/{M.SHORT[e]}: peak {mean[1:-1].max():.1f} (k = 1..K-1), final {mean[-1]:.1f}, "
                           f"std at K {last_std:.1f}")
    ev = "S(pi^K), seed means; " + "; ".join(rows)
    return {"f5_otc_best": (best, ev), "f5_br_uniform_susceptible": (sus, ev),
            "f5_online_only_insufficient": (insuff, ev),
            "f5_online_only_overfits": (overfit, "; ".join(ev_over) or "no curve with >= 3 points")}


def finish(records, results: Path, profile: str) -> None:
    M.curve_panels(records, results / profile / "otc", ITEM, "Fig. 5, sampling strategies", tasks(profile),
                   FIG5_METHODS)
    keys = [{"dataset": d, "env": e, "method": m} for e, d, m in grid(profile)]
    M.write_if_complete(records, results, profile, ITEM, keys, lambda: verdicts(records, profile))


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, FIG5_METHODS, argv)


if __name__ == "__main__":
    main()
