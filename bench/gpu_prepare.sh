#!/usr/bin/env bash
# Readies a device call (not part of CI): the CUDA build of the working tree
# (build-cuda: RECUR_CUDA, Open MPI and NCCL, Release), bundled by
# bench/gpu_bundle.sh into .gpu/bin.tar.xz, with, when OLD_COMMIT is given,
# the recur of that commit beside it as recur_old (built in a temporary git
# worktree), for gpu_check.sh's persistent part (OLD_RECUR).
# usage: bench/gpu_prepare.sh [OLD_COMMIT]
# Then, in the device call (.gpu is untracked, so it travels with the tree):
#   tar -C .gpu -xJf .gpu/bin.tar.xz && bin=$(pwd)/.gpu/bin &&
#   OLD_RECUR=$bin/recur_old PARTS=persistent bash bench/gpu_check.sh .gpu/bin /tmp/x
# and archive /tmp/x into $OUT. Remove .gpu here afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:-}
configure() { # SOURCE BUILD
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DRECUR_CUDA=ON -DRECUR_MPI=ON >/dev/null
}
configure . build-cuda
cmake --build build-cuda -j "$(nproc)" >/dev/null
rm -rf .gpu && mkdir .gpu
bash bench/gpu_bundle.sh build-cuda .gpu/bin
if [[ -n $old ]]; then
  tree=$(mktemp -d)
  git worktree add --detach "$tree/src" "$old" >/dev/null
  configure "$tree/src" "$tree/build"
  cmake --build "$tree/build" -j "$(nproc)" --target recur_cli >/dev/null
  cp "$tree/build/recur" .gpu/bin/recur_old
  git worktree remove --force "$tree/src"
  rm -rf "$tree"
fi
strip .gpu/bin/recur* .gpu/bin/test_*
tar -C .gpu -cJf .gpu/bin.tar.xz bin
rm -rf .gpu/bin
du -sh .gpu/bin.tar.xz
