#!/usr/bin/env bash
# GPU checks in one go (not part of CI): the CUDA tests, compute-sanitizer
# (memcheck with leak check, racecheck) and the comparison with cuDNN.
# usage: bench/gpu_check.sh BIN_DIR OUT_DIR [SECONDS]
#   BIN_DIR  holds recur, test_cuda_rnn and test_rnn_reference of a CUDA build
#            (and, in lib/, shared libraries the GPU machine lacks)
#   OUT_DIR  receives the logs and compare.md
# Run from the repository root (the fixtures are read from tests/fixtures).
# Environment: CONFIGS (random configurations of test_cuda_rnn, default 300),
# CASES (bench cases for the comparison, default the whole suite).
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

"$bin/test_cuda_rnn" "${CONFIGS:-300}" 1 >"$out/test_cuda_rnn.log" 2>&1
status "test_cuda_rnn" "exit $? | $(grep -E 'worst|passed' "$out/test_cuda_rnn.log" | tr '\n' ' ')"
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
# recur train / generate on both devices: the same losses to rounding.
lm=$(mktemp -d)
for dev in cpu cuda; do
  "$bin/recur" train --text README.md --hidden 64 --layers 2 --embed 16 --batch 8 --bptt 32 \
    --steps 60 --eval-interval 30 --output "$lm/$dev.safetensors" --metrics "$lm/$dev.csv" \
    --device "$dev" >"$out/train_$dev.log" 2>&1
  status "train --device $dev" "exit $? | step,epoch,train,val,...: $(tail -1 "$lm/$dev.csv")"
  "$bin/recur" generate "$lm/$dev.safetensors" --prime recur --length 60 --device "$dev" \
    >"$out/generate_$dev.txt" 2>&1
  status "generate --device $dev" "exit $? | $(tr '\n' ' ' <"$out/generate_$dev.txt" | head -c 70)"
done
# The per-step path alone, for the cases the persistent kernel takes.
RECUR_CUDA_PERSISTENT=0 "$bin/recur" bench --device cuda --seconds "$seconds" \
  --cases lstm-h128-b1-t100,lstm-h256-b16-t50,lstm-h512-b4-t256 >"$out/bench_steps.log" 2>&1
status "bench, per-step kernels" "exit $?"
cat "$out/bench_steps.log"
RECUR_BIN=$bin/recur bench/compare --device cuda --seconds "$seconds" ${CASES:+--cases "$CASES"} \
  --out "$out/compare.md" >"$out/compare.log" 2>&1
status "compare" "exit $?"
cat "$out/compare.md" 2>/dev/null || tail -20 "$out/compare.log"
cat "$out/summary.txt"
