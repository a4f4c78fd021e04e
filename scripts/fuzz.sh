#!/usr/bin/env bash
# libFuzzer targets for the readers (fuzz/fuzz_*.c), built with clang and
# AddressSanitizer + UndefinedBehaviorSanitizer in build-fuzz/.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   default 60 s per target, every target (safetensors table text cli_args idx
#   checkpoint import);
#   CI runs them briefly, long runs: scripts/fuzz.sh 3600
# Seeds: fuzz/corpus/<target>/ (committed) plus, for safetensors, the model
# and input files of tests/fixtures/data; the growing corpus is kept in
# build-fuzz/corpus/<target>/ and findings in build-fuzz/findings/<target>/.
# Prints one line per target: runs, seconds, runs/s, corpus size; exits 1 on a
# finding (crash, leak, timeout, sanitizer report).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ $# -gt 0 ]] && shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(safetensors table text cli_args idx checkpoint import)
build=build-fuzz
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRECUR_CUDA=OFF -DRECUR_WERROR=OFF -DBUILD_TESTING=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link $sanitize" >/dev/null
cmake --build "$build" -j "$(nproc)" --target recur >/dev/null
lib=$(find "$build" -maxdepth 1 -name 'librecur*.a' | head -1)
libs="$(pkg-config --libs openblas libcjson libprotobuf-c zlib) -lcsv -lm -lpthread"
status=0
for t in "${targets[@]}"; do
  [[ -f fuzz/fuzz_$t.c ]] || { echo "scripts/fuzz.sh: no target fuzz/fuzz_$t.c" >&2; exit 2; }
  extra=() quiet=0
  if [[ $t == cli_args || $t == checkpoint ]]; then # CLI code; it prints usage and errors
    extra=(-Icli -Isrc cli/options.c cli/train_options.c cli/cli_util.c)
    quiet=3
  elif [[ $t == idx ]]; then
    extra=(-Icli -Isrc cli/idx.c cli/cli_util.c)
    quiet=2
  elif [[ $t == import ]]; then # the internal .npz reader
    extra=(-Isrc)
  fi
  # shellcheck disable=SC2086
  clang -g -O1 -fsanitize=fuzzer $sanitize -Iinclude "${extra[@]}" "fuzz/fuzz_$t.c" "$lib" \
    $libs -o "$build/fuzz_$t"
  corpus=$build/corpus/$t findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  [[ -d fuzz/corpus/$t ]] && cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  if [[ $t == safetensors || $t == checkpoint ]]; then
    find tests/fixtures -name '*.safetensors' -size -64k -exec cp -n {} "$corpus"/ \;
  fi
  log=$build/fuzz_$t.log
  if ASAN_OPTIONS=detect_leaks=1 "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -close_fd_mask=$quiet -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" \
       >"$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log and $findings/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  secs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  printf '%-12s %s runs in %s s (%s/s), corpus %s files: %s\n' "$t" "$runs" "$seconds" \
    "$secs" "$(ls "$corpus" | wc -l)" "$result"
done
exit $status
