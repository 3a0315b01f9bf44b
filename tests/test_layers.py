"""The package's layers hold: ``envs/`` imports nothing of ours, ``common/`` never imports ``papers/``,
no module imports another paper's, and no two of our modules import each other, directly or around a
loop, function-level imports included (a cycle hidden in a function is still a cycle). Read from the
source with ``ast``, so the test sees every import, executed or not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("envs", "common", "papers")
# what each layer may import from our packages
ALLOWED = {"envs": {"envs"}, "common": {"envs", "common"}, "papers": {"envs", "common", "papers"}}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Our modules that ``name`` imports anywhere in its source (a name imported from a package that is
    itself a module counts as that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in MODULES and t != name:
                found.add(t)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_walk_sees_our_imports():
    """The walker itself: known edges (one at function level) are found, so a clean result means something."""
    assert "common.records" in GRAPH["common.experiment"]
    assert "common.algos.itd3" in GRAPH["common.algos"]  # imported inside the builder function
    assert "papers.omar.jobs" in GRAPH["papers.omar.table3"]


@pytest.mark.parametrize("layer", PACKAGES)
def test_layers(layer):
    bad = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if m.split(".")[0] == layer
                 for t in ts if t.split(".")[0] not in ALLOWED[layer])
    assert not bad, f"{layer}/ may import only {sorted(ALLOWED[layer])} of ours:\n  " + "\n  ".join(bad)


def test_no_paper_imports_another():
    bad = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if m.startswith("papers.")
                 for t in ts if t.startswith("papers.") and t.split(".")[:2] != m.split(".")[:2])
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    """Tarjan's strongly connected components: every component must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, "modules that import each other (directly or around a loop):\n  " + "\n  ".join(
        " <-> ".join(c) for c in cycles)


def test_common_modules_stay_small():
    """One job per module: none in common/ over about 600 lines."""
    big = {str(p.relative_to(ROOT)): n for name, p in MODULES.items() if name.startswith("common")
           for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > 650}
    assert not big, f"modules over 650 lines: {big}"
