"""Typed published numbers: a paper's items and the values it prints, checked when built.

Each ``papers/<p>/published.py`` holds data only, built from these types::

    from common.reporting.published import Entry, Figure, Table, check_paper

    PAPER = "omar"; TITLE = "..."
    ITEMS = {"table3": Table(title="...", rows=["env", "dataset"], cols="method", metric="normalized"),
             "figure3": Figure(title="...", plot="sweep", x="tau")}
    PUBLISHED = [Entry(item="table3", keys={...}, mean=114.9, std=2.6, note="...")]
    NOTES = {"table3": ["footnote", ...]}                                   # optional
    check_paper(ITEMS, PUBLISHED, notes=NOTES)                              # cross-references

The paper's claims, each with its rule, are in ``papers/<p>/claims.py`` (common.reporting.claims); ``load_published``
reads both. Every type takes keywords only; an unknown keyword (e.g. ``metirc``) or a value outside its allowed set
raises ``PublishedError`` naming the bad key or value and the allowed ones. Plain dicts (the older form, with
``"kind": "table" | "figure"`` on items) are converted by ``as_item``/``as_entry`` with the same checks.

How an item's numbers are read and shown (``common.reporting.render`` renders them):

- ``metric``: the record reading compared: ``score`` or ``normalized`` (a record's top-level values), or
  an extra reading of the run (``score_best``, ``score_last10``, ``normalized_best``,
  ``normalized_last10``; looked up in the record's ``extra``).
- ``scale``: how the paper prints the number. ``raw`` (a return) and ``normalized`` (a normalized score)
  are shown as they are; ``fraction`` (0..1, e.g. a success rate 0.55) as it is; ``percent`` with a
  ``%``. Records always hold fractions as fractions (a win rate of 55% is recorded as 0.55), so for a
  ``percent`` item our values are multiplied by 100 (``Item.factor``) before anything is computed;
  published values are entered as the paper prints them (55.0 for 55%). Default: ``normalized`` for a
  normalized metric, else ``raw``; ``normalized`` goes with normalized metrics only, and they with it or with
  ``fraction`` (a normalized score printed as a fraction, 1.0 = the expert: our × 100 values times 0.01).
- ``spread``: what the paper's ``±`` is: ``std`` (population std over seeds, ddof 0, numpy's default, as
  the papers print), ``sem`` (standard error of the mean: sample std, ddof 1, over sqrt(n), as
  ``scipy.stats.sem``) or ``none`` (no ``±``). Ours is computed the same way (``spread_of``; under
  ``none``, ours shows the std). An entry's ``std=``/``sem=`` must match its item's ``spread``.
- ``seeds``: the number of seeds behind the paper's numbers, when it says.

The verdict compares like with like: Δ = ours − published in the item's scale, "within" when |Δ| is at
most the published spread (of the item's kind), or at most ours (of the same kind) where the paper
prints none, plus the entry's ``rounding`` (half a unit of the last digit the paper prints, where it
rounds a value that is known exactly, e.g. 0.0005 for a normalization constant printed as −4.237).
"""

from __future__ import annotations

import importlib.util
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from common.reporting.typed import (
    PublishedError,
    Typed,
    allowed_text,
    check_number,
    check_opt_int,
    check_strings,
    one_of,
)
from common.running.roots import REPO_ROOT

METRICS = ("score", "normalized", "score_best", "score_last10", "normalized_best", "normalized_last10")
SCALES = ("raw", "normalized", "fraction", "percent")
SPREADS = ("std", "sem", "none")
KINDS = ("table", "figure")
PLOTS = ("curves", "sweep", "bar")
PAPERS_ROOT = REPO_ROOT / "papers"


