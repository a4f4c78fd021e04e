#!/usr/bin/env bash
# Makes BIN_DIR for bench/gpu_check.sh from a CUDA build made here: the
# binaries and the shared libraries they need that a bare GPU machine may
# lack (not the C library, not cuBLAS, which that machine has).
# usage: bench/gpu_bundle.sh BUILD_DIR BIN_DIR
set -euo pipefail
build=${1:?BUILD_DIR}
dest=${2:?BIN_DIR}
rm -rf "$dest" && mkdir -p "$dest/lib"
cp "$build/recur" "$build/tests/test_cuda_rnn" "$build/tests/test_cuda_train" \
  "$build/tests/test_rnn_reference" "$dest/"
for b in "$dest"/recur "$dest"/test_*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcublas|libcublasLt)\.so' |
  while read -r lib; do cp -L "$lib" "$dest/lib/"; done
du -sh "$dest"
