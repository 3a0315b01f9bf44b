"""common.reporting.plotting.save: atomic PNG writes that several processes may do at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path


def _save_many(path: str, n: int) -> None:
    from common.reporting.plotting import plt, save

    for i in range(n):
        fig = plt().figure(figsize=(1, 1))
        fig.gca().plot([0, i])
        save(fig, path)


def test_save_writes_a_png_and_leaves_no_temporary(tmp_path):
    _save_many(str(tmp_path / "f.png"), 1)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]
    assert (tmp_path / "f.png").stat().st_mode & 0o777 == 0o644


def test_processes_saving_one_figure_at_once_do_not_race(tmp_path):
    """Two processes writing the same figure (two cells of one item run side by side) each finish: a shared
    temporary name made one rename the other's file away (FileNotFoundError)."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_save_many, args=(str(tmp_path / "f.png"), 15)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["f.png"]