# ----------------------------------------------------------------------------------------------
# Items
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Item(Typed):
    """What every item has: its title and how its numbers are read (metric) and shown (scale, spread)."""

    title: str = ""
    metric: str = "normalized"
    scale: str | None = None  # None: "normalized" for a normalized metric, else "raw"
    spread: str = "std"
    seeds: int | None = None
    precision: int | None = None  # decimals; None: as many as the published means show (at most 3)
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        where = f"{type(self).__name__} {self.title!r}"
        one_of(where, "metric", self.metric, METRICS)
        if self.scale is None:
            object.__setattr__(self, "scale", "normalized" if self.metric.startswith("normalized") else "raw")
        one_of(where, "scale", self.scale, SCALES)
        normalized = self.metric.startswith("normalized")
        if (self.scale == "normalized" and not normalized) or (
            normalized and self.scale not in ("normalized", "fraction")
        ):
            raise PublishedError(
                f"{where}: scale {self.scale!r} does not go with metric {self.metric!r}: scale "
                "'normalized' is for the normalized metrics, and they take no other scale but "
                "'fraction' (the paper prints them as fractions of the expert score)"
            )
        one_of(where, "spread", self.spread, SPREADS)
        check_opt_int(where, "seeds", self.seeds, 1)
        check_opt_int(where, "precision", self.precision, 0)

    @property
    def factor(self) -> float:
        """What our (recorded) values are multiplied by to be in the paper's scale: 100 for percent; 0.01 for a
        normalized metric (recorded × 100) printed as a fraction (1.0 = the expert)."""
        if self.scale == "fraction" and self.metric.startswith("normalized"):
            return 0.01
        return 100.0 if self.scale == "percent" else 1.0

    @property
    def unit(self) -> str:
        return "%" if self.scale == "percent" else ""

    @property
    def ours_spread(self) -> str:
        """The spread kind of our column: the paper's, or std where the paper prints none."""
        return "std" if self.spread == "none" else self.spread


@dataclass(frozen=True, kw_only=True)
class Reading(Typed):
    """Another reading of each run, derived from its record when the report is made (e.g. from its evaluation
    curve), shown in a table's "Other readings" beside the last evaluation and judged against the same published
    number: ``name`` (a short word; the reading's values are ``<metric>_<name>``), ``text`` (what it is, for the
    column head) and ``of`` (record -> a number in the metric's recorded unit, or None where it cannot be read)."""

    name: str
    text: str
    of: Callable[[Any], float | None]

    def __post_init__(self) -> None:
        where = f"Reading {self.name!r}"
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise PublishedError(f"{where}: name must be one word (letters, digits, _)")
        if not (isinstance(self.text, str) and self.text):
            raise PublishedError(f"{where}: text must say what the reading is")
        if not callable(self.of):
            raise PublishedError(f"{where}: of {self.of!r} must be a function of a record")


@dataclass(frozen=True, kw_only=True)
class Table(_Item):
    """A table: one cell per combination of ``rows`` keys and the ``cols`` key's values.

    ``compare``: the key whose values "who beats whom" ranks (default ``cols``); ``pool``: ``{key: [every
    value the paper's number averages over]}`` for records pooled into a cell (e.g. tasks); ``pngs``: the
    script's own plots (file names beside the report, e.g. the runs' learning curves), shown after the claims;
    ``readings``: ``Reading``s derived from each record, shown in "Other readings" (e.g. a smoothed score)."""

    rows: tuple[str, ...] = ()
    cols: str = "method"
    compare: str | None = None
    pool: Mapping[str, tuple] | None = None
    pngs: tuple[str, ...] = ()
    readings: tuple[Reading, ...] = ()
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"Table {self.title!r}"
        object.__setattr__(self, "rows", check_strings(where, "rows", self.rows))
        if not isinstance(self.cols, str):
            raise PublishedError(f"{where}: cols {self.cols!r} must be one key name")
        if self.pool is not None:
            if not isinstance(self.pool, Mapping):
                raise PublishedError(f"{where}: pool {self.pool!r} must map a key to the values pooled")
            object.__setattr__(self, "pool", {k: tuple(v) for k, v in self.pool.items()})
        object.__setattr__(self, "pngs", check_strings(where, "pngs", self.pngs))
        readings = tuple(self.readings)
        if not all(isinstance(r, Reading) for r in readings):
            raise PublishedError(f"{where}: readings {self.readings!r} must be Reading(...)s")
        object.__setattr__(self, "readings", readings)


@dataclass(frozen=True, kw_only=True)
class Figure(_Item):
    """A figure: its plot of the records (``plot``: curves, sweep over key ``x``, or bar; default: curves
    when records carry curves, else a sweep when ``x`` is given, else bars), grouped by ``group``, and the
    script's own panels ``pngs`` (file names beside the report) shown first."""

    plot: str | None = None
    x: str | None = None
    group: str | None = None
    pngs: tuple[str, ...] = ()
    kind: ClassVar[str] = "figure"

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"Figure {self.title!r}"
        if self.plot is not None:
            one_of(where, "plot", self.plot, PLOTS)
        object.__setattr__(self, "pngs", check_strings(where, "pngs", self.pngs))


