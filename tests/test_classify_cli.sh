#!/usr/bin/env bash
# recur classify end to end: a learnable text task in a quoted CSV file and in
# line files (with an empty line, Latin-1 bytes and a very long line), eval
# with its JSON report, predict in input order, a tiny IDX image set, and bad
# input answered with one line on stderr and exit status 2.
# usage: test_classify_cli.sh RECUR_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 dir=$2
source "$(dirname "$0")/lib.sh"

# The label is the sentiment word hidden among filler words.
awk 'BEGIN {
  srand(7); split("the a film plot actor scene music, story \"quoted\" long-ish dull ok", w, " ");
  print "id,review,label";
  for (i = 0; i < 600; i++) {
    pos = i % 2; s = "";
    for (k = 0; k < 4 + int(rand() * 8); k++) s = s w[1 + int(rand() * 12)] " ";
    s = s (pos ? "good" : "bad");
    for (k = 0; k < int(rand() * 5); k++) s = s " " w[1 + int(rand() * 12)];
    gsub(/"/, "\"\"", s);
    printf "%d,\"%s\",%s\n", i, s, pos ? "positive" : "negative";
  }
}' >"$dir/reviews.csv"

args=(classify train "$dir/reviews.csv" --text review --label label --epochs 6 --hidden 16 --embed 16
      --test-fraction 0.2 --seed 3)
"$recur" "${args[@]}" -o "$dir/model.safetensors" >"$dir/train.log" 2>&1 || bad "train failed: $(tail -3 "$dir/train.log")"
acc=$(grep -o '^test: [0-9]* examples, accuracy [0-9.]*' "$dir/train.log" | awk '{print $5}')
awk -v a="$acc" 'BEGIN { exit !(a != "" && a >= 0.95) }' && ok || bad "test accuracy $acc below 0.95"
grep -q "^600 examples (432 train, 48 validation, 120 test), 2 classes" "$dir/train.log" && ok \
  || bad "split: $(head -1 "$dir/train.log")"
"$recur" "${args[@]}" -o "$dir/model2.safetensors" >/dev/null 2>&1
cmp -s "$dir/model.safetensors" "$dir/model2.safetensors" && ok || bad "same seed, different model"

"$recur" classify eval "$dir/model.safetensors" "$dir/reviews.csv" --text review --label label \
  --json "$dir/report.json" >"$dir/eval.log" 2>&1 || bad "eval failed: $(cat "$dir/eval.log")"
grep -q "^eval: 600 examples, accuracy" "$dir/eval.log" && grep -q "confusion" "$dir/eval.log" && ok || bad "eval report"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["examples"]==600 and len(r["confusion"])==2 and {c["name"] for c in r["classes"]}=={"negative","positive"}' \
    "$dir/report.json" && ok || bad "report.json"
fi

# --device cuda (the stack on the GPU). Without a GPU: one line, exit 2, for
# train and eval. With one (bench/gpu_check.sh): the epochs' printed losses
# and accuracies within 2e-4 of the CPU run, and eval of the GPU's model on
# the GPU matches its eval on the CPU.
"$recur" "${args[@]}" --device cuda -o "$dir/gpu.safetensors" >"$dir/gpu.log" 2>"$dir/gpu.err"
rc=$?
if no_gpu "$dir/gpu.err"; then
  [[ $rc -eq 2 && $(wc -l <"$dir/gpu.err") -eq 1 ]] && ok || bad "train --device cuda without a GPU: exit $rc, $(cat "$dir/gpu.err")"
  expect_error "eval --device cuda without a GPU" classify eval "$dir/model.safetensors" \
    "$dir/reviews.csv" --text review --label label --device cuda
