#!/usr/bin/env bash
# Makes BIN_DIR for bench/gpu_check.sh and bench/gpu_mpi_check.sh from a CUDA
# build made here: the binaries and the shared libraries they need that a bare
# GPU machine may lack (not the C library, not cuBLAS or NCCL, which that
# machine has in its PyTorch), and, when recur links Open MPI, Debian's Open
# MPI runtime (mpirun and its plugins) as mpi.tar.xz (apt-get download).
# usage: bench/gpu_bundle.sh BUILD_DIR BIN_DIR
# PACK=1: strips the binaries and leaves BIN_DIR.tar.xz in its place (about
# 11 MB; the folder, 74 MB with OpenBLAS, passes a device call's 64 MiB
# carry): unpack it on the GPU machine with tar -C "$(dirname BIN_DIR)" -xJf.
set -euo pipefail
build=${1:?BUILD_DIR}
dest=${2:?BIN_DIR}
rm -rf "$dest" && mkdir -p "$dest/lib"
cp "$build/recur" "$build/tests/test_cuda_rnn" "$build/tests/test_cuda_train" \
  "$build/tests/test_rnn_reference" "$dest/"
for b in "$dest"/recur "$dest"/test_*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcublas|libcublasLt|libnccl)\.so' |
  while read -r lib; do cp -L "$lib" "$dest/lib/"; done
if ldd "$dest/recur" | grep -q libmpi; then
  debs=$(mktemp -d)
  (cd "$debs" && apt-get download openmpi-bin libopenmpi3 openmpi-common libpmix2 libhwloc15 \
     libevent-core-2.1-7 libevent-pthreads-2.1-7 libevent-2.1-7 >/dev/null 2>&1) ||
    { echo "apt-get download of Open MPI failed" >&2; exit 1; }
  mkdir "$debs/root"
  for f in "$debs"/*.deb; do dpkg -x "$f" "$debs/root"; done
  tar -C "$debs/root" -cJf "$dest/mpi.tar.xz" .
  rm -rf "$debs"
fi
if [[ ${PACK:-0} == 1 ]]; then
  strip "$dest"/recur "$dest"/test_*
  tar -C "$(dirname "$dest")" -cJf "$dest.tar.xz" "$(basename "$dest")"
  rm -rf "$dest"
  du -sh "$dest.tar.xz"
else
  du -sh "$dest"
fi