Item = Table | Figure
_ITEM_TYPES: dict[str, type] = {"table": Table, "figure": Figure}


# ----------------------------------------------------------------------------------------------
# Published values
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Entry(Typed):
    """One number the paper prints: item, the cell's keys, mean and its ``±`` as printed (``std`` or
    ``sem``, matching the item's spread; neither when the paper prints none), and an optional note
    (a footnote of the cell). ``rounding``: half a unit of the last printed digit (0.0005 for −4.237), added
    to the verdict's tolerance, so that a number the paper rounds is not "differs" for its rounding alone;
    None (the default) adds nothing. ``rounding_of("−4.237")`` computes it from the printed text."""

    item: str
    keys: Mapping[str, Any]
    mean: float
    std: float | None = None
    sem: float | None = None
    note: str | None = None
    rounding: float | None = None

    def __post_init__(self) -> None:
        where = f"Entry of {self.item!r} {dict(self.keys) if isinstance(self.keys, Mapping) else self.keys}"
        if not isinstance(self.keys, Mapping):
            raise PublishedError(f"{where}: keys must map key names to values")
        object.__setattr__(self, "keys", dict(self.keys))
        check_number(where, "mean", self.mean, optional=False)
        for name in ("std", "sem"):
            check_number(where, name, getattr(self, name), optional=True)
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise PublishedError(f"{where}: {name} {getattr(self, name)!r} must be >= 0")
        if self.std is not None and self.sem is not None:
            raise PublishedError(f"{where}: give std or sem, not both")
        check_number(where, "rounding", self.rounding, optional=True)
        if self.rounding is not None and not 0 <= self.rounding <= 0.5:
            raise PublishedError(
                f"{where}: rounding {self.rounding!r} must be half a unit of the last printed "
                "digit, in [0, 0.5] (e.g. 0.0005 for a value printed with 3 decimals)"
            )

    @property
    def spread(self) -> str:
        """The kind of this entry's ``±``: std, sem, or none."""
        return "std" if self.std is not None else "sem" if self.sem is not None else "none"

    @property
    def err(self) -> float | None:
        """The printed ``±`` value (std or sem), None when the paper prints none."""
        return self.std if self.std is not None else self.sem


def rounding_of(text: str) -> float:
    """Half a unit of the last digit of a number as printed: "-4.237" -> 0.0005, "6.4" -> 0.05, "-3" -> 0.5."""
    s = text.strip().replace("−", "-")
    try:
        float(s)
    except ValueError:
        raise PublishedError(f"rounding_of: {text!r} is not a printed number (e.g. '-4.237')") from None
    if "e" in s.lower():
        raise PublishedError(f"rounding_of: {text!r}: exponent notation is not supported; give the rounding")
    decimals = len(s.split(".")[1]) if "." in s else 0
    return 0.5 * 10.0**-decimals


# ----------------------------------------------------------------------------------------------
# Plain dicts (the older form) and whole papers
# ----------------------------------------------------------------------------------------------
def as_item(spec: Item | Mapping[str, Any], name: str = "") -> Item:
    """``spec`` as a Table or Figure; a dict needs ``"kind": "table" | "figure"``."""
    if isinstance(spec, (Table, Figure)):
        return spec
    if not isinstance(spec, Mapping):
        raise PublishedError(f"item {name!r}: {spec!r} is not a Table, a Figure or a dict")
    kind = spec.get("kind")
    if kind not in _ITEM_TYPES:
        raise PublishedError(f"item {name!r} has kind {kind!r}; allowed: {allowed_text(KINDS)}")
    try:
        return _ITEM_TYPES[kind](**{k: v for k, v in spec.items() if k != "kind"})
    except PublishedError as e:
        raise PublishedError(f"item {name!r}: {e}") from None


def as_entry(e: Entry | Mapping[str, Any]) -> Entry:
    return e if isinstance(e, Entry) else Entry(**e)


