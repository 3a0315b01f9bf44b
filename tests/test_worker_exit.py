"""A launcher's worker process ends with its driver (common.running.runtime.worker_init): a driver killed with
SIGKILL, as a user's ``kill`` or a session's end does, must not leave its workers training on, where they would hold
a core, write checkpoints beside a restarted run's and record the same runs twice."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DRIVER = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from common.running.runtime import worker_init

def task(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=worker_init,
                             initargs=(None, os.getpid(), 0.1)) as pool:
        pool.submit(task, sys.argv[1]).result()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_worker_ends_when_its_driver_is_killed(tmp_path):
    root = Path(__file__).resolve().parents[1]
    script, pid_file = tmp_path / "driver.py", tmp_path / "worker.pid"
    script.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    driver = subprocess.Popen([sys.executable, str(script), str(pid_file)], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            assert driver.poll() is None, "the driver ended before its worker started"
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        assert _alive(worker)  # the task sleeps for two minutes
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its killed driver"
    finally:
        if driver.poll() is None:
            driver.kill()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
