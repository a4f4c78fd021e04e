#!/usr/bin/env bash
# Date normalization with recur seq2seq (not a test): generates 20000 training
# and 2000 held-out dates (different seeds), trains a character-level GRU
# encoder-decoder with additive attention, and prints the held-out exact-match
# accuracy with greedy decoding and beam search; writes an attention map.
# Record the output in docs/RESULTS.md (copy the PNG to docs/results/).
# usage: bench/seq2seq.sh [OUT_DIR]   (default /tmp/recur-seq2seq)
#        BUILD=build-x bench/seq2seq.sh   to use another build directory
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/recur-seq2seq}
build=${BUILD:-build}
mkdir -p "$out"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
recur=./$build/recur

"$recur" seq2seq make-dates 20000 --seed 1 -o "$out/train.tsv"
"$recur" seq2seq make-dates 2000 --seed 2 -o "$out/test.tsv"
args=(--tokens char --model gru --embed 32 --hidden 128 --bidirectional 1 --attention additive
      --epochs 12 --batch 64 --lr 0.003 --val-fraction 0.05 --seed 1)
echo "== recur seq2seq train train.tsv ${args[*]}"
/usr/bin/time -f "train: %e s wall" "$recur" seq2seq train "$out/train.tsv" "${args[@]}" \
  -o "$out/dates.safetensors" | tee "$out/train.log"
echo "== held-out (2000 dates, generator seed 2)"
"$recur" seq2seq eval "$out/dates.safetensors" "$out/test.tsv"
"$recur" seq2seq eval "$out/dates.safetensors" "$out/test.tsv" --beam 4
echo "== examples"
printf '%s\n' "Tuesday, March 3, 1998" "3rd of March 1998" "03/03/98" "1998.3.3" "Tue 3 Mar 1998" \
  "the 31st of december, 2049" "7-Jul-07" |
  tee "$out/examples.txt" |
  "$recur" seq2seq translate "$out/dates.safetensors" --beam 4 --attention-map "$out/dates_attention.png" |
  paste "$out/examples.txt" -
echo "attention map of the first example: $out/dates_attention.png"