def check_paper(
    items: Mapping[str, Item],
    published: Sequence[Entry],
    claims: Sequence[Any] = (),
    notes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Cross-references: every entry, claim and note names a listed item; an entry's ``±`` is of its
    item's spread kind and its keys are the item's; no cell or claim id is given twice."""
    seen: set[tuple] = set()
    for e in published:
        spec = items.get(e.item)
        if spec is None:
            raise PublishedError(f"entry {e.keys} names item {e.item!r}; items: {allowed_text(items)}")
        if e.spread not in ("none", spec.spread):
            raise PublishedError(
                f"entry {e.item} {e.keys}: gives {e.spread} but the item's spread is "
                f"{spec.spread!r} (allowed: {allowed_text(SPREADS)})"
            )
        if isinstance(spec, Table) and set(e.keys) != {*spec.rows, spec.cols}:
            raise PublishedError(
                f"entry {e.item} {e.keys}: keys {sorted(e.keys)} are not the table's "
                f"rows and cols {sorted({*spec.rows, spec.cols})}"
            )
        cell = (e.item, tuple(sorted((k, repr(v)) for k, v in e.keys.items())))
        if cell in seen:
            raise PublishedError(f"entry {e.item} {e.keys} is given twice")
        seen.add(cell)
    check_claim_list(items, claims)
    for it in notes or {}:
        if it not in items:
            raise PublishedError(f"NOTES names item {it!r}; items: {allowed_text(items)}")


def check_claim_list(items: Sequence[str] | Mapping[str, Any], claims: Sequence[Any]) -> None:
    """Every claim (common.reporting.claims.Claim) names a listed item and no (item, id) is given twice."""
    ids: set[tuple[str, str]] = set()
    for c in claims:
        if c.item not in items:
            raise PublishedError(f"claim {c.id!r} names item {c.item!r}; items: {allowed_text(items)}")
        if (c.item, c.id) in ids:
            raise PublishedError(f"claim {c.id!r} of {c.item!r} is given twice")
        ids.add((c.item, c.id))


def normalize_published(
    module: Any, paper: str | None = None, claims_module: Any = None
) -> types.SimpleNamespace:
    """A paper's published.py as a namespace: PAPER, TITLE, ITEMS (name -> Table | Figure), PUBLISHED
    (Entry list), CLAIMS (``claims_module``'s, the paper's claims.py; common.reporting.claims.Claim), NOTES (defaults
    when absent; dicts converted), checked with ``check_paper``; ``found`` (a module was given) and ``error``."""
    g = (lambda k, d: getattr(module, k, d)) if module is not None else (lambda k, d: d)
    paper = g("PAPER", paper)
    items = {name: as_item(spec, name) for name, spec in dict(g("ITEMS", {}) or {}).items()}
    entries = [as_entry(e) for e in g("PUBLISHED", []) or []]
    claims = list(getattr(claims_module, "CLAIMS", None) or [])
    notes = dict(g("NOTES", {}) or {})
    try:
        check_paper(items, entries, claims, notes)
    except PublishedError as e:
        raise PublishedError(f"{paper}: {e}") from None
    return types.SimpleNamespace(
        PAPER=paper,
        TITLE=g("TITLE", paper or ""),
        ITEMS=items,
        PUBLISHED=entries,
        CLAIMS=claims,
        NOTES=notes,
        found=module is not None,
        error=None,
    )


def _module_at(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"{path} is not an importable .py file"
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_published(paper: str, papers_root: str | Path | None = None) -> types.SimpleNamespace:
    """Import ``<papers_root>/<paper>/published.py`` (and its claims.py, when there is one) by path; a missing file
    gives an empty paper, a broken or invalid one an empty paper whose ``error`` says what is wrong (and a warning)."""
    path = Path(papers_root or PAPERS_ROOT) / paper / "published.py"
    if not path.exists():
        return normalize_published(None, paper)
    try:
        claims_py = path.with_name("claims.py")
        claims = _module_at(claims_py, f"_offmarl_claims_{paper}") if claims_py.exists() else None
        return normalize_published(_module_at(path, f"_offmarl_published_{paper}"), paper, claims)
    except Exception as e:  # noqa: BLE001 - report what is wrong, render the rest
        warnings.warn(f"{path}: could not load ({type(e).__name__}: {e})")
        ns = normalize_published(None, paper)
        ns.error = f"{type(e).__name__}: {e}"
        return ns


def discover_papers(papers_root: str | Path | None = None) -> list[str]:
    """The papers under ``papers_root`` (default: the repository's papers/): folders with a published.py."""
    root = Path(papers_root or PAPERS_ROOT)
    return sorted(p.name for p in root.iterdir() if (p / "published.py").exists()) if root.exists() else []
