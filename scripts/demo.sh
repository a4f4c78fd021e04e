#!/usr/bin/env bash
# Builds recur and runs the demo: examples/lstm_demo.c builds a bidirectional
# LSTM and a padded batch through the library, then `recur run` runs the saved
# model on the saved batch from the command line.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
out=build/demo
mkdir -p "$out"
./build/examples/lstm_demo "$out"
./build/recur run "$out/model.safetensors" --input "$out/in.safetensors" --output "$out/out.safetensors"
echo "recur run wrote $out/out.safetensors ($(stat -c %s "$out/out.safetensors") bytes)"
