"""The protocol's datasets (common.behavior.collect) in the data cache: their paths (one per env options, behavior
env options and behavior seed), the behavior run's checkpoint beside them while a set is generated, and
``load_or_generate``: a cached set loaded and checked against the request, else generated and saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.behavior.collect import generate_protocol, options_suffix
from common.behavior.rollouts import plain_json
from common.datasets.card import DatasetError, data_root, dataset_id, dataset_path, regenerate_hint
from common.datasets.dataset import Dataset

__all__ = ["behavior_checkpoint_path", "generated_dataset_path", "load_or_generate"]


def generated_dataset_path(
    env_name: str,
    kind: str,
    version: int,
    seed: int,
    root: str | Path | None,
    env_options: Mapping[str, Any] | None = None,
    behavior_env_options: Mapping[str, Any] | None = None,
) -> Path:
    ds_id = dataset_id(env_name, kind, version)
    p = dataset_path(ds_id)
    if root is not None:
        p = Path(root) / p.relative_to(data_root())
    opts = dict(env_options or {})
    if behavior_env_options is not None and dict(behavior_env_options) != opts:
        opts["behavior_env_options"] = dict(behavior_env_options)  # another behavior: another cache path
    p = p.with_name(p.name + options_suffix(opts))
    return p if seed == 0 else p.with_name(f"{p.name}-seed{seed}")


def behavior_checkpoint_path(paths: Mapping[str, Path]) -> Path:
    """The behavior run's checkpoint beside a dataset set (``paths``: kind -> cache path without suffix): the
    expert path (or the first) + ".behavior.pt"; it exists only while the set is being generated."""
    p = paths.get("expert") or next(iter(paths.values()))
    return p.with_name(p.name + ".behavior.pt")


def load_or_generate(
    env_name: str,
    env_options: dict | None,
    sizes: Mapping[str, int | None],
    *,
    seed: int = 0,
    version: int = 1,
    root: str | Path | None = None,
    regenerate: bool = False,
    kinds: Sequence[str] | None = None,
    regenerate_command: str | None = None,
    **kw,
) -> dict[str, Dataset]:
    """Load the protocol's datasets of behavior seed ``seed`` from the cache (checksums verified by
    Dataset.load), or generate them with :func:`generate_protocol` (``kw`` passed on) and save them.

    ``kinds`` (default: every kind of ``sizes``) are the datasets returned. From a cache only they are
    read and checksummed; the other kinds' cards are still checked (sizes, env options, ref_scores),
    which costs a JSON read instead of hashing ~1 GB per 1M-transition dataset. Generation always
    makes the whole set (the protocol derives every kind from one behavior run).

    Paths: ``dataset_path("<env>/<kind>-v<version>")`` (under ``root`` instead of data_root() if
    given), with an ``-o<hash>`` suffix for non-empty env_options (:func:`options_suffix`) and a
    ``-seed<k>`` suffix for seeds other than 0. A cached set whose cards disagree
    with the request (sizes, env options) raises DatasetError: regenerate or bump the version.

    Generation resumes a killed behavior run from its checkpoint (:func:`behavior_checkpoint_path`, written every
    10 minutes of training and once training ends; deleted when the set is saved).

    ``regenerate_command``: the shell command that makes this set again (e.g. the paper module's
    ``--generate`` line), recorded in every generated card and quoted by load errors (a corrupt file)."""
    want_kinds = list(sizes) if kinds is None else list(kinds)
    unknown = [k for k in want_kinds if k not in sizes]
    if unknown:
        raise ValueError(f"kinds {unknown} not in the requested sizes; valid: {list(sizes)}")
    benv = kw.get("behavior_env_options")
    paths = {k: generated_dataset_path(env_name, k, version, seed, root, env_options, benv) for k in sizes}
    have = all(
        p.with_name(p.name + ".npz").exists() and p.with_name(p.name + ".json").exists()
        for p in paths.values()
    )
    if have and not regenerate:
        out = {k: Dataset.load(paths[k]) for k in want_kinds}
        cards = {k: out[k].card if k in out else Dataset.read_card(paths[k]) for k in paths}
        for k, card in cards.items():
            prot = card.get("protocol") or {}
            want = {"sizes": dict(sizes), "env_options": plain_json(dict(env_options or {}))}
            got = {"sizes": prot.get("sizes"), "env_options": prot.get("env_options")}
            if got != want:
                raise DatasetError(
                    f"{paths[k]}: cached dataset was made with {got}, requested {want}; "
                    f"pass regenerate=True or a new version, or {regenerate_hint(paths[k])}"
                )
        refs = {json.dumps(c.get("ref_scores"), sort_keys=True) for c in cards.values()}
        if len(refs) != 1:
            raise DatasetError(
                f"cached datasets of {env_name} seed {seed} disagree on ref_scores: {sorted(refs)}"
            )
        return out
    ckpt = behavior_checkpoint_path(paths)
    (out,) = generate_protocol(
        env_name, env_options, sizes, seeds=(seed,), version=version, checkpoint=ckpt, **kw
    )
    for k, d in out.items():
        d.card["regenerate_command"] = regenerate_command
        d.save(paths[k])
    ckpt.unlink(missing_ok=True)  # every dataset is saved: the behavior run is no longer needed
    return {k: out[k] for k in want_kinds}
