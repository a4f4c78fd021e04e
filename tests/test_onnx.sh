#!/usr/bin/env bash
# recur export: ONNX files that ONNX Runtime runs with recur's numbers. Every
# exportable PyTorch fixture stack (fixtures/data; the proj_size cases are
# refused, as they must be), language models and classifiers made here by
# recur train / recur classify train, each compared with `recur run` by
# onnx_check.py within 1e-4 relative; refusals and bad flags exit 2 with one
# line. Skips (exit 77) without a Python that has onnxruntime and numpy:
# /tmp/recur-bench-venv, else $RECUR_ONNX_VENV, else a venv made in /tmp.
# usage: test_onnx.sh RECUR_BINARY FIXTURES_DIR SCRATCH_DIR
set -uo pipefail
recur=$1 fixtures=$2 dir=$3
check=$(dirname "$0")/onnx_check.py

has_ort() { [[ -x $1 ]] && "$1" -c "import onnxruntime, numpy" >/dev/null 2>&1; }
python=""
for candidate in /tmp/recur-bench-venv/bin/python "${RECUR_ONNX_VENV:-/nonexistent}/bin/python"; do
  if has_ort "$candidate"; then python=$candidate; break; fi
done
if [[ -z $python ]]; then
  venv=/tmp/recur-onnx-venv
  if ! has_ort "$venv/bin/python"; then
    { python3 -m venv "$venv" && timeout 600 "$venv/bin/pip" install -q onnxruntime numpy; } >/dev/null 2>&1
  fi
  has_ort "$venv/bin/python" && python=$venv/bin/python
fi
if [[ -z $python ]]; then
  echo "skipped: no Python with onnxruntime and numpy (set RECUR_ONNX_VENV to a venv that has them)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"

# --- help and bad input ---
"$recur" export --help >"$dir/out" 2>&1 && grep -q "recur export MODEL" "$dir/out" && ok || bad "export --help"
expect_error "missing -o" export "$fixtures/lstm_base.model.safetensors"
expect_error "missing model" export -o "$dir/x.onnx"
expect_error "unknown flag" export "$fixtures/lstm_base.model.safetensors" -o "$dir/x.onnx" --fast
expect_error "not a model" export "$fixtures/lstm_base.in.safetensors" -o "$dir/x.onnx"
expect_error "missing file" export "$dir/none.safetensors" -o "$dir/x.onnx"
expect_error "proj_size refused" export "$fixtures/lstm_proj_base.model.safetensors" -o "$dir/x.onnx"
grep -q "proj_size" "$dir/stderr" && ok || bad "the proj_size refusal does not say why: $(cat "$dir/stderr")"
[[ -e $dir/x.onnx ]] && bad "a refused export left a file" || ok

# --- the PyTorch fixtures: export, recur run, compare ---
triples=() skipped=()
while read -r case; do
  model=$fixtures/$case.model.safetensors input=$fixtures/$case.in.safetensors
  if [[ $case == lstm_proj* ]]; then skipped+=("$case"); continue; fi
  flags=()
  head -c 4096 "$input" | grep -aq '"h0"' && flags+=(--state)
  head -c 4096 "$input" | grep -aq '"lengths"' && flags+=(--lengths)
  "$recur" export "$model" -o "$dir/$case.onnx" "${flags[@]}" >/dev/null 2>"$dir/stderr" \
    || { bad "$case: export failed: $(cat "$dir/stderr")"; continue; }
  "$recur" run "$model" --input "$input" --output "$dir/$case.out.safetensors" 2>"$dir/stderr" \
    || { bad "$case: recur run failed: $(cat "$dir/stderr")"; continue; }
  triples+=("$dir/$case.onnx" "$input" "$dir/$case.out.safetensors")
