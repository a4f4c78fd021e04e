#!/usr/bin/env bash
# The command-line contract: help and version, a good run, and bad input of
# every kind giving one line on stderr, exit status 2, and no output file.
# usage: test_cli.sh RECUR_BINARY DEMO_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 demo=$2 dir=$3
source "$(dirname "$0")/lib.sh"

# expect_error NAME ARGS...: exit 2, exactly one stderr line starting "recur: error:".

# write_st FILE JSON DATA_BYTES: a safetensors file with the given header and zero data.
write_st() {
  local file=$1 json=$2 nbytes=$3 len=${#2} hex="" i
  for ((i = 0; i < 8; i++)); do hex+=$(printf '\\x%02x' $(((len >> (8 * i)) & 255))); done
  { printf "$hex"; printf '%s' "$json"; head -c "$nbytes" /dev/zero; } >"$file"
}

# --- help, version, usage ---
"$recur" --help >"$dir/out" 2>&1 && grep -q "usage: recur" "$dir/out" && ok || bad "--help"
"$recur" run --help >"$dir/out" 2>&1 && grep -q -- "--grad-output" "$dir/out" && ok || bad "run --help"
[[ "$("$recur" --version)" == "recur "* ]] && ok || bad "--version"
"$recur" >/dev/null 2>&1; [[ $? -eq 2 ]] && ok || bad "no arguments should exit 2"
expect_error "unknown command" frobnicate

# --- a good run on files made by the library ---
"$demo" "$dir" >/dev/null || bad "demo failed"
model=$dir/model.safetensors input=$dir/in.safetensors
"$recur" run "$model" --input "$input" --output "$dir/good.safetensors" 2>"$dir/stderr" \
  && [[ -s "$dir/good.safetensors" && ! -s "$dir/stderr" ]] && ok || bad "good run"
ls "$dir" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok

# --- bad flags and arguments ---
expect_error "missing model" run --input "$input" --output "$dir/o.safetensors"
expect_error "missing --input" run "$model" --output "$dir/o.safetensors"
expect_error "missing --output" run "$model" --input "$input"
expect_error "unknown flag" run "$model" --input "$input" --output "$dir/o.safetensors" --fast
expect_error "flag without value" run "$model" --input "$input" --output
expect_error "extra argument" run "$model" extra --input "$input" --output "$dir/o.safetensors"

# --- unreadable, malformed and hostile files ---
expect_error "missing file" run "$dir/nope.safetensors" --input "$input" --output "$dir/o.safetensors"
expect_error "directory as model" run "$dir" --input "$input" --output "$dir/o.safetensors"
head -c 5 "$model" >"$dir/short.safetensors"
expect_error "5-byte file" run "$dir/short.safetensors" --input "$input" --output "$dir/o.safetensors"
head -c 300 "$model" >"$dir/truncated.safetensors"
expect_error "truncated model" run "$dir/truncated.safetensors" --input "$input" --output "$dir/o.safetensors"
printf '\xff\xff\xff\xff\xff\xff\xff\xff{}' >"$dir/huge.safetensors"
expect_error "huge header length" run "$dir/huge.safetensors" --input "$input" --output "$dir/o.safetensors"
write_st "$dir/garbage.safetensors" 'not json at all' 0
expect_error "not JSON" run "$dir/garbage.safetensors" --input "$input" --output "$dir/o.safetensors"
write_st "$dir/range.safetensors" '{"input":{"dtype":"F32","shape":[2,1,8],"data_offsets":[0,640]}}' 64
expect_error "offsets out of range" run "$model" --input "$dir/range.safetensors" --output "$dir/o.safetensors"
write_st "$dir/overlap.safetensors" '{"input":{"dtype":"F32","shape":[2,1,8],"data_offsets":[0,64]},"h0":{"dtype":"F32","shape":[4,1,4],"data_offsets":[0,64]}}' 64
expect_error "overlapping tensors" run "$model" --input "$dir/overlap.safetensors" --output "$dir/o.safetensors"
write_st "$dir/nometa.safetensors" '{"weight_ih_l0":{"dtype":"F32","shape":[4,2],"data_offsets":[0,32]}}' 32
expect_error "model without recur.module" run "$dir/nometa.safetensors" --input "$input" --output "$dir/o.safetensors"

# --- shapes, dtypes, names ---
write_st "$dir/wrong_i.safetensors" '{"input":{"dtype":"F32","shape":[2,1,5],"data_offsets":[0,40]}}' 40
expect_error "wrong input size" run "$model" --input "$dir/wrong_i.safetensors" --output "$dir/o.safetensors"
write_st "$dir/rank2.safetensors" '{"input":{"dtype":"F32","shape":[2,8],"data_offsets":[0,64]}}' 64
expect_error "2-D input" run "$model" --input "$dir/rank2.safetensors" --output "$dir/o.safetensors"
write_st "$dir/int_input.safetensors" '{"input":{"dtype":"I32","shape":[2,1,8],"data_offsets":[0,64]}}' 64
expect_error "integer input" run "$model" --input "$dir/int_input.safetensors" --output "$dir/o.safetensors"
write_st "$dir/no_input.safetensors" '{"x":{"dtype":"F32","shape":[2,1,8],"data_offsets":[0,64]}}' 64
expect_error "no input tensor" run "$model" --input "$dir/no_input.safetensors" --output "$dir/o.safetensors"
write_st "$dir/bad_h0.safetensors" '{"input":{"dtype":"F32","shape":[2,1,8],"data_offsets":[0,64]},"h0":{"dtype":"F32","shape":[1,1,16],"data_offsets":[64,128]}}' 128
expect_error "h0 of the wrong shape" run "$model" --input "$dir/bad_h0.safetensors" --output "$dir/o.safetensors"
write_st "$dir/zero_len.safetensors" '{"input":{"dtype":"F32","shape":[2,1,8],"data_offsets":[0,64]},"lengths":{"dtype":"I64","shape":[1],"data_offsets":[64,72]}}' 72
expect_error "length 0" run "$model" --input "$dir/zero_len.safetensors" --output "$dir/o.safetensors"
write_st "$dir/float_len.safetensors" '{"input":{"dtype":"F32","shape":[2,1,8],"data_offsets":[0,64]},"lengths":{"dtype":"F32","shape":[1],"data_offsets":[64,68]}}' 68
expect_error "float lengths" run "$model" --input "$dir/float_len.safetensors" --output "$dir/o.safetensors"
write_st "$dir/empty_t.safetensors" '{"input":{"dtype":"F32","shape":[0,1,8],"data_offsets":[0,0]}}' 0
expect_error "zero steps" run "$model" --input "$dir/empty_t.safetensors" --output "$dir/o.safetensors"
write_st "$dir/bad_go.safetensors" '{"grad_output":{"dtype":"F32","shape":[1,1,1],"data_offsets":[0,4]}}' 4
expect_error "grad_output of the wrong shape" run "$model" --input "$input" --output "$dir/o.safetensors" --grad-output "$dir/bad_go.safetensors"
[[ ! -e "$dir/o.safetensors" ]] && ok || bad "an output file was written despite errors"

# --- the output is never half-written or lost ---
echo precious >"$dir/keep.safetensors"
expect_error "bad input keeps old output" run "$model" --input "$dir/wrong_i.safetensors" --output "$dir/keep.safetensors"
[[ "$(cat "$dir/keep.safetensors")" == precious ]] && ok || bad "existing output was overwritten"
expect_error "empty output name" run "$model" --input "$input" --output ""
expect_error "empty output name" export "$model" -o ""
expect_error "output in a missing directory" run "$model" --input "$input" --output "$dir/no/such/dir/o.safetensors"

# --- recur import: Keras weights (a GRU, input 8 as the demo's batch, hidden 5) ---
keras='{"gru/kernel:0":{"dtype":"F32","shape":[8,15],"data_offsets":[0,480]},'
keras+='"gru/recurrent_kernel:0":{"dtype":"F32","shape":[5,15],"data_offsets":[480,780]},'
keras+='"gru/bias:0":{"dtype":"F32","shape":[2,15],"data_offsets":[780,900]}}'
write_st "$dir/keras_gru.safetensors" "$keras" 900
"$recur" import "$dir/keras_gru.safetensors" --cell gru -o "$dir/imported.safetensors" >"$dir/out" 2>&1 &&
  grep -q "imported GRU: 1 layer, input 8, hidden 5 -> " "$dir/out" &&
  "$recur" run "$dir/imported.safetensors" --input "$input" --output "$dir/imported_out.safetensors" &&
  [[ -s $dir/imported_out.safetensors ]] && ok || bad "import then run: $(cat "$dir/out")"
expect_error "import without --cell" import "$dir/keras_gru.safetensors" -o "$dir/i.safetensors"
expect_error "import --cell rnn" import "$dir/keras_gru.safetensors" --cell rnn -o "$dir/i.safetensors"
expect_error "import --reset-after 2" import "$dir/keras_gru.safetensors" --cell gru --reset-after 2 \
  -o "$dir/i.safetensors"
expect_error "import without -o" import "$dir/keras_gru.safetensors" --cell gru
expect_error "import, unknown flag" import "$dir/keras_gru.safetensors" --cell gru --fast -o "$dir/i.safetensors"
expect_error "import as an LSTM" import "$dir/keras_gru.safetensors" --cell lstm -o "$dir/i.safetensors"
[[ ! -e $dir/i.safetensors ]] && ok || bad "a failed import wrote its output"

# --- an output that is one of the inputs is refused, the input kept ---
# (another spelling and a hard link name the same file)
cp "$input" "$dir/in_copy.safetensors" && ln -f "$model" "$dir/model_link.safetensors"
expect_error "output = input" run "$model" --input "$dir/in_copy.safetensors" --output "$dir/./in_copy.safetensors"
expect_error "output = model (hard link)" run "$model" --input "$input" --output "$dir/model_link.safetensors"
expect_error "export over its model" export "$dir/model_link.safetensors" -o "$model"
expect_error "import over its weights" import "$dir/in_copy.safetensors" --cell lstm -o "$dir/in_copy.safetensors"
cmp -s "$input" "$dir/in_copy.safetensors" && cmp -s "$model" "$dir/model_link.safetensors" && ok ||
  bad "an input was overwritten by the output"

# --- what a command prints must arrive: a full device on stdout is an error ---
if [[ -w /dev/full ]]; then
  "$recur" run --help >/dev/full 2>"$dir/stderr"
  [[ $? -eq 2 && $(wc -l <"$dir/stderr") -eq 1 ]] && grep -q "cannot write the output" "$dir/stderr" && ok ||
    bad "stdout on /dev/full: $(cat "$dir/stderr")"
  "$recur" export "$model" -o "$dir/m.onnx" >/dev/full 2>"$dir/stderr"
  [[ $? -eq 2 && $(wc -l <"$dir/stderr") -eq 1 ]] && ok || bad "export's report on /dev/full: $(cat "$dir/stderr")"
fi

finish test_cli
