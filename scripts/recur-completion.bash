# bash completion for recur: commands, subcommands, and each command's
# options as its --help lists them. Installed by `cmake --install` into
# share/bash-completion/completions/recur; or: source scripts/recur-completion.bash
_recur() {
  local cur=${COMP_WORDS[COMP_CWORD]} words=() sub=""
  local commands="train generate eval run export import plot bench forecast classify seq2seq"
  if (( COMP_CWORD == 1 )); then
    mapfile -t COMPREPLY < <(compgen -W "$commands --help --version" -- "$cur")
    return
  fi
  local cmd=${COMP_WORDS[1]}
  case $cmd in
    forecast) sub="train predict plot tune" ;;
    classify) sub="train eval predict" ;;
    seq2seq) sub="train eval translate make-dates" ;;
  esac
  if [[ -n $sub ]] && (( COMP_CWORD == 2 )); then
    mapfile -t COMPREPLY < <(compgen -W "$sub --help" -- "$cur")
    return
  fi
  if [[ $cur == -* ]]; then
    words=("$cmd")
    [[ -n $sub ]] && words+=("${COMP_WORDS[2]}")
    local options
    options=$(recur "${words[@]}" --help 2>/dev/null | grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u)
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    return
  fi
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -o filenames -F _recur recur
