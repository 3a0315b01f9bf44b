#!/usr/bin/env bash
# The GPU check of issue 63, one call of the `device` tool's `run` (<= 8 minutes on an H100):
#   command: OFFMARL_GIT_COMMIT=$(git rev-parse HEAD) bash scripts/device_check.sh            (timeout_s 540)
#   carry (optional): [".whl"] (wheels of sacred & co. for the device image's python3, as in
#   scripts/device_moma_ppo_quick.sh: only OTC's Table 2 needs them; without them that step says so and is skipped)
# Steps, in order of need, each stopped at the deadline (DEADLINE s after the start, default 450; a step is not
# started with under 20 s left); every log and page goes to the folder given as argument, else $OUT, else /tmp/out:
#   1. the GPU-only tests (those skipped without CUDA): member-equals-alone on the GPU, CUDA checkpoints, MAPPO's
#      CUDA graph, the benchmark on the GPU                                               -> pytest_gpu.log
#   2. python -m common.bench --all --device cuda: every hot path with its same-run ratio and % of the GPU's fp32
#      matmul peak, members as cells up to 1,500 members                   -> bench/<gpu>.md, bench_all.log
#   3. one full-profile slice per paper that needs no dataset: OTC Table 2 at full (~130 s on an H200; random tensors of
#      its dataset's shapes), CAST-BCQ's update at the code's sizes (time of 20k updates), MOMA-PPO's iteration at the
#      code's sizes, 3 seeds (time of a full cell's 100k iterations). OMAR's full tables train on MPE datasets that
#      the lent machine does not have: their cost comes from step 2's OMAR rows.        -> slice_<paper>.log
# Needs no network. Without a GPU it runs on the CPU (--device cpu) as a check of the plumbing; QUICK=1 makes every
# step tiny (the local test: QUICK=1 DEADLINE=120 bash scripts/device_check.sh /tmp/dc).
set -u
OUT=${1:-${OUT:-/tmp/out}}; mkdir -p "$OUT"
DEADLINE=${DEADLINE:-450}; QUICK=${QUICK:-0}
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
if [ -x .venv/bin/python ]; then PY=${PY:-.venv/bin/python}; else PY=${PY:-python3}; fi
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$OUT/pip.log" 2>&1 && export PYTHONPATH=/tmp/site:$PWD || export PYTHONPATH=$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export OFFMARL_DATA=$(mktemp -d)  # an empty data root: nothing reads or writes a user's cache
DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')" 2>/dev/null || echo cpu)
Q=(); [ "$QUICK" = 1 ] && Q=(--quick)
{ echo "device_check: device $DEVICE, quick $QUICK, deadline $DEADLINE s, python $PY"
  nvidia-smi -L 2>&1 | head -n 4
  "$PY" -c "import torch, numpy, platform; print('python', platform.python_version(), 'torch', torch.__version__, \
'numpy', numpy.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
  echo "commit ${OFFMARL_GIT_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/setup.log" 2>&1
step() {  # name, cap_s, command...: run it with min(cap, time left) seconds, its output in $OUT/<name>.log
  local name=$1 cap=$2 left=$(( DEADLINE - $(el) )); shift 2
  if [ "$left" -lt 20 ]; then echo "$name not started: $left s left" >> "$OUT/setup.log"; return; fi
  [ "$cap" -lt "$left" ] && left=$cap
  local t=$(date +%s)
  timeout -k 5 "$left" "$@" > "$OUT/$name.log" 2>&1
  echo "$name rc $? in $(( $(date +%s) - t )) s (at $(el) s)" >> "$OUT/setup.log"
}
step pytest_gpu 150 "$PY" -m pytest -q -rs -p no:cacheprovider \
  tests/test_cuda_checkpoints.py tests/test_mappo_graph.py "tests/test_bench.py::test_bench_on_gpu_tiny" \
  "tests/test_itd3.py::test_batched_equals_reference_loop_on_gpu"
step bench_all 240 "$PY" -m common.bench --all --device "$DEVICE" "${Q[@]}" --out "$OUT/bench"
if "$PY" -c "import sacred" > /dev/null 2>&1; then
  if [ "$QUICK" = 1 ]; then P=smoke; else P=full; fi
  step slice_otc 180 "$PY" papers/otc/table2.py --profile "$P" --device "$DEVICE" --results "$OUT/runs" --no-report
else
  echo "slice_otc not run: sacred is not importable (carry .whl, see scripts/device_pack.py)" >> "$OUT/setup.log"
fi
if [ "$QUICK" = 1 ]; then
  step slice_cast_bcq 60 "$PY" -m papers.cast_bcq.bench --device "$DEVICE" --quick --updates 1 --reps 1
  step slice_moma_ppo 60 "$PY" -m papers.moma_ppo.bench --device "$DEVICE" --part iteration --quick --reps 1
else
  step slice_cast_bcq 90 "$PY" -m papers.cast_bcq.bench --device "$DEVICE" --reps 2 --updates 3
  step slice_moma_ppo 120 "$PY" -m papers.moma_ppo.bench --device "$DEVICE" --part iteration --tasks reacher-2x1 \
    --sizes code --n-seeds 3 --reps 2
fi
rm -rf "$OFFMARL_DATA"
echo "done at $(el) s" >> "$OUT/setup.log"
cat "$OUT/setup.log"; tail -n 3 "$OUT/pytest_gpu.log" 2>/dev/null; ls "$OUT"/bench/*.md 2>/dev/null
