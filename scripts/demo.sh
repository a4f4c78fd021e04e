#!/usr/bin/env bash
# The main job in one command: builds recur, trains a character-level LSTM for
# about two minutes on a corpus every Debian machine with the `fortunes`
# package has (the project's own C sources otherwise), plots its loss curves
# and prints text sampled from it.
# usage: scripts/demo.sh [SECONDS]   (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
out=build/demo
mkdir -p "$out"

corpus="$out/corpus.txt"
fortunes=/usr/share/games/fortunes
if compgen -G "$fortunes/*.dat" >/dev/null; then
  for dat in "$fortunes"/*.dat; do cat "${dat%.dat}"; done >"$corpus"
  echo "corpus: the fortune cookies of Debian's fortunes package ($(stat -c %s "$corpus") bytes)"
else
  cat src/*/*.c src/backend/cpu/*.c cli/*.c >"$corpus"
  echo "corpus: recur's own C sources ($(stat -c %s "$corpus") bytes; install 'fortunes' for prose)"
fi

./build/recur train --text "$corpus" --cell lstm --hidden 256 --layers 2 --embed 32 \
  --batch 32 --bptt 64 --lr 3e-3 --schedule constant --dropout 0.1 --val-fraction 0.05 \
  --steps 100000 --time-limit "$seconds" --eval-interval 100 -o "$out/model.safetensors"
./build/recur plot "$out/model.ckpt/metrics.csv" -o "$out/loss.png" --title "recur demo: LSTM on fortunes"
echo "loss curves: $out/loss.png"
echo "--- sampled text ---"
./build/recur generate "$out/model.safetensors" --prime "The " --length 600 --temperature 0.7 --seed 7
