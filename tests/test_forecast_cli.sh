#!/usr/bin/env bash
# recur forecast end to end on a small generated CSV file with what real files
# have: quoted fields, NA and empty cells, uneven and out-of-order timestamps,
# a categorical column. Checks the report, the model beating the naive
# baselines on a learnable series, the files written, predict, and that bad
# input gives one line on stderr and exit status 2.
# usage: test_forecast_cli.sh RECUR_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 dir=$2
source "$(dirname "$0")/lib.sh"

# Hourly series: a daily cycle plus a slow wave, a weather column that leads
# it, a categorical "wind" column; a few NA/empty values, one row out of order,
# two readings inside one hour (averaged) and a missing hour (filled).
awk 'BEGIN {
  print "\"time\",\"load\",\"temp\",\"wind\"";
  for (i = 0; i < 1200; i++) {
    if (i == 500) continue;                              # a missing hour
    d = int(i / 24); h = i % 24;
    t = sprintf("2024-%02d-%02d %02d:00", d < 31 ? 1 : 2, d < 31 ? d + 1 : d - 30, h);
    temp = 10 + 5 * sin(2 * 3.14159265 * (i + 3) / 24);
    load = 100 + 20 * sin(2 * 3.14159265 * i / 24) + 10 * sin(2 * 3.14159265 * i / 300);
    wind = (int(i / 7) % 3 == 0) ? "\"N, strong\"" : ((int(i / 7) % 3 == 1) ? "S" : "E");
    if (i % 97 == 5) load = "NA";
    if (i % 131 == 7) temp = "";
    if (i == 300) { held = sprintf("%s,%s,%s,%s", "\"" t "\"", load, temp, wind); continue; }
    print "\"" t "\"," load "," temp "," wind;
    if (i == 302) print held;                            # out of order
    if (i == 400) { t2 = sprintf("2024-01-%02d %02d:30", d + 1, h); print "\"" t2 "\"," load "," temp "," wind; }
  }
}' >"$dir/data.csv"

args=(forecast train "$dir/data.csv" --target load --time time --lookback 24 --horizon 3
      --holdout 200 --epochs 15 --hidden 24 --seed 2)
"$recur" "${args[@]}" -o "$dir/model" --predictions "$dir/pred.csv" >"$dir/train.log" 2>&1 \
  || bad "forecast train failed: $(tail -3 "$dir/train.log")"
grep -q "1200 steps of 1h" "$dir/train.log" && ok || bad "grid: $(head -1 "$dir/train.log")"
grep -q "1 empty slots in 1 gaps" "$dir/train.log" && ok || bad "the missing hour is not reported"
grep -q "1 rows out of order, 1 sharing a slot" "$dir/train.log" && ok || bad "order/duplicates not reported"
grep -Eq "load +13 missing cells" "$dir/train.log" && ok || bad "NA count of load: $(grep load "$dir/train.log")"
grep -q "season 24 (detected)" "$dir/train.log" && ok || bad "daily season not detected"
for f in model.safetensors metrics.csv evaluation.csv; do
  [[ -s "$dir/model/$f" ]] && ok || bad "$f missing"
done
# the model beats both baselines overall (MASE, from evaluation.csv)
awk -F, '$3 == "all" { m[$2] = $7 } END { exit !(m["model"] < m["naive"] && m["model"] < m["seasonal"]) }' \
  "$dir/model/evaluation.csv" && ok || bad "model does not beat the baselines: $(grep ',all,' "$dir/model/evaluation.csv")"
# predictions: one row per origin and step, targets after their origin's inputs
[[ $(head -1 "$dir/pred.csv") == "time,step,actual,forecast" ]] && ok || bad "predictions header"
origins=$(grep -c ',all,' "$dir/model/evaluation.csv")
rows=$(($(wc -l <"$dir/pred.csv") - 1))
[[ $rows -eq $(( (200 - 3 + 1) * 3 )) ]] && ok || bad "predictions have $rows rows"
awk -F, 'NR > 1 && $2 == 1 { n++ } END { exit !(n == 198) }' "$dir/pred.csv" && ok || bad "step-1 rows"
awk -F, 'NR > 1 && $3 == "" { blank++ } END { exit !(blank > 0) }' "$dir/pred.csv" && ok \
  || bad "imputed actuals should be left out (empty) in the predictions"