else
  worst=$(printed_difference "^epoch" "$dir/train.log" "$dir/gpu.log" 6)
  echo "classify train, CPU vs GPU: worst difference of the printed numbers $worst"
  [[ $rc -eq 0 ]] && awk -v w="$worst" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 2e-4) }' && ok ||
    bad "train --device cuda: exit $rc, worst $worst, $(tail -2 "$dir/gpu.err")"
  "$recur" classify eval "$dir/gpu.safetensors" "$dir/reviews.csv" --text review --label label >"$dir/e_cpu.log" 2>&1
  "$recur" classify eval "$dir/gpu.safetensors" "$dir/reviews.csv" --text review --label label --device cuda >"$dir/e_gpu.log" 2>&1
  cmp -s "$dir/e_cpu.log" "$dir/e_gpu.log" && ok || bad "eval on the GPU: $(diff "$dir/e_cpu.log" "$dir/e_gpu.log" | head -5)"
fi

# predict keeps the input order: the texts of rows 0.. alternate negative, positive
cut -d, -f2- "$dir/reviews.csv" | sed 's/,[a-z]*$//' >/dev/null
"$recur" classify predict "$dir/model.safetensors" "$dir/reviews.csv" --text review -o "$dir/pred.csv" >/dev/null 2>&1 || bad "predict failed"
[[ $(head -1 "$dir/pred.csv") == "label,p_negative,p_positive" && $(wc -l <"$dir/pred.csv") -eq 601 ]] && ok || bad "pred.csv shape"
awk -F, 'NR > 1 { want = (NR % 2 == 0) ? "negative" : "positive"; if ($1 == want) right++ } END { exit !(right >= 570) }' \
  "$dir/pred.csv" && ok || bad "predictions not in input order or wrong"

# an empty text is an example without tokens (UBSan, under scripts/test.sh
# --sanitize, reported the memcpy of its NULL token list)
printf 'id,review\n1,\n2,good film\n' >"$dir/empty_text.csv"
"$recur" classify predict "$dir/model.safetensors" "$dir/empty_text.csv" --text review \
  -o "$dir/empty_pred.csv" >"$dir/empty.log" 2>&1 && [[ $(wc -l <"$dir/empty_pred.csv") -eq 3 ]] && ok ||
  bad "predict with an empty text: $(tail -3 "$dir/empty.log")"

# an output naming an input (the data, the model, a --lines file, another
# spelling) is refused before any work, and the input kept
cp "$dir/reviews.csv" "$dir/keep_data.csv"
cp "$dir/model.safetensors" "$dir/keep_model.safetensors"
printf 'good film\n' >"$dir/keep_pos.txt"
expect_error "predict -o DATA" classify predict "$dir/keep_model.safetensors" "$dir/keep_data.csv" \
  --text review -o "$dir/keep_data.csv"
expect_error "predict -o MODEL" classify predict "$dir/keep_model.safetensors" "$dir/keep_data.csv" \
  --text review -o "$dir/keep_model.safetensors"
expect_error "eval --json DATA" classify eval "$dir/keep_model.safetensors" "$dir/keep_data.csv" \
  --text review --label label --json "$dir/../$(basename "$dir")/keep_data.csv"
expect_error "eval --json on a --lines file" classify eval "$dir/keep_model.safetensors" \
  --lines "$dir/keep_pos.txt=positive" --json "$dir/keep_pos.txt"
expect_error "train -o on a --lines file" classify train --lines "$dir/keep_pos.txt=a,$dir/pos.txt=b" \
  -o "$dir/keep_pos.txt"
expect_error "train -o DATA" classify train "$dir/keep_data.csv" --text review --label label \
  -o "$dir/keep_data.csv"
cmp -s "$dir/reviews.csv" "$dir/keep_data.csv" && cmp -s "$dir/model.safetensors" "$dir/keep_model.safetensors" &&
  [[ $(cat "$dir/keep_pos.txt") == "good film" ]] && ok || bad "an output replaced an input"
# outputs are written atomically: a user's PRED.csv.tmp is left alone, and a
# failed write (a full disk) leaves an earlier --json report or PRED.csv whole
echo precious >"$dir/pred.csv.tmp"
"$recur" classify predict "$dir/model.safetensors" "$dir/reviews.csv" --text review -o "$dir/pred.csv" >/dev/null 2>&1 &&
  [[ $(cat "$dir/pred.csv.tmp") == precious && $(wc -l <"$dir/pred.csv") -eq 601 ]] && ok ||
  bad "predict: a user's PRED.csv.tmp was overwritten, or no predictions"
