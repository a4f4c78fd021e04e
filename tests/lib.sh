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

# no_gpu FILE: FILE (a --device cuda run's errors) says there is no GPU to run on.
no_gpu() { grep -q "no CUDA GPU\|built without CUDA" "$1"; }

# same_numbers "A" "B": two lists of numbers, as many in each, agree to
# float32 rounding (relative 1e-6): the same values computed in other batch
# shapes, whose BLAS may sum in another order (OpenBLAS's generic x86 kernel
# does, on CPUs it does not know).
same_numbers() {
  [[ -n $1 ]] && awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); if (n != split(b, y, " "))
    exit 1; for (i = 1; i <= n; i++) { d = x[i] - y[i]; m = x[i] < 0 ? -x[i] : x[i]
      if ((d < 0 ? -d : d) > 1e-6 * m + 1e-12) exit 1 } }'
}

# same_losses NAME A.csv B.csv ROWS FIRST LAST: columns FIRST..LAST (the
# losses) of the ROWS rows of two metrics files with the same columns agree.
same_losses() {
  local worst
  worst=$(paste -d, "$2" "$3" | awk -F, -v rows="$4" -v first="$5" -v last="$6" '
      NR > 1 && $1 == $(NF / 2 + 1) {
        for (c = first; c <= last; c++) { d = $c - $(c + NF / 2); d = d < 0 ? -d : d
          r = d / ($c < 0 ? -$c : $c); if (r > w) w = r }; n++ }
      END { if (n != rows) print "rows:" n; else printf "%.3g\n", w }')
  echo "$1: worst relative difference of the losses $worst"
  awk -v w="$worst" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 1e-4) }' && ok || bad "$1: losses differ (worst relative difference $worst)"
}

# printed_difference PATTERN A.log B.log ROWS: the largest absolute difference
# between the numbers after "loss" and "acc" on the ROWS lines of two logs
# that match PATTERN ("rows:N" when another number of lines matches).
printed_difference() {
  paste -d'|' <(grep "$1" "$2") <(grep "$1" "$3") |
    awk -F'|' -v rows="$4" '{ k = split($1, a, " +"); split($2, b, " +")
      for (i = 2; i <= k; i++) if (a[i - 1] == "loss" || a[i - 1] == "acc") {
        d = a[i] - b[i]; d = d < 0 ? -d : d; if (d > w) w = d }; n++ }
      END { if (n != rows) print "rows:" n; else printf "%.3g\n", w }'
}

# finish NAME: the summary line and the exit status.
finish() {
  echo "$1: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
