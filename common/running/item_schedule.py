"""Which item scripts ``run_all.sh --jobs J`` runs at the same time, and which first (``Schedule``), from their
predicted times (``predict``: measured times of earlier runs).

Up to J item scripts run at once, each with its runs in its own process (one torch thread each by default). Three
rules keep that as safe as one item after another:

1. The items of one paper run one after another, in their listed order: they share the paper's datasets and caches
   (OMAR's behavior runs, MOMA-PPO's world models), and later items copy
   the identical runs of earlier ones (``reuse_from``), which must be recorded first.
2. Items of different papers whose datasets come from one environment never run at the same time. A dataset cache
   makes a missing dataset when a run first asks for it (files present? else generate, then save), with no lock
   between processes: two items asking at once would both generate it (a MuJoCo robot's SAC behavior run and its
   policies, an SMAX map's MAPPO run), share its behavior checkpoint, and one could read the new ``.npz`` beside
   the old card. An item's environments (``item_envs``) are those its records trained on (``config.dataset.env``,
   any profile, in the given results roots) and its grid's ``env`` keys, a MaMuJoCo env standing for its robot's
   SAC group (``data_env``).
3. An item whose environments are known nowhere (no record, no ``env`` key) runs alone.

Among the items these rules let start, the one heading the most predicted work left in its paper (its own predicted
time and that of its paper's later items) starts first, so that the long papers do not end alone. An item without
a prediction counts 0 s. With one slot (``--jobs 1``, or one item at a time) the items run in their listed order.
When an item starts alone and no other can start beside it (one paper left), it gets every slot: its runs go to
J worker processes (``--launcher process``; the records equal one process's).
"""

from __future__ import annotations

import heapq
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from common.running.cost_records import predict_plans
from common.running.roots import REFERENCE_ROOT
from common.running.timings import item_time

_ROBOT = re.compile(r"^mamujoco/(.+?)(-\d+x\d+)?$")  # a MaMuJoCo env: its robot and agent split, e.g. "-2x3"


def measured_per_run(root: Path, profile: str, paper: str, item: str) -> tuple[float | None, str]:
    """(seconds per run, when) measured in ``root``: the item's last invocation (``last_run``: its wall time,
    dataset generation and report included, over the runs it ran), else the mean of its newest records' run times."""
    base = root / profile / paper
    try:
        last = json.loads((base / f"{item}.plan.json").read_text()).get("last_run") or {}
    except (OSError, ValueError, AttributeError):
        last = {}
    if last.get("wall_s") is not None and last.get("runs"):
        return float(last["wall_s"]) / int(last["runs"]), str(last.get("finished", ""))[:10]
    total, how = item_time(root, profile, paper, item)
    if total and how.startswith("Σ of "):
        n = int(how.split()[2])
        return total / max(n, 1), "Σ of runs"
    return None, ""


def predict(items: Sequence[Any], profile: str, mine: Path) -> None:
    """Each item's (common.running.run_all.Item) predicted seconds per run: this machine's measurement where there is
    one, else the committed reference's (``measured_per_run``); ``basis`` says which. Its plan's ``cost``: the cost
    model's prediction of its runs still to run (common.running.cost_records.predict_plans)."""
    for it, cost in zip(items, predict_plans([it.plan for it in items])):
        paper, name = it.plan.paper, it.plan.item
        it.plan.cost = cost
        for label, root in (("here", mine), ("ref", REFERENCE_ROOT)):
            s, when = measured_per_run(root, profile, paper, name)
            if s is not None:
                it.per_run_s, it.basis = s, f"{label} {when}".strip()
                break


def model_total(items: Sequence[Any]) -> str:
    """The plan's closing words on the cost model: its core-hours over the items' runs still to run (``predict``)."""
    costs = [i.plan.cost for i in items if i.plan.cost is not None and i.plan.todo]
    known = [c.core_s for c in costs if c.core_s is not None]
    runs = {
        b: sum(c.bases.get(b, 0) for c in costs)
        for b in ("fit", "grouped", "same size", "scaled", "unsized", "none", "copied")
    }
    return (
        f"; the cost model (common.running.cost_model, fitted on the reference's records): "
        f"{sum(known) / 3600:.2f} core-h for {len(known)} items (runs: {runs['fit']} fitted, {runs['grouped']} "
        f"from grouped runs, {runs['same size']} from the same sizes elsewhere, {runs['scaled']} scaled from "
        f"other sizes, {runs['unsized']} unsized, {runs['none']} not predicted, {runs['copied']} copied from an earlier item)"
    )


def model_note(item: Any) -> str:
    """After an item ran: the cost model's prediction beside its measured wall time (``item.wall_s``)."""
    return "" if item.plan.cost is None else item.plan.cost.beside(item.wall_s)


