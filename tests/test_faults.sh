#!/usr/bin/env bash
# Faults while training: a full disk (a file-size limit), an output folder
# that cannot be written, a model larger than the machine's memory, and a
# diverging run (NaN/inf) stopped or its steps skipped: each a clear error,
# the previous checkpoint intact and loadable.
# usage: test_faults.sh RECUR_BINARY SCRATCH_DIR
recur=$1
dir=$2
source "$(dirname "$0")/lib.sh"
cat "$(dirname "$0")"/../README.md "$(dirname "$0")"/../docs/*.md >"$dir/text.txt"
args=(--text "$dir/text.txt" --hidden 32 --layers 1 --batch 8 --bptt 16 --eval-interval 10)
"$recur" train "${args[@]}" --steps 20 -o "$dir/m.safetensors" >/dev/null 2>&1 && ok || bad "first run failed"
cp "$dir/m.ckpt/last.safetensors" "$dir/before.safetensors"

# Disk full: past a 16 KiB file-size limit the checkpoint write fails (EFBIG).
(ulimit -f 16; "$recur" train "${args[@]}" --steps 40 -o "$dir/m.safetensors" \
   --resume "$dir/m.ckpt/last.safetensors" >/dev/null 2>"$dir/full.err")
rc=$?
[[ $rc -eq 2 && $(wc -l <"$dir/full.err") -eq 1 ]] && grep -q "File too large" "$dir/full.err" &&
  ok || bad "disk full: exit $rc: $(cat "$dir/full.err")"
cmp -s "$dir/before.safetensors" "$dir/m.ckpt/last.safetensors" && ok ||
  bad "disk full: the last checkpoint changed"
[[ -z $(find "$dir/m.ckpt" -name '*.tmp.*') ]] && ok || bad "disk full: temporary files left"
"$recur" generate "$dir/m.ckpt/last.safetensors" --prime " " --length 5 >/dev/null && ok ||
  bad "disk full: the last checkpoint does not load"

# metrics.csv goes through a uniquely named temporary file: a user's
# METRICS.tmp beside it is left alone.
echo mine >"$dir/user_metrics.csv.tmp"
"$recur" train "${args[@]}" --steps 10 -o "$dir/u.safetensors" --metrics "$dir/user_metrics.csv" >/dev/null 2>&1
[[ $(cat "$dir/user_metrics.csv.tmp") == mine && $(wc -l <"$dir/user_metrics.csv") -eq 2 ]] && ok ||
  bad "metrics.csv: an existing METRICS.tmp was overwritten, or no rows"

# eval with a --batch x --bptt far beyond the text: its buffers are sized by
# what a stream holds, not by --bptt (under a 4 GB address-space limit, where
# the build allows one: ASan's shadow memory does not fit). OpenBLAS on one
# thread: its workers, short of address space, spin at exit; and a timeout.
export OPENBLAS_NUM_THREADS=1
if (ulimit -v 4000000; timeout 60 "$recur" --version) >/dev/null 2>&1; then
  (ulimit -v 4000000; timeout 120 "$recur" eval "$dir/m.safetensors" --text "$dir/text.txt" \
     --batch 65536 --bptt 65536 >"$dir/eval.out" 2>"$dir/eval.err")
  # 65536 streams of floor(size / 65536) bytes, each predicting all but its first
  # (the text is the docs, whose size changes)
  [[ $? -eq 0 ]] &&
    grep -q " $((65536 * ($(wc -c <"$dir/text.txt") / 65536 - 1))) predictions" "$dir/eval.out" && ok ||
    bad "eval --batch 65536 --bptt 65536: $(cat "$dir/eval.err")"
fi
unset OPENBLAS_NUM_THREADS

# An output folder that cannot be written (read-only for a normal user; as
# root, whom permissions do not stop, a folder under /proc).
if [[ $(id -u) -ne 0 ]]; then
  mkdir -p "$dir/ro" && chmod 555 "$dir/ro"
  out=$dir/ro/m.safetensors
else
  out=/proc/recur-test/m.safetensors
fi
expect_error "unwritable output" train "${args[@]}" --steps 10 -o "$out" --checkpoint-dir "$dir/ck2"
[[ $(id -u) -ne 0 ]] && chmod 755 "$dir/ro"

# A model larger than the machine's memory: out of memory, exit 1, no crash.
"$recur" train "${args[@]}" --hidden 40000 --layers 4 --steps 1 -o "$dir/huge.safetensors" \
  >/dev/null 2>"$dir/huge.err"
rc=$?
[[ $rc -eq 1 ]] && grep -q "out of memory" "$dir/huge.err" && ok || bad "huge model: exit $rc: $(cat "$dir/huge.err")"

# Divergence without clipping: stopped with the step named (exit 1), or
# skipped step by step with --on-nan skip; the last good checkpoint loads.
"$recur" train "${args[@]}" --steps 40 --lr 100 --clip 0 --optimizer sgd --momentum 0.99 --cell rnn-relu -o "$dir/nan.safetensors" \
  >/dev/null 2>"$dir/nan.err"
rc=$?
[[ $rc -eq 1 ]] && grep -q "diverged at step [0-9]*" "$dir/nan.err" && ok || bad "divergence: exit $rc: $(cat "$dir/nan.err")"
"$recur" train "${args[@]}" --steps 40 --lr 100 --clip 0 --optimizer sgd --momentum 0.99 --cell rnn-relu --on-nan skip \
  -o "$dir/skip.safetensors" >/dev/null 2>"$dir/skip.err"
grep -q "warning: step [0-9]* skipped: the loss or gradient is" "$dir/skip.err" && ok ||
  bad "--on-nan skip: no step skipped: $(head -3 "$dir/skip.err")"
finish test_faults
