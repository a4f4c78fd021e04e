#!/usr/bin/env bash
# Every C test of a build but test_gemm under valgrind memcheck (leak check
# full); a test fails on any memory error or leak. The shell tests (the CLI)
# are left out: they run under ASan+UBSan in CI (scripts/test.sh --sanitize).
# usage: scripts/valgrind.sh [BUILD_DIR]   (default build-valgrind: a CUDA-less
#        RelWithDebInfo build made here; GPU libraries confuse memcheck)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
if [[ $# -eq 0 ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECUR_CUDA=OFF >/dev/null &&
    cmake --build "$build" -j "$(nproc)" >/dev/null || exit 1
fi
failed=0 passed=0 skipped=0
# The C tests as ctest runs them: the command lines whose program is a binary.
while read -r program args; do
  [[ $program == */tests/test_* && $program != *.sh ]] || continue
  # test_gemm's large threaded products take hours under valgrind (it runs
  # under ASan and ThreadSanitizer instead)
  [[ $program == */test_gemm ]] && continue
  runs=$((passed + failed + skipped))
  name=$(basename "$program") log=$build/valgrind_${runs}_$(basename "$program").log
  # shellcheck disable=SC2086
  if OPENBLAS_NUM_THREADS=1 valgrind --quiet --leak-check=full \
       --errors-for-leak-kinds=definite,possible --error-exitcode=9 "$program" $args \
       >"$log" 2>&1; then
    passed=$((passed + 1))
  elif [[ $? -eq 77 ]]; then
    skipped=$((skipped + 1)) # no GPU
  else
    failed=$((failed + 1))
    echo "valgrind: $name failed (see $log)"
  fi
done < <(ctest --test-dir "$build" -N -V | sed -n 's/^[0-9]*: Test command: //p' | tr -d '"')
echo "valgrind: $passed tests clean, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
