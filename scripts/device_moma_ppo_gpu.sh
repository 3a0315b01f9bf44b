#!/usr/bin/env bash
# One call on the lent GPU machine (the `device` tool's `run`, command: bash scripts/device_moma_ppo_gpu.sh; about
# 2-3 minutes on an H200, 2026-11-27): what MOMA-PPO's CUDA-graph minibatch step (common/algos/mappo_graph.py) still needs a GPU for.
#   1. the GPU tests: the captured step against the eager one, re-capture after a load, GPU checkpoints
#   2. the MOMA-PPO iteration at the code's sizes, 3 seeds, Reacher then Ant PO: batched (graph) vs loop vs the
#      batched eager step (the graph/eager column), and the iteration split into rollouts and update; two rounds each
# Needs nothing beyond the tracked tree (no MuJoCo: the benchmark's data are synthetic). Logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
export PYTHONUNBUFFERED=1
{ nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; } \
  > "$OUT/setup.log" 2>&1
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_mappo_graph.py tests/test_cuda_checkpoints.py \
  > "$OUT/pytest_gpu.log" 2>&1
echo "pytest rc $? at $(el) s" >> "$OUT/setup.log"
for task in reacher-2x1 ant-4x2-po; do
  timeout 200 python3 -m papers.moma_ppo.bench --device cuda --part iteration --tasks $task --sizes code \
    --n-seeds 3 --reps 2 > "$OUT/bench_$task.log" 2>&1
  echo "bench $task rc $? at $(el) s" >> "$OUT/setup.log"
done
# 3. where one Reacher iteration's rollouts spend their time (pieces clocked, then torch.profiler)
timeout 90 python3 -m papers.moma_ppo.rollout_profile --device cuda --task reacher-2x1 --size code \
  > "$OUT/profile_reacher-2x1.log" 2>&1
echo "profile rc $? at $(el) s" >> "$OUT/setup.log"
cat "$OUT/setup.log"; tail -n 5 "$OUT/pytest_gpu.log"; tail -n 4 "$OUT"/bench_*.log
