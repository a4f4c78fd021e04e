#!/usr/bin/env bash
# Every GPU check in one device call, the ones that gate issues first, with
# what comes back kept to a few files: OUT_DIR/summary.txt (both scripts'
# summaries) and OUT_DIR/logs.tar.gz (every log). Not part of CI.
# usage (on the lent machine, from the repository root, after
#        `PACK=1 bash bench/gpu_bundle.sh build .gpu/bin` here and carry [".gpu"]):
#   tar -C .gpu -xJf .gpu/bin.tar.xz && bash bench/gpu_all.sh .gpu/bin "$OUT" [SECONDS]
# Environment: SKIP_MPI=1, SKIP_CHECK=1, and gpu_check.sh's PARTS, CONFIGS, CASES,
# MATH, LM_CONFIGS.
set -u
bin=${1:?BIN_DIR} out=$(mkdir -p "${2:?OUT_DIR}" && cd "$2" && pwd) seconds=${3:-0.3}
logs=$(mktemp -d)
start=$(date +%s)
[[ ${SKIP_MPI:-0} == 1 ]] || bash "$(dirname "$0")/gpu_mpi_check.sh" "$bin" "$logs/mpi"
[[ ${SKIP_CHECK:-0} == 1 ]] || bash "$(dirname "$0")/gpu_check.sh" "$bin" "$logs/check" "$seconds"
{ for part in mpi check; do
    [[ -f $logs/$part/summary.txt ]] && { echo "== $part"; cat "$logs/$part/summary.txt"; }
  done
  for f in compare.md lm_train.md; do
    [[ -f $logs/check/$f ]] && { echo "== $f"; cat "$logs/check/$f"; }
  done
  echo "== $(($(date +%s) - start)) s"
} >"$out/summary.txt"
tar -C "$logs" -czf "$out/logs.tar.gz" .
cat "$out/summary.txt"