echo precious >"$dir/keep.json"
echo precious >"$dir/keep_pred.csv"
# (a 0-byte file-size limit: the error line goes through a pipe)
(trap '' XFSZ; ulimit -f 0; "$recur" classify eval "$dir/model.safetensors" "$dir/reviews.csv" --text review \
   --label label --json "$dir/keep.json" 2>&1 >/dev/null) | cat >"$dir/full.err"
[[ ${PIPESTATUS[0]} -eq 2 && $(wc -l <"$dir/full.err") -eq 1 && $(cat "$dir/keep.json") == precious ]] && ok ||
  bad "eval --json on a full disk: $(cat "$dir/full.err"), the report: $(head -c 80 "$dir/keep.json")"
(trap '' XFSZ; ulimit -f 0; "$recur" classify predict "$dir/model.safetensors" "$dir/reviews.csv" --text review \
   -o "$dir/keep_pred.csv" 2>&1 >/dev/null) | cat >"$dir/full.err"
[[ ${PIPESTATUS[0]} -eq 2 && $(wc -l <"$dir/full.err") -eq 1 && $(cat "$dir/keep_pred.csv") == precious ]] && ok ||
  bad "predict on a full disk: $(cat "$dir/full.err"), the CSV: $(head -c 80 "$dir/keep_pred.csv")"

# attention pooling and its map
"$recur" "${args[@]}" --pool attention -o "$dir/attn.safetensors" >/dev/null 2>&1 || bad "train --pool attention"
"$recur" classify eval "$dir/attn.safetensors" "$dir/reviews.csv" --text review --label label \
  --attention-map "$dir/attn.png" >/dev/null 2>&1 && [[ $(od -An -tx1 -N4 "$dir/attn.png" | tr -d ' ') == 89504e47 ]] \
  && ok || bad "attention map"
expect_error_early() { "$recur" "$@" >/dev/null 2>"$dir/err"; [[ $? -eq 2 && $(wc -l <"$dir/err") -eq 1 ]]; }
expect_error_early classify eval "$dir/model.safetensors" "$dir/reviews.csv" --text review --label label \
  --attention-map "$dir/x.png" && ok || bad "attention map without attention pooling: $(cat "$dir/err")"
expect_error_early classify eval "$dir/attn.safetensors" "$dir/keep_data.csv" --text review --label label \
  --attention-map "$dir/keep_data.csv" && cmp -s "$dir/reviews.csv" "$dir/keep_data.csv" && ok ||
  bad "eval --attention-map DATA: $(cat "$dir/err")"

# line files: an empty line is skipped, odd bytes and a very long line are examples
{ for i in $(seq 1 150); do echo "quite good movie $i"; done; echo; printf 'caf\xe9 good\n'; } >"$dir/pos.txt"
{ for i in $(seq 1 150); do echo "rather bad movie $i"; done; head -c 20000 /dev/zero | tr '\0' 'x'; echo " bad"; } >"$dir/neg.txt"
"$recur" classify train --lines "$dir/pos.txt=pos,$dir/neg.txt=neg" --tokens char --epochs 3 --hidden 16 --embed 8 \
  --max-len 64 -o "$dir/lines.safetensors" >"$dir/lines.log" 2>&1 && ok || bad "train on line files: $(tail -2 "$dir/lines.log")"
grep -q "^302 examples" "$dir/lines.log" && ok || bad "line count: $(head -1 "$dir/lines.log")"

# IDX: 40 4x3 images, class = which row is bright
python3 - "$dir" <<'PY' 2>/dev/null || printf 'skip\n' >"$dir/no-idx"
import struct, sys, random
random.seed(1); d = sys.argv[1]
imgs, labels = bytearray(), bytearray()
for i in range(40):
    c = i % 3; labels.append(c)
    for r in range(4):
        for k in range(3):
            imgs.append(250 if r == c else random.randint(0, 40))
