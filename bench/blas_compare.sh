#!/usr/bin/env bash
# Which BLAS serves recur best (not a test): builds recur with OpenBLAS (the
# default), BLIS (Debian's libblis-dev, OpenMP) and oneDNN (libdnnl-dev,
# dnnl_sgemm) and runs `recur bench` on each with the same thread count,
# one after the other, then prints the milliseconds side by side.
# usage: bench/blas_compare.sh [--threads N] [--seconds X] [--cases LIST] [--out FILE]
# Needs: apt-get install libblis-dev libdnnl-dev (a BLAS that is missing is skipped).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=$(nproc) seconds=1 cases="" out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) threads=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --cases) cases=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/blas_compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Every engine gets the same number of threads: the BLAS's own and recur's team.
export OPENBLAS_NUM_THREADS=$threads BLIS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
export RECUR_NUM_THREADS=$threads
names=()
for blas in openblas blis dnnl; do
  build=${RECUR_BLAS_BUILD_PREFIX:-/tmp/recur-blas}-$blas
  if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRECUR_CUDA=OFF \
       -DRECUR_BLAS="$blas" >"$work/cmake-$blas.log" 2>&1 ||
     ! cmake --build "$build" -j "$threads" --target recur_cli >>"$work/cmake-$blas.log" 2>&1; then
    echo "bench/blas_compare.sh: $blas: not built (see below), skipped" >&2
    tail -3 "$work/cmake-$blas.log" >&2
    continue
  fi
  "$build/recur" bench --seconds "$seconds" ${cases:+--cases "$cases"} --json "$work/$blas.json" \
    >"$work/$blas.txt"
  names+=("$blas")
done
python3 - "$work" "$threads" "${names[@]}" <<'EOF' | tee ${out:+"$out"}
import json, sys, datetime, platform
work, threads, names = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {n: json.load(open(f"{work}/{n}.json")) for n in names}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"date: {datetime.date.today()}; CPU: {cpu}; {threads} thread(s) for the BLAS and recur's team")
for n in names:
    r = runs[n]
    print(f"- {n}: {r['blas']}; sgemm peak {r['sgemm_peak']['gflops']:.1f} GFLOP/s")
print()
print("| case | pass | " + " | ".join(f"{n} ms" for n in names) + " | fastest |")
print("|---|---|" + "---:|" * len(names) + "---|")
first = runs[names[0]]
for i, case in enumerate(first["cases"]):
    for p in ("forward", "train"):
        ms = [runs[n]["cases"][i][p]["ms_median"] for n in names]
        best = names[ms.index(min(ms))]
        print(f"| {case['name']} | {p} | " + " | ".join(f"{m:.3f}" for m in ms) + f" | {best} |")
EOF
