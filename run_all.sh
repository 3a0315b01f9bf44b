#!/usr/bin/env bash
# Reproduce every table and figure of the chosen papers on this machine, then write the report.
#
#   ./run_all.sh                         all papers at the quick profile
#   ./run_all.sh --profile smoke         CI-sized run of everything
#   ./run_all.sh --paper omar --item table1 --profile smoke
#   ./run_all.sh --list                  the items, with the measured wall time of their last runs
#
# Each item is one script papers/<paper>/<item>.py (table*.py, figure*.py, ablations*.py). Its records go to this
# machine's results root, runs/ (git-ignored; $OFFMARL_RESULTS overrides it), never to the committed
# reference results/; runs/REPORT.md shows every cell as published | reference | this machine.
# First the plan (items, cells, runs, predicted time from measured times), then one progress bar over all
# runs with an ETA; up to --jobs items run at once (a paper's items one after another, papers side by side);
# each item's output goes to runs/<profile>/logs/<paper>/<item>.log (--verbose: here too).
# Ctrl-C or SIGTERM stops it; the same command resumes. A failing item does not stop the others; the
# summary lists what ran and what failed (exit 1), each distinct failure once.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# the cores this process may use (nproc alone would answer $OMP_NUM_THREADS when it is set)
cores="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; sed "s/JOBS_DEFAULT/$cores/" <<'TXT'
Options:
  --profile smoke|quick|full   scale of every run (default: quick)
  --paper NAME                 only this paper (repeatable): omar, cast_bcq, moma_ppo, otc
  --item NAME                  only this item (repeatable), e.g. table1 or omar/table1
  --threads N                  torch threads per run (default 1; part of a run's identity)
  --jobs N                     up to N item scripts at once, each running its runs in its own process
                               (default: the number of cores, here JOBS_DEFAULT); items of one paper, or of
                               two papers on one environment's data, one after another; an item left alone
                               gets N worker processes. Records equal those of one item at a time
  --launcher NAME              inline, process or ray: where each item's runs go (default inline: in the
                               item's own process, --jobs items at once; process: one item at a time, its
                               runs on --jobs worker processes; ray: one item at a time, each run a Ray
                               task, docs/scaling.md)
  --device DEV                 torch device of the runs: cpu (default), cuda or cuda:N (checked first)
  --verbose                    each item's output on the terminal too (always in its log file)
  --address ADDR               with --launcher ray: the cluster, HOST:PORT of its head, auto or local
                               (default $RAY_ADDRESS, else a new local instance)
  --group N                    up to N runs of an item train as one batched learner (cells as members;
                               records equal the runs alone; README 'Scaling out'); default 1
  --force                      re-run cells that already have records
  --results DIR                results root (default: runs/ or $OFFMARL_RESULTS)
  --reference                  write to the committed reference results/ (maintainers only)
  --list                       list the items that would run, with measured times, and exit
  --plan                       print the plan (items, cells, runs, predicted time) and exit: nothing runs
  -h, --help                   this help
TXT
}

die() { echo "run_all.sh: $*; see ./run_all.sh --help" >&2; exit 2; }
# the value of option $1, or a clear error when it is missing (next word absent or another option)
value() { [ $# -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || die "option $1 needs a value"; printf '%s' "$2"; }

command="./run_all.sh"; for arg in "$@"; do command+=" $(printf '%q' "$arg")"; done  # to resume with
profile=quick; papers=(); items_wanted=(); list=0; pass=(); threads=1; where=(); jobs=""; launcher=""; address=""
device=cpu; verbose=()
all_papers=(omar cast_bcq moma_ppo otc)
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$(value "$@")" || exit 2; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --paper) papers+=("$(value "$@")") || exit 2; shift 2 ;;
    --paper=*) papers+=("${1#*=}"); shift ;;
    --item) items_wanted+=("$(value "$@")") || exit 2; shift 2 ;;
    --item=*) items_wanted+=("${1#*=}"); shift ;;
    --threads) threads="$(value "$@")" || exit 2; shift 2 ;;
    --threads=*) threads="${1#*=}"; shift ;;
    --jobs) jobs="$(value "$@")" || exit 2; shift 2 ;;
    --jobs=*) jobs="${1#*=}"; shift ;;
    --results) where=(--results "$(value "$@")") || exit 2; shift 2 ;;
    --results=*) where=(--results "${1#*=}"); shift ;;
    --reference) where=(--reference); shift ;;
    --list) list=1; shift ;;
    --plan) pass+=(--plan); shift ;;
    --launcher) launcher="$(value "$@")" || exit 2; shift 2 ;;
    --launcher=*) launcher="${1#*=}"; shift ;;
    --address) address="$(value "$@")" || exit 2; shift 2 ;;
    --address=*) address="${1#*=}"; shift ;;
    --group) pass+=(--group "$(value "$@")") || exit 2; shift 2 ;;
    --group=*) pass+=(--group "${1#*=}"); shift ;;
    --force) pass+=(--force); shift ;;
    --device) device="$(value "$@")" || exit 2; shift 2 ;;
    --device=*) device="${1#*=}"; shift ;;
    --verbose) verbose=(--verbose); shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
