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
                anchor = anchor[: len(anchor) - (node.level - 1)]
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
    assert "common.running.records" in GRAPH["common.running.experiment"]
    assert "common.algos.itd3" in GRAPH["common.algos"]  # imported inside the builder function
    assert "papers.omar.jobs" in GRAPH["papers.omar.table3"]


@pytest.mark.parametrize("layer", PACKAGES)
def test_layers(layer):
    bad = sorted(
        f"{m} imports {t}"
        for m, ts in GRAPH.items()
        if m.split(".")[0] == layer
        for t in ts
        if t.split(".")[0] not in ALLOWED[layer]
    )
    assert not bad, f"{layer}/ may import only {sorted(ALLOWED[layer])} of ours:\n  " + "\n  ".join(bad)


def test_no_paper_imports_another():
    bad = sorted(
        f"{m} imports {t}"
        for m, ts in GRAPH.items()
        if m.startswith("papers.")
        for t in ts
        if t.startswith("papers.") and t.split(".")[:2] != m.split(".")[:2]
    )
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
        " <-> ".join(c) for c in cycles
    )


# ---- sizes: one job per module, one step per definition (issue 61) -------------------------------------------
MAX_MODULE_LINES = 400
MAX_DEF_LINES = 120  # a function or method, from its ``def`` line to its last line (decorators not counted)
# Exceptions, with their line counts: none since 2026-11-28 (issue 61 split the last ones). The lists may only
# shrink: a listed module or definition that grows fails, and one that comes down to the limit must leave its list.
BIG_MODULES = {  # path: lines
}
BIG_DEFS = {  # path::qualified name: lines
}


def _definitions(path: Path) -> dict[str, int]:
    """``path::Qualified.name`` -> lines, for every function and method (nested ones included) in ``path``."""
    out: dict[str, int] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
                if not isinstance(child, ast.ClassDef):
                    out[f"{path.relative_to(ROOT)}::{name}"] = child.end_lineno - child.lineno + 1
                walk(child, name)
            else:
                walk(child, prefix)

    walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), "")
    return out


def _over(sizes: dict[str, int], limit: int, listed: dict[str, int], what: str) -> list[str]:
    """What breaks the rule: an unlisted ``what`` over ``limit``, a listed one that grew, came under the limit or
    is gone."""
    bad = [
        f"{k}: {n} lines > {limit} (not on the list: split it)"
        for k, n in sorted(sizes.items())
        if n > limit and k not in listed
    ]
    for k, was in sorted(listed.items()):
        n = sizes.get(k)
        if n is None:
            bad.append(f"{k}: listed, but no such {what} any more (remove it from the list)")
        elif n > was:
            bad.append(f"{k}: {n} lines, grew from {was} (the list may only shrink)")
        elif n <= limit:
            bad.append(f"{k}: {n} lines, now within {limit} (remove it from the list)")
    return bad


def test_modules_stay_small():
    """No module of envs/, common/ or papers/ over 400 lines, except the dated list, whose entries only shrink."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES.values()
    }
    print(f"{len(BIG_MODULES)} modules over {MAX_MODULE_LINES} lines on the list")
    bad = _over(sizes, MAX_MODULE_LINES, BIG_MODULES, "module")
    assert not bad, "\n  ".join(["module sizes:", *bad])


def test_definitions_stay_small():
    """No function or method in envs/, common/ or papers/ over 120 lines, except the dated list."""
    sizes = {k: n for p in MODULES.values() for k, n in _definitions(p).items()}
    print(f"{len(BIG_DEFS)} definitions over {MAX_DEF_LINES} lines on the list")
    bad = _over(sizes, MAX_DEF_LINES, BIG_DEFS, "definition")
    assert not bad, "\n  ".join(["definition sizes:", *bad])


def test_size_rules_can_fail():
    """The rule itself, on made-up sizes: each way of breaking it is reported, a shrinking entry is not."""
    listed = {"a.py": 500, "b.py": 450, "c.py": 420, "gone.py": 410}
    sizes = {"a.py": 490, "b.py": 451, "c.py": 400, "new.py": 401, "ok.py": 400}
    bad = _over(sizes, 400, listed, "module")
    assert [b.split(":")[0] for b in bad] == ["new.py", "b.py", "c.py", "gone.py"]
    # nested functions count on their own, under their qualified name
    here = _definitions(Path(__file__).resolve())
    assert here["tests/test_layers.py::test_no_import_cycles.visit"] == 20
