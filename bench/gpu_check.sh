#!/usr/bin/env bash
# GPU checks in one go (not part of CI): the CUDA tests, compute-sanitizer
# (memcheck with leak check, racecheck) and the comparison with cuDNN.
# usage: bench/gpu_check.sh BIN_DIR OUT_DIR [SECONDS]
#   BIN_DIR  holds recur, test_cuda_rnn and test_rnn_reference of a CUDA build
#            (and, in lib/, shared libraries the GPU machine lacks)
#   OUT_DIR  receives the logs and compare.md
# Run from the repository root (the fixtures are read from tests/fixtures).
set -u
bin=$(cd "${1:?BIN_DIR}" && pwd)
out=$(mkdir -p "${2:?OUT_DIR}" && cd "$2" && pwd)
seconds=${3:-0.3}
export LD_LIBRARY_PATH=$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# cuBLAS: the toolkit's, else the one PyTorch's wheels carry.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         $(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
  [[ -e $d/libcublas.so.13 ]] && { export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d; break; }
done
status() { printf '%-28s %s\n' "$1" "$2" | tee -a "$out/summary.txt"; }
nvidia-smi -L | tee "$out/summary.txt"
ldd "$bin/recur" | grep -E "not found" && status "libraries" "MISSING"

"$bin/test_cuda_rnn" 300 1 >"$out/test_cuda_rnn.log" 2>&1
status "test_cuda_rnn" "exit $? | $(tail -2 "$out/test_cuda_rnn.log" | head -1)"
tmp=$(mktemp -d)
"$bin/test_rnn_reference" --cuda tests/fixtures/data "$bin/recur" "$tmp" >"$out/reference.log" 2>&1
status "test_rnn_reference --cuda" "exit $? | $(tail -2 "$out/reference.log" | head -1)"
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
    "$bin/test_cuda_rnn" 12 2 >"$out/memcheck.log" 2>&1
  status "memcheck" "exit $? | $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tail -1)"
  compute-sanitizer --tool racecheck --error-exitcode 9 \
    "$bin/test_cuda_rnn" 6 3 >"$out/racecheck.log" 2>&1
  status "racecheck" "exit $? | $(grep -E 'SUMMARY' "$out/racecheck.log" | tail -1)"
else
  status "compute-sanitizer" "not found"
fi
RECUR_BIN=$bin/recur bench/compare --device cuda --seconds "$seconds" \
  --out "$out/compare.md" >"$out/compare.log" 2>&1
status "compare" "exit $?"
cat "$out/compare.md" 2>/dev/null || tail -20 "$out/compare.log"
cat "$out/summary.txt"
