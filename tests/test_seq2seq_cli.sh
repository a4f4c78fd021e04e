#!/usr/bin/env bash
# recur seq2seq end to end: make-dates (seeded, reproducible), a short
# training run on a small generated set, eval with greedy and beam decoding,
# translate (greedy, beam, sampling, attention map), word tokens, and bad
# input answered with one line on stderr and exit status 2.
# usage: test_seq2seq_cli.sh RECUR_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 dir=$2
source "$(dirname "$0")/lib.sh"

# make-dates: N lines "source<TAB>YYYY-MM-DD", the same for the same seed
"$recur" seq2seq make-dates 1500 --seed 1 -o "$dir/train.tsv" >/dev/null || bad "make-dates failed"
"$recur" seq2seq make-dates 1500 --seed 1 -o "$dir/again.tsv" >/dev/null
"$recur" seq2seq make-dates 100 --seed 2 -o "$dir/test.tsv" >/dev/null
[[ $(wc -l <"$dir/train.tsv") -eq 1500 ]] && ok || bad "make-dates: $(wc -l <"$dir/train.tsv") lines"
cmp -s "$dir/train.tsv" "$dir/again.tsv" && ok || bad "make-dates: same seed, different file"
awk -F'\t' 'NF != 2 || $2 !~ /^(19[5-9][0-9]|20[0-4][0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/ { exit 1 }' \
  "$dir/train.tsv" && ok || bad "make-dates: a line is not 'source<TAB>ISO date'"
[[ $(cut -f1 "$dir/train.tsv" | sed 's/[0-9]\+/N/g' | sort -u | wc -l) -ge 12 ]] && ok \
  || bad "make-dates: too few formats"

# a short training run: the loss must fall; exact match is only loosely checked
args=(seq2seq train "$dir/train.tsv" --model gru --embed 16 --hidden 48 --epochs 4 --batch 32
      --lr 0.005 --val-fraction 0.1 --seed 2)
"$recur" "${args[@]}" -o "$dir/dates.safetensors" >"$dir/train.log" 2>&1 \
  || bad "train failed: $(tail -3 "$dir/train.log")"
grep -q "^1500 examples (1350 train, 150 validation), vocabularies" "$dir/train.log" && ok \
  || bad "split: $(head -1 "$dir/train.log")"
awk '/^epoch 1\// { first = $5 } /^epoch 4\// { last = $5 }
     END { exit !(first != "" && last != "" && last < 0.7 * first) }' "$dir/train.log" && ok \
  || bad "the training loss did not fall: $(grep ^epoch "$dir/train.log")"
"$recur" "${args[@]}" -o "$dir/dates2.safetensors" >/dev/null 2>&1
cmp -s "$dir/dates.safetensors" "$dir/dates2.safetensors" && ok || bad "same seed, different model"

for beam in 0 3; do
  "$recur" seq2seq eval "$dir/dates.safetensors" "$dir/test.tsv" --beam $beam >"$dir/eval$beam.log" 2>&1 \
    || bad "eval --beam $beam failed: $(cat "$dir/eval$beam.log")"
  grep -qE "^eval \((greedy|beam 3)\): 100 examples, exact match [0-9.]+, token accuracy [0-9.]+" \
    "$dir/eval$beam.log" && ok || bad "eval --beam $beam: $(cat "$dir/eval$beam.log")"
done
tok=$(grep -o 'token accuracy [0-9.]*' "$dir/eval0.log" | awk '{print $3}')
awk -v t="$tok" 'BEGIN { exit !(t != "" && t >= 0.5) }' && ok || bad "token accuracy $tok below 0.5"

# translate: one output line per input line, ISO-like shape from a trained model
printf 'Tue 3 Mar 1998\nMarch 3, 1998\n\n03/03/98\n' >"$dir/in.txt"
"$recur" seq2seq translate "$dir/dates.safetensors" --attention-map "$dir/map.png" \
  <"$dir/in.txt" >"$dir/out.txt" 2>"$dir/err.txt" || bad "translate failed: $(cat "$dir/err.txt")"
