#!/usr/bin/env bash
# GPU checks in one go (not part of CI): the CUDA tests, compute-sanitizer
# (memcheck with leak check, racecheck), the train, classify and forecast CLI
# tests with their GPU parts, LM training against PyTorch and the comparison
# with cuDNN.
# usage: bench/gpu_check.sh BIN_DIR OUT_DIR [SECONDS]
#   BIN_DIR  holds recur, test_cuda_rnn, test_cuda_train and test_rnn_reference
#            of a CUDA build (and, in lib/, shared libraries the GPU machine lacks)
#   OUT_DIR  receives the logs and compare.md (with the device tool, a folder
#            outside $OUT, archived into $OUT afterwards: only 8 files of
#            $OUT come back)
# Run from the repository root (the fixtures are read from tests/fixtures).
# Environment: PARTS (which parts run, default all but variants, lanes,
# persistent (OLD_RECUR: another recur timed beside), sweep, workspace,
# kernels and profile: tests sanitizer cli lm bench compare; lanes
# takes LANES_CELLS, LANES_HIDDEN, LANES_BATCH and LANES_SANITIZE (empty: none), sweep
# SWEEP_CELLS, SWEEP_HIDDEN, SWEEP_BATCH, SWEEP_MODES and SWEEP_TIMEOUT,
# workspace WORKSPACE_HIDDEN and WORKSPACE_BATCH; kernels and profile need
# Nsight Compute), SANITIZER_MODES (test_cuda_rnn's modes under
# compute-sanitizer, default all), CONFIGS
# (random configurations of test_cuda_rnn, default 300), MODES (its kernel
# choices, default all), TEST_SECONDS (its time limit), CASES (bench cases
# for the comparison, default the whole suite), MATH (its precision modes,
# default fp32,tf32,bf16), LM_CONFIGS (configurations of
# bench/lm_train_cuda.py, default its own).
set -u
bin=$(cd "${1:?BIN_DIR}" && pwd)
out=$(mkdir -p "${2:?OUT_DIR}" && cd "$2" && pwd)
seconds=${3:-0.3}
source "$(dirname "$0")/gpu_env.sh"
status() { printf '%-28s %s\n' "$1" "$2" | tee -a "$out/summary.txt"; }
# The forward and training milliseconds of each case in a recur bench log.
bench_ms() {
  awk '$2 == "forward" { printf "%s fwd %s ", $1, $3 } $1 == "train" { printf "train %s  ", $2 }' "$1"
}
parts=" ${PARTS:-tests sanitizer cli lm bench compare} "
part() { [[ $parts == *" $1 "* ]]; }
nvidia-smi -L | tee "$out/summary.txt"
ldd "$bin/recur" | grep -E "not found" && status "libraries" "MISSING"
lm=$(mktemp -d)

if part tests; then
  timeout "${TEST_SECONDS:-300}" "$bin/test_cuda_rnn" "${CONFIGS:-300}" 1 ${MODES:-} \
    >"$out/test_cuda_rnn.log" 2>&1
  status "test_cuda_rnn" "exit $? | $(grep -E 'worst|passed' "$out/test_cuda_rnn.log" | tr '\n' ' ')"
  "$bin/test_cuda_train" >"$out/test_cuda_train.log" 2>&1
  status "test_cuda_train" "exit $? | $(tail -1 "$out/test_cuda_train.log")"
  tmp=$(mktemp -d)
  "$bin/test_rnn_reference" --cuda tests/fixtures/data "$bin/recur" "$tmp" >"$out/reference.log" 2>&1
  status "test_rnn_reference --cuda" "exit $? | $(tail -2 "$out/reference.log" | head -1)"
