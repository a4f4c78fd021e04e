#!/usr/bin/env bash
# docs/commands/ is what scripts/make_cli_docs.sh makes from the --help texts
# (rerun it after changing a command's help), and the bash completion
# offers the commands and a command's options.
# usage: test_cli_docs.sh RECUR_BINARY SCRATCH_DIR
recur=$1
dir=$2
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/make_cli_docs.sh" "$recur" "$dir/commands" && ok || bad "make_cli_docs.sh failed"
diff -r "$root/docs/commands" "$dir/commands" >"$dir/diff" && ok ||
  bad "docs/commands is out of date (run scripts/make_cli_docs.sh): $(head -5 "$dir/diff")"
complete_words() { # complete_words WORDS...: the candidates for the last word
  (
    PATH=$(dirname "$recur"):$PATH
    source "$root/scripts/recur-completion.bash"
    COMP_WORDS=(recur "$@")
    COMP_CWORD=$#
    _recur
    printf '%s\n' "${COMPREPLY[@]}"
  )
}
complete_words tr | grep -qx train && ok || bad "completion of 'tr'"
complete_words train --hid | grep -qx -- --hidden && ok || bad "completion of 'train --hid'"
complete_words forecast "" | grep -qx tune && ok || bad "completion of 'forecast '"
complete_words forecast train --look | grep -qx -- --lookback && ok ||
  bad "completion of 'forecast train --look'"
finish test_cli_docs
