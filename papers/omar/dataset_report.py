"""The report of OMAR's datasets (``python -m papers.omar.datasets --report``): our datasets' statistics beside those
of OMAR's released datasets, the cards published beside the report, and the dataset generations behind the recorded
runs. The datasets themselves: papers/omar/data_protocol.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.running.profiles import Profile
from common.running.records import atomic_write_text, to_jsonable
from common.running.roots import runs_root
from papers.omar.config import DATASETS, ENV_CHEETAH, ENV_OPTIONS, ENVS_MPE
from papers.omar.data_protocol import (
    SPREAD1D_DEFAULT_OPTIONS,
    cached_identity,
    dataset_spec,
    default_env_options,
    is_cached,
    load_spec,
    spec_paths,
)

# OMAR's released datasets (docs/omar_official_code.md#released-dataset-statistics, from OG-MARL's docs/dataset_cards/omar.md):
# (return mean, std, min, max, transitions, episodes); "return" = Σ_t r_0 (agent 0's reward).
PUBLISHED_STATS: dict[str, dict[str, tuple[float, float, float, float, int, int]]] = {
    "omar/spread": {
        "random": (159.57, 60.46, -5.43, 510.05, 1_000_000, 40_000),
        "medium-replay": (203.74, 80.49, 35.69, 582.09, 97_500, 3_900),
        "medium": (273.39, 92.06, 27.35, 649.51, 1_000_000, 40_000),
        "expert": (530.95, 71.41, 54.96, 743.89, 1_000_000, 40_000),
    },
    "omar/tag": {
        "random": (-4.13, 10.81, -20.18, 117.09, 1_000_000, 40_000),
        "medium-replay": (3.90, 20.28, -17.11, 146.12, 62_500, 2_500),
        "medium": (116.36, 58.86, -12.66, 418.25, 1_000_000, 40_000),
        "expert": (207.90, 77.51, -16.04, 549.20, 1_000_000, 40_000),
    },
    "omar/world": {
        "random": (-6.83, 5.74, -17.81, 54.41, 1_000_000, 40_000),
        "medium-replay": (1.23, 13.49, -17.56, 112.90, 80_000, 3_200),
        "medium": (65.86, 29.55, -9.15, 198.82, 1_000_000, 40_000),
        "expert": (85.21, 31.11, -11.55, 238.70, 1_000_000, 40_000),
    },
    ENV_CHEETAH: {
        "random": (-282.89, 77.50, -516.90, -62.62, 1_000_000, 1_000),
        "medium-replay": (423.49, 655.68, -509.10, 1993.00, 460_000, 460),
        "medium": (1568.87, 273.38, 20.49, 1904.56, 1_000_000, 1_000),
        "expert": (3338.69, 252.58, 852.45, 3605.42, 1_000_000, 1_000),
    },
}
REPORT_ENVS = (*ENVS_MPE, ENV_CHEETAH)


# ---- the dataset report --------------------------------------------------------------------------
def medium_position(random: float, medium: float, expert: float) -> float | None:
    """Where medium sits between random (0 %) and expert (100 %), in percent."""
    return None if expert == random else 100.0 * (medium - random) / (expert - random)


def published_card_path(cards_dir: str | Path, spec: Mapping[str, Any], kind: str) -> Path:
    """Where the report publishes the card of ``spec``'s ``kind``: ``<cards_dir>/<env>/<cache file name>.json``
    (the cache name carries the version and the env options' hash, so two generations' protocols never share
    a published card)."""
    return Path(cards_dir) / spec["env"] / (spec_paths(spec)[kind].name + ".json")


def publish_cards(
    cards_dir: str | Path, spec: Mapping[str, Any], cards: Mapping[str, Mapping[str, Any]]
) -> None:
    """Write the cached datasets' cards beside the report (atomically), so the report keeps their statistics
    on a machine that has not generated them (the arrays are regenerated, the cards are committed)."""
    for kind, card in cards.items():
        path = published_card_path(cards_dir, spec, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(to_jsonable(card), indent=2, sort_keys=True) + "\n")


def report_rows(
    profile: Profile,
    envs_: Sequence[str] = REPORT_ENVS,
    env_options: Mapping[str, Any] | None = None,
    generate: bool = False,
    log=print,
    cards_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One row per env x kind: our dataset statistics (None where not generated) beside OMAR's.
    ``env_options`` None: each env's options as the OMAR items use them (config.env_options, e.g.
    the v2 prey of tag and world). ``cards_dir``: the published cards (``publish_cards``): the cached
    datasets' cards are written there, and an env whose datasets are not cached here is rendered from its
    published cards (the row's ``ours["source"]`` is then ``"published card"``)."""
    rows = []
    for env in envs_:
        spec = dataset_spec(env, profile, default_env_options(env) if env_options is None else env_options)
        cards: dict[str, Mapping[str, Any]] = {}
        source = "cache"
        if generate or is_cached(spec):
            cards = {k: load_spec(spec, k, log=log).card for k in DATASETS}
            if cards_dir is not None:
                publish_cards(cards_dir, spec, cards)
        elif cards_dir is not None and all(
            published_card_path(cards_dir, spec, k).exists() for k in DATASETS
        ):
            cards = {k: json.loads(published_card_path(cards_dir, spec, k).read_text()) for k in DATASETS}
            source = "published card"
        means = {k: c["returns"]["mean"] for k, c in cards.items()}
        pub = PUBLISHED_STATS.get(env, {})
        for kind in DATASETS:
            c = cards.get(kind)
            p = pub.get(kind)
            row = {"env": env, "kind": kind, "ours": None, "published": None}
            if c is not None:
                r = c["returns"]
                beh = c.get("behavior") or {}
                row["ours"] = {
                    "transitions": c["size"],
                    "episodes": c["n_episodes"],
                    "mean": r["mean"],
                    "std": r["std"],
                    "min": r["min"],
                    "max": r["max"],
                    "medium_step": beh.get("medium_step"),
                    "train_steps": beh.get("train_steps"),
                    "sha256": c.get("sha256"),
                    "source": source,
                }
                if kind == "medium":
                    row["ours"]["position"] = medium_position(
                        means["random"], means["medium"], means["expert"]
                    )
            if p is not None:
                row["published"] = {
                    "transitions": p[4],
                    "episodes": p[5],
                    "mean": p[0],
                    "std": p[1],
                    "min": p[2],
                    "max": p[3],
                }
                if kind == "medium":
                    row["published"]["position"] = medium_position(
                        pub["random"][0], pub["medium"][0], pub["expert"][0]
                    )
            rows.append(row)
    return rows