fi
if part sanitizer; then
  if command -v compute-sanitizer >/dev/null; then
    timeout "${SANITIZER_SECONDS:-120}" compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
      "$bin/test_cuda_rnn" 12 2 ${SANITIZER_MODES:-} >"$out/memcheck.log" 2>&1
    status "memcheck" "exit $? | $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tail -1)"
    timeout "${SANITIZER_SECONDS:-120}" compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
      "$bin/test_cuda_train" >"$out/memcheck_train.log" 2>&1
    status "memcheck test_cuda_train" "exit $? | $(grep -E 'ERROR SUMMARY' "$out/memcheck_train.log" | tail -1)"
    timeout "${SANITIZER_SECONDS:-120}" compute-sanitizer --tool racecheck --error-exitcode 9 \
      "$bin/test_cuda_train" >"$out/racecheck_train.log" 2>&1
    status "racecheck test_cuda_train" "exit $? | $(grep -E 'SUMMARY' "$out/racecheck_train.log" | tail -1)"
    # racecheck on the whole of test_cuda_rnn outlasts any limit (a cluster
    # kernel's step takes seconds under it): short bench runs of the cluster
    # kernels instead, forward and backward, on one cluster of 4 blocks and
    # on clusters of 3 rows, with each exchange
    for spec in "0 0 0 4" "0 1 0 4" "0 0 1 4" "0 1 1 4" "3 1 1 6" "0 0 1 1"; do
      read -r rows vector async batch <<<"$spec"
      name=racecheck_rows$rows-vector$vector-async$async-b$batch
      RECUR_CUDA_CLUSTER=1 RECUR_CUDA_CLUSTER_ROWS=$rows RECUR_CUDA_CLUSTER_VECTOR=$vector \
        RECUR_CUDA_CLUSTER_ASYNC=$async timeout "${SANITIZER_SECONDS:-120}" \
        compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/recur" bench --device cuda \
        --seconds 0.001 --cell lstm --hidden 64 --batch "$batch" --seq 2 >"$out/$name.log" 2>&1
      status "$name" "exit $? | $(grep -E 'SUMMARY' "$out/$name.log" | tail -1)"
    done
  else
    status "compute-sanitizer" "not found"
  fi
fi
if part cli; then
  # train, generate, classify and forecast on the GPU against the CPU (the
  # CLI tests' --device cuda parts run when a GPU is present)
  for t in train classify forecast; do
    bash "tests/test_${t}_cli.sh" "$bin/recur" "$lm/$t" >"$out/test_${t}_cli.log" 2>&1
    status "test_${t}_cli.sh" "exit $? | $(tail -1 "$out/test_${t}_cli.log") | $(grep -E 'FAIL|CPU vs GPU' "$out/test_${t}_cli.log" | tr '\n' ' ')"
  done
  # one epoch of a larger text classifier, the stack on the CPU and on the GPU
  awk 'BEGIN { srand(3); print "text,label"; for (i = 0; i < 4000; i++) { s = "";
    for (k = 0; k < 120; k++) s = s " w" int(rand() * 500); print s "," (i % 2) } }' >"$lm/big.csv"
  for dev in cpu cuda; do
    start=$(date +%s%N)
    "$bin/recur" classify train "$lm/big.csv" --text text --label label --hidden 256 --embed 64 \
      --epochs 1 --batch 64 --device "$dev" -o "$lm/big-$dev.safetensors" >"$out/classify_big_$dev.log" 2>&1
    status "classify 4000x120, h256, $dev" "exit $? | $(( ($(date +%s%N) - start) / 1000000 )) ms | $(grep '^epoch' "$out/classify_big_$dev.log")"
  done