# --device cuda (the stack on the GPU, --decoder direct only). Without a GPU:
# one line, exit 2. With one (bench/gpu_check.sh): metrics.csv's losses within
# a relative 1e-4 of the CPU run.
"$recur" "${args[@]}" --device cuda -o "$dir/gpu" >"$dir/gpu.log" 2>"$dir/gpu.err"
rc=$?
if no_gpu "$dir/gpu.err"; then
  [[ $rc -eq 2 && $(wc -l <"$dir/gpu.err") -eq 1 ]] && ok || bad "train --device cuda without a GPU: exit $rc, $(cat "$dir/gpu.err")"
else
  [[ $rc -eq 0 ]] && ok || bad "train --device cuda: exit $rc, $(tail -2 "$dir/gpu.err")"
  same_losses "forecast train, CPU vs GPU" "$dir/model/metrics.csv" "$dir/gpu/metrics.csv" \
    $(($(wc -l <"$dir/model/metrics.csv") - 1)) 2 3
fi
expect_error "seq2seq decoder on the GPU" "${args[@]}" --decoder seq2seq --device cuda -o "$dir/x"

"$recur" forecast predict "$dir/model" "$dir/data.csv" -o "$dir/next.csv" >/dev/null 2>&1 && ok || bad "predict failed"
[[ $(head -1 "$dir/next.csv") == "time,load" && $(wc -l <"$dir/next.csv") -eq 4 ]] && ok || bad "next.csv: $(cat "$dir/next.csv")"
grep -q '^2024-02-20 00:00,' "$dir/next.csv" && ok || bad "first forecast time: $(sed -n 2p "$dir/next.csv")"
# plot: the holdout file and a PNG from it
[[ $(head -1 "$dir/model/holdout.csv") == "step,time,actual,model,naive,seasonal" ]] && ok || bad "holdout.csv header"
"$recur" forecast plot "$dir/model" -o "$dir/holdout.png" >/dev/null 2>&1 && [[ $(od -An -tx1 -N4 "$dir/holdout.png" | tr -d ' ') == 89504e47 ]] \
  && ok || bad "forecast plot"
# tune: a table of hidden x lookback and the best pair
"$recur" forecast tune "$dir/data.csv" --target load --time time --horizon 3 --holdout 200 --epochs 3 \
  --hidden-grid 8,16 --lookback-grid 12,24 --folds 2 >"$dir/tune.log" 2>&1 || bad "tune failed: $(tail -2 "$dir/tune.log")"
[[ $(grep -cE '^ +(8|16) +(12|24) +[0-9.]+$' "$dir/tune.log") -eq 4 ]] && grep -q '^best: --hidden' "$dir/tune.log" \
  && ok || bad "tune table: $(cat "$dir/tune.log")"
# the same seed gives the same model
"$recur" "${args[@]}" -o "$dir/model2" >/dev/null 2>&1
cmp -s "$dir/model/model.safetensors" "$dir/model2/model.safetensors" && ok || bad "same seed, different model"

# the seq2seq decoder: trains, beats the naive forecast, saves and predicts
"$recur" "${args[@]}" --decoder seq2seq -o "$dir/model_s2s" >"$dir/s2s.log" 2>&1 \
  || bad "forecast train --decoder seq2seq failed: $(tail -3 "$dir/s2s.log")"
awk -F, '$3 == "all" { m[$2] = $7 } END { exit !(m["model"] < m["naive"]) }' \
  "$dir/model_s2s/evaluation.csv" && ok || bad "seq2seq does not beat naive: $(grep ',all,' "$dir/model_s2s/evaluation.csv")"
"$recur" forecast predict "$dir/model_s2s" "$dir/data.csv" -o "$dir/next_s2s.csv" >/dev/null 2>&1 \
  && [[ $(wc -l <"$dir/next_s2s.csv") -eq 4 ]] && ok || bad "seq2seq predict: $(cat "$dir/next_s2s.csv" 2>&1)"
expect_error "unknown --decoder" forecast train "$dir/data.csv" --target load --time time --decoder magic

# predict reads new data as training read its own: predict on the rows before
# a holdout origin (with gaps in its window, filled with the training part's
# means) gives the forecast that train wrote for that origin, for non-default
# data and model options and both decoders
awk 'BEGIN { print "t,y,x"; for (i = 0; i < 400; i++) {
  y = (i % 17 == 5 || i == 397) ? "NA" : sprintf("%.4f", sin(i / 5.0) + 0.01 * i)
  printf "%d,%s,%.4f\n", i, y, cos(i / 9.0) } }' >"$dir/gaps.csv"