open(d + "/img.idx", "wb").write(struct.pack(">IIII", 0x803, 40, 4, 3) + imgs)
open(d + "/lab.idx", "wb").write(struct.pack(">II", 0x801, 40) + labels)
PY
if [[ ! -e "$dir/no-idx" ]]; then
  "$recur" classify train --idx-images "$dir/img.idx" --idx-labels "$dir/lab.idx" --epochs 60 --hidden 16 --batch 8 \
    --test-fraction 0 --val-fraction 0 --early-stop 0 --lr 0.01 -o "$dir/img.safetensors" >"$dir/img.log" 2>&1 || bad "IDX train: $(tail -2 "$dir/img.log")"
  "$recur" classify eval "$dir/img.safetensors" --idx-images "$dir/img.idx" --idx-labels "$dir/lab.idx" >"$dir/imgeval.log" 2>&1
  grep -q "accuracy 1.0000" "$dir/imgeval.log" && ok || bad "IDX accuracy: $(head -1 "$dir/imgeval.log")"
  # no validation set (--val-fraction 0): the epochs print no validation figures
  grep -q "^epoch 60/60  train loss [0-9.]* acc [0-9.]*  [0-9.]*s$" "$dir/img.log" && ! grep -q "nan" "$dir/img.log" &&
    ok || bad "epoch line without validation: $(grep -m1 '^epoch' "$dir/img.log")"
  # flags that were ignored: a test set given half (its images were labelled
  # -1 and left out: "test: 0 examples, accuracy nan"), a CSV beside the images
  idx=(--idx-images "$dir/img.idx" --idx-labels "$dir/lab.idx" --epochs 1 --hidden 4)
  expect_error "--test-images without --test-labels" classify train "${idx[@]}" --test-images "$dir/img.idx" -o "$dir/x"
  expect_error "--test-labels without --test-images" classify train "${idx[@]}" --test-labels "$dir/lab.idx" -o "$dir/x"
  expect_error "DATA.csv with --idx-images" classify train "$dir/reviews.csv" --text review --label label \
    "${idx[@]}" -o "$dir/x"
  expect_error "eval: DATA.csv with --idx-images" classify eval "$dir/img.safetensors" "$dir/reviews.csv" \
    --text review --label label --idx-images "$dir/img.idx" --idx-labels "$dir/lab.idx"
  expect_error "eval --test-images" classify eval "$dir/img.safetensors" --idx-images "$dir/img.idx" \
    --idx-labels "$dir/lab.idx" --test-images "$dir/img.idx" --test-labels "$dir/lab.idx"
else
  echo "SKIP: IDX test (no python3 to write the files)"
fi

# time-series windows (the forecasting pipeline's CSV input): is the wave going up?
awk 'BEGIN { srand(3); print "t,x,y,trend"; for (i = 0; i < 1500; i++) {
  x = sin(i / 7.0) + 0.05 * rand(); ys = (i % 50 == 3) ? "NA" : sprintf("%.4f", cos(i / 11.0));
  printf "%d,%.4f,%s,%s\n", i, x, ys, (cos(i / 7.0) > 0) ? "up" : "down" } }' >"$dir/series.csv"
"$recur" classify train "$dir/series.csv" --window 12 --inputs x,y --label trend --epochs 8 --hidden 16 \
  -o "$dir/series.safetensors" >"$dir/series.log" 2>&1 || bad "series train: $(tail -2 "$dir/series.log")"
grep -q "^1489 examples (1207 train, 134 validation, 148 test), 2 classes" "$dir/series.log" && ok \
  || bad "series windows: $(head -1 "$dir/series.log")"
"$recur" classify eval "$dir/series.safetensors" "$dir/series.csv" --label trend >"$dir/series_eval.log" 2>&1
acc=$(grep -o 'accuracy [0-9.]*' "$dir/series_eval.log" | head -1 | awk '{print $2}')
awk -v a="$acc" 'BEGIN { exit !(a != "" && a >= 0.85) }' && ok || bad "series accuracy $acc"
# predict reads no label: a file without the label column gives the same
# predictions, one row per window
cut -d, -f1-3 "$dir/series.csv" >"$dir/series_nolabel.csv"
"$recur" classify predict "$dir/series.safetensors" "$dir/series.csv" -o "$dir/series_pred.csv" \
  >"$dir/series_pred.log" 2>&1 &&
  "$recur" classify predict "$dir/series.safetensors" "$dir/series_nolabel.csv" \
    -o "$dir/series_pred2.csv" >>"$dir/series_pred.log" 2>&1 &&
  cmp -s "$dir/series_pred.csv" "$dir/series_pred2.csv" &&
  [[ $(wc -l <"$dir/series_pred.csv") -eq 1490 ]] && ok ||
  bad "series predict without a label column: $(tail -1 "$dir/series_pred.log")"
