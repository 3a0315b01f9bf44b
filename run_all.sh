#!/usr/bin/env bash
# Reproduce every table and figure of the chosen papers, then write results/REPORT.md.
#
#   ./run_all.sh                         all papers at the quick profile
#   ./run_all.sh --profile smoke         CI-sized run of everything (minutes)
#   ./run_all.sh --paper omar --paper otc --profile full
#   ./run_all.sh --list                  list the reproduction scripts and exit
#
# Each item is one script papers/<paper>/<item>.py (table*.py, figure*.py); it writes its records to
# results/<profile>/<paper>/<item>.jsonl. A failing item does not stop the others; the summary at the
# end lists what ran, where its results are, and what failed (exit code 1 if anything failed).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; cat <<'TXT'
Options:
  --profile smoke|quick|full   scale of every run (default: quick)
  --paper NAME                 only this paper (repeatable): omar, cast_bcq, moma_ppo, otc
  --list                       list the items that would run, and exit
  --force                      re-run cells that already have records
  -h, --help                   this help
TXT
}

profile=quick; papers=(); list=0; force=()
all_papers=(omar cast_bcq moma_ppo otc)
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:-}"; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --paper) papers+=("${2:-}"); shift 2 ;;
    --paper=*) papers+=("${1#*=}"); shift ;;
    --list) list=1; shift ;;
    --force) force=(--force); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument '$1'; see ./run_all.sh --help" >&2; exit 2 ;;
  esac
done
case "$profile" in smoke|quick|full) ;; *) echo "unknown profile '$profile'; valid: smoke, quick, full" >&2; exit 2 ;; esac
[ ${#papers[@]} -eq 0 ] && papers=("${all_papers[@]}")
for p in "${papers[@]}"; do
  [[ " ${all_papers[*]} " == *" $p "* ]] || { echo "unknown paper '$p'; valid: ${all_papers[*]}" >&2; exit 2; }
done

items=()
for p in "${papers[@]}"; do
  for f in $(ls papers/"$p"/table*.py papers/"$p"/figure*.py 2>/dev/null | sort -V); do items+=("$f"); done
done

if [ "$list" = 1 ]; then
  echo "profile: $profile"
  for p in "${papers[@]}"; do
    n=0; for f in "${items[@]}"; do [[ "$f" == papers/"$p"/* ]] && { echo "  $f"; n=$((n+1)); }; done
    [ "$n" = 0 ] && echo "  papers/$p: no reproduction scripts yet"
  done
  exit 0
fi

source scripts/bootstrap.sh || { echo "set-up failed" >&2; exit 1; }
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

ok=(); failed=(); t_all=$(date +%s)
for f in "${items[@]}"; do
  echo; echo "=== $f --profile $profile"
  t0=$(date +%s)
  if "$OFFMARL_PY" "$f" --profile "$profile" "${force[@]}"; then
    ok+=("$f ($(( $(date +%s) - t0 )) s)")
  else
    failed+=("$f (exit $?, $(( $(date +%s) - t0 )) s)")
  fi
done

echo; echo "=== report"
"$OFFMARL_PY" -m common.report --profile "$profile" || failed+=("common.report")

echo; echo "================ summary (profile: $profile, $(( $(date +%s) - t_all )) s)"
echo "papers: ${papers[*]}"
[ ${#items[@]} -eq 0 ] && echo "no reproduction scripts exist yet for these papers"
for x in "${ok[@]}"; do echo "  ran     $x"; done
for x in "${failed[@]}"; do echo "  FAILED  $x"; done
echo "records: results/$profile/<paper>/<item>.jsonl   tables: results/$profile/<paper>/<item>.md   report: results/REPORT.md"
[ ${#failed[@]} -eq 0 ]
