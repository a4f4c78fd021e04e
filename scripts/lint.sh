#!/usr/bin/env bash
# Static analysis with the checked-in configuration: cppcheck over src/ and
# cli/, clang-tidy (.clang-tidy: clang-analyzer-* and bugprone-*) over src/.
# Findings are keyed by file and check (line numbers move) and counted; the
# run fails when a key has more findings than tools/lint-baseline.txt allows,
# i.e. on new findings. Fixing old ones: rerun with --update to lower the
# baseline. Builds compile_commands.json in build-lint/.
# usage: scripts/lint.sh [--update]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-lint
baseline=tools/lint-baseline.txt
# no tests: recur_emulated would list the library's sources a second time
cmake -S . -B "$build" -DRECUR_CUDA=OFF -DBUILD_TESTING=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  >/dev/null
cmake --build "$build" -j "$(nproc)" --target recur >/dev/null # generated headers
found=$build/lint-findings.txt
{
  cppcheck --quiet --enable=warning,performance,portability --std=c11 --inline-suppr \
    -I include -I src -I cli -I "$build/generated" --template='cppcheck {file} [{id}]' \
    src cli 2>&1 | grep '^cppcheck ' || true
  # one file per clang-tidy process: given several at once, clang-tidy 14
  # reported a false "uninitialized va_list" in src/core/status.c
  find src -name '*.c' -not -path 'src/backend/cuda/*' -print0 |
    xargs -0 -P "$(nproc)" -n 1 clang-tidy -p "$build" --quiet 2>/dev/null |
    grep -E '^/.*: (warning|error): ' |
    sed -E "s|^$PWD/||; s|^([^:]+):[0-9]+:[0-9]+: (warning\|error): .*\[([^],]+).*\]$|clang-tidy \1 [\3]|" || true
} | sort | uniq -c | awk '{print $2, $3, $4, $1}' >"$found"
if [[ ${1:-} == --update ]]; then
  cp "$found" "$baseline"
  echo "lint: baseline updated ($(awk '{s += $4} END {print s + 0}' "$baseline") findings)"
  exit 0
fi
new=$(awk 'NR == FNR {allowed[$1 " " $2 " " $3] = $4; next}
           {key = $1 " " $2 " " $3; if ($4 > allowed[key] + 0) print key ": " $4 " (baseline " allowed[key] + 0 ")"}' \
      "$baseline" "$found")
total=$(awk '{s += $4} END {print s + 0}' "$found")
if [[ -n $new ]]; then
  echo "lint: new findings (fix them, or if they are false positives suppress them inline):"
  echo "$new"
  echo "details: cppcheck/clang-tidy on the files above (see scripts/lint.sh)"
  exit 1
fi
echo "lint: no new findings ($total known in $baseline)"
