# Shared by the shell tests: a fresh scratch folder, pass/fail counters and
# the check that bad input gets one line on stderr and exit status 2.
# usage: set recur=... dir=..., then: source "$(dirname "$0")/lib.sh"
rm -rf "$dir" && mkdir -p "$dir"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect_error NAME ARGS...: `recur ARGS` exits 2 with one line "recur: error: ..." on stderr.
expect_error() {
  local name=$1; shift
  "$recur" "$@" </dev/null >"$dir/stdout" 2>"$dir/stderr"
  local rc=$? lines
  lines=$(wc -l <"$dir/stderr")
  if [[ $rc -eq 2 && $lines -eq 1 ]] && grep -q '^recur: error: ' "$dir/stderr"; then ok
  else bad "$name: exit $rc, $lines stderr lines: $(head -c 300 "$dir/stderr")"; fi
}

# finish NAME: the summary line and the exit status.
finish() {
  echo "$1: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