head -399 "$dir/gaps.csv" >"$dir/gaps_to_398.csv"   # rows 0..397: origin 398
for decoder in direct seq2seq; do
  "$recur" forecast train "$dir/gaps.csv" --target y --fill mean --scale minmax --missing-mask 2 \
    --predict level --model gru --layers 2 --lookback 8 --horizon 2 --holdout 40 --epochs 2 \
    --hidden 8 --decoder $decoder -o "$dir/gaps_$decoder" --predictions "$dir/gaps_pred.csv" \
    >"$dir/gaps.log" 2>&1 || bad "train on gaps ($decoder): $(tail -1 "$dir/gaps.log")"
  "$recur" forecast predict "$dir/gaps_$decoder" "$dir/gaps_to_398.csv" -o "$dir/gaps_next.csv" >/dev/null 2>&1 \
    || bad "predict on gaps ($decoder) failed"
  want=$(awk -F, '$1 ~ /00:06:38$/ && $2 == 1 || $1 ~ /00:06:39$/ && $2 == 2 { print $4 }' "$dir/gaps_pred.csv" | tr '\n' ' ')
  got=$(tail -n +2 "$dir/gaps_next.csv" | cut -d, -f2 | tr '\n' ' ')
  same_numbers "$want" "$got" && ok || bad "predict ($decoder) gives $got, train forecast $want for the same origin"
done

# the same with the default --fill linear and a gap just before the origin
# (rows 395..397 missing, the next value at the origin 398): the holdout
# forecast must not read the interpolation toward the value at its origin,
# it holds the last value as predict does at the end of its data
awk 'BEGIN { print "t,y,x"; for (i = 0; i < 400; i++) {
  y = (i % 17 == 5 || (i >= 395 && i <= 397)) ? "NA" : sprintf("%.4f", sin(i / 5.0) + 0.01 * i)
  printf "%d,%s,%.4f\n", i, y, cos(i / 9.0) } }' >"$dir/lgaps.csv"
head -399 "$dir/lgaps.csv" >"$dir/lgaps_to_398.csv"
for decoder in direct seq2seq; do
  "$recur" forecast train "$dir/lgaps.csv" --target y --lookback 8 --horizon 2 --holdout 40 \
    --epochs 2 --hidden 8 --decoder $decoder -o "$dir/lgaps_$decoder" \
    --predictions "$dir/lgaps_pred.csv" >"$dir/lgaps.log" 2>&1 \
    || bad "train on gaps, linear fill ($decoder): $(tail -1 "$dir/lgaps.log")"
  "$recur" forecast predict "$dir/lgaps_$decoder" "$dir/lgaps_to_398.csv" -o "$dir/lgaps_next.csv" \
    >/dev/null 2>&1 || bad "predict on gaps, linear fill ($decoder) failed"
  want=$(awk -F, '$1 ~ /00:06:38$/ && $2 == 1 || $1 ~ /00:06:39$/ && $2 == 2 { print $4 }' "$dir/lgaps_pred.csv" | tr '\n' ' ')
  got=$(tail -n +2 "$dir/lgaps_next.csv" | cut -d, -f2 | tr '\n' ' ')
  same_numbers "$want" "$got" && ok \
    || bad "linear fill: predict ($decoder) gives $got, train forecast $want for the same origin"
done
# and so does the naive baseline: at origin 398 it is the value of row 394
naive=$(awk -F, '$1 == 398 { print $5 }' "$dir/lgaps_seq2seq/holdout.csv")
last=$(awk -F, '$1 == 394 { print $3 }' "$dir/lgaps_seq2seq/holdout.csv")
[[ -n $naive && $naive == "$last" ]] && ok \
  || bad "linear fill: the naive forecast at origin 398 is $naive, the last value before it $last"

# what is fit on the training part reads nothing after it: with no validation
# part, a gap at the end of the training part before a spike of 100 at the
# first holdout row leaves the minmax scaler of y at the training values' range (2)
awk 'BEGIN { print "t,y,x"; for (i = 0; i < 400; i++) {
  y = (i >= 356 && i <= 359) ? "NA" : (i == 360 ? "100" : sprintf("%.4f", sin(i / 5.0)))
  printf "%d,%s,%.4f\n", i, y, cos(i / 9.0) } }' >"$dir/spike.csv"
"$recur" forecast train "$dir/spike.csv" --target y --scale minmax --val-fraction 0 --holdout 40 \
  --lookback 8 --horizon 2 --epochs 1 --hidden 4 -o "$dir/spike" >"$dir/spike.log" 2>&1 \
  || bad "train on the spike: $(tail -1 "$dir/spike.log")"
if command -v python3 >/dev/null; then
  python3 - "$dir/spike/model.safetensors" <<'PY' && ok || bad "the scaler read the holdout through the linear fill"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
