#!/usr/bin/env bash
# recur bench: a short run of one suite case gives the table and JSON that
# parses with the expected fields, a shape of one's own works, and bad flags
# give one line on stderr and exit status 2. No timing is checked.
# usage: test_bench.sh RECUR_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 dir=$2
source "$(dirname "$0")/lib.sh"

# expect_error NAME ARGS...: exit 2, exactly one stderr line starting "recur: error:".
expect_error() {
  local name=$1; shift
  "$recur" bench "$@" >"$dir/stdout" 2>"$dir/stderr"
  local rc=$?
  local lines; lines=$(wc -l <"$dir/stderr")
  if [[ $rc -eq 2 && $lines -eq 1 ]] && grep -q '^recur: error: ' "$dir/stderr"; then ok
  else bad "$name: exit $rc, $lines stderr lines: $(head -c 300 "$dir/stderr")"; fi
}

# check_json NAME FILE CASE: the JSON parses and has the run's fields (python3
# when present, else grep for the keys).
check_json() {
  local name=$1 file=$2 case=$3
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$file" "$case" <<'EOF' && ok || bad "$name: JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["sgemm_peak"]["gflops"] > 0, d["sgemm_peak"]
assert isinstance(d["threads"], int)
assert [c["name"] for c in d["cases"]] == [sys.argv[2]], d["cases"]
for p in ("forward", "train"):
    t = d["cases"][0][p]
    for k in ("ms_median", "ms_p10", "ms_p90", "spread", "reps", "tokens_per_s", "gflops",
              "peak_fraction"):
        assert k in t, (p, k)
    assert t["ms_median"] > 0 and t["reps"] >= 5 and t["warmup"] >= 3, t
    assert t["ms_p10"] <= t["ms_median"] <= t["ms_p90"], t
EOF
  else
    local k
    for k in '"sgemm_peak"' '"threads"' "\"$case\"" '"forward"' '"train"' '"ms_median"' \
             '"spread"' '"tokens_per_s"' '"gflops"' '"peak_fraction"'; do
      grep -q -- "$k" "$file" || { bad "$name: $k missing from the JSON"; return; }
    done
    ok
  fi
}

# --- help ---
"$recur" bench --help >"$dir/out" 2>&1 && grep -q -- "--seconds" "$dir/out" && ok || bad "bench --help"
"$recur" --help | grep -q "bench" && ok || bad "bench missing from recur --help"

# --- one suite case, JSON on stdout, the table on stderr ---
if "$recur" bench --cases lstm-h128-b1-t100 --seconds 0.05 --json >"$dir/run.json" 2>"$dir/table"; then
  ok
  check_json "--json to stdout" "$dir/run.json" lstm-h128-b1-t100
  grep -q '^sgemm peak .* GFLOP/s' "$dir/table" && grep -q '^lstm-h128-b1-t100 *forward' "$dir/table" \
    && grep -q ' train ' "$dir/table" && ok || bad "table on stderr: $(head -c 300 "$dir/table")"
else
  bad "bench --cases lstm-h128-b1-t100 --json: $(head -c 300 "$dir/table")"
fi

# --- a shape of one's own, one thread, JSON to a file, the table on stdout ---
if "$recur" bench --cell gru --hidden 8 --input 5 --batch 2 --seq 3 --layers 2 --threads 1 \
     --seconds 0.01 --json "$dir/gru.json" >"$dir/table" 2>"$dir/stderr"; then
  ok
  check_json "--json FILE" "$dir/gru.json" gru-h8-b2-t3-l2-i5
  grep -q 'threads 1;' "$dir/table" && grep -q '^gru-h8-b2-t3-l2-i5 ' "$dir/table" && ok \
    || bad "custom shape table: $(head -c 300 "$dir/table")"
  [[ ! -s "$dir/stderr" ]] && ok || bad "custom shape wrote to stderr: $(head -c 300 "$dir/stderr")"
else
  bad "bench with a custom shape: $(head -c 300 "$dir/stderr")"
fi

# --- bad flags ---
expect_error "unknown option" --bogus
expect_error "positional argument" lstm
expect_error "unknown case" --cases lstm-h128-b1-t100,nope
expect_error "empty --cases" --cases ""
expect_error "--cases with a shape" --cases lstm-h128-b1-t100 --hidden 64
expect_error "bad cell" --cell transformer
expect_error "zero hidden" --hidden 0
expect_error "negative batch" --batch -3
expect_error "non-numeric seq" --seq ten
expect_error "zero seconds" --seconds 0
expect_error "bad seconds" --seconds fast
expect_error "zero threads" --threads 0
expect_error "missing value" --layers
expect_error "unwritable JSON file" --cell rnn-tanh --hidden 4 --batch 1 --seq 2 --seconds 0.001 \
  --json "$dir/no/such/dir/out.json"
expect_error "empty JSON file name" --cell rnn-tanh --hidden 4 --batch 1 --seq 2 --seconds 0.001 --json ""
expect_error "JSON file that is a folder" --cell rnn-tanh --hidden 4 --batch 1 --seq 2 --seconds 0.001 \
  --json "$dir"
# a run that fails (out of memory) leaves an earlier JSON file whole
echo precious >"$dir/keep.json"
"$recur" bench --cell lstm --hidden 1 --input 1 --batch 1048576 --seq 1048576 --seconds 0.001 \
  --json "$dir/keep.json" >/dev/null 2>&1
[[ $(cat "$dir/keep.json") == precious ]] && ok || bad "a failed bench emptied the earlier --json file"

finish test_bench
