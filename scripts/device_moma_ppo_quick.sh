#!/usr/bin/env bash
# Figure 6 and the App. B.2 ablations at quick on a lent GPU machine, in one call of the `device` tool's `run`:
# each cell (3 seeds, --group 3) is its own process on the one GPU; the world model is trained once (on the GPU: the
# quick ensemble's cache, 42 MB with its optimizer state, does not fit beside the data in a call's 64 MiB) and the
# other processes wait for it (its lock). What a call leaves unfinished is lost (a checkpoint holds the ensemble:
# too big to come back), so cells are ordered by need and the processes are stopped at the deadline.
#
#   carry:   .whl  data/mujoco/quick/ant/full-replay-v2.npz  data/mujoco/quick/ant/full-replay-v2.json
#            (.whl: the wheels the image lacks, for its python3: mujoco, mujoco-core, gymnasium,
#            farama-notifications, sacred, docopt-ng, jsonpickle, munch, gitpython, gitdb, smmap, glfw, pyopengl,
#            pettingzoo; .site: gymnasium_robotics 1.4.2 unpacked without its adroit_hand, kitchen_franka and stls
#            assets, 26 MB that MaMuJoCo's Ant never reads; both folders listed in .git/info/exclude)
#   carry list: [".whl", ".site", "data/mujoco/quick/ant/full-replay-v2.npz", "data/mujoco/quick/ant/full-replay-v2.json"]
#   (the tree must fit 64 MiB with them: move results/superseded aside for the call, and back)
#   command: OFFMARL_GIT_COMMIT=$(git rev-parse HEAD) bash scripts/device_moma_ppo_quick.sh [deadline_s]
#            (a clean tree at that commit: the copy has no .git, records carry the declared commit)
# Back under $OUT: figure6.jsonl and ablations.jsonl (every record there, old and new: copy them over
# results/quick/moma_ppo/ and render the reports here), logs.tar.gz, setup.log, progress.log (rewritten every 20 s).
# A local dry run of the plumbing: PROFILE=smoke DEVICE=cpu OUT=/tmp/o bash scripts/device_moma_ppo_quick.sh 120
# (with RESULTS=/tmp/r to leave results/ alone).
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
DEADLINE=${1:-540}
PROFILE=${PROFILE:-quick}; DEVICE=${DEVICE:-cuda}
source scripts/device_env.sh  # el, the carried wheels, PYTHONPATH, one thread
where=(--reference); [ -n "${RESULTS:-}" ] && where=(--results "$RESULTS")
common=(--profile "$PROFILE" --device "$DEVICE" --group 3 --no-report "${where[@]}")
{ nvidia-smi -L 2>&1; python3 -c "import torch, mujoco, gymnasium, sacred; print('torch', torch.__version__, \
  torch.cuda.is_available(), 'mujoco', mujoco.__version__)"; echo "commit ${OFFMARL_GIT_COMMIT:-none}"; } \
  > "$OUT/setup.log" 2>&1
mkdir -p /tmp/logs
cell() {  # name, script, filters...: one cell, stopped at the deadline; not started with under 30 s left
  local name=$1 script=$2 left=$(( DEADLINE - $(el) )); shift 2
  if [ "$left" -lt 30 ]; then echo "$name not started: $left s left" >> "$OUT/setup.log"; return; fi
  timeout -k 5 "$left" python3 "papers/moma_ppo/$script.py" "${common[@]}" "$@" > "/tmp/logs/$name.log" 2>&1
  echo "$name rc $? at $(el) s" >> "$OUT/setup.log"
}
snapshot() {  # what has come so far, under $OUT: records, the logs' last lines (progress), the GPU's load
  local res=${RESULTS:-results}
  cp "$res/$PROFILE/moma_ppo/figure6.jsonl" "$res/$PROFILE/moma_ppo/ablations.jsonl" "$OUT/" 2>/dev/null
  { date -u +%T; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>&1
    for f in /tmp/logs/*.log; do echo "== $f"; tail -c 400 "$f" | tr '\r' '\n' | tail -n 2; done; } > "$OUT/progress.log"
}
# Figure 6 (partial at quick): the epistemic cells, then the ablations they stand for (default = (epistemic,
# adaptive), no_adaptive = (epistemic, fixed): copied, same device) once both have finished
( cell f6_epistemic_adaptive figure6 --penalty epistemic --rollouts adaptive &
  cell f6_epistemic_fixed figure6 --penalty epistemic --rollouts fixed &
  wait
  cell ab_default_no_adaptive ablations --variant default --variant no_adaptive ) &
for p in aleatoric_1 aleatoric_5; do
  for r in adaptive fixed; do cell "f6_${p}_$r" figure6 --penalty $p --rollouts $r & done
done
for v in no_clip k5 k20; do cell "ab_$v" ablations --variant $v & done
# the caller's timeout_s must exceed the deadline by a minute: the cells are stopped at it (TERM, then KILL 5 s
# later), the snapshot below is taken every 20 s and once more at the end
while [ "$(jobs -r | wc -l)" -gt 0 ] && [ "$(el)" -lt $(( DEADLINE + 15 )) ]; do snapshot; sleep 20; done
snapshot
tar -czf "$OUT/logs.tar.gz" -C /tmp logs
cat "$OUT/setup.log"; for f in /tmp/logs/*.log; do echo "== $f"; tail -n 3 "$f"; done