def record_generations(profile_name: str, results_root: str | Path | None = None) -> list[dict[str, Any]]:
    """Which generation of each dataset the recorded runs of ``profile_name`` trained on.

    Datasets are regenerated on a fresh machine and generation is not bit-identical across CPUs, so
    one (env, kind) may have several generations; each record names its own (``data_sha256``, else
    ``dataset_size`` + ``ref_scores``; ``common.running.experiment.same_data``). One row per (env, kind,
    generation) in order of first use: the runs per item, the first and last run dates, and whether
    it is the one in the cache now. Only the newest record of each (item, keys, seed) counts, as in
    the rendered tables: a run superseded by a ``--force`` re-run is not counted."""
    from common.running.experiment import DATA_FIELDS, same_data
    from common.running.records import canonical_json
    from common.running.store import Runs, read_item_file

    groups: dict[str, list[dict[str, Any]]] = {}  # canonical spec -> generations
    base = Path(runs_root() if results_root is None else results_root) / profile_name / "omar"
    newest = Runs(r for p in sorted(base.glob("*.jsonl")) for r in read_item_file(p).runs).newest()
    for r in sorted(newest, key=lambda r: str(r.started or "")):
        spec = r.config.get("dataset") or (r.config.get("ma_cql") or {}).get("dataset")
        if not spec or r.extra.get("dataset_size") is None or r.reused_from:
            continue
        gens = groups.setdefault(canonical_json(spec), [])
        g = next((g for g in gens if same_data(g["identity"], r.extra)), None)
        if g is None:
            g = {
                "env": spec["env"],
                "kind": spec["kind"],
                "env_options": spec.get("env_options") or {},
                "spec": spec,
                "identity": {k: r.extra.get(k) for k in DATA_FIELDS},
                "generation": len(gens) + 1,
                "runs": {},
                "first": r.started,
                "last": r.started,
            }
            gens.append(g)
        if not g["identity"].get("data_sha256") and r.extra.get("data_sha256"):
            g["identity"]["data_sha256"] = r.extra["data_sha256"]
        g["runs"][r.item] = g["runs"].get(r.item, 0) + 1
        g["last"] = max(str(g["last"]), str(r.started))
    rows = []
    for gens in groups.values():
        for g in gens:
            now = cached_identity(g["spec"])
            g["in_cache"] = None if now is None else bool(same_data(g["identity"], now))
            rows.append(g)
    return sorted(
        rows,
        key=lambda g: (
            g["env"],
            canonical_json(g["env_options"]),
            DATASETS.index(g["kind"]),
            g["generation"],
        ),
    )


