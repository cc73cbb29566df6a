#!/usr/bin/env bash
# Runs the sync benchmark a few times and fails when the median of a figure
# leaves the budget in scripts/perf-budget.txt.
#   bash scripts/bench-check.sh [--runs N] [--binary PATH] [benchmark flags...]
# --binary runs an already built benchmark (say an older build, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
runs=3
binary=
args=()
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -z "$binary" ]]; then
  cargo build --release -p server --example bench_sync >&2
  binary=target/release/examples/bench_sync
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((i = 1; i <= runs; i++)); do
  echo "[bench-check] run $i of $runs" >&2
  "$binary" "${args[@]}" >"$out/run$i.txt"
done
# Median of each budgeted figure over the runs, against its max.
awk -v runs="$runs" '
  FNR == NR { if ($0 !~ /^#/ && NF == 3) { base[$1] = $2; max[$1] = $3; order[++n] = $1 } next }
  { split($0, kv, ": "); if (kv[1] in max) { vals[kv[1]] = vals[kv[1]] " " kv[2] } }
  END {
    bad = 0
    for (i = 1; i <= n; i++) {
      k = order[i]
      c = split(vals[k], v, " ")
      if (c == 0) { printf "%-24s missing from the benchmark output\n", k; bad = 1; continue }
      # insertion sort, then the middle value
      for (a = 2; a <= c; a++) { x = v[a]; b = a - 1; while (b >= 1 && v[b] + 0 > x + 0) { v[b + 1] = v[b]; b-- } v[b + 1] = x }
      med = (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
      verdict = (med + 0 <= max[k] + 0) ? "ok" : "OVER BUDGET"
      if (verdict != "ok") bad = 1
      printf "%-24s median %-8s (runs:%s)  baseline %-6s max %-6s %s\n", k, med, vals[k], base[k], max[k], verdict
    }
    exit bad
  }' scripts/perf-budget.txt "$out"/run*.txt
