#!/usr/bin/env bash
# Line and branch coverage of the library (src/) by the whole test suite,
# with gcov and lcov: builds in build-cov/ (-O0 --coverage, no CUDA), runs
# ctest, prints lcov's summary and writes build-cov/coverage.info (and an
# HTML report in build-cov/html/ with --html).
# usage: scripts/coverage.sh [--html]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-cov
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DRECUR_CUDA=OFF -DRECUR_WERROR=ON \
  -DCMAKE_C_FLAGS="--coverage -fprofile-update=atomic -O0" -DCMAKE_EXE_LINKER_FLAGS=--coverage \
  >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
find "$build" -name '*.gcda' -delete
# libgcov's own complaints (a test's file-size limit stops a process's .gcda
# writes too) go to a file, not to the stderr that the tests count lines of
export GCOV_ERROR_FILE=$PWD/$build/gcov_errors.log
# test_install links the installed static library, which needs gcov here: left out.
ctest --test-dir "$build" -j "$(nproc)" -E test_install >"$build/ctest.log" 2>&1 ||
  { tail -20 "$build/ctest.log"; exit 1; }
tail -3 "$build/ctest.log"
lcov --quiet --capture --rc lcov_branch_coverage=1 --directory "$build" \
  --output-file "$build/all.info" 2>/dev/null
lcov --quiet --rc lcov_branch_coverage=1 --extract "$build/all.info" "$PWD/src/*" \
  --output-file "$build/coverage.info"
lcov --rc lcov_branch_coverage=1 --summary "$build/coverage.info" 2>&1 | grep -E "lines|functions|branches"
if [[ ${1:-} == --html ]]; then
  genhtml --quiet --branch-coverage "$build/coverage.info" --output-directory "$build/html"
  echo "HTML report: $build/html/index.html"
fi
