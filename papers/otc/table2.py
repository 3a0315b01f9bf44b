"""OTC Table 2: average time of one update of d_e + BCQ, d_q + BCQ and BCQ, and their ratios to BCQ (Sec. 4.2).

    python papers/otc/table2.py --profile smoke      # or quick / full; --device cuda on a GPU; --help
    python papers/otc/table2.py --method bcq_otc_dq --quantity ratio_to_bcq      # part of the table

A microbenchmark, not a training run (spec Sec. 7.3). Task: 2-agent HalfCheetah, medium data, every agent seeing
the full state (O = 17, A = 3, N = 2): the profile's cached dataset when it is on disk, otherwise random tensors of
its shapes (the time of an update does not depend on the values). One seed, so M = 2 members (one per agent).
"One update" is everything a fine-tuning step of papers/otc/deploy.py does for all agents of the seed:
``learner.update(sampler.batch(...))`` with deploy.Sampler "uniform" (BCQ: the 128-row draw) or "otc" (the B and
D draws, d_e's CVAE step, the similarities d_e or d_q, Eq. (3)'s prioritized draw), then the BCQ update (Table 3:
(64, 64) networks). Not timed: alpha's estimate at the start of a phase (``start_phase``, 20 similarity draws once
per L = 4000 updates, 0.5 % of the similarity work), run once before the clock.

Protocol: ``warmup`` updates of each method, then ``reps`` repetitions of ``updates`` updates each, the three
methods interleaved (the order rotated every repetition, so a busy neighbour slows all of them alike);
``torch.cuda.synchronize()`` before every clock read on a GPU; the CPU at the ``--threads`` given (default 1).
ms per update = the median over repetitions; ratio_to_bcq = a method's ms / BCQ's ms of the same measurement
(BCQ's is 1 exactly). After the clock, ``ratio_floor`` = 1 + (the time of a method's matrix products alone
minus BCQ's, at their shapes: common/bench/bound.py) / BCQ's ms: the ratio if OTC's part of the update did nothing
but its matrix products; no implementation that computes the method's quantities gets below it on that device (a
faster BCQ raises it), so a floor above 1.25 says the paper's "< 25 %" is out of reach there. Sizes per profile in TIMING: quick and full = the spec's 50 warm-up, 5 x 500 updates at
Table 3's |B| 512, |D| 2000, batch 128; smoke = seconds of plumbing.

Cells: method x quantity (ms_per_update, ratio_to_bcq), six records from ONE measurement of all three methods per
seed and process (the first cell measures, the others read it): every record holds that whole measurement in
``extra`` (all repetitions, the device's name, the load average, the data). Verdicts t2_overhead_below_25pct and
t2_dq_not_slower read the ratios only: ms on other hardware than the paper's GTX 1080Ti are informative. On a CPU
the similarity step touches |B| + |D| = 2512 transitions against the update's 128, so the first claim is expected
to fail there and to hold on a GPU (spec Sec. 7.1, 7.3).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from common.algos.bcq import BCQ, BCQConfig
from common.bench.bound import step_bound
from common.bench.core import device_sync
from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.running.cli import grid_filters
from common.running.cli import main as run_main
from common.running.experiment import Cell, Job
from common.running.profiles import PROFILE_NAMES
from common.running.records import canonical_json
from common.running.runtime import current_threads
from papers.otc import config as C
from papers.otc import deploy as D
from papers.otc import otc as O
from papers.otc.claims import CLAIMS
from papers.otc.published import QUANTITIES, TABLE2_METHODS

ITEM = Path(__file__).stem
METHODS = TABLE2_METHODS  # bcq_otc_de, bcq_otc_dq, bcq: the paper's order
BASELINE = "bcq"
ENV, TASK, KIND = "mamujoco/halfcheetah-2x3", "halfcheetah", "medium"
N_AGENTS, OBS_DIM, ACT_DIM = 2, 17, 3  # HalfCheetah split 2 x 3 joints, every agent the full 17-dim state

FLOOR_REPS = 5  # interleaved rounds of common.bench.bound.step_bound per method, after the clock
_TABLE3 = {"big_batch": 512, "match_batch": 2000, "batch_size": 128}  # |B|, |D|, update batch [P Table 3]
TIMING: dict[str, dict[str, int]] = {
    # warmup: updates per method before the clock; reps x updates: the timed repetitions [spec Sec. 7.3]
    "smoke": {
        "warmup": 5,
        "reps": 3,
        "updates": 10,
        "big_batch": 64,
        "match_batch": 64,
        "batch_size": 32,
        "width": 32,
    },  # plumbing in seconds, not numbers
    "quick": {"warmup": 50, "reps": 5, "updates": 500, **_TABLE3},
    "full": {"warmup": 50, "reps": 5, "updates": 500, **_TABLE3},
}


# ---- the cells ---------------------------------------------------------------------------------------------------


def timing_config(profile: str) -> dict[str, Any]:
    """The config shared by the six cells at ``profile``: the task, the protocol and the sizes."""
    if profile not in TIMING:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(TIMING)}")
    t = TIMING[profile]
    # the batch and width learner_section reads
    sizes = C.OtcSettings(batch_size=t["batch_size"], width=t.get("width"))
    return {
        "dataset": {
            "env": ENV,
            "env_options": {"obs_mode": C.OBS_MODE},
            "return_mode": "mean",
            "kind": KIND,
            "task": TASK,
            "data_profile": profile,
        },
        "timing": {k: int(t[k]) for k in ("warmup", "reps", "updates")},
        "bcq": C.learner_section("bcq", sizes),  # Table 3's BCQ with the profile's batch and width
        "otc": {k: int(t[k]) for k in ("big_batch", "match_batch", "batch_size")},
        "methods": list(METHODS),
    }


def build_cells(profile) -> list[Cell]:
    cfg = timing_config(profile.name)
    return [Cell("otc", ITEM, {"method": m, "quantity": q}, cfg) for m in METHODS for q in QUANTITIES]


# ---- the measurement ---------------------------------------------------------------------------------------------


def summarize(seconds: Mapping[str, Sequence[float]], baseline: str = BASELINE) -> dict[str, Any]:
    """From each method's seconds per update of every repetition: ``ms`` = the median in ms, ``ratio_to_bcq`` =
    ms / the baseline's ms (the baseline's is 1.0 exactly), and ``paired_ratio`` = the median over repetitions of
    the ratio within each repetition (a reading less sensitive to a neighbour's load changing between them)."""
    if baseline not in seconds:
        raise ValueError(f"no timings of the baseline {baseline!r}; have {sorted(seconds)}")
    n = {len(v) for v in seconds.values()}
    if len(n) != 1 or 0 in n:
        raise ValueError(
            f"every method needs the same non-zero number of repetitions, got "
            f"{ {m: len(v) for m, v in seconds.items()} }"
        )
    ms = {m: 1e3 * statistics.median(v) for m, v in seconds.items()}
    base = seconds[baseline]
    return {
        "ms": ms,
        "ratio_to_bcq": {m: ms[m] / ms[baseline] for m in ms},
        "paired_ratio": {m: statistics.median(a / b for a, b in zip(v, base)) for m, v in seconds.items()},
        "reps_ms": {m: [1e3 * x for x in v] for m, v in seconds.items()},
    }


def device_name(device: torch.device) -> str:
    """The machine the clock ran on, in words (a GPU's name, else the CPU's model and its logical cores)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} logical cores)"


def task_tensors(cfg: Mapping[str, Any], seed: int, device: torch.device) -> tuple[dict, dict, int, dict]:
    """(merged [T, N, ...], newest [T_new, N, ...], n_offline, about the data). merged = the profile's cached
    halfcheetah medium data split with obs_mode "otc" when on disk, else random tensors of its shapes and size;
    newest (D^k) = its last max(1 % T, |D|) rows, so that |D| is the table's size."""
    from common.datasets import mujoco as mj
    from common.running.offline import data_identity_of

    spec = cfg["dataset"]
    base = mj.dataset_base(spec["task"], spec["kind"], spec["data_profile"])
    if all(base.with_name(base.name + s).exists() for s in (".json", ".npz")):
        data = D.load_dataset(spec)
        merged = {k: v.to(device) for k, v in data.to_torch(device, keys=D.BATCH_KEYS).items()}
        about = {
            "data": f"{data.id} ({spec['data_profile']}), split on {spec['env']}",
            **data_identity_of(data),
        }
    else:
        T = mj.check_profile(spec["data_profile"]).size
        g = torch.Generator().manual_seed(int(seed))
        merged = {
            "obs": torch.randn(T, N_AGENTS, OBS_DIM, generator=g),
            "actions": torch.rand(T, N_AGENTS, ACT_DIM, generator=g) * 2 - 1,
            "rewards": torch.randn(T, N_AGENTS, generator=g),
            "next_obs": torch.randn(T, N_AGENTS, OBS_DIM, generator=g),
            "terminals": torch.zeros(T),
        }
        merged = {k: v.to(device) for k, v in merged.items()}
        about = {
            "data": f"random tensors of {spec['task']} {spec['kind']} ({spec['data_profile']}) shapes: "
            f"T {T}, N {N_AGENTS}, O {OBS_DIM}, A {ACT_DIM} (dataset not cached)",
            "dataset_size": T,
        }
    T = merged["obs"].shape[0]
    n_new = min(T, max(D.deploy_size(T, C.DEPLOY_FRACTION), int(cfg["otc"]["match_batch"])))
    newest = {k: v[T - n_new :] for k, v in merged.items()}
    return merged, newest, T - n_new, {**about, "newest_rows": n_new}


def method_step(
    method: str, cfg: Mapping[str, Any], merged, newest, n_offline: int, seed: int, device: torch.device
) -> Callable[[], None]:
    """One fine-tuning update of ``method`` as deploy.tuning_run does it, ready to call: a fresh BCQ learner for
    one seed (M = N members), deploy.Sampler of the method's kind (and d_e's CVAE), alpha^1 set by start_phase."""
    m = C.parse_method(method)
    if m.learner != "bcq" or m.sampler not in ("uniform", "otc") or m.alpha_mode not in (None, "adaptive"):
        raise ValueError(f"table2 times {', '.join(METHODS)}; got {method!r}")
    obs_dims, act_dims = [merged["obs"].shape[-1]] * N_AGENTS, [merged["actions"].shape[-1]] * N_AGENTS
    learner = BCQ(obs_dims, act_dims, 1, BCQConfig(**cfg["bcq"]), seeds=[seed], device=device)
    scfg = (
        {"otc": {"distance": m.distance, "alpha_mode": m.alpha_mode, "alpha0": m.alpha0, **cfg["otc"]}}
        if m.sampler == "otc"
        else {}
    )
    cvae = cvae_gen = None
    if m.distance == "embedding":
        ocfg = O.OTCConfig(**scfg["otc"]).validate()
        cvae = O.TransitionCVAE.from_config(
            ocfg, learner.n_members, learner.obs_dim, learner.act_dim, learner.cfg.hidden, device=device
        )
        cvae_gen = D.stream_generator(seed, D.CVAE_STREAM, device)
    sampler = D.Sampler(m.sampler, learner, scfg, seed, device, cvae, cvae_gen)
    sampler.start_phase(merged, newest)

    def step() -> None:
        learner.update(sampler.batch(merged, newest, n_offline))

    return step


def update_flops(step: Callable[[], None]) -> int:
    """The matrix-multiply FLOPs of one call of ``step`` (``torch.utils.flop_counter``: mm, bmm, baddbmm, ... in
    the forward and backward passes; elementwise work such as d_e's l1 ``cdist`` is not counted). A method's
    FLOPs over BCQ's bound its time ratio from below wherever the matrix products run at one rate (a CPU thread):
    at Table 3's sizes d_e needs 2.0x and d_q 5.5x BCQ's FLOPs (|B| + |D| = 2512 rows against the update's 128),
    so the paper's "< 25 %" can hold only where an update is bound by latency rather than arithmetic (a GPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def measure(cfg: Mapping[str, Any], seed: int, device: str | torch.device) -> dict[str, Any]:
    """Time one update of every method of ``cfg["methods"]`` (module docstring) -> summarize(...) with the
    machine, the protocol and the data."""
    dev = torch.device(device)
    t = cfg["timing"]
    merged, newest, n_offline, about = task_tensors(cfg, seed, dev)
    methods = list(cfg["methods"])
    steps = {m: method_step(m, cfg, merged, newest, n_offline, seed, dev) for m in methods}
    flops = {m: update_flops(steps[m]) for m in methods}  # one update each, before the clock
    load0, started = os.getloadavg(), time.perf_counter()
    for m in methods:
        for _ in range(int(t["warmup"])):
            steps[m]()
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    for r in range(int(t["reps"])):
        for m in methods[r % len(methods) :] + methods[: r % len(methods)]:  # rotated order
            device_sync(dev)
            t0 = time.perf_counter()
            for _ in range(int(t["updates"])):
                steps[m]()
            device_sync(dev)
            seconds[m].append((time.perf_counter() - t0) / int(t["updates"]))
    floors = {m: step_bound(steps[m], reps=FLOOR_REPS, device=str(dev)) for m in methods}  # after the clock
    ms_bcq = 1e3 * statistics.median(seconds[BASELINE])
    return {
        **summarize(seconds),
        "matmul_floor_ms": {m: 1e3 * floors[m]["matmul_s"] for m in methods},
        "ratio_floor": {
            m: 1 + 1e3 * (floors[m]["matmul_s"] - floors[BASELINE]["matmul_s"]) / ms_bcq for m in methods
        },
        "peak_gflops": statistics.median(f["peak_gflops"] for f in floors.values()),
        "gemm_flops": flops,
        "gemm_flop_ratio_to_bcq": {m: flops[m] / flops[BASELINE] for m in methods},
        "device_name": device_name(dev),
        "threads": current_threads(),
        "loadavg_1min": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "protocol": dict(t),
        "measured_s": round(time.perf_counter() - started, 2),
        "measurement_id": uuid.uuid4().hex[:12],
        **about,
    }


# One measurement per (config, seed, device, threads) in this process, read by the six cells; main() empties it,
# so every invocation (e.g. with --force) measures afresh.
_MEASURED: dict[str, dict[str, Any]] = {}


def timing_run(cell: Cell, seed: int, ctx) -> dict[str, Any]:
    """The record of one (method, quantity) cell: its number from the seed's measurement, and the whole
    measurement in ``extra``."""
    method, quantity = cell.keys["method"], cell.keys["quantity"]
    if method not in METHODS or quantity not in QUANTITIES:
        raise ValueError(f"table2 cell {cell.keys}: method one of {METHODS}, quantity one of {QUANTITIES}")
    key = canonical_json([cell.config, int(seed), str(ctx.device), current_threads()])
    if key not in _MEASURED:
        _MEASURED[key] = measure(cell.config, seed, ctx.device)
    meas = _MEASURED[key]
    score = meas["ms"][method] if quantity == "ms_per_update" else meas["ratio_to_bcq"][method]
    return {"score": score, **meas}


job = Job(run=timing_run)


def finish(records, results: Path, profile: str) -> None:
    """The claims' verdicts (papers/otc/claims.py: not checked while a ratio_to_bcq record is missing)."""
    check_claims(results, "otc", ITEM, CLAIMS, Evidence(records, profile))


def main(argv=None):
    _MEASURED.clear()
    return run_main(
        __doc__.splitlines()[0],
        build_cells,
        job,
        "otc",
        ITEM,
        paper_overrides=C.PROFILE_OVERRIDES,
        argv=argv,
        after=item_after("otc", ITEM, finish),
        default_seeds={p: [0] for p in PROFILE_NAMES},  # one seed: M = 2 members [spec Sec. 7.3]
        **grid_filters({"method": list(METHODS), "quantity": list(QUANTITIES)}, ITEM),
    )


if __name__ == "__main__":
    main()
