#!/usr/bin/env bash
# Data-parallel checks on the lent GPU machine (not part of CI, issue 11):
# tests/test_mpi.sh with its GPU part (2 processes sharing the GPU against 1
# and against 2 on the CPU; a single process averaging through the host and
# through NCCL over one GPU gives the same model file), then the scaling of
# recur train over 1-8 processes on that machine's CPU cores and of --device
# cuda with 1 and 2 processes.
# usage: bench/gpu_mpi_check.sh BIN_DIR OUT_DIR
#   BIN_DIR  from bench/gpu_bundle.sh (recur, lib/, mpi.tar.xz)
# Run from the repository root. Uses the Open MPI runtime carried in
# BIN_DIR/mpi.tar.xz (relocated by OPAL_PREFIX; the one recur's libmpi belongs
# to), else the machine's mpirun.
set -u
bin=$(cd "${1:?BIN_DIR}" && pwd)
out=$(mkdir -p "${2:?OUT_DIR}" && cd "$2" && pwd)
source "$(dirname "$0")/gpu_env.sh"
status() { printf '%-34s %s\n' "$1" "$2" | tee -a "$out/summary.txt"; }
nvidia-smi -L | tee "$out/summary.txt"
nproc | sed 's/^/cores: /' | tee -a "$out/summary.txt"
ldd "$bin/recur" | grep "not found" | tee -a "$out/summary.txt"
if [[ -f $bin/mpi.tar.xz ]]; then # the runtime of the libmpi recur was linked with
  mpi=/tmp/recur-mpi
  mkdir -p "$mpi/root" "$mpi/bin" && tar -C "$mpi/root" -xJf "$bin/mpi.tar.xz" || { status mpi "mpi.tar.xz does not unpack"; exit 1; }
  export OPAL_PREFIX=$mpi/root/usr
  export LD_LIBRARY_PATH=$mpi/root/usr/lib/x86_64-linux-gnu:$mpi/root/usr/lib/x86_64-linux-gnu/openmpi/lib:$LD_LIBRARY_PATH
  # Debian's /etc/openmpi/openmpi-mca-params.conf, which OPAL_PREFIX does not move
  export OMPI_MCA_btl_base_warn_component_unused=0 OMPI_MCA_mtl=^ofi OMPI_MCA_btl=^uct,openib,ofi \
    OMPI_MCA_pml=^ucx OMPI_MCA_osc=^ucx,pt2pt
  printf '#!/bin/sh\nexec %s -x LD_LIBRARY_PATH -x OPAL_PREFIX "$@"\n' "$mpi/root/usr/bin/orterun" >"$mpi/bin/mpirun"
  chmod +x "$mpi/bin/mpirun"
  export PATH=$mpi/bin:$PATH
  status mpirun "carried Open MPI ($("$mpi/root/usr/bin/orterun" --version 2>&1 | head -1))"
else
  status mpirun "$(command -v mpirun): $(mpirun --version 2>&1 | head -1)"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none

tmp=$(mktemp -d)
bash tests/test_mpi.sh "$bin/recur" "$tmp" >"$out/test_mpi.log" 2>&1
status test_mpi.sh "exit $? | $(tail -1 "$out/test_mpi.log") | $(grep -E 'FAIL|GPU|NCCL' "$out/test_mpi.log" | tr '\n' ' ')"
cp "$tmp"/gpu*.log "$out/" 2>/dev/null

# Scaling: tokens/s of the whole job (rank 0's last progress line)
cat README.md docs/*.md >"$tmp/text.txt"
tok() { grep -o '[0-9]* tok/s' "$1" | tail -1; }
run() { # name, processes, then recur train options
  local name=$1 np=$2 pass=(-x OPENBLAS_NUM_THREADS -x RECUR_NUM_THREADS); shift 2
  [[ -n ${RECUR_DIST_TRANSPORT:-} ]] && pass+=(-x RECUR_DIST_TRANSPORT)
  timeout 300 mpirun -np "$np" --oversubscribe "${pass[@]}" \
    "$bin/recur" train --text "$tmp/text.txt" --val-fraction 0 --eval-interval 1000 --seed 1 "$@" \
    -o "$tmp/$name.safetensors" >"$out/scale_$name.log" 2>&1
  status "$name" "exit $? | $(tok "$out/scale_$name.log") | $(grep -o 'gradients by.*' "$out/scale_$name.log")"
}
export OPENBLAS_NUM_THREADS=1 RECUR_NUM_THREADS=1
cpu=(--hidden 256 --layers 2 --batch 32 --bptt 64 --steps 40)
for np in 1 2 4 8 16; do run "cpu-np$np" "$np" "${cpu[@]}"; done
OPENBLAS_NUM_THREADS=8 RECUR_NUM_THREADS=8 run cpu-np1-8threads 1 "${cpu[@]}"
gpu=(--hidden 512 --layers 2 --batch 64 --bptt 64 --steps 100 --device cuda)
run gpu-np1 1 "${gpu[@]}"
run gpu-np2-shared 2 "${gpu[@]}"
RECUR_DIST_TRANSPORT=nccl run gpu-np1-nccl 1 "${gpu[@]}"
# NCCL refuses two processes on one GPU: a clear error, no hang (exit 2 expected)
RECUR_DIST_TRANSPORT=nccl run gpu-np2-nccl-refused 2 "${gpu[@]}" --steps 2
tail -2 "$out/scale_gpu-np2-nccl-refused.log" | tee -a "$out/summary.txt"
RECUR_DIST_TRANSPORT=mpi run gpu-np1-host 1 "${gpu[@]}"
cat "$out/summary.txt"
