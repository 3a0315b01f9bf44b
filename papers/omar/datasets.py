"""OMAR's datasets (paper §5.1, the D4RL-style protocol of common.behavior.collect) per profile.

    ds = get_dataset("omar/spread", "medium-replay", profile)                    # generated once, then loaded
    ds = get_dataset("omar/tag", "expert", profile, env_options={"prey": "v2"})  # options are part of the key

A thin wrapper over ``load_or_generate``: one MATD3 behavior run (behavior seed 0) makes all four
kinds of an (env, env_options) pair, cached under the user cache (``common.running.roots.cache_root``); non-empty
env_options add a ``-o<hash>`` suffix to the cache path, so two options never share a file.

    profile  behavior MATD3 steps (MPE / HalfCheetah)   random / medium / expert   medium-replay
    smoke    1,000 / 1,000                               2,000                      the medium cut
    quick    100,000 / 100,000                           100,000                    the medium cut
    full     300,000 / 1,000,000                         1,000,000 (paper §4.1.1)   the medium cut
    (random / medium / expert: PROFILE_OVERRIDES' data_scale x the paper's 1M, config.py)

Why these numbers (OMAR publishes no behavior runs, noise level or medium level):
- quick is sized for the 2-core machine: behavior run plus collection took 12.5 min for spread
  (100k steps) on a shared 2-core machine; HalfCheetah runs 100k steps (about 100 s per 5k steps
  here, about 35 min). With OMAR's own 6-dim observations for the behavior actors, MATD3 on
  HalfCheetah-2x3 stayed near standing still (60k steps: final -26, uniform random -291), hence
  BEHAVIOR_ENV_OPTIONS below (full-state behavior actors, state critic). quick's data are 100k transitions per kind (data_scale 0.1 of the
  paper's 1M, not the base profile's 0.25: collection of 3 x 250k MPE transitions alone took longer
  than the behavior run).
- the behavior learner: MATD3Config's MPE preset (hidden 64, gamma 0.95, tau 0.01, batch 1024, an
  update every 4 transitions, exploration noise 0.1, centralized twin critics) with lr 3e-3; OMAR's
  online settings are unpublished. Deterministic spread scores (10 episodes, Σ_t mean_i r_i) at
  steps 0 / 10k / 20k / 30k, behavior seed 0, measured on this machine:
      lr 1e-3 (old default)                         167 / 82 / 174 / 205
      lr 3e-3 (chosen)                              167 / 125 / 184 / 211
      lr 1e-3, noise 0.3                            167 / 87 / 104 / 203
      lr 1e-3, batch 256, update/step, r x 0.1      167 / 166 / 198 / 173
  The step-0 actor (OMAR's "randomly initialised policy") already scores ~167 because its actions
  are near 0 and spread's reward is positive; the first learned policies move away and score less,
  so learning only passes random after ~15k transitions and keeps rising slowly: the MPE behavior
  run is long (100k at quick) rather than the learner being broken.
- HalfCheetah: every episode is 1000 steps; step 1000 is a time-limit truncation (timeouts = True,
  terminals = False), so the behavior critic bootstraps through it and the datasets mark it as a
  timeout (the offline learners bootstrap there too). MaMuJoCo's HalfCheetah never terminates.

Each profile uses its own dataset version (MaMuJoCo: smoke 1005, quick 1003, full 2; particle worlds since
OMAR's physics: smoke 1006, quick 1004, full 3), so a smoke cache never
shadows a full one; bump VERSION when the protocol changes. "random" (RANDOM_POLICY) is the step-0
MATD3 actor on MPE (OMAR: "a randomly initialised policy") and uniform actions on HalfCheetah (the
step-0 actor stands still; uniform actions give OMAR's/D4RL's random level) and at smoke (on
2-agent spread1d the step-0 actor scores above a 1-3k-step MATD3 run, which generate_protocol
rightly refuses).

CLI (the dataset report, also written to <results>/<profile>/omar/datasets.md: this machine's runs root,
runs/ by default, or with --reference the committed results/):

    python -m papers.omar.datasets --report --profile quick [--generate] [--env omar/spread ...]
    python -m papers.omar.datasets --generate --profile full --env omar/spread1d   # Tables 1-2's 2 agents
    python -m papers.omar.datasets --generate --profile full --env omar/spread1d --env-options '{"n_agents": 4}'
    python -m papers.omar.datasets --report --profile full --env omar/spread1d --n-agents 1 --n-agents 2 ...  # Figures 1-2
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from common.behavior.collect import generated_dataset_path, load_or_generate
from common.behavior.matd3 import MATD3Config
from common.datasets.dataset import Dataset
from common.running.cli import add_common_options, results_root_of
from common.running.profiles import Profile, get_profile
from common.running.records import atomic_write_text, to_jsonable
from common.running.roots import runs_root
from common.running.runtime import set_threads
from papers.omar.config import (
    DATASETS,
    ENV_CHEETAH,
    ENV_OPTIONS,
    ENVS_MPE,
    FULL_DATASET_SIZE,
    MEDIUM_FRACTION,
    PROFILE_OVERRIDES,
    RETURN_MODE,
)
from papers.omar.config import env_options as config_env_options

FAMILIES = ("mpe", "mujoco")
# behavior MATD3 transitions per seed, per profile and env family
BEHAVIOR_STEPS = {
    "smoke": {"mpe": 1_000, "mujoco": 1_000},
    "quick": {"mpe": 100_000, "mujoco": 100_000},
    "full": {"mpe": 300_000, "mujoco": 1_000_000},
}
VERSION = {"smoke": 1005, "quick": 1003, "full": 2}  # MaMuJoCo (HalfCheetah 2x3)
# OMAR's particle worlds: bumped when the worlds moved to OMAR's own physics (semi-implicit Euler, force
# mass·accel·u, world prey's food sign; envs/particle_worlds.py OmarWorld), so no cache made in mpe2's physics is
# ever loaded for them (the cell configs change too, so old records are other cells).
PARTICLE_VERSION = {"smoke": 1006, "quick": 1004, "full": 3}
# smoke datasets test the pipeline only: their 1,000-step behavior run need not beat random (on spread,
# tag and world it does not), so generate_protocol keeps it and the card says beats_random = False.
# Smoke behavior runs went from 3,000 to 1,000 steps (versions 1001 / 1002 -> 1005 / 1006, issue 27): the
# nine smoke behavior runs of OMAR's items were ~75 % of a smoke run of the paper, over its 3-minute budget.
SMOKE_VERSIONS = (VERSION["smoke"], PARTICLE_VERSION["smoke"])
# "random" data: MPE the step-0 MATD3 actor (OMAR: "a randomly initialized policy"); HalfCheetah
# uniform actions: the step-0 actor's near-zero actions stand still (-3 per episode), while OMAR's
# random data score -283, D4RL's random level (-280), which uniform actions reproduce.
RANDOM_POLICY = {"smoke": {"mpe": "uniform", "mujoco": "uniform"}, "quick": {"mpe": "init", "mujoco": "uniform"},
                 "full": {"mpe": "init", "mujoco": "uniform"}}
# MATD3 overrides per profile and family on top of MATD3Config.preset (see the module docstring).
# MPE: lr 3e-3 for actor and critic (best of lr 1e-3 / 3e-3, noise 0.1 / 0.3, batch 256 + an update
# per step + reward scale 0.1 on spread at 30k steps; README "Behavior policies"), 20 evaluation
# episodes (the medium cut is read off the evaluation curve; 10 episodes gave a standard error of
# ~30 on spread).
BEHAVIOR_CFG: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "mpe": dict(eval_every=250, learning_starts=250, start_steps=250, eval_episodes=5, batch_size=256,
                    train_freq=2),
        "mujoco": dict(eval_every=500, learning_starts=500, start_steps=500, eval_episodes=1, train_freq=2,
                       critic_input="state"),
    },
    "quick": {
        "mpe": dict(eval_every=2_500, eval_episodes=20, actor_lr=3e-3, critic_lr=3e-3),
        "mujoco": dict(eval_every=5_000, eval_episodes=2, start_steps=10_000, learning_starts=10_000,
                       critic_input="state"),
    },
    "full": {
        "mpe": dict(eval_every=5_000, eval_episodes=20, actor_lr=3e-3, critic_lr=3e-3),
        "mujoco": dict(eval_every=10_000, eval_episodes=5, critic_input="state"),
    },
}
# env options of the behavior learner per family, where they differ from the datasets' (None: the same).
# HalfCheetah: OMAR's agents see only their own leg's 3 joints (obs_mode "omar", 6 dims; no root velocity,
# which the reward is made of). MATD3 with such actors barely learned here (60k steps: -26, with
# a state critic: 58 at 30k), so the behavior actors see the whole 17-dim state (obs_mode "otc") and the
# critics the state (critic_input "state"); the datasets are re-observed into OMAR's 6-dim observations
# (collect.reobserve). OMAR's generation code is unreleased; its datasets store the state too (docs/omar_official_code.md#halfcheetah).
BEHAVIOR_ENV_OPTIONS: dict[str, dict[str, Any] | None] = {"mpe": None, "mujoco": {"obs_mode": "otc"}}
COLLECT_ENVS = {"mpe": 8, "mujoco": 1}  # env copies stepped together during collection (batched policy)

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
# envs the CLI accepts: the report's four plus the 1-D motivating task of Tables 1-2 / Figures 1-2
CLI_ENVS = (*REPORT_ENVS, "omar/spread1d")
SPREAD1D_DEFAULT_OPTIONS = {"n_agents": 2}  # Tables 1-2's task (Figures 1-2 use n_agents 1..5)


def default_env_options(env: str) -> dict[str, Any]:
    """The env options a dataset of ``env`` is built with when none are given: the OMAR items' options
    (config.ENV_OPTIONS, e.g. tag's v2 prey), and n_agents 2 on omar/spread1d (Tables 1-2)."""
    return dict(SPREAD1D_DEFAULT_OPTIONS) if env == "omar/spread1d" else config_env_options(env)


def family(env: str) -> str:
    return "mujoco" if env.startswith("mamujoco/") else "mpe"


def dataset_version(profile: Profile, env: str) -> int:
    """The cache version of ``env``'s datasets at ``profile`` (VERSION for MaMuJoCo, PARTICLE_VERSION else)."""
    _check_profile(profile)
    return (VERSION if family(env) == "mujoco" else PARTICLE_VERSION)[profile.name]


def _check_profile(profile: Profile) -> None:
    if profile.name not in VERSION:
        raise ValueError(f"unknown profile {profile.name!r}; valid: {sorted(VERSION)}")


def dataset_sizes(profile: Profile) -> dict[str, int | None]:
    _check_profile(profile)
    n = profile.n_data(FULL_DATASET_SIZE)  # data_scale of PROFILE_OVERRIDES: the one layer for sizes
    return {"random": n, "medium-replay": None, "medium": n, "expert": n}


def behavior_steps(profile: Profile, env: str = "omar/spread") -> int:
    _check_profile(profile)
    return BEHAVIOR_STEPS[profile.name][family(env)]


def dataset_spec(env: str, profile: Profile, env_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines the dataset (goes into a cell's config, hence its hash)."""
    fam = family(env)
    return {"env": env, "env_options": dict(env_options or {}), "sizes": dataset_sizes(profile),
            "behavior_steps": behavior_steps(profile, env), "version": dataset_version(profile, env),
            "behavior_cfg": BEHAVIOR_CFG[profile.name][fam], "random_policy": RANDOM_POLICY[profile.name][fam],
            "medium_fraction": MEDIUM_FRACTION.get(env, 0.31), "collect_envs": COLLECT_ENVS[fam],
            "return_mode": RETURN_MODE.get(env, "mean"), "behavior_seed": 0,
            **({"behavior_env_options": BEHAVIOR_ENV_OPTIONS[fam]} if BEHAVIOR_ENV_OPTIONS[fam] else {})}


def spec_paths(spec: Mapping[str, Any]) -> dict[str, Path]:
    """Cache base paths (no extension) of the four kinds of a spec."""
    return {k: generated_dataset_path(spec["env"], k, spec["version"], spec["behavior_seed"], None,
                     env_options=spec["env_options"], behavior_env_options=spec.get("behavior_env_options"))
            for k in DATASETS}


def regenerate_command(spec: Mapping[str, Any]) -> str:
    """The shell command that regenerates ``spec``'s datasets once their files are deleted (in their cards)."""
    profile = {v: p for d in (VERSION, PARTICLE_VERSION) for p, v in d.items()}.get(spec["version"], "<profile>")
    opts = shlex.quote(json.dumps(spec["env_options"], sort_keys=True))
    return f"python -m papers.omar.datasets --generate --profile {profile} --env {spec['env']} --env-options {opts}"


def is_cached(spec: Mapping[str, Any]) -> bool:
    return all(p.with_name(p.name + ".npz").exists() for p in spec_paths(spec).values())


def load_spec(spec: Mapping[str, Any], kind: str, log=print) -> Dataset:
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; valid: {DATASETS}")
    env = spec["env"]
    cfg = MATD3Config.preset(env, **spec["behavior_cfg"])
    out = load_or_generate(
        env, spec["env_options"], spec["sizes"], seed=spec["behavior_seed"], version=spec["version"],
        medium_fraction=spec["medium_fraction"], train_steps=spec["behavior_steps"],
        return_mode=spec["return_mode"], cfg=cfg, random_policy=spec["random_policy"],
        collect_envs=spec.get("collect_envs", 1), log=log,
        require_improvement=spec["version"] not in SMOKE_VERSIONS,
        behavior_env_options=spec.get("behavior_env_options"),
        kinds=(kind,),  # read and checksum only this kind's arrays (a run needs one dataset)
        regenerate_command=regenerate_command(spec),
    )
    return out[kind]


def get_dataset(env: str, kind: str, profile: Profile, env_options: Mapping[str, Any] | None = None,
                log=print) -> Dataset:
    """The OMAR dataset ``kind`` of ``env`` under ``profile`` (generated once, then loaded)."""
    return load_spec(dataset_spec(env, profile, env_options), kind, log=log)


# ---- the dataset report --------------------------------------------------------------------------
def medium_position(random: float, medium: float, expert: float) -> float | None:
    """Where medium sits between random (0 %) and expert (100 %), in percent."""
    return None if expert == random else 100.0 * (medium - random) / (expert - random)


def published_card_path(cards_dir: str | Path, spec: Mapping[str, Any], kind: str) -> Path:
    """Where the report publishes the card of ``spec``'s ``kind``: ``<cards_dir>/<env>/<cache file name>.json``
    (the cache name carries the version and the env options' hash, so two generations' protocols never share
    a published card)."""
    return Path(cards_dir) / spec["env"] / (spec_paths(spec)[kind].name + ".json")


def publish_cards(cards_dir: str | Path, spec: Mapping[str, Any], cards: Mapping[str, Mapping[str, Any]]) -> None:
    """Write the cached datasets' cards beside the report (atomically), so the report keeps their statistics
    on a machine that has not generated them (the arrays are regenerated, the cards are committed)."""
    for kind, card in cards.items():
        path = published_card_path(cards_dir, spec, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(to_jsonable(card), indent=2, sort_keys=True) + "\n")


def report_rows(profile: Profile, envs_: Sequence[str] = REPORT_ENVS, env_options: Mapping[str, Any] | None = None,
                generate: bool = False, log=print, cards_dir: str | Path | None = None) -> list[dict[str, Any]]:
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
        elif cards_dir is not None and all(published_card_path(cards_dir, spec, k).exists() for k in DATASETS):
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
                row["ours"] = {"transitions": c["size"], "episodes": c["n_episodes"], "mean": r["mean"],
                               "std": r["std"], "min": r["min"], "max": r["max"],
                               "medium_step": beh.get("medium_step"), "train_steps": beh.get("train_steps"),
                               "sha256": c.get("sha256"), "source": source}
                if kind == "medium":
                    row["ours"]["position"] = medium_position(means["random"], means["medium"], means["expert"])
            if p is not None:
                row["published"] = {"transitions": p[4], "episodes": p[5], "mean": p[0], "std": p[1], "min": p[2],
                                    "max": p[3]}
                if kind == "medium":
                    row["published"]["position"] = medium_position(pub["random"][0], pub["medium"][0],
                                                                   pub["expert"][0])
            rows.append(row)
    return rows


def cached_identity(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The identity (``jobs.data_identity_of``'s fields) of the dataset ``spec`` names, from its cached
    card alone (no arrays read), or None when it is not in the cache."""
    base = spec_paths(spec)[spec["kind"]]
    card = base.with_name(base.name + ".json")
    if not card.exists() or not base.with_name(base.name + ".npz").exists():
        return None
    c = json.loads(card.read_text())
    return {"data_sha256": c.get("sha256"), "dataset_size": c.get("size"), "ref_scores": c.get("ref_scores")}


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
            g = {"env": spec["env"], "kind": spec["kind"], "env_options": spec.get("env_options") or {},
                 "spec": spec, "identity": {k: r.extra.get(k) for k in DATA_FIELDS},
                 "generation": len(gens) + 1, "runs": {}, "first": r.started, "last": r.started}
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
    return sorted(rows, key=lambda g: (g["env"], canonical_json(g["env_options"]), DATASETS.index(g["kind"]),
                                       g["generation"]))


def render_generations(rows: Sequence[Mapping[str, Any]]) -> str:
    from tabulate import tabulate

    if not rows:
        return ""
    table = []
    for g in rows:
        i, refs = g["identity"], g["identity"].get("ref_scores") or {}
        opts = f" {json.dumps(g['env_options'], sort_keys=True)}" if g["env_options"] else ""
        table.append([
            f"{g['env']}{opts}", g["kind"], g["generation"], _fmt(i.get("dataset_size"), 0),
            f"{_fmt(refs.get('random'))} / {_fmt(refs.get('expert'))}",
            (i.get("data_sha256") or "not recorded")[:12],
            ", ".join(f"{item} {n}" for item, n in sorted(g["runs"].items())),
            f"{str(g['first'])[:10]} – {str(g['last'])[:10]}",
            {True: "yes", False: "no", None: "not cached"}[g["in_cache"]],
        ])
    head = ["env", "dataset", "generation", "transitions", "random / expert ref", "sha256", "runs (item n)",
            "run dates", "in the cache now"]
    return "\n".join([
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
    ])


def _fmt(x, nd=1) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def render_report(rows: Sequence[Mapping[str, Any]], profile_name: str, env_options=None,
                  options_note: str | None = None) -> str:
    from tabulate import tabulate

    table = []
    for r in rows:
        o, p = r["ours"] or {}, r["published"] or {}
        table.append([
            r["env"], r["kind"],
            _fmt(o.get("transitions"), 0), _fmt(o.get("episodes"), 0),
            f"{_fmt(o.get('mean'))} ± {_fmt(o.get('std'))}" if o else "not generated",
            _fmt(o.get("min")), _fmt(o.get("max")), _fmt(o.get("position")) if "position" in o else "",
            ((o.get("sha256") or "–")[:12] + (" (published card)" if o.get("source") == "published card" else ""))
            if o else "",
            _fmt(p.get("transitions"), 0), _fmt(p.get("episodes"), 0),
            f"{_fmt(p.get('mean'))} ± {_fmt(p.get('std'))}" if p else "–",
            _fmt(p.get("min")), _fmt(p.get("max")), _fmt(p.get("position")) if "position" in p else "",
        ])
    head = ["env", "dataset", "transitions", "episodes", "return mean ± std", "min", "max", "medium at %", "sha256",
            "OMAR transitions", "OMAR episodes", "OMAR return", "OMAR min", "OMAR max", "OMAR medium at %"]
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
        options_note or ("Env options: as the OMAR items use them (`papers/omar/config.py` ENV_OPTIONS: "
         f"`{json.dumps(ENV_OPTIONS, sort_keys=True)}`; omar/spread1d: "
         f"`{json.dumps(SPREAD1D_DEFAULT_OPTIONS)}`, Tables 1-2's task)." if env_options is None else
         f"Env options of this report (every env): `{json.dumps(dict(env_options), sort_keys=True)}`."),
        "",
        tabulate(table, head, tablefmt="github", disable_numparse=True),
        "",
    ]
    return "\n".join(notes)


def write_report(profile: Profile, envs_: Sequence[str] = REPORT_ENVS, env_options=None, generate=False,
                 out: str | Path | None = None, log=print, results_root: str | Path | None = None) -> tuple[str, Path]:
    """The dataset report, written to ``out`` (default ``<results_root>/<profile>/omar/datasets.md``;
    ``results_root`` defaults to this machine's runs root, common.running.roots), with the generations behind
    the records under ``results_root``."""
    root = runs_root() if results_root is None else Path(results_root)
    path = Path(out) if out is not None else root / profile.name / "omar" / "datasets.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    cards_dir = path.parent / "cards"  # published beside the report
    text = render_report(report_rows(profile, envs_, env_options, generate, log, cards_dir), profile.name, env_options)
    if env_options is None:  # the generations of the items' own datasets
        text += "\n" + render_generations(record_generations(profile.name, root))
    path.write_text(text)
    return text, path


def write_spread1d_report(profile: Profile, n_agents: Sequence[int], env_options=None, generate=False,
                          out: str | Path | None = None, log=print,
                          results_root: str | Path | None = None) -> tuple[str, Path]:
    """The report of omar/spread1d's datasets for each n in ``n_agents`` (Figures 1-2 use n = 1..5), one
    block of rows per n, labelled ``omar/spread1d n=N``; default path results/<profile>/omar/datasets_spread1d.md."""
    root = runs_root() if results_root is None else Path(results_root)
    path = Path(out) if out is not None else root / profile.name / "omar" / "datasets_spread1d.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    cards_dir = path.parent / "cards"  # published beside the report
    rows = []
    for n in n_agents:
        opts = {**dict(env_options or {}), "n_agents": int(n)}
        rows += [dict(r, env=f"omar/spread1d n={n}")
                 for r in report_rows(profile, ["omar/spread1d"], opts, generate, log, cards_dir)]
    extra = {k: v for k, v in dict(env_options or {}).items() if k != "n_agents"}
    note = ("Env options: `n_agents` as in each row (Figures 1-2: n = 1..5; Tables 1-2: n = 2)"
            + (f", and `{json.dumps(extra, sort_keys=True)}`." if extra else "."))
    text = render_report(rows, profile.name, options_note=note)
    path.write_text(text)
    return text, path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m papers.omar.datasets", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=sorted(VERSION), help="run profile (default quick)")
    ap.add_argument("--env", action="append", choices=CLI_ENVS,
                    help="env to include (repeatable; default: the four OMAR envs of Tables 3-6; omar/spread1d "
                         "takes its n_agents from --env-options, default 2 as in Tables 1-2)")
    ap.add_argument("--env-options", default=None,
                    help='JSON env options for every --env, e.g. \'{"prey": "v2"}\' (default: the options the '
                         "OMAR items use per env, papers/omar/config.py ENV_OPTIONS)")
    ap.add_argument("--n-agents", type=int, action="append", metavar="N",
                    help="with --env omar/spread1d alone: each of these n (repeatable), in one report, "
                         "default --out <results>/<profile>/omar/datasets_spread1d.md (Figures 1-2's n = 1..5)")
    ap.add_argument("--generate", action="store_true", help="generate missing datasets first (else skip them)")
    ap.add_argument("--report", action="store_true", help="print the report and write it to --out")
    ap.add_argument("--out", default=None, help="report path (default <results>/<profile>/omar/datasets.md, "
                                                "<results> being this machine's runs root or, with --reference, results/)")
    add_common_options(ap)
    a = ap.parse_args(argv)
    if not (a.report or a.generate):
        ap.error("nothing to do: pass --report and/or --generate")
    try:
        opts = None if a.env_options is None else json.loads(a.env_options)
    except ValueError as e:
        ap.error(f"--env-options {a.env_options!r} is not valid JSON ({e}); e.g. '{{\"n_agents\": 3}}'")
    if opts is not None and not isinstance(opts, dict):
        ap.error(f"--env-options must be a JSON object, got {a.env_options!r}")
    set_threads(a.threads)
    root = results_root_of(a)
    profile = get_profile(a.profile, PROFILE_OVERRIDES)
    envs_ = a.env or list(REPORT_ENVS)
    if a.n_agents:
        if envs_ != ["omar/spread1d"]:
            ap.error(f"--n-agents needs --env omar/spread1d alone, got --env {envs_}")
        if opts is not None and "n_agents" in opts:
            ap.error("give n_agents either in --env-options or with --n-agents, not both")
        bad = [n for n in a.n_agents if n < 1]
        if bad:
            ap.error(f"--n-agents must be >= 1, got {bad}")
        if a.generate and not a.report:
            for n in a.n_agents:
                load_spec(dataset_spec("omar/spread1d", profile, {**(opts or {}), "n_agents": n}), "expert")
            return 0
        text, path = write_spread1d_report(profile, a.n_agents, opts, a.generate, a.out, results_root=root)
        print(text)
        print(f"written to {path}", file=sys.stderr)
        return 0
    if a.generate and not a.report:
        for env in envs_:
            load_spec(dataset_spec(env, profile, default_env_options(env) if opts is None else opts), "expert")
        return 0
    text, path = write_report(profile, envs_, opts, a.generate, a.out, results_root=root)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    raise SystemExit(main())
