#!/usr/bin/env bash
# ThreadSanitizer: builds the library and the threaded tests with
# -fsanitize=thread in build-tsan/ and runs them: test_threads (two handles
# trained from two threads at once give the bit-identical results of one at a
# time) and test_gemm (recur's own thread team). OpenBLAS is not instrumented,
# so it runs single-threaded here; recur's team runs with 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-tsan
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECUR_CUDA=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_threads test_gemm >/dev/null
export OPENBLAS_NUM_THREADS=1 RECUR_NUM_THREADS=2 TSAN_OPTIONS="halt_on_error=1"
"$build/tests/test_threads"
"$build/tests/test_gemm" >/dev/null && echo "test_gemm: passed under ThreadSanitizer"
