#!/usr/bin/env bash
# One OTC Table 1 BCQ row (uniform, d_e, d_q; 3 seeds) on the two cores of a session, into the reference results.
#   bash scripts/otc_row.sh ENV DATASET [PROFILE]       e.g. bash scripts/otc_row.sh mamujoco/walker2d-2x3 random
# Why: pi^0 and the checkpoints live in the user cache, which this project's machines do not keep between sessions
# (2026-12-02), and a row costs more than one session: on the AMD EPYC family 25 model 1 pi^0's 300,000 updates took
# 75 min for one seed and 111 min for a stack of two, a uniform tuning ≈ 17 min per seed. So the row is split over two
# cores and, where needed, two sessions:
#   lane A: pi^0 of seeds 0-1 (with their uniform tuning), then d_e of seeds 0-1
#   lane B: pi^0 of seed 2 (with its uniform tuning), then d_e of seed 2, then d_q of seeds 0-2 once lane A's pi^0 exist
# pi^0 is cached per seed (papers/otc/deploy_offline.py: the key holds no group), so every method of a seed tunes the
# same pi^0 whichever lane trained it. Each lane exports its pi^0 once trained (papers/otc/pi0_carry.py, to
# papers/otc/committed/<profile>/pi0/ or $OFFMARL_PI0_CARRY: commit them) and the script imports the committed ones
# first, so that started again in the next session it skips the recorded runs and tunes the rest on the same pi^0.
# One thread per lane; logs under <cache>/logs/otc_row_<lane>.log; a killed lane resumes from its checkpoints when the
# script is started again on the same machine. PROFILE=smoke is the test's.
set -u
if [ $# -lt 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then sed -n 2,15p "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
ENV=$1; DATASET=$2; PROFILE=${3:-quick}
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=${OFFMARL_PY:-.venv/bin/python}; else PY=${OFFMARL_PY:-python3}; fi
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
LOGS=$("$PY" -c "from common.running.roots import cache_root; print(cache_root() / 'logs')")
mkdir -p "$LOGS"
RESULTS=(--reference); [ -n "${OFFMARL_RESULTS:-}" ] && RESULTS=(--results "$OFFMARL_RESULTS")
cell() {  # lane, then table1.py arguments: one phase, appended to the lane's log with its start, end and status
  local lane=$1; shift
  echo "=== $(date -u +%FT%T) start $*" >> "$LOGS/otc_row_$lane.log"
  "$PY" papers/otc/table1.py --profile "$PROFILE" "${RESULTS[@]}" --env "$ENV" --dataset "$DATASET" --no-report "$@" \
    >> "$LOGS/otc_row_$lane.log" 2>&1
  local rc=$?
  echo "=== $(date -u +%FT%T) end rc=$rc $*" >> "$LOGS/otc_row_$lane.log"
  return $rc
}
# the data first, once, so that the lanes do not build it side by side
"$PY" -m common.datasets.mujoco --task "$(echo "$ENV" | sed 's#mamujoco/##; s#-.*##')" --kind "$DATASET" \
  --profile "$PROFILE" >> "$LOGS/otc_row_data.log" 2>&1 \
  || { echo "otc_row: dataset build failed ($LOGS/otc_row_data.log):"; tail -n 2 "$LOGS/otc_row_data.log"; exit 2; }
CARRY=(--env "$ENV" --dataset "$DATASET" --profile "$PROFILE" --root "${OFFMARL_PI0_CARRY:-papers/otc/committed}")
carry() {  # lane, export|import, seeds...: pi^0 to / from the committed pairs, into the lane's log
  local lane=$1 what=$2; shift 2
  "$PY" papers/otc/pi0_carry.py "$what" "${CARRY[@]}" ${1:+--seeds "$@"} >> "$LOGS/otc_row_$lane.log" 2>&1
}
carry data import || echo "(no committed pi^0 to import)" >> "$LOGS/otc_row_data.log"
( cell A --method bcq --seeds 0 1 --group 2 && carry A export 0 1 ) &
A1=$!
( cell B --method bcq --seeds 2 && carry B export 2 && cell B --method bcq_otc_de --seeds 2
  wait_for() { while kill -0 "$1" 2> /dev/null; do sleep 15; done; }
  wait_for "$A1"
  cell B --method bcq_otc_dq --seeds 0 1 2 --group 3 ) &
B=$!
wait "$A1"; RA1=$?
cell A --method bcq_otc_de --seeds 0 1 --group 2; RA2=$?
wait "$B"; RB=$?
[ "$RA1$RA2$RB" = 000 ] && "$PY" papers/otc/table1.py --profile "$PROFILE" "${RESULTS[@]}" --env "$ENV" \
  --dataset "$DATASET" --method bcq --method bcq_otc_de --method bcq_otc_dq >> "$LOGS/otc_row_A.log" 2>&1  # the report
echo "otc_row $ENV $DATASET $PROFILE: lane A rc $RA1 $RA2, lane B rc $RB (logs: $LOGS/otc_row_*.log)"
[ "$RA1$RA2$RB" = 000 ]
