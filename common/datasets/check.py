"""Data identity checks of the runner (common.running.experiment): which dataset generation a record trained on, whether
new runs would mix two generations in one item's table (``check_data`` raises ``DatasetMismatchError``), and
making every missing dataset once before workers start (``prepare_data``). See common.running.experiment's docstring,
"Data identity"."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from common.running.records import canonical_json, config_hash, latest_records, load_records, to_jsonable

__all__ = ["DATA_FIELDS", "DatasetMismatchError", "same_data", "check_data", "prepare_data"]

DATA_FIELDS = ("data_sha256", "data_identity", "dataset_size", "ref_scores")


class DatasetMismatchError(ValueError):
    """Recorded runs of an item used another generation of a dataset than the one in the cache."""


def same_data(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool | None:
    """Whether two data identities (a record's ``extra``, or ``Job.data_identity(spec)``) name the
    same dataset: by ``data_identity`` when both have it (the protocol and its policies' checksums: a dataset rebuilt
    from committed policies on another CPU type is the same data, as far as physics allows), else by
    ``data_sha256``, else by ``dataset_size`` and ``ref_scores`` (records written before the sha was recorded carry
    only those); None if either carries neither."""
    a, b = a or {}, b or {}
    if a.get("data_identity") and b.get("data_identity"):
        return a["data_identity"] == b["data_identity"]
    if a.get("data_sha256") and b.get("data_sha256"):
        return a["data_sha256"] == b["data_sha256"]
    if a.get("dataset_size") is None or b.get("dataset_size") is None:
        return None
    return int(a["dataset_size"]) == int(b["dataset_size"]) and canonical_json(
        a.get("ref_scores")
    ) == canonical_json(b.get("ref_scores"))


def _describe_data(ident: Mapping[str, Any]) -> str:
    refs = ident.get("ref_scores") or {}
    ref = "/".join("?" if refs.get(k) is None else f"{float(refs[k]):.6g}" for k in ("random", "expert"))
    sha, idn = ident.get("data_sha256"), ident.get("data_identity")
    return (
        f"size {ident.get('dataset_size')}, random/expert refs {ref}, "
        f"sha256 {sha[:12] if sha else 'not recorded'}" + (f", identity {idn[:12]}" if idn else "")
    )


def _spec_label(spec: Mapping[str, Any]) -> str:
    parts = [str(spec[k]) for k in ("env", "kind") if k in spec]
    return " ".join(parts) if parts else f"dataset {config_hash(dict(spec))}"


def check_data(
    todo: Sequence[tuple[Any, int]], job: Any, results_root: str | Path, profile: str, force: bool = False
) -> None:
    """Raise ``DatasetMismatchError`` when a run in ``todo`` would join recorded runs of its item whose
    dataset (same ``job.data_spec``) was another generation than the one in the cache now. Records
    that ``todo`` re-runs under ``force`` do not count; neither do records that carry no identity. ``todo``:
    (common.running.experiment.Cell, seed) pairs; ``job``: a common.running.experiment.Job."""
    # a plain fn: none
    spec_fn, ident_fn = getattr(job, "data_spec", None), getattr(job, "data_identity", None)
    if spec_fn is None or ident_fn is None or not todo:  # a Job gives both or neither
        return
    redo = {(c.item, c.keys_id(), s) for c, s in todo} if force else set()
    by_item: dict[tuple[str, str], dict[str, list[dict]]] = {}
    current: dict[str, Mapping[str, Any]] = {}
    problems: list[str] = []
    for cell, _ in todo:
        if (cell.paper, cell.item) not in by_item:
            groups: dict[str, list[dict]] = {}
            for r in latest_records(load_records(results_root, profile, cell.paper, cell.item)):
                if (r.get("item"), canonical_json(r.get("keys", {})), r.get("seed")) in redo:
                    continue
                spec = spec_fn(r.get("config") or {})
                if spec is not None:
                    groups.setdefault(canonical_json(to_jsonable(spec)), []).append(r)
            by_item[(cell.paper, cell.item)] = groups
        spec = spec_fn(cell.config)
        if spec is None:
            continue
        sid = canonical_json(to_jsonable(spec))
        recs = by_item[(cell.paper, cell.item)].pop(sid, [])  # each spec checked once per item
        if not recs:
            continue
        if sid not in current:
            current[sid] = ident_fn(spec)
        bad = [r for r in recs if same_data(r.get("extra"), current[sid]) is False]
        if bad:
            ids = sorted({_describe_data(r.get("extra") or {}) for r in bad})
            problems.append(
                f"{cell.paper}/{cell.item}, {_spec_label(spec)}: {len(bad)} recorded run(s) (e.g. {bad[0]['run_id']}) "
                f"trained on {'; '.join(ids)}; the dataset in the cache now has {_describe_data(current[sid])}"
            )
    if problems:
        raise DatasetMismatchError(
            "the cached dataset differs from the one that recorded runs of this item trained on (datasets "
            "are regenerated on a fresh machine, and generation is not bit-identical across CPUs), so new "
            "runs would not be comparable with them:\n  "
            + "\n  ".join(problems)
            + "\nRe-run every run of that dataset on the current data with --force and the grid filters "
            "that select it (e.g. --env ENV --dataset KIND --force), or restore the dataset files they used."
        )


def prepare_data(todo: Sequence[tuple[Any, int]], job: Any) -> None:
    """Load (generating if missing) every dataset that ``todo`` trains on, once each, in this process:
    before workers start, so that two workers never generate the same missing dataset at once. ``job``: a
    common.running.experiment.Job."""
    # a plain fn: none
    spec_fn, ident_fn = getattr(job, "data_spec", None), getattr(job, "data_identity", None)
    if spec_fn is None or ident_fn is None:  # a Job gives both or neither
        return
    seen: set[str] = set()
    for cell, _ in todo:
        spec = spec_fn(cell.config)
        if spec is not None and canonical_json(to_jsonable(spec)) not in seen:
            seen.add(canonical_json(to_jsonable(spec)))
            ident_fn(spec)
