#!/usr/bin/env bash
# Where recur's CPU time goes, per case of `recur bench`: perf samples of the
# whole run (forward and training step, both threads) grouped by what the
# code does. Not a test; needs perf (linux-perf) and a Release build.
# usage: bench/profile.sh [--threads N] [--cases LIST] [--seconds X]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc) cases="" seconds=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) threads=${2:?}; shift 2 ;;
    --cases) cases=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "bench/profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "bench/profile.sh: perf is not installed" >&2; exit 2; }
build=${RECUR_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target recur_cli >/dev/null
recur=$build/recur
if [[ -z $cases ]]; then
  cases=$("$recur" bench --help | sed -n '/^The suite/,/^$/p' | tail -n +2 | tr -s ' \n' ',' |
          sed 's/^,//; s/,$//')
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-24s %9s %9s %7s %7s %7s %7s %7s\n' case "large" "per-step" cells waits copies blas-pack other
IFS=, read -ra list <<<"$cases"
for c in "${list[@]}"; do
  perf record -q -D 1000 -o "$tmp/perf.data" "$recur" bench --threads "$threads" --cases "$c" \
    --seconds "$seconds" >/dev/null 2>&1
  perf report -i "$tmp/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
    awk -v name="$c" '
      /^ *[0-9.]+%/ {
        p = $1; sub(/%/, "", p); s = $3
        if (s ~ /^sgemm_kernel|^dnnl|^bli_/) large += p
        else if (s ~ /copy_SKYLAKEX|copy_HASWELL|_beta_/) pack += p
        else if (s ~ /recur_gemm_panels|recur_gemv/) step += p
        else if (s ~ /recur_(lstm|gru|elman)_/) cells += p
        else if (s ~ /team_worker|team_run|recur_gemm_packed|packed_prepare|sched_yield|__schedule|do_sched_yield|futex/) waits += p
        else if (s ~ /memmove|memset|memcpy|clear_page|page_fault|copy_mc/) copies += p
        else other += p
      }
      END { printf "%-24s %8.1f%% %8.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%%\n",
                   name, large, step, cells, waits, copies, pack, other }'
done
echo "large: the BLAS kernels of the large products (input projections, weight and input"
echo "gradients); per-step: recur's recurrent-product kernels; cells: gate math; waits:"
echo "the team's spinning and hand-offs; copies: memcpy/memset and page faults;"
echo "blas-pack: the BLAS's packing; shares of the samples of forward + training step"
echo "(recording starts after one second, past the sgemm peak measurement)."