def render_generations(rows: Sequence[Mapping[str, Any]]) -> str:
    from tabulate import tabulate

    if not rows:
        return ""
    table = []
    for g in rows:
        i, refs = g["identity"], g["identity"].get("ref_scores") or {}
        opts = f" {json.dumps(g['env_options'], sort_keys=True)}" if g["env_options"] else ""
        table.append(
            [
                f"{g['env']}{opts}",
                g["kind"],
                g["generation"],
                _fmt(i.get("dataset_size"), 0),
                f"{_fmt(refs.get('random'))} / {_fmt(refs.get('expert'))}",
                (i.get("data_sha256") or "not recorded")[:12],
                ", ".join(f"{item} {n}" for item, n in sorted(g["runs"].items())),
                f"{str(g['first'])[:10]} – {str(g['last'])[:10]}",
                {True: "yes", False: "no", None: "not cached"}[g["in_cache"]],
            ]
        )
    head = [
        "env",
        "dataset",
        "generation",
        "transitions",
        "random / expert ref",
        "sha256",
        "runs (item n)",
        "run dates",
        "in the cache now",
    ]
    return "\n".join(
        [
            "## Dataset generations behind the recorded runs",
            "",
            "A fresh machine regenerates the datasets, and generation is not bit-identical across CPUs, so a",
            "dataset may exist in several generations. Every record names the one it trained on (sha256, or for",
            "records older than that field the dataset size and the random / expert reference returns), and",
            "the runner refuses to add runs on another generation to an item's runs of that dataset. Copied",
            "runs (`reused_from`) are counted once, at their origin; a run superseded by a `--force` re-run",
            "is not counted. 'in the cache now': whether this",
            "machine's cached dataset is that generation ('not cached': not generated here).",
            "",
            tabulate(table, head, tablefmt="github", disable_numparse=True),
            "",
        ]
    )


def _fmt(x, nd=1) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def _stat_cells(s: Mapping[str, Any], missing: str) -> list[str]:
    """A dataset's statistics as the table's six cells: transitions, episodes, return mean ± std (``missing`` when
    there are no statistics), min, max and the position (empty when the card has none)."""
    return [
        _fmt(s.get("transitions"), 0),
        _fmt(s.get("episodes"), 0),
        f"{_fmt(s.get('mean'))} ± {_fmt(s.get('std'))}" if s else missing,
        _fmt(s.get("min")),
        _fmt(s.get("max")),
        _fmt(s.get("position")) if "position" in s else "",
    ]


