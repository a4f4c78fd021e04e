#!/usr/bin/env bash
# Classification quality (not a test): movie-review polarity (rt-polarity, a
# fixed seeded 90/10 split: 10 % test, 10 % of the rest for early stopping),
# with and without the auxiliary next-token task, and Fashion-MNIST read row
# by row (Debian's dataset-fashion-mnist; its own 10,000 test images).
# Record the output in docs/RESULTS.md.
# usage: bench/classify.sh [OUT_DIR]   (default /tmp/recur-classify)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/recur-classify}
mkdir -p "$out"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

mr=../shared/data/rt-polarity/rt-polarity
if [[ -f $mr.pos ]]; then
  for aux in none next-token; do
    echo "== rt-polarity, --aux $aux"
    ./build/recur classify train --lines "$mr.pos=pos,$mr.neg=neg" --model gru --bidirectional 1 \
      --pool max --embed 128 --hidden 128 --input-dropout 0.5 --epochs 12 --early-stop 4 --seed 1 \
      --aux "$aux" -o "$out/mr-$aux.safetensors" | tee "$out/mr-$aux.log" | grep -E '^(kept|test)'
  done
else
  echo "SKIP: $mr.pos is absent"
fi

fm=/usr/share/datasets/fashion-mnist
if [[ -f $fm/train-images-idx3-ubyte.gz ]]; then
  echo "== Fashion-MNIST, rows as time steps"
  ./build/recur classify train --idx-images "$fm/train-images-idx3-ubyte.gz" \
    --idx-labels "$fm/train-labels-idx1-ubyte.gz" --test-images "$fm/t10k-images-idx3-ubyte.gz" \
    --test-labels "$fm/t10k-labels-idx1-ubyte.gz" --model gru --hidden 128 --bidirectional 1 \
    --pool mean --batch 64 --epochs 25 --early-stop 0 --lr 0.002 --schedule cosine \
    --input-dropout 0.1 --seed 1 -o "$out/fashion.safetensors" | tee "$out/fashion.log" | grep -E '^(kept|test)'
else
  echo "SKIP: $fm is absent (apt-get install dataset-fashion-mnist)"
fi
