#!/usr/bin/env bash
# CAST-BCQ's width measurement (issue 67) on a lent GPU, in one call of the `device` tool's `run`: the decisive
# cell, Hopper 3x1 `mixed`, CAST-BCQ and MABCQ, 3 seeds each (--group 3), at the code's sizes (--profile full: VAE
# 750-750, critics 400-300, ICQ-MA/BCQ as the code, batch 1,024, 20,000 iterations, the code's evaluations). The
# same cell at quick's sizes (every layer 256, batch 256) is committed (results/quick/cast_bcq/figure4.jsonl), so the
# two sit side by side; these records are also figure4's first full cells.
#   carry:   [".whl", ".site"]: the wheels the image lacks, for its python3 3.12 (mujoco, mujoco-core, gymnasium,
#            farama-notifications, pettingzoo, sacred, docopt-ng, jsonpickle, munch, gitpython, gitdb, smmap, glfw,
#            pyopengl; 15 MB, `pip download --no-deps --only-binary=:all: --python-version 3.12 ...` as the device
#            README says) and gymnasium_robotics 1.4.2 unpacked without its adroit_hand, kitchen_franka and stls
#            assets (1.4 MB); both listed in .git/info/exclude
#   the tree must fit 64 MiB with them (62 MiB tracked): move results/ and the committed policy sets this cell does
#   not read (common/datasets/mujoco/committed/full/{ant,halfcheetah,walker2d}.*) aside for the call, and back;
#   records then go to RESULTS=/tmp/r there and come back under $OUT
#   command: OFFMARL_GIT_COMMIT=$(git rev-parse HEAD) RESULTS=/tmp/r bash scripts/device_cast_widths.sh 510
#            (timeout_s 600)
# Steps: (1) the Hopper `mixed` data rebuilt from the committed SAC policies (common.datasets.mujoco, ~2 min on one
# thread; the card's sha256 is compared with the quick records' below and the comparison written to setup.log: a
# rebuild is bit-identical on one CPU type only), (2) both cells as two processes on the one GPU, stopped at the
# deadline (a cell cut short leaves no record: its checkpoint is too big to bring back).
# Cost (docs/benchmarks.md, H100 / H200): one update of the 3 seeds at the code's sizes 18.6 ms / ~15 ms, so ~5-6 min
# of updates per cell, the evaluations (vectorised over seeds and episodes, MuJoCo on the CPU) ~1-2 min; the two cells
# share the GPU. Device time in all ~12 min with the start: one call of the session's 15 minutes, no rerun.
# Back under $OUT: figure4.jsonl (every full record there: copy it over results/full/cast_bcq/figure4.jsonl and
# render the reports here), data_card.json, logs.tar.gz, setup.log, progress.log (rewritten every 20 s).
# A local dry run of the plumbing (~30 s): PROFILE=smoke DEVICE=cpu PY=.venv/bin/python OUT=/tmp/o RESULTS=/tmp/r \
#   OFFMARL_DATA=/tmp/d bash scripts/device_cast_widths.sh 300
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DEADLINE=${1:-510}
PROFILE=${PROFILE:-full}; DEVICE=${DEVICE:-cuda}
QUICK_SHA=693895fb8b1d8bb126a05ce036c6bdfdac41d236e39177612a938687e108cb2e  # Hopper 3x1 mixed of the quick records
source scripts/device_env.sh  # el, the carried wheels, PYTHONPATH, one thread
export OFFMARL_DATA=${OFFMARL_DATA:-/tmp/data}
where=(--reference); [ -n "${RESULTS:-}" ] && where=(--results "$RESULTS")
PY=${PY:-python3}  # the dry run (tests/test_device_scripts.py) passes its own interpreter
{ nvidia-smi -L 2>&1; $PY -c "import torch, mujoco, gymnasium, sacred; print('torch', torch.__version__, \
  torch.cuda.is_available(), 'mujoco', mujoco.__version__)"; echo "commit ${OFFMARL_GIT_COMMIT:-none}"; } \
  > "$OUT/setup.log" 2>&1
mkdir -p /tmp/logs
# (1) the data, from the committed policies
$PY -m common.datasets.mujoco --task hopper --kind mixed --profile "$PROFILE" > /tmp/logs/data.log 2>&1
echo "data rc $? at $(el) s" >> "$OUT/setup.log"
# the card of this profile's data (quick trains on full's datasets): never another profile's from the same cache
[ "$PROFILE" = smoke ] && data_profile=smoke || data_profile=full
card=$(ls "$OFFMARL_DATA/mujoco/$data_profile/hopper/"mixed-*.json 2>/dev/null | tail -n 1)
if [ -z "$card" ]; then echo "no Hopper mixed card: see data.log" >> "$OUT/setup.log"; tar -czf "$OUT/logs.tar.gz" \
  -C /tmp logs; cat "$OUT/setup.log"; exit 1; fi
cp "$card" "$OUT/data_card.json"
sha=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['sha256'])" "$card")
[ "$sha" = "$QUICK_SHA" ] && same="the same data as the quick records" || same="NOT the quick records' data \
(rebuilt on another CPU type: the same protocol and policies, other float rounding)"
echo "data sha256 $sha: $same" >> "$OUT/setup.log"
# (2) the two cells, one process each
cell() {  # method: one cell of 3 seeds, stopped at the deadline; not started with under 60 s left
  local m=$1 left=$(( DEADLINE - $(el) ))
  if [ "$left" -lt 60 ]; then echo "$m not started: $left s left" >> "$OUT/setup.log"; return; fi
  timeout -k 5 "$left" $PY papers/cast_bcq/figure4.py --profile "$PROFILE" --device "$DEVICE" --group 3 --no-report \
    "${where[@]}" --env mamujoco/hopper-3x1 --method "$m" > "/tmp/logs/$m.log" 2>&1
  echo "$m rc $? at $(el) s" >> "$OUT/setup.log"
}
snapshot() {  # what has come so far, under $OUT: the records, the logs' last lines, the GPU's load
  cp "${RESULTS:-results}/$PROFILE/cast_bcq/figure4.jsonl" "$OUT/" 2>/dev/null
  { date -u +%T; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>&1
    for f in /tmp/logs/*.log; do echo "== $f"; tail -c 400 "$f" | tr '\r' '\n' | tail -n 2; done; } > "$OUT/progress.log"
}
cell cast_bcq &
cell mabcq &
# the caller's timeout_s must exceed the deadline by a minute: the cells are stopped at it (TERM, then KILL 5 s later)
while [ "$(jobs -r | wc -l)" -gt 0 ] && [ "$(el)" -lt $(( DEADLINE + 15 )) ]; do snapshot; sleep 20; done
snapshot
tar -czf "$OUT/logs.tar.gz" -C /tmp logs
cat "$OUT/setup.log"; for f in /tmp/logs/*.log; do echo "== $f"; tail -n 3 "$f"; done
