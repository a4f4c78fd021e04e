#!/usr/bin/env bash
# Quality benchmark (not a test): trains a character-level LSTM on
# ../shared/data/tinyshakespeare.txt (the last 10 % held out, as nanoGPT) for a
# fixed wall-clock budget and reports validation loss against time, the loss
# curves as a PNG and a generated sample. Record results in docs/RESULTS.md.
# usage: bench/tinyshakespeare.sh [OUT_DIR] [SECONDS]   (defaults: /tmp/recur-shakespeare 1800)
# Extra `recur train` flags can be passed in RECUR_TRAIN_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data/tinyshakespeare.txt
if [[ ! -f $data ]]; then
  echo "SKIP: $data is absent (see ../shared/data/README.md)"
  exit 0
fi
out=${1:-/tmp/recur-shakespeare}
seconds=${2:-1800}
mkdir -p "$out"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

# 2x512 LSTM (3.3M parameters), dropout 0.2 between layers and before the head,
# Adam with a cosine schedule sized so that it ends near the time budget on
# this project's 2-core machine; --time-limit stops it there in any case.
# shellcheck disable=SC2086
./build/recur train --text "$data" --val-fraction 0.1 \
  --cell lstm --hidden 512 --layers 2 --embed 64 --dropout 0.2 \
  --batch 64 --bptt 64 --optimizer adam --lr 2e-3 --schedule cosine --warmup 50 --min-lr 1e-4 \
  --steps "${RECUR_BENCH_STEPS:-1800}" --eval-interval 200 --clip 1 --seed 1 \
  --time-limit "$seconds" ${RECUR_TRAIN_FLAGS:-} \
  -o "$out/shakespeare.safetensors" | tee "$out/train.log"
./build/recur plot "$out/shakespeare.ckpt/metrics.csv" -o "$out/loss.png" \
  --title "tinyshakespeare, 2x512 LSTM, 2 cores"
./build/recur eval "$out/shakespeare.safetensors" --text <(tail -c 111539 "$data") | tee "$out/eval.txt"
./build/recur generate "$out/shakespeare.safetensors" --prime "ROMEO:" --length 600 \
  --temperature 0.8 --seed 1 | tee "$out/sample.txt"
echo "metrics: $out/shakespeare.ckpt/metrics.csv  curve: $out/loss.png"
