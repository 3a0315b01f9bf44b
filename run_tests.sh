#!/usr/bin/env bash
# Set up (or reuse) .venv, lint the tree with ruff and check its format, type-check common/ with mypy, and run the
# whole test suite with one torch thread.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k envs -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
# lint first (ruff, pinned in constraints.txt, config in pyproject.toml): any finding fails the run before pytest
"$(dirname "$OFFMARL_PY")/ruff" check .
# and the format check (ruff format, same config): a file the formatter would change fails the run too
"$(dirname "$OFFMARL_PY")/ruff" format --check .
# then the type check of common/ (mypy, pinned in constraints.txt, config in pyproject.toml); its cache stays out of
# the repository, in the user's cache (a warm run takes seconds, a cold one minutes)
"$(dirname "$OFFMARL_PY")/mypy" --cache-dir "${XDG_CACHE_HOME:-$HOME/.cache}/offmarl-repro-mypy"
# Two worker processes (pytest-xdist), one per core of the 2-core project machine; OFFMARL_TEST_WORKERS=0 runs the
# suite in this one process (e.g. to debug with -s / --pdb). -rs: the reason of every skipped test;
# --durations=15: the 15 slowest tests.
exec "$OFFMARL_PY" -m pytest -q -rs --durations=15 -n "${OFFMARL_TEST_WORKERS:-2}" "$@"