done <"$fixtures/cases.txt"
echo "fixture stacks: $((${#triples[@]} / 3)) compared; skipped (proj_size, refused): ${skipped[*]}"
[[ ${#triples[@]} -ge 90 ]] && ok || bad "only $((${#triples[@]} / 3)) fixture cases exported"
"$python" "$check" stack "${triples[@]}" >"$dir/stacks.log" 2>&1 && ok || bad "stacks: $(grep -v '^ok' "$dir/stacks.log" | head -5)"
tail -1 "$dir/stacks.log"

# --- language models made by recur train ---
for i in $(seq 1 40); do echo "the quick brown fox jumps over the lazy dog; pack my box."; done >"$dir/text.txt"
for cell in lstm gru rnn-relu; do
  "$recur" train --text "$dir/text.txt" --cell $cell --steps 20 --hidden 16 --layers 2 --embed 8 \
    --batch 4 --bptt 16 --eval-interval 10 --seed 2 -o "$dir/lm_$cell.safetensors" >"$dir/train.log" 2>&1 \
    || { bad "train $cell: $(tail -2 "$dir/train.log")"; continue; }
  "$recur" export "$dir/lm_$cell.safetensors" -o "$dir/lm_$cell.onnx" >/dev/null 2>&1 &&
    "$recur" export "$dir/lm_$cell.safetensors" -o "$dir/lm_${cell}_state.onnx" --state >/dev/null 2>&1 \
    || { bad "export lm $cell"; continue; }
  for f in lm_$cell lm_${cell}_state; do
    "$python" "$check" lm "$dir/$f.onnx" "$dir/lm_$cell.safetensors" "$recur" "$dir" >"$dir/$f.log" 2>&1 \
      && ok || bad "$f: $(grep -v '^ok' "$dir/$f.log" | head -5)"
    grep -h '^ok\|^worst' "$dir/$f.log" | tr '\n' ' '; echo
  done
done
"$recur" train --text "$dir/text.txt" --steps 2 --hidden 8 --layers 1 --embed 4 --zoneout 0.1 \
  -o "$dir/lm_zoneout.safetensors" >/dev/null 2>&1 || bad "train with zoneout"
expect_error "zoneout refused" export "$dir/lm_zoneout.safetensors" -o "$dir/x.onnx"
"$recur" train --text "$dir/text.txt" --steps 2 --hidden 8 --layers 1 --embed 4 --layer-norm 1 \
  -o "$dir/lm_ln.safetensors" >/dev/null 2>&1 || bad "train with layer norm"
expect_error "layer_norm refused" export "$dir/lm_ln.safetensors" -o "$dir/x.onnx"

# --- classifiers made by recur classify train: every pooling ---
awk 'BEGIN { srand(5); split("the a film plot actor scene music story", w, " "); print "review,label";
  for (i = 0; i < 200; i++) { s = ""; for (k = 0; k < 3 + int(rand() * 6); k++) s = s w[1 + int(rand() * 8)] " ";
    printf "%s%s,%s\n", s, i % 2 ? "good" : "bad", i % 2 ? "pos" : "neg" } }' >"$dir/reviews.csv"
awk 'BEGIN { print "t,x,trend"; for (i = 0; i < 300; i++) printf "%d,%.4f,%s\n", i, sin(i / 5.0), (cos(i / 5.0) > 0) ? "up" : "down" }' >"$dir/series.csv"
classifiers=(
  "text_last:$dir/reviews.csv --text review --label label --model gru --layers 2 --bidirectional 1 --pool last"
  "text_mean:$dir/reviews.csv --text review --label label --model lstm --pool mean"
  "text_max:$dir/reviews.csv --text review --label label --model rnn --layers 2 --pool max"
  "text_attention:$dir/reviews.csv --text review --label label --model lstm --bidirectional 1 --pool attention"
  "series_mean:$dir/series.csv --window 10 --inputs x --label trend --model gru --pool mean")
for entry in "${classifiers[@]}"; do
  name=${entry%%:*}
  read -r -a args <<<"${entry#*:}"
  "$recur" classify train "${args[@]}" --epochs 1 --hidden 8 --embed 8 --seed 1 -o "$dir/$name.safetensors" \
    >"$dir/train.log" 2>&1 || { bad "classify train $name: $(tail -2 "$dir/train.log")"; continue; }
  "$recur" export "$dir/$name.safetensors" -o "$dir/$name.onnx" >/dev/null 2>"$dir/stderr" \
    || { bad "export $name: $(cat "$dir/stderr")"; continue; }
  "$python" "$check" seqnet "$dir/$name.onnx" "$dir/$name.safetensors" "$recur" "$dir" >"$dir/$name.log" 2>&1 \
    && ok || bad "$name: $(grep -v '^ok' "$dir/$name.log" | head -5)"
  grep -h '^ok\|^worst' "$dir/$name.log" | tr '\n' ' '; echo
done
[[ -e $dir/text_mean.safetensors ]] &&
  expect_error "--state on a classifier" export "$dir/text_mean.safetensors" -o "$dir/x.onnx" --state
ls "$dir" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok
finish test_onnx
