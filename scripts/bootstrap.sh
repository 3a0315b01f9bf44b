#!/usr/bin/env bash
# Create or reuse the local virtual environment and install offmarl-repro into it.
# Sourced by run_all.sh and run_tests.sh; safe to run on its own: `bash scripts/bootstrap.sh`.
# Order matters: torch first as torch==2.13.0 (the CPU wheel where pip is configured to serve it;
# an open torch range on an empty env would resolve the newest CUDA build, see docs/stack.md#install),
# then the package with the exact versions of constraints.txt, with its test, ray and smax extras (the Ray
# launcher's test starts a local Ray cluster; smax = jaxmarl on CPU jax for the smax/<map> envs and their tests,
# about 30 s and 0.6 GB more; neither changes the torch and numpy versions).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OFFMARL_VENV:-$root/.venv}"
py="${PYTHON:-python3}"

"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
  echo "offmarl-repro needs Python >= 3.10; $py is $("$py" --version 2>&1)" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating virtual environment $venv"
  "$py" -m venv "$venv"
fi
stamp="$venv/.offmarl-installed"
want="$(cat "$root/constraints.txt" "$root/setup.cfg" "$root/pyproject.toml" | sha256sum | cut -c1-16)"
# OFFMARL_NO_INSTALL=1 uses the venv as it is (tests that run a temporary clone against the running venv: an
# install from the clone would point the venv's editable install at the clone, which is deleted afterwards)
if [ "${OFFMARL_NO_INSTALL:-0}" != 1 ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  t0=$(date +%s)
  pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
  echo "[bootstrap] installing torch==2.13.0 (CPU wheel)"
  "${pip[@]}" "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
  echo "[bootstrap] installing offmarl-repro and its pinned dependencies"
  "${pip[@]}" -c "$root/constraints.txt" -e "$root[test,ray,smax]" 2>&1 | grep -v "is ignored" || true
  # output kept back unless the check fails: gymnasium_robotics prints an Adroit notice on import (on stderr), no
  # news for our users
  check_log="$(mktemp)"
  "$venv/bin/python" -W ignore -c "import torch, numpy, mujoco, gymnasium, gymnasium_robotics, pettingzoo, mpe2, sacred, tabulate, pytest, xdist, ray, jax, jaxmarl" \
    >"$check_log" 2>&1 && "$venv/bin/ruff" --version >/dev/null && "$venv/bin/mypy" --version >/dev/null \
    || { cat "$check_log" >&2; rm -f "$check_log"; echo "[bootstrap] install failed" >&2; exit 1; }
  rm -f "$check_log"
  echo "$want" > "$stamp"
  echo "[bootstrap] installed in $(( $(date +%s) - t0 )) s"
fi
export OFFMARL_PY="$venv/bin/python"