[[ $(wc -l <"$dir/out.txt") -eq 4 ]] && ok || bad "translate: $(wc -l <"$dir/out.txt") lines for 4"
[[ $(head -c 8 "$dir/map.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] && ok \
  || bad "the attention map is not a PNG"
"$recur" seq2seq translate "$dir/dates.safetensors" --beam 4 <"$dir/in.txt" >"$dir/beam.txt" 2>&1 \
  && [[ $(wc -l <"$dir/beam.txt") -eq 4 ]] && ok || bad "translate --beam: $(cat "$dir/beam.txt")"
for run in 1 2; do
  "$recur" seq2seq translate "$dir/dates.safetensors" --sample --temperature 0.7 --top-k 3 \
    --sample-seed 5 <"$dir/in.txt" >"$dir/sample$run.txt" 2>&1 || bad "translate --sample failed"
done
cmp -s "$dir/sample1.txt" "$dir/sample2.txt" && [[ $(wc -l <"$dir/sample1.txt") -eq 4 ]] && ok \
  || bad "sampling with a seed is not reproducible"
"$recur" seq2seq translate "$dir/dates.safetensors" --sample --top-k 1 <"$dir/in.txt" >"$dir/top1.txt" 2>&1
cmp -s "$dir/top1.txt" "$dir/out.txt" && ok || bad "--sample --top-k 1 differs from greedy"
"$recur" seq2seq translate "$dir/dates.safetensors" --max-len 3 <"$dir/in.txt" >"$dir/short.txt" 2>&1
awk 'length($0) > 3 { exit 1 }' "$dir/short.txt" && ok || bad "--max-len 3: $(cat "$dir/short.txt")"

# word tokens, LSTM, no attention, bidirectional: runs and round-trips
printf 'one two\tuno dos\nthree\ttres\ntwo one\tdos uno\nthree two\ttres dos\n' >"$dir/words.tsv"
"$recur" seq2seq train "$dir/words.tsv" --tokens word --model lstm --attention none --bidirectional 1 \
  --embed 8 --hidden 8 --epochs 2 --val-fraction 0 -o "$dir/words.safetensors" >"$dir/words.log" 2>&1 \
  && ok || bad "word model: $(tail -2 "$dir/words.log")"
printf 'one two\nfour\n' | "$recur" seq2seq translate "$dir/words.safetensors" --max-len 4 \
  >"$dir/words.out" 2>&1 && [[ $(wc -l <"$dir/words.out") -eq 2 ]] && ok \
  || bad "word translate: $(cat "$dir/words.out")"
"$recur" seq2seq eval "$dir/words.safetensors" "$dir/words.tsv" --beam 2 >/dev/null 2>&1 && ok \
  || bad "word eval"

# bad input: one line on stderr, exit status 2
expect_error() { # PATTERN ARGS... (stdin from /dev/null)
  local pattern=$1; shift
  "$recur" "$@" </dev/null >"$dir/out" 2>"$dir/err"
  local status=$?
  if [[ $status -eq 2 && $(wc -l <"$dir/err") -eq 1 ]] && grep -q -- "$pattern" "$dir/err"; then ok
  else bad "recur $*: status $status, stderr: $(cat "$dir/err")"; fi
}
printf 'no tab here\n' >"$dir/notab.tsv"
printf 'a\tb\n\nc d\n' >"$dir/notab3.tsv"
expect_error "cannot open" seq2seq train "$dir/missing.tsv" -o "$dir/x"
expect_error "notab.tsv:1: no tab" seq2seq train "$dir/notab.tsv" -o "$dir/x"
expect_error "notab3.tsv:3: no tab" seq2seq train "$dir/notab3.tsv" -o "$dir/x"
expect_error "-o MODEL is missing" seq2seq train "$dir/train.tsv"
expect_error "not one of" seq2seq train "$dir/train.tsv" --attention sideways -o "$dir/x"
expect_error "dot needs --bidirectional 0" seq2seq train "$dir/train.tsv" --attention dot \
  --bidirectional 1 -o "$dir/x"
expect_error "unknown option" seq2seq train "$dir/train.tsv" --frobnicate 1 -o "$dir/x"
expect_error "--hidden" seq2seq train "$dir/train.tsv" --hidden 0 -o "$dir/x"
expect_error "cannot open" seq2seq eval "$dir/missing.safetensors" "$dir/test.tsv"
expect_error "give MODEL and DATA.tsv" seq2seq eval "$dir/dates.safetensors"
expect_error "no tab" seq2seq eval "$dir/dates.safetensors" "$dir/notab.tsv"
expect_error "train.tsv: " seq2seq eval "$dir/train.tsv" "$dir/test.tsv"
expect_error "exclude each other" seq2seq translate "$dir/dates.safetensors" --sample --beam 2
expect_error "need --sample" seq2seq translate "$dir/dates.safetensors" --temperature 0.5
expect_error "--beam" seq2seq translate "$dir/dates.safetensors" --beam -1
expect_error "MODEL is missing" seq2seq translate
expect_error "N" seq2seq make-dates abc -o "$dir/x.tsv"
expect_error "-o FILE.tsv is missing" seq2seq make-dates 5
expect_error "unknown command" seq2seq frobnicate
cp "$dir/test.tsv" "$dir/same.tsv"
expect_error "the output is the input" seq2seq train "$dir/same.tsv" --epochs 1 -o "$dir/same.tsv"
cmp -s "$dir/test.tsv" "$dir/same.tsv" && ok || bad "seq2seq train -o over its data replaced it"
# outputs go through a uniquely named temporary file: a user's OUT.tmp is not
# overwritten (make-dates, the attention map)
echo mine >"$dir/kept.tsv.tmp" && echo mine >"$dir/kept.png.tmp"
"$recur" seq2seq make-dates 5 -o "$dir/kept.tsv" >/dev/null
echo "3 March 1998" | "$recur" seq2seq translate "$dir/dates.safetensors" --attention-map "$dir/kept.png" >/dev/null
[[ $(cat "$dir/kept.tsv.tmp") == mine && $(cat "$dir/kept.png.tmp") == mine && -s "$dir/kept.png" &&
   $(wc -l <"$dir/kept.tsv") -eq 5 ]] && ok || bad "an existing OUT.tmp file was overwritten"
# out of memory (a 30 MB source line under a 300 MB address-space limit, where
# the build allows one: not under ASan): one line that says so, exit 1.
# OpenBLAS on one thread (its workers, short of address space, spin at exit)
# and a timeout.
if (export OPENBLAS_NUM_THREADS=1; ulimit -v 300000; timeout 60 "$recur" --version) >/dev/null 2>&1; then
  { head -c 30000000 /dev/zero | tr '\0' 1; echo; } >"$dir/huge_line.txt"
  (export OPENBLAS_NUM_THREADS=1; ulimit -v 300000
   timeout 120 "$recur" seq2seq translate "$dir/dates.safetensors" <"$dir/huge_line.txt" \
     >/dev/null 2>"$dir/nomem.err")
  [[ $? -eq 1 && $(wc -l <"$dir/nomem.err") -eq 1 ]] && grep -q "^recur: error: .*out of memory" "$dir/nomem.err" &&
    ok || bad "out of memory: $(cat "$dir/nomem.err")"
  rm -f "$dir/huge_line.txt"
fi
cp "$dir/dates.safetensors" "$dir/same.safetensors"
echo "3 March 1998" | "$recur" seq2seq translate "$dir/same.safetensors" --attention-map "$dir/same.safetensors" \
  >/dev/null 2>"$dir/same.err"
[[ $? -eq 2 && $(wc -l <"$dir/same.err") -eq 1 ]] && cmp -s "$dir/dates.safetensors" "$dir/same.safetensors" &&
  ok || bad "translate --attention-map over its model: $(cat "$dir/same.err")"

finish test_seq2seq_cli