s, t = h["scaler.scale"]["data_offsets"]
scale = struct.unpack("<%df" % ((t - s) // 4), b[8 + n + s:8 + n + t])
assert h["__metadata__"]["recur.forecast.channels"].split("\n")[0] == "y"
assert abs(scale[0] - 2.0) < 1e-3, scale
PY
else
  echo "SKIP: the scaler's range (no python3 to read the model file)"
fi

printf 'time,x\n2024-01-01,1\n2024-13-02,2\n2024-01-03,3\n' >"$dir/badtime.csv"
printf 'time,x\n2024-01-01,NA\n2024-01-02,NA\n' >"$dir/nonumbers.csv"
printf 'time,x\n2024-01-01,1\n2024-01-02,2,3\n' >"$dir/fields.csv"
expect_error "missing target column" forecast train "$dir/data.csv" --target nope --time time
grep -q "no column named 'nope' (target)" "$dir/stderr" && ok || bad "missing target column: $(cat "$dir/stderr")"
expect_error "unparsable timestamp" forecast train "$dir/badtime.csv" --target x --time time
expect_error "no numeric rows" forecast train "$dir/nonumbers.csv" --target x --time time
expect_error "wrong field count" forecast train "$dir/fields.csv" --target x --time time
expect_error "holdout longer than the data" forecast train "$dir/data.csv" --target load --time time --holdout 5000
expect_error "missing file" forecast train "$dir/nope.csv" --target x
expect_error "no --target" forecast train "$dir/data.csv"
expect_error "bad --freq" forecast train "$dir/data.csv" --target load --time time --freq 3m
expect_error "bad --fill" forecast train "$dir/data.csv" --target load --time time --fill magic
expect_error "unknown subcommand" forecast fit
expect_error "plot without a model" forecast plot "$dir/nope" -o "$dir/x.png"
expect_error "predict without a model" forecast predict "$dir/nope" "$dir/data.csv" -o "$dir/x.csv"
expect_error "predict with other columns" forecast predict "$dir/model" "$dir/badtime.csv" -o "$dir/x.csv"
echo mine >"$dir/next.csv.tmp"
"$recur" forecast predict "$dir/model" "$dir/data.csv" -o "$dir/next.csv" >/dev/null
[[ $(cat "$dir/next.csv.tmp") == mine && $(wc -l <"$dir/next.csv") -eq 4 ]] && ok ||
  bad "predict: an existing OUT.tmp was overwritten, or no forecast"
# a run that fails on a full disk (a 8 KiB file-size limit) leaves an
# earlier --predictions file whole
echo precious >"$dir/keep.csv"
(trap '' XFSZ; ulimit -f 8; "$recur" forecast train "$dir/data.csv" --target load --time time --holdout 200 \
   --epochs 1 --hidden 4 --predictions "$dir/keep.csv" -o "$dir/full" >/dev/null 2>"$dir/full.err")
[[ $? -eq 2 && $(wc -l <"$dir/full.err") -eq 1 && $(cat "$dir/keep.csv") == precious ]] &&
  grep -q "File too large" "$dir/full.err" && ok || bad "full disk: $(cat "$dir/full.err"), --predictions file: $(head -c 80 "$dir/keep.csv")"
expect_error "empty --hidden-grid" forecast tune "$dir/data.csv" --target load --time time --hidden-grid ""
# a grid holds 1 to 16 values: a 17th or a trailing comma is refused (they
# were dropped: the 17th silently, "4," tuned 4 alone)
expect_error "17 --hidden-grid values" forecast tune "$dir/data.csv" --target load --time time \
  --epochs 1 --folds 1 --lookback-grid 12 --hidden-grid "$(seq -s, 1 17)"
grep -q "more than 16 values" "$dir/stderr" && ok || bad "17 grid values: $(cat "$dir/stderr")"
expect_error "--lookback-grid with a trailing comma" forecast tune "$dir/data.csv" --target load \
  --time time --epochs 1 --folds 1 --hidden-grid 4 --lookback-grid "12,"
expect_error "empty -o" forecast predict "$dir/model" "$dir/data.csv" -o ""
cp "$dir/data.csv" "$dir/same.csv"
expect_error "predict -o = DATA" forecast predict "$dir/model" "$dir/same.csv" -o "$dir/same.csv"
expect_error "train --predictions = DATA" forecast train "$dir/same.csv" --target load --time time --predictions "$dir/same.csv" -o "$dir/m2"
cmp -s "$dir/data.csv" "$dir/same.csv" && ok || bad "an output replaced the data file"

finish test_forecast_cli