def data_env(env: str) -> str:
    """The source of the datasets that ``env`` trains on: for a MaMuJoCo env, the MuJoCo SAC group of its robot
    (``mamujoco/halfcheetah+walker2d``: the robots trained together, common.datasets.mujoco.protocol.GROUPS, share
    one behavior run; every agent split of a robot reads that robot's data); else ``env``."""
    m = _ROBOT.match(env)
    if m is None:
        return env
    from common.datasets.mujoco.protocol import GROUPS  # imports torch: only once a run is planned

    return "mamujoco/" + next(("+".join(g) for g in GROUPS if m.group(1) in g), m.group(1))


def recorded_envs(roots: Iterable[Path], paper: str, item: str) -> set[str]:
    """``data_env`` of every ``config.dataset.env`` in the records of ``paper/item`` under ``<root>/<any profile>``."""
    out: set[str] = set()
    for root in roots:
        for path in sorted(Path(root).glob(f"*/{paper}/{item}.jsonl")):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if '"dataset"' not in line:
                        continue
                    try:
                        ds = (json.loads(line).get("config") or {}).get("dataset")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(ds, dict) and isinstance(ds.get("env"), str):
                        out.add(data_env(ds["env"]))
    return out


def item_envs(roots: Iterable[Path], plan: Any) -> frozenset[str] | None:
    """The environments whose datasets the item of ``plan`` (common.running.cli.ItemPlan) trains on: its records'
    (``recorded_envs``) and its grid's ``env`` keys; None when neither says (rule 3: it runs alone)."""
    envs = recorded_envs(roots, plan.paper, plan.item)
    for keys in plan.grid_keys:
        env = json.loads(keys).get("env")
        if isinstance(env, str):
            envs.add(data_env(env))
    return frozenset(envs) or None


class Schedule:
    """The waiting and running items of one ``run_all.sh`` invocation under the rules above. Items: objects with
    ``plan.paper``, ``predicted_s`` (seconds or None) and ``envs`` (``item_envs``), given in their listed order.
    ``ready()`` names the items to start now and the slots each gets; ``start`` and ``finish`` move them on."""

    def __init__(self, items: Sequence[Any], slots: int):
        if slots < 1:
            raise ValueError(f"slots {slots!r}: give a positive number of items to run at once")
        self.slots, self.waiting = slots, list(items)
        self.running: list[Any] = []
        self.held: dict[int, int] = {}  # id(running item) -> the slots it holds
        # id(item) -> its predicted seconds + those of its paper's later items
        self.work: dict[int, float] = {}
        left: dict[str, float] = {}
        for it in reversed(self.waiting):
            left[it.plan.paper] = left.get(it.plan.paper, 0.0) + (it.predicted_s or 0.0)
            self.work[id(it)] = left[it.plan.paper]

    def allowed(self, item: Any, running: Sequence[Any]) -> bool:
        """Whether ``item`` may start beside ``running``: the first waiting item of its paper, none of its paper
        running (rule 1), no environment shared with a running item (rule 2), nothing beside an unknown (rule 3)."""
        paper = item.plan.paper
        if next(i for i in self.waiting if i.plan.paper == paper) is not item:
            return False
        for other in running:
            if other.plan.paper == paper or other.envs is None or item.envs is None or other.envs & item.envs:
                return False
        return True

    def ready(self) -> list[tuple[Any, int]]:
        """The items to start now, best first, each with the slots it gets (1; all free slots for an item that
        starts alone with no other able to start beside it)."""
        free = self.slots - sum(self.held.values())
        if self.slots == 1:
            order = list(self.waiting)
        else:
            order = sorted(self.waiting, key=lambda i: -self.work[id(i)])  # stable: listed order on ties
        chosen: list[Any] = []
        for it in order:
            if len(chosen) == free:
                break
            if self.allowed(it, [*self.running, *chosen]):
                chosen.append(it)
        if len(chosen) == 1 and not self.running and free > 1:
            return [(chosen[0], free)]
        return [(it, 1) for it in chosen]

    def start(self, item: Any, slots: int = 1) -> None:
        self.waiting = [i for i in self.waiting if i is not item]
        self.running.append(item)
        self.held[id(item)] = slots

    def finish(self, item: Any) -> None:
        self.running = [i for i in self.running if i is not item]
        del self.held[id(item)]


def simulate(items: Sequence[Any], slots: int) -> float:
    """The predicted wall time of running ``items`` by ``Schedule`` (each item its ``predicted_s``, None as 0, on
    however many slots it gets)."""
    sched, t = Schedule(items, slots), 0.0
    ends: list[tuple[float, int, Any]] = []  # heap of (end time, order, item)
    n = 0
    while sched.waiting or ends:
        for it, k in sched.ready():
            sched.start(it, k)
            heapq.heappush(ends, (t + (it.predicted_s or 0.0), n, it))
            n += 1
        t, _, done = heapq.heappop(ends)
        sched.finish(done)
    return t