fi
if part lm; then
  # LM training speed against PyTorch on the same GPU
  cat README.md docs/*.md > "$lm/text.txt"
  python3 bench/lm_train_cuda.py --recur "$bin/recur" --text "$lm/text.txt" \
    ${LM_CONFIGS:+--configs "$LM_CONFIGS"} --out "$out/lm_train.md" >"$out/lm_train.log" 2>&1
  status "lm_train_cuda.py" "exit $?"
  cat "$out/lm_train.md" 2>/dev/null || tail -20 "$out/lm_train.log"
fi
if part bench; then
  # The per-step path alone, for the cases the persistent kernel takes.
  RECUR_CUDA_PERSISTENT=0 "$bin/recur" bench --device cuda --seconds "$seconds" \
    --cases lstm-h128-b1-t100,lstm-h256-b16-t50,lstm-h512-b4-t256 >"$out/bench_steps.log" 2>&1
  status "bench, per-step kernels" "exit $?"
  cat "$out/bench_steps.log"
  # The one-cluster kernels forced off and on (the default takes them where
  # run 9 measured them faster), back to back: three suite cases and a GRU.
  for cluster in 0 1; do
    log=$out/bench_cluster$cluster.log
    { RECUR_CUDA_CLUSTER=$cluster "$bin/recur" bench --device cuda --seconds "$seconds" \
        --cases lstm-h128-b1-t100,lstm-h256-b16-t50,lstm-h512-b4-t256 &&
      RECUR_CUDA_CLUSTER=$cluster "$bin/recur" bench --device cuda --seconds "$seconds" \
        --cell gru --hidden 256 --batch 4 --seq 100; } >"$log" 2>&1
    status "bench, RECUR_CUDA_CLUSTER=$cluster" "exit $? | ms: $(bench_ms "$log")"
  done
  # bf16 with W_hh in bfloat16 (the default) against cuBLAS converting the
  # float32 W_hh (RECUR_CUDA_BF16_WEIGHTS=0), and the large products' operands
  # converted to bfloat16 first (RECUR_CUDA_BF16_OPERANDS=1), back to back.
  for spec in "0 0" "1 0" "1 1"; do
    read -r weights operands <<<"$spec"
    log=$out/bench_bf16_weights$weights-operands$operands.log
    RECUR_CUDA_BF16_WEIGHTS=$weights RECUR_CUDA_BF16_OPERANDS=$operands "$bin/recur" bench \
      --device cuda --math bf16 --seconds "$seconds" \
      --cases lstm-h1024-b64-t100,lstm-h2048-b128-t100 >"$log" 2>&1
    status "bench bf16, WEIGHTS=$weights OPERANDS=$operands" "exit $? | ms: $(bench_ms "$log")"
  done
fi
# One line of the sweeps: CASE NAME FORWARD_MS TRAIN_MS of recur bench at
# T = 100 for NAME CELL H B, with the environment settings that follow.
bench_line() {
  local name=$1 cell=$2 h=$3 b=$4
  shift 4
  env "$@" timeout "${SWEEP_TIMEOUT:-30}" "$bin/recur" bench --device cuda --seconds 0.1 \
      --cell "$cell" --hidden "$h" --batch "$b" --seq 100 ${BENCH_FLAGS:-} 2>&1 |
    awk -v m="$name" '$2 == "forward" { n = $1; f = $3 } $1 == "train" { t = $2 }
                      END { printf "%s %s %s %s\n", n, m, f, t }'
}
# sanitize_block NAME CELL H B [SETTING...]: memcheck, racecheck and
# synccheck on a short one-block forward (RECUR_CUDA_BLOCK=1, T = 4) with
# the environment settings that follow; logs NAME_TOOL.log.
sanitize_block() {
  local name=$1 cell=$2 h=$3 b=$4 tool
  shift 4
  command -v compute-sanitizer >/dev/null || return 0
  for tool in memcheck racecheck synccheck; do
    env RECUR_CUDA_BLOCK=1 "$@" timeout "${SANITIZER_SECONDS:-120}" compute-sanitizer \
      --tool "$tool" --error-exitcode 9 "$bin/recur" bench --device cuda --seconds 0.001 \
      --cell "$cell" --hidden "$h" --batch "$b" --seq 4 >"$out/${name}_$tool.log" 2>&1
    status "$name $tool" "exit $? | $(grep -E 'SUMMARY' "$out/${name}_$tool.log" | tail -1)"
  done
}
if part variants; then
  # The one-block forward (RECUR_CUDA_BLOCK=1, B <= 4) against the default
  # (the cluster kernels there), back to back, T = 100: forward and train ms.
  for spec in "lstm 128 1" "lstm 128 2" "lstm 128 4" "lstm 64 1" "lstm 96 1" "gru 128 1" \
              "gru 64 4"; do
    read -r cell h b <<<"$spec"
    bench_line default "$cell" "$h" "$b"
    bench_line block "$cell" "$h" "$b" RECUR_CUDA_BLOCK=1
    [[ $h == 128 ]] && bench_line block64 "$cell" "$h" "$b" RECUR_CUDA_BLOCK=1 \
      RECUR_CUDA_BLOCK_COLUMNS=64
  done >"$out/variant_block.txt"
  status "one-block forward" "$(tr '\n' ';' <"$out/variant_block.txt")"
  # A bidirectional layer's directions on two streams (the default) against
  # one (RECUR_CUDA_TWO_STREAMS=0), back to back, T = 100.
  for spec in "lstm 128 1" "lstm 256 16" "gru 256 16" "lstm 512 64" "lstm 1024 64"; do
    read -r cell h b <<<"$spec"
    BENCH_FLAGS=--bidirectional bench_line two-streams "$cell" "$h" "$b"
    BENCH_FLAGS=--bidirectional bench_line one-stream "$cell" "$h" "$b" RECUR_CUDA_TWO_STREAMS=0
  done >"$out/variant_two_streams.txt"
  status "bidirectional streams" "$(tr '\n' ';' <"$out/variant_two_streams.txt")"
  # its sanitizers on short runs
  sanitize_block one-block lstm 128 3
fi
if part lanes; then
  # The one-block forward's variants of split rows (RECUR_CUDA_BLOCK_LANES=1
  # and 2; 2 by default at B <= 2, run 15) against its columns variants
  # (RECUR_CUDA_BLOCK_LANES=0), the cluster kernels (RECUR_CUDA_BLOCK=0) and
  # the default choice, back to back, T = 100, over LANES_CELLS,
  # LANES_HIDDEN and LANES_BATCH: forward and train ms; their sanitizers
  # (LSTM and GRU, H not a multiple of 8, B 3).
  for cell in ${LANES_CELLS:-lstm gru}; do
    for h in ${LANES_HIDDEN:-64 96 128}; do
      for b in ${LANES_BATCH:-1 2 3 4}; do
        bench_line default "$cell" "$h" "$b"
        bench_line cluster "$cell" "$h" "$b" RECUR_CUDA_BLOCK=0
        for n in 0 1 2; do
          bench_line "lanes$n" "$cell" "$h" "$b" RECUR_CUDA_BLOCK=1 RECUR_CUDA_BLOCK_LANES=$n
        done
      done
    done
  done >"$out/variant_lanes.txt"
  status "split rows" "$(tr '\n' ';' <"$out/variant_lanes.txt")"
  for n in ${LANES_SANITIZE-1 2}; do
    for cell in lstm gru; do
      sanitize_block "lanes$n-$cell" "$cell" 100 3 RECUR_CUDA_BLOCK_LANES=$n
    done
  done
fi
if part persistent; then
  # The persistent forward's cases (lstm H512 B4 and the other small
  # batches above H256, T = 100 but the suite's T = 256), by OLD_RECUR
  # (another build's recur, when set), by recur, by recur with h passed
  # between blocks with stamps (RECUR_CUDA_PERSISTENT_FLAGS=1, written
  # without a GPU), and both with at least 8 units a block
  # (RECUR_CUDA_PERSISTENT_UNITS=8: half the blocks), back to back, two
  # rounds: forward and train ms; the stamped forward under
  # compute-sanitizer (memcheck, synccheck); lstm-h512-b4-t256 against
  # cuDNN with flags 0 and 1 (compare_persistent*.md).
  for round in 1 2; do
    for spec in "lstm 512 4 256" "lstm 512 1 100" "gru 512 4 100" "lstm 384 4 100" \
                "lstm 256 8 100"; do
      read -r cell h b t <<<"$spec"
      for v in ${OLD_RECUR:+old} recur flags units8 flags-units8; do
        printf '%s h%s b%s t%s %s ' "$cell" "$h" "$b" "$t" "$v"
        binary=$bin/recur flags=0 units=
        [[ $v == old ]] && binary=$OLD_RECUR
        [[ $v == flags* ]] && flags=1
        [[ $v == *units8 ]] && units=8
        RECUR_CUDA_PERSISTENT_FLAGS=$flags RECUR_CUDA_PERSISTENT_UNITS=$units timeout 30 \
          "$binary" bench --device cuda --seconds 0.2 --cell "$cell" --hidden "$h" \
          --batch "$b" --seq "$t" 2>&1 |
          awk '$2 == "forward" { f = $3 } $1 == "train" { t = $2 } END { print f, t }'
      done
    done
  done >"$out/variant_persistent.txt"
  status "persistent forward" "$(tr '\n' ';' <"$out/variant_persistent.txt")"
  if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck synccheck; do
      RECUR_CUDA_PERSISTENT=1 RECUR_CUDA_PERSISTENT_FLAGS=1 timeout "${SANITIZER_SECONDS:-120}" \
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin/recur" bench --device cuda \
        --seconds 0.001 --cell lstm --hidden 300 --batch 3 --seq 6 >"$out/flags_$tool.log" 2>&1
      status "stamped forward $tool" "exit $? | $(grep -E 'SUMMARY' "$out/flags_$tool.log" | tail -1)"
    done
  fi
  for flags in 0 1; do
    RECUR_CUDA_PERSISTENT_FLAGS=$flags RECUR_BIN=$bin/recur bench/compare --device cuda \
      --seconds "$seconds" --cases lstm-h512-b4-t256 --math fp32,tf32 \
      --out "$out/compare_persistent$flags.md" >"$out/compare_persistent$flags.log" 2>&1
    status "compare, persistent, flags $flags" "exit $?"
    cat "$out/compare_persistent$flags.md" 2>/dev/null || tail -20 "$out/compare_persistent$flags.log"
  done
fi
if part sweep; then
  # Which kernels win where (the thresholds of use_persistent and use_cluster
  # in rnn_cuda.c): forward and train ms over a grid of H and B at T = 100,
  # per-step kernels, persistent forced, cluster forced (the batch in one
  # cluster, or split over clusters of 4 or 8 rows: RECUR_CUDA_CLUSTER_ROWS;
  # -vector: the exchange in 16-byte slices, RECUR_CUDA_CLUSTER_VECTOR=1;
  # -async: through st.async and mbarriers, RECUR_CUDA_CLUSTER_ASYNC=1) and
  # the default choice and the one-block forward (RECUR_CUDA_BLOCK=1: B <= 4,
  # the default elsewhere), back to back. SWEEP_MODES picks modes by name
  # (all 12 over the default grid: about 9 minutes).
  for cell in ${SWEEP_CELLS:-lstm gru}; do
    for h in ${SWEEP_HIDDEN:-64 128 192 256 384 512}; do
      for b in ${SWEEP_BATCH:-1 2 4 8 16 32 64}; do
        for mode in "per-step 0 0 x x x" "persistent 1 0 x x x" "cluster x 1 0 0 0" \
                    "cluster-vector x 1 0 1 0" "cluster-async x 1 0 0 1" \
                    "cluster-async-vector x 1 0 1 1" "cluster-rows4 x 1 4 0 0" \
                    "cluster-rows4-vector x 1 4 1 0" "cluster-rows4-async-vector x 1 4 1 1" \
                    "cluster-rows8 x 1 8 0 0" "default x x x x x" "block x x x x x"; do
          read -r name persistent cluster rows vector async <<<"$mode"
          [[ -z ${SWEEP_MODES:-} || " $SWEEP_MODES " == *" $name "* ]] || continue
          bench_line "$name" "$cell" "$h" "$b" \
            $([[ $name == block ]] && echo RECUR_CUDA_BLOCK=1) \
            $([[ $persistent == x ]] || echo RECUR_CUDA_PERSISTENT=$persistent) \
            $([[ $cluster == x ]] || echo RECUR_CUDA_CLUSTER=$cluster) \
            $([[ $rows == x ]] || echo RECUR_CUDA_CLUSTER_ROWS=$rows) \
            $([[ $vector == x ]] || echo RECUR_CUDA_CLUSTER_VECTOR=$vector) \
            $([[ $async == x ]] || echo RECUR_CUDA_CLUSTER_ASYNC=$async)
        done
      done
    done
  done >"$out/sweep.txt"
  status "sweep" "$(wc -l <"$out/sweep.txt") lines in sweep.txt (case, kernels, forward ms, train ms)"
fi
if part workspace; then
  # The per-step kernels (RECUR_CUDA_PERSISTENT=0) with cuBLAS's workspace in
  # both passes (RECUR_CUDA_STEP_WORKSPACE=1), the default (none in a forward
  # of <= 16 rows) and in neither (=0), back to back over WORKSPACE_HIDDEN and
  # WORKSPACE_BATCH at T = 100: where cuBLAS's split-K picks for the thin
  # per-step products lose (run 12), for step_workspace in rnn_cuda.c.
  for cell in lstm gru; do
    for h in ${WORKSPACE_HIDDEN:-128 256 512 1024}; do
      for b in ${WORKSPACE_BATCH:-1 8 16 32 64 128}; do
        for ws in 1 default 0; do
          bench_line "workspace-$ws" "$cell" "$h" "$b" RECUR_CUDA_PERSISTENT=0 \
            $([[ $ws == default ]] || echo RECUR_CUDA_STEP_WORKSPACE=$ws)
        done
      done
    done
  done >"$out/workspace.txt"
  status "workspace" "$(wc -l <"$out/workspace.txt") lines in workspace.txt (case, setting, forward ms, train ms)"
fi
if part kernels; then
  # The GPU time of every kernel of bf16 lstm-h2048-b128-t100 (below cuDNN in
  # run 12), by Nsight Compute (gpu__time_duration, and for the forward the
  # bytes read from DRAM and moved through L2; the lent machines have no
  # Nsight Systems), summed by kernel: recur's warm forwards
  # (launches 300-699 of `recur bench --seconds 0.001`: 3 + 5 forwards of
  # about 207 launches, then the training steps), a training step (from
  # launch 1700) and cuDNN's through PyTorch (the python process alone, not
  # the recur bench --json that compare_cuda.py runs to name the cases:
  # 1500 launches, forwards and training steps, told apart by name).
  # Writes kernels_h2048_bf16_{forward,train,cudnn}.txt.
  if command -v ncu >/dev/null; then
    ncu_sum() {
      local name=$1 skip=$2 count=$3
      shift 3
      timeout 200 ncu --metrics "${metrics:-gpu__time_duration.sum}" --print-summary per-kernel \
        --target-processes application-only --launch-skip "$skip" --launch-count "$count" "$@" \
        >"$out/kernels_h2048_bf16_$name.txt" 2>&1
      status "kernels bf16 h2048 $name" "exit $?"
    }
    metrics=gpu__time_duration.sum,dram__bytes_read.sum,lts__t_bytes.sum \
      ncu_sum forward 300 400 "$bin/recur" bench --device cuda --math bf16 --seconds 0.001 \
      --cases lstm-h2048-b128-t100
    ncu_sum train 1700 700 "$bin/recur" bench --device cuda --math bf16 --seconds 0.001 \
      --cases lstm-h2048-b128-t100
    ncu_sum cudnn 20 1500 "${RECUR_BENCH_PYTHON:-python3}" bench/compare_cuda.py \
      --recur "$bin/recur" --torch-only --math bf16 --seconds 0.001 \
      --cases lstm-h2048-b128-t100
  else
    status "ncu" "not found"
  fi
fi
if part profile; then
  # Where the time goes, by Nsight Compute: every kernel of a few calls of the
  # default choice (the GRU H192 B16 per-step anomaly of run 9 among them), and
  # the cluster forward's warp stalls and the lines they stall on (the 2x
  # targets at H128 B1 and H256 B16), with the exchanges (vector, async),
  # and the one-block forward's. Writes ncu_summary_*.txt, ncu_cluster_*.txt,
  # ncu_block_*.txt and ncu_lanes_*.txt.
  if command -v ncu >/dev/null; then
    reports=$(mktemp -d)
    for spec in "gru 192 16" "lstm 192 16" "lstm 128 1"; do
      read -r cell h b <<<"$spec"
      timeout 120 ncu --print-summary per-kernel --launch-count 60 \
        "$bin/recur" bench --device cuda --seconds 0.02 --cell "$cell" --hidden "$h" --batch "$b" \
        --seq 100 >"$out/ncu_summary_$cell-h$h-b$b.txt" 2>&1
      status "ncu summary $cell H$h B$b" "exit $?"
    done
    for spec in "lstm 128 1 0 0" "lstm 128 1 0 1" "lstm 256 16 0 0" "lstm 256 16 1 1"; do
      read -r cell h b vector async <<<"$spec"
      name=$cell-h$h-b$b-vector$vector-async$async
      RECUR_CUDA_CLUSTER=1 RECUR_CUDA_CLUSTER_VECTOR=$vector RECUR_CUDA_CLUSTER_ASYNC=$async \
        timeout 150 ncu \
        --kernel-name regex:cluster_forward --launch-count 1 --set full --import-source yes \
        --export "$reports/$name" --force-overwrite "$bin/recur" bench --device cuda \
        --seconds 0.02 --cell "$cell" --hidden "$h" --batch "$b" --seq 100 >/dev/null 2>&1
      status "ncu cluster $name" "exit $?"
      { ncu --import "$reports/$name.ncu-rep" --page details
        ncu --import "$reports/$name.ncu-rep" --page source --csv --print-source sass; } \
        >"$out/ncu_cluster_$name.txt" 2>&1
    done
    # the one-block forward (RECUR_CUDA_BLOCK=1) at lstm H128 B1, and its
    # variants of split rows (RECUR_CUDA_BLOCK_LANES=1, 2): their stalls
    for name in block lanes1 lanes2; do
      RECUR_CUDA_BLOCK=1 RECUR_CUDA_BLOCK_LANES=$([[ $name == lanes* ]] && echo "${name#lanes}") \
        timeout 150 ncu --kernel-name "regex:${name%[12]}_forward" --launch-count 1 \
        --set full --import-source yes --export "$reports/$name" --force-overwrite \
        "$bin/recur" bench --device cuda --seconds 0.02 --cell lstm --hidden 128 --batch 1 \
        --seq 100 >/dev/null 2>&1
      status "ncu $name lstm-h128-b1" "exit $?"
      { ncu --import "$reports/$name.ncu-rep" --page details
        ncu --import "$reports/$name.ncu-rep" --page source --csv --print-source sass; } \
        >"$out/ncu_${name}_lstm-h128-b1.txt" 2>&1
    done
    rm -rf "$reports"
  else
    status "ncu" "not found"
  fi
fi
if part compare; then
  RECUR_BIN=$bin/recur bench/compare --device cuda --seconds "$seconds" ${CASES:+--cases "$CASES"} \
    --math "${MATH:-fp32,tf32,bf16}" \
    --out "$out/compare.md" >"$out/compare.log" 2>&1
  status "compare" "exit $?"
  cat "$out/compare.md" 2>/dev/null || tail -20 "$out/compare.log"
fi
cat "$out/summary.txt"