# The windows keep the training grid (1h): a file with every other hour
# missing from hour 100 to 598 (read alone, a 2h grid) gets its gaps filled as a
# file holding those hours, forward-filled, does
awk -v thin="$dir/thin.csv" -v filled="$dir/filled.csv" 'BEGIN {
  print "time,x,trend" >thin; print "time,x,trend" >filled
  for (i = 0; i < 600; i++) {
    row = sprintf("2024-01-%02d %02d:00,%.4f,%s", 1 + int(i / 24), i % 24, sin(i / 7.0), cos(i / 7.0) > 0 ? "up" : "down")
    if (i < 100 || i % 2 == 0 || i == 599) { print row >thin; print row >filled; last = substr(row, index(row, ",")) }
    else printf "2024-01-%02d %02d:00%s\n", 1 + int(i / 24), i % 24, last >filled } }'
"$recur" classify train "$dir/filled.csv" --time time --window 12 --inputs x --label trend --epochs 2 --hidden 8 \
  -o "$dir/hourly.safetensors" >"$dir/hourly.log" 2>&1 || bad "hourly series train: $(tail -2 "$dir/hourly.log")"
"$recur" classify eval "$dir/hourly.safetensors" "$dir/thin.csv" --label trend >"$dir/thin_eval.log" 2>&1
"$recur" classify eval "$dir/hourly.safetensors" "$dir/filled.csv" --label trend >"$dir/filled_eval.log" 2>&1
grep -q "^eval: 589 examples" "$dir/filled_eval.log" && cmp -s "$dir/thin_eval.log" "$dir/filled_eval.log" && ok ||
  bad "series eval on another grid: $(head -1 "$dir/thin_eval.log") vs $(head -1 "$dir/filled_eval.log")"

printf 'text,label\nhello,a\n' >"$dir/one.csv"
printf 'text,label\n"unclosed,a\n' >"$dir/broken.csv"
expect_error "missing text column" classify train "$dir/reviews.csv" --text nope --label label -o "$dir/x"
expect_error "missing label column" classify train "$dir/reviews.csv" --text review --label nope -o "$dir/x"
expect_error "one class" classify train "$dir/one.csv" --text text --label label -o "$dir/x"
expect_error "broken CSV" classify train "$dir/broken.csv" --text text --label label -o "$dir/x"
expect_error "no -o" classify train "$dir/reviews.csv" --text review --label label
expect_error "DATA.csv with --lines" classify train "$dir/reviews.csv" --text review --label label \
  --lines "$dir/pos.txt=pos,$dir/neg.txt=neg" -o "$dir/x"
expect_error "--idx-labels without --idx-images" classify train "$dir/reviews.csv" --text review --label label \
  --idx-labels "$dir/reviews.csv" -o "$dir/x"
expect_error "bad --lines" classify train --lines "$dir/pos.txt" -o "$dir/x"
expect_error "missing line file" classify train --lines "$dir/nope.txt=a,$dir/neg.txt=b" -o "$dir/x"
expect_error "bad IDX" classify train --idx-images "$dir/reviews.csv" --idx-labels "$dir/reviews.csv" -o "$dir/x"
# Regression (fuzzing): sizes whose product overflows to the data length
# (2^24 x 2^24 x 2^24 = 2^72, 256 mod 2^64) were accepted, then read past the end.
printf '\x00\x00\x08\x03\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00' >"$dir/overflow.idx"
head -c 256 /dev/zero >>"$dir/overflow.idx"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x00' >"$dir/one-label.idx"
expect_error "IDX sizes that overflow" classify train --idx-images "$dir/overflow.idx" \
  --idx-labels "$dir/one-label.idx" -o "$dir/x"