def render_report(
    rows: Sequence[Mapping[str, Any]], profile_name: str, env_options=None, options_note: str | None = None
) -> str:
    from tabulate import tabulate

    table = []
    for r in rows:
        o, p = r["ours"] or {}, r["published"] or {}
        table.append(
            [
                r["env"],
                r["kind"],
                *_stat_cells(o, "not generated"),
                (
                    (o.get("sha256") or "–")[:12]
                    + (" (published card)" if o.get("source") == "published card" else "")
                )
                if o
                else "",
                *_stat_cells(p, "–"),
            ]
        )
    head = [
        "env",
        "dataset",
        "transitions",
        "episodes",
        "return mean ± std",
        "min",
        "max",
        "medium at %",
        "sha256",
        "OMAR transitions",
        "OMAR episodes",
        "OMAR return",
        "OMAR min",
        "OMAR max",
        "OMAR medium at %",
    ]
    notes = [
        f"# OMAR datasets — profile `{profile_name}`",
        "",
        "Ours: generated by `papers/omar/datasets.py` (MATD3 behavior learner, D4RL-style protocol of",
        "`common/behavior/collect.py`). OMAR: the statistics of OMAR's released datasets (OG-MARL dataset",
        "card, `docs/omar_official_code.md#released-dataset-statistics`). Returns: spread = Σ_t mean_i r_i (ours) vs",
        "Σ_t r_0 (OMAR; equal up to the per-agent collision terms); tag/world = Σ_t r_0; HalfCheetah = Σ_t r.",
        "'medium at %' = 100 · (medium − random) / (expert − random) of the mean returns.",
        "Each generated dataset's card is published under `cards/` beside this report (`<env>/<cache name>.json`);",
        "'(published card)': the row is read from that card because this machine's cache does not hold the arrays",
        "(regenerated on demand; generation is not bit-identical across CPUs, so the sha256 names the generation).",
        options_note
        or (
            "Env options: as the OMAR items use them (`papers/omar/config.py` ENV_OPTIONS: "
            f"`{json.dumps(ENV_OPTIONS, sort_keys=True)}`; omar/spread1d: "
            f"`{json.dumps(SPREAD1D_DEFAULT_OPTIONS)}`, Tables 1-2's task)."
            if env_options is None
            else f"Env options of this report (every env): `{json.dumps(dict(env_options), sort_keys=True)}`."
        ),
        "",
        tabulate(table, head, tablefmt="github", disable_numparse=True),
        "",
    ]
    return "\n".join(notes)


def write_report(
    profile: Profile,
    envs_: Sequence[str] = REPORT_ENVS,
    env_options=None,
    generate=False,
    out: str | Path | None = None,
    log=print,
    results_root: str | Path | None = None,
) -> tuple[str, Path]:
    """The dataset report, written to ``out`` (default ``<results_root>/<profile>/omar/datasets.md``;
    ``results_root`` defaults to this machine's runs root, common.running.roots), with the generations behind
    the records under ``results_root``."""
    root = runs_root() if results_root is None else Path(results_root)
    path = Path(out) if out is not None else root / profile.name / "omar" / "datasets.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    cards_dir = path.parent / "cards"  # published beside the report
    text = render_report(
        report_rows(profile, envs_, env_options, generate, log, cards_dir), profile.name, env_options
    )
    if env_options is None:  # the generations of the items' own datasets
        text += "\n" + render_generations(record_generations(profile.name, root))
    path.write_text(text)
    return text, path


def write_spread1d_report(
    profile: Profile,
    n_agents: Sequence[int],
    env_options=None,
    generate=False,
    out: str | Path | None = None,
    log=print,
    results_root: str | Path | None = None,
) -> tuple[str, Path]:
    """The report of omar/spread1d's datasets for each n in ``n_agents`` (Figures 1-2 use n = 1..5), one
    block of rows per n, labelled ``omar/spread1d n=N``; default path results/<profile>/omar/datasets_spread1d.md."""
    root = runs_root() if results_root is None else Path(results_root)
    path = Path(out) if out is not None else root / profile.name / "omar" / "datasets_spread1d.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    cards_dir = path.parent / "cards"  # published beside the report
    rows = []
    for n in n_agents:
        opts = {**dict(env_options or {}), "n_agents": int(n)}
        rows += [
            dict(r, env=f"omar/spread1d n={n}")
            for r in report_rows(profile, ["omar/spread1d"], opts, generate, log, cards_dir)
        ]
    extra = {k: v for k, v in dict(env_options or {}).items() if k != "n_agents"}
    note = "Env options: `n_agents` as in each row (Figures 1-2: n = 1..5; Tables 1-2: n = 2)" + (
        f", and `{json.dumps(extra, sort_keys=True)}`." if extra else "."
    )
    text = render_report(rows, profile.name, options_note=note)
    path.write_text(text)
    return text, path
