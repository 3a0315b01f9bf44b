"""The Ray launcher of the experiment runner (``run_cells(..., launcher="ray")``, ``--launcher ray``).

Each call becomes one Ray task that reserves ``threads`` CPUs (one per torch thread of the run) and, for
``--device cuda``, one GPU. The task sets the run's torch thread count before it unpickles anything, so
the job's modules import under the thread count the record states. Ray re-runs a task whose worker
process or node died (``RAY_MAX_RETRIES`` times); exceptions raised by the call itself are not retried
(the runner's ``run_one`` already turns a failing job into a "failed" result). Idempotence is the
caller's: common.running.experiment's ``run_once`` skips a (cell, seed) that an earlier attempt recorded.

Where: ``--address`` / ``$RAY_ADDRESS`` name the cluster: ``HOST:PORT`` of its head (what ``ray start
--head`` prints), ``auto`` (the cluster started on this machine) or ``local`` (a new one-machine instance,
the default when neither is given). The driver (the script) must run on a node of the cluster: Ray Client
addresses (``ray://``) are refused. Every node needs the same code (this package installed from the
same commit: a task on another machine than the script's checks it) and the results root and dataset cache at the same paths, on a
shared filesystem whose ``flock`` works across nodes (records are appended under it).

Ray is an optional extra (``pip install -e '.[ray]'``; ``./run_tests.sh`` installs it). This module imports
it only inside the functions that launch.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
import re
import socket
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from common.running.runtime import git_commit, set_threads

RAY_MAX_RETRIES = 3  # re-runs of a task whose worker process or node died (Ray's default for tasks)
INSTALL_HINT = "pip install -e '.[ray]' (the ray extra of this package, pinned in constraints.txt)"
FAULT_ENV = "OFFMARL_FAULT_DIR"  # tests only: see fault_point
# the driver's values reach every task (progress: common.running.progress, for run_all.sh's bar)
FORWARDED_ENV = ("OFFMARL_DATA", FAULT_ENV, "OFFMARL_PROGRESS")
_HOST_PORT = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})$"
)


def check_address(address: str, source: str = "--address") -> str:
    """``address`` if it names a Ray cluster this launcher can use, else a ValueError naming the value and
    the accepted forms: HOST:PORT (port 1-65535), ``auto`` or ``local``."""
    forms = (
        "HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379), auto (the cluster on this machine) or local"
    )
    text = str(address).strip()
    if text.startswith("ray://"):
        raise ValueError(
            f"{source} {address!r}: Ray Client addresses (ray://) are not supported; run the script "
            f"on a node of the cluster and give {forms}"
        )
    if text in ("auto", "local"):
        return text
    m = _HOST_PORT.match(text)
    if m is None or not 1 <= int(m["port"]) <= 65535:
        raise ValueError(f"{source} {address!r} is not a Ray address; give {forms}")
    return text


def resolve_address(address: str | None) -> str:
    """The cluster to use: ``address``, else ``$RAY_ADDRESS``, else ``local``; checked (``check_address``)."""
    if address is not None:
        return check_address(address, "--address")
    env = os.environ.get("RAY_ADDRESS")
    return check_address(env, "$RAY_ADDRESS") if env else "local"


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """For a HOST:PORT address, a RuntimeError unless something accepts connections there (``ray.init``
    would retry for minutes). ``auto`` and ``local`` are left to Ray."""
    m = _HOST_PORT.match(address)
    if m is None:
        return
    try:
        socket.create_connection((m["host"].strip("[]"), int(m["port"])), timeout=timeout).close()
    except OSError as e:
        raise RuntimeError(
            f"no Ray cluster answers at {address} ({e}): start its head with `ray start --head "
            f"--port {m['port']}`, or give the address it printed"
        ) from None


def require_ray() -> None:
    """A RuntimeError naming the extra to install when ray is not importable (no import: cheap)."""
    if importlib.util.find_spec("ray") is None:
        raise RuntimeError(
            f"--launcher ray needs the 'ray' package, which is not installed here: {INSTALL_HINT}; "
            "or use --launcher process for worker processes on this machine"
        )


def check_device(device: str) -> str:
    """``cpu`` or ``cuda`` (a task's GPU is the one Ray gives it, so ``cuda:N`` is refused); the cluster's
    GPUs are checked once connected, not on this machine."""
    if device not in ("cpu", "cuda"):
        raise ValueError(
            f"device {device!r} with --launcher ray: give cpu or cuda (Ray assigns each task its GPU)"
        )
    return device


def fault_point(name: str) -> None:
    """Tests only: with ``$OFFMARL_FAULT_DIR`` set, the first task of the whole cluster to reach point
    ``name`` ("checkpoint": just saved a checkpoint; "record": just appended its record) kills its worker
    process (``os._exit``), once per point: the marker file ``<dir>/<name>`` is created exclusively."""
    where = os.environ.get(FAULT_ENV)
    if not where:
        return
    try:
        fd = os.open(Path(where) / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(17)


def _faulty_run(run: Callable, cell, seed: int, ctx) -> Any:
    save = ctx.save_checkpoint

    def save_then_fault(obj, step=None):
        save(obj, step)
        fault_point("checkpoint")

    ctx.save_checkpoint = save_then_fault
    return run(cell, seed, ctx)


def _faulty_group(run_group: Callable, runs: Sequence[tuple]) -> Any:
    for _, _, ctx in runs:
        save = ctx.save_checkpoint

        def save_then_fault(obj, step=None, save=save):
            save(obj, step)
            fault_point("checkpoint")

        ctx.save_checkpoint = save_then_fault
    return run_group(runs)


def with_fault_injection(job):
    """``job`` (a common.running.experiment.Job) whose checkpoints (a run's alone, or each run's of a group) pass
    ``fault_point("checkpoint")`` when ``$OFFMARL_FAULT_DIR`` is set; ``job`` itself otherwise."""
    if not os.environ.get(FAULT_ENV):
        return job
    import dataclasses

    group = None if job.run_group is None else functools.partial(_faulty_group, job.run_group)
    return dataclasses.replace(job, run=functools.partial(_faulty_run, job.run), run_group=group)


def _task(threads: int, payload: bytes, commit: str | None, driver_host: str) -> Any:
    set_threads(threads)  # before the call's modules (torch, the job's) are imported by unpickling
    if commit is not None and socket.gethostname() != driver_host:  # another machine: its own checkout
        here = (git_commit() or {}).get("commit")
        if here is not None and here != commit:
            raise RuntimeError(
                f"node {socket.gethostname()} runs commit {here[:12]}, the driver {commit[:12]}: "
                "every node needs the same code"
            )
    fn, args = pickle.loads(payload)
    return fn(*args)


def _connect(ray, address: str, device: str, threads: int) -> bool:
    """Connect (or start ``local``); True if this call started Ray. Checks that the cluster can ever run a
    task (its CPUs, and a GPU for cuda), which would otherwise wait forever."""
    started = False
    if not ray.is_initialized():
        try:
            if address == "local":
                ray.init(address="local", include_dashboard=False, logging_level="WARNING")
            else:
                ray.init(address=address, logging_level="WARNING")
        except (ConnectionError, RuntimeError) as e:
            raise RuntimeError(f"could not connect to the Ray cluster at {address}: {e}") from e
        started = True
    have = ray.cluster_resources()
    need = {"CPU": threads, **({"GPU": 1} if device == "cuda" else {})}
    short = {k: v for k, v in need.items() if have.get(k, 0) < v}
    if short:
        if started:
            ray.shutdown()
        raise RuntimeError(
            f"the Ray cluster at {address} has {', '.join(f'{have.get(k, 0):g} {k}' for k in short)}; "
            f"each task needs {', '.join(f'{v} {k}' for k, v in short.items())}"
        )
    return started


def run_ray(
    calls: Sequence[tuple[Callable, tuple]],
    labels: Sequence[str],
    *,
    threads: int,
    device: str,
    address: str | None,
    env: Mapping[str, str] | None = None,
    git: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Run ``fn(*args)`` for each of ``calls`` as a Ray task; results in order. A task that failed for
    good (worker died ``RAY_MAX_RETRIES`` + 1 times, or raised) gives ``(label, "failed", reason)``.
    ``env``: environment variables of every task (with those of ``FORWARDED_ENV`` set here)."""
    require_ray()
    address = resolve_address(address)
    check_device(device)
    import ray

    env_vars = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env_vars.update(env or {})
    started = _connect(ray, address, device, threads)
    try:
        remote = ray.remote(_task).options(
            num_cpus=threads,
            num_gpus=1 if device == "cuda" else 0,
            max_retries=RAY_MAX_RETRIES,
            retry_exceptions=False,
            runtime_env={"env_vars": env_vars},
        )
        commit = (git or {}).get("commit")
        host = socket.gethostname()
        refs = [remote.remote(threads, pickle.dumps((fn, tuple(args))), commit, host) for fn, args in calls]
        out = []
        for label, ref in zip(labels, refs):
            try:
                out.append(ray.get(ref))
            except Exception as e:  # noqa: BLE001 - worker crashed for good, task raised, node lost
                reason = str(e).strip().splitlines()[-1] if str(e).strip() else ""
                out.append((label, "failed", f"{type(e).__name__}: {reason}"))
        return out
    finally:
        if started:
            ray.shutdown()