grep -q "sizes need more than the 256 data bytes" "$dir/stderr" && ok || bad "IDX overflow: $(cat "$dir/stderr")"
expect_error "eval with unknown labels" classify eval "$dir/model.safetensors" --lines "$dir/pos.txt=pos" 
expect_error "eval of a non-model" classify eval "$dir/reviews.csv" --lines "$dir/pos.txt=positive"
expect_error "unknown subcommand" classify fit
# Class names are kept one per line: a label with a line break is refused at
# training, and a model whose names do not fit its head at loading (they had
# been split into more classes, whose probabilities were never computed)
awk 'BEGIN { print "text,label"; for (i = 0; i < 40; i++) printf "%s %d,%s\n", i % 2 ? "good" : "bad", i, i % 2 ? "\"po\nsitive\"" : "negative" }' >"$dir/nl.csv"
expect_error "label with a line break" classify train "$dir/nl.csv" --text text --label label --epochs 1 -o "$dir/x"
if python3 - "$dir/model.safetensors" "$dir/three.safetensors" <<'PY' 2>/dev/null; then
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
header["__metadata__"]["recur.classify.classes"] = "negative\npo\nsitive\n"
text = json.dumps(header).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PY
  expect_error "class names that do not fit the head" classify predict "$dir/three.safetensors" \
    "$dir/reviews.csv" --text review -o "$dir/x.csv"
else
  echo "SKIP: a model with class names that do not fit its head (no python3 to write it)"
fi
# The auxiliary next-token head with a bidirectional stack: one layer trains
# (the head reads the forward direction only); with more layers the forward
# direction reads the reverse direction's outputs, which have seen the next
# token, so it is refused.
"$recur" "${args[@]}" --epochs 1 --bidirectional 1 --aux next-token -o "$dir/aux.safetensors" \
  >"$dir/aux.log" 2>&1 && grep -q "aux next-token loss" "$dir/aux.log" && ok ||
  bad "bidirectional --aux next-token: $(tail -2 "$dir/aux.log")"
expect_error "--aux next-token with a 2-layer bidirectional stack" "${args[@]}" --epochs 1 \
  --bidirectional 1 --layers 2 --aux next-token -o "$dir/x"
grep -q "needs --layers 1" "$dir/stderr" && ok || bad "aux refusal: $(cat "$dir/stderr")"
# Two classes with class weights (BCE, the weighted mean) train as usual
"$recur" "${args[@]}" --epochs 2 --class-weights balanced -o "$dir/weighted.safetensors" \
  >"$dir/weighted.log" 2>&1 && ok || bad "--class-weights balanced: $(tail -2 "$dir/weighted.log")"
# the series loader's errors name classify's flags (--inputs, --label), not
# recur forecast's roles (target, feature)
printf 't,x,name,trend\n' >"$dir/named.csv"
for i in $(seq 0 20); do echo "$i,$i.5,abc,up" >>"$dir/named.csv"; done
expect_error "a text --inputs column" classify train "$dir/named.csv" --window 3 --inputs name --label trend -o "$dir/x"
grep -q "'abc' is not a number (--inputs)$" "$dir/stderr" && ok || bad "text --inputs column: $(cat "$dir/stderr")"
expect_error "a missing --label column" classify train "$dir/named.csv" --window 3 --inputs x --label nope -o "$dir/x"
grep -q "no column named 'nope' (--label)$" "$dir/stderr" && ok || bad "missing --label column: $(cat "$dir/stderr")"
expect_error "an empty --inputs" classify train "$dir/named.csv" --window 3 --inputs "" --label trend -o "$dir/x"
grep -q "no --inputs column given" "$dir/stderr" && ok || bad "empty --inputs: $(cat "$dir/stderr")"
expect_error "series without --inputs" classify train "$dir/series.csv" --window 5 --label trend -o "$dir/x"
expect_error "series shorter than the window" classify train "$dir/series.csv" --window 5000 --inputs x --label trend -o "$dir/x"

finish test_classify_cli
