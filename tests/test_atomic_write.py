"""common.running.records.atomic_write: the one temporary-and-rename write behind text, torch checkpoints and figures."""

from __future__ import annotations

import pytest
import torch

from common.running.records import atomic_torch_save, atomic_write, atomic_write_text


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old\n")

    def half_then_fail(f):
        f.write(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_writes_create_folders_and_are_readable_by_all(tmp_path):
    text = tmp_path / "new" / "deeper" / "b.md"
    assert atomic_write_text(text, "é\n") == text
    assert text.read_text(encoding="utf-8") == "é\n"
    ckpt = tmp_path / "c.pt"
    atomic_torch_save({"w": torch.arange(3)}, ckpt)
    assert torch.equal(torch.load(ckpt)["w"], torch.arange(3))
    for p in (text, ckpt):
        assert p.stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 would make them private
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "new"]
