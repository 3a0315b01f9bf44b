"""Stages that runs share, for the cost model (common.running.cost_model): a shared stage's steps count only in the
run that trains it.

OTC (papers/otc/deploy_offline.py) trains pi^0 (``offline_updates``) and d_e's CVAE (``cvae_offline_updates``) once
per (learner, data, seed, ...) and caches them: every variant of a seed tunes the same pi^0, and only the first
variant to run pays for it. Counting the offline updates in every run overstates a Table 1 row of three variants by
up to the whole pi^0 twice over. So:

- fitting: a record that names the parts its run trained (``extra.offline_s`` = {"pi0": s, "cvae": s}, a part from
  the cache absent) is fitted on its config with the other parts' counts set to 0 (``as_trained``); an older record
  without that field is taken as having trained every part (what its counts said before);
- predicting (common.running.cost_records.predict_plans): a run trains the parts whose ``stage_ids`` no earlier run
  of the plan had (a cold cache: parts cached on this machine by an earlier invocation are still counted).
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from common.running.records import canonical_json

__all__ = ["STAGES", "stage_ids", "as_trained", "record_config"]

# stage -> its count field in a run's config
STAGES = {"pi0": "offline_updates", "cvae": "cvae_offline_updates"}
# the config fields a stage's result depends on besides the seed (papers/otc/deploy_offline.offline_key's inputs)
_DEPENDS = {
    "pi0": ("learner", "dataset", "offline_updates", "eval_episodes", "eval_max_steps"),
    "cvae": ("learner", "dataset", "offline_updates", "cvae_offline_updates", "otc"),
}


def _count(config: Mapping[str, Any], field: str) -> int:
    v = config.get(field)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def stage_ids(paper: str, config: Mapping[str, Any], seed: int) -> dict[str, str]:
    """{stage: identity} of the shared stages a run of ``config`` and ``seed`` needs (a count field > 0): runs with
    one identity share that stage's result. {} for a config without shared stages."""
    out = {}
    for stage, field in STAGES.items():
        if _count(config, field) > 0:
            deps = {k: config.get(k) for k in _DEPENDS[stage]}
            learner = config.get("learner")
            if isinstance(learner, str):
                deps["section"] = config.get(learner)
            out[stage] = f"{paper}:{stage}:{seed}:{canonical_json(deps)}"
    return out


def as_trained(config: Mapping[str, Any], trained: Collection[str]) -> dict[str, Any]:
    """``config`` with the count field of every shared stage not in ``trained`` set to 0 (a run that took that
    stage from the cache trains none of its steps). Unknown stage names raise."""
    bad = set(trained) - set(STAGES)
    if bad:
        raise ValueError(f"unknown shared stage(s) {sorted(bad)}; valid: {', '.join(STAGES)}")
    out = dict(config)
    for stage, field in STAGES.items():
        if stage not in trained and field in out:
            out[field] = 0
    return out


def record_config(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The config a record's time is fitted on: ``as_trained`` by the parts its ``extra.offline_s`` names; the
    recorded config as it is where the record does not say (older records, other papers)."""
    config = record["config"]
    extra = record.get("extra")
    offline = extra.get("offline_s") if isinstance(extra, Mapping) else None
    return as_trained(config, offline) if isinstance(offline, Mapping) else config
