#!/usr/bin/env bash
# Writes docs/commands/<command>.md from each command's --help text, so that
# the pages and the built-in help never disagree (test_cli_docs checks it).
# usage: scripts/make_cli_docs.sh RECUR_BINARY [OUT_DIR]   (default docs/commands)
set -euo pipefail
recur=${1:?RECUR_BINARY}
out=${2:-$(dirname "$0")/../docs/commands}
mkdir -p "$out"
commands=(train generate eval run export import plot bench
          "forecast train" "forecast predict" "forecast plot" "forecast tune"
          "classify train" "classify eval" "classify predict"
          "seq2seq train" "seq2seq eval" "seq2seq translate" "seq2seq make-dates")
page() { # page FILE TITLE ARGS...
  local file=$1 title=$2
  shift 2
  {
    echo "# recur $title"
    echo
    echo "Generated from \`recur $title --help\` by scripts/make_cli_docs.sh; the"
    echo "contracts and file formats are in [../CLI.md](../CLI.md)."
    echo
    echo '```'
    "$recur" "$@" --help
    echo '```'
  } >"$file"
}
{
  echo "# recur commands"
  echo
  echo "Generated from \`recur --help\` and each command's \`--help\` by"
  echo "scripts/make_cli_docs.sh."
  echo
  echo '```'
  "$recur" --help
  echo '```'
  echo
  for c in "${commands[@]}"; do
    echo "- [recur $c](${c// /-}.md)"
  done
} >"$out/README.md"
for c in "${commands[@]}"; do
  # shellcheck disable=SC2086
  page "$out/${c// /-}.md" "$c" $c
done