case "$profile" in smoke|quick|full) ;; *) die "unknown profile '$profile'; valid: smoke, quick, full" ;; esac
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads '$threads' must be a positive integer"
[ -z "$jobs" ] || [[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs '$jobs' must be a positive integer"
[[ "$device" =~ ^(cpu|cuda(:[0-9]+)?)$ ]] || die "unknown device '$device'; valid: cpu, cuda, cuda:N"
for ((k = 0; k < ${#pass[@]}; k++)); do
  if [ "${pass[k]}" = --group ]; then
    [[ "${pass[k+1]}" =~ ^[1-9][0-9]*$ ]] || die "--group '${pass[k+1]}' must be a positive integer"
  fi
done
case "$launcher" in ""|inline|process|ray) ;; *) die "unknown launcher '$launcher'; valid: inline, process, ray" ;; esac
[ -n "$jobs" ] && [ "$jobs" -gt 1 ] && [ "$launcher" = ray ] \
  && die "--jobs $jobs needs --launcher process or inline (got 'ray': the cluster's CPUs run the runs)"
[ -z "$jobs" ] && [ "$launcher" != ray ] && jobs="$cores"  # every core by default
[ -z "$jobs" ] && jobs=1
[ -z "$launcher" ] && launcher=inline
[ -n "$address" ] && [ "$launcher" != ray ] && die "--address '$address' needs --launcher ray (got '$launcher')"
launch=(--launcher "$launcher" --jobs "$jobs")
[ -n "$address" ] && launch+=(--address "$address")
[ ${#where[@]} -eq 2 ] && [ -z "${where[1]}" ] && die "--results needs a folder"
[ ${#papers[@]} -eq 0 ] && papers=("${all_papers[@]}")
for p in "${papers[@]}"; do
  [[ " ${all_papers[*]} " == *" $p "* ]] || die "unknown paper '$p'; valid: ${all_papers[*]}"
done

items=()
for p in "${papers[@]}"; do
  for f in $(ls papers/"$p"/table*.py papers/"$p"/figure*.py papers/"$p"/ablations*.py 2>/dev/null | sort -V); do
    items+=("$f")
  done
done
if [ ${#items_wanted[@]} -gt 0 ]; then
  chosen=()
  for w in "${items_wanted[@]}"; do
    hit=0
    for f in "${items[@]}"; do
      stem="$(basename "$f" .py)"; pp="$(basename "$(dirname "$f")")"
      if [ "$w" = "$stem" ] || [ "$w" = "$pp/$stem" ]; then
        [[ " ${chosen[*]-} " == *" $f "* ]] || chosen+=("$f"); hit=1
      fi
    done
    if [ "$hit" = 0 ]; then
      known="$(for f in "${items[@]}"; do printf '%s/%s ' "$(basename "$(dirname "$f")")" "$(basename "$f" .py)"; done)"
      die "unknown item '$w' for papers ${papers[*]}; valid: ${known:-none}"
    fi
  done
  items=("${chosen[@]}")
fi

if [ "$list" = 1 ]; then
  # standard library only: works before the virtual environment exists
  exec "${OFFMARL_PY:-python3}" scripts/list_items.py --profile "$profile" "${where[@]}" -- "${items[@]}"
fi

source scripts/bootstrap.sh || { echo "set-up failed" >&2; exit 1; }
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
# the plan, one progress bar, a log per item, the report and the summary: common/running/run_all.py (it checks the device
# before anything runs; exec: Ctrl-C and SIGTERM reach it, and it stops the running items and says how to resume)
exec "$OFFMARL_PY" -m common.running.run_all --profile "$profile" --threads "$threads" "${launch[@]}" --device "$device" \
  "${where[@]}" "${pass[@]}" "${verbose[@]}" --command "$command" -- "${items[@]}"
