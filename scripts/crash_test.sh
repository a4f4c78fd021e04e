#!/usr/bin/env bash
# Crash test: `recur train` killed with SIGKILL at random moments (checkpoint
# writes included: a checkpoint every 5 steps), resumed after each kill, must
# end with a model bit-identical to an uninterrupted run's and the same
# metrics.csv (step, epoch, losses, lr; not the timings), and every checkpoint
# and model file present after any kill must load.
# usage: scripts/crash_test.sh [RECUR_BINARY] [KILLS] [SEED] [STEPS]
#   defaults: build/recur, 20 kills, seed 1 (the kill times are drawn from
#   it), a run of 600 steps
set -euo pipefail
cd "$(dirname "$0")/.."
recur=${1:-build/recur}
kills=${2:-20}
RANDOM=${3:-1}
steps=${4:-600}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat README.md docs/*.md >"$dir/text.txt"
args=(--text "$dir/text.txt" --hidden 48 --layers 2 --embed 16 --batch 8 --bptt 24
      --steps "$steps" --eval-interval 5 --seed 3)

start=$(date +%s%N)
"$recur" train "${args[@]}" -o "$dir/full.safetensors" >"$dir/full.log" 2>&1
full_ms=$(( ($(date +%s%N) - start) / 1000000 ))

loads() { # every model and checkpoint file there must load as a model
  local f
  for f in "$dir"/part.safetensors "$dir"/part.ckpt/*.safetensors; do
    [[ -f $f ]] || continue
    "$recur" generate "$f" --prime " " --length 1 >/dev/null 2>"$dir/load.err" ||
      { echo "crash test: $f does not load after a kill: $(cat "$dir/load.err")"; exit 1; }
  done
}

killed=0 finished=0 runs=0
while (( !finished )); do
  resume=()
  [[ -f $dir/part.ckpt/last.safetensors ]] && resume=(--resume "$dir/part.ckpt/last.safetensors")
  "$recur" train "${args[@]}" -o "$dir/part.safetensors" "${resume[@]}" >"$dir/run.log" 2>&1 &
  pid=$!
  runs=$((runs + 1))
  if (( killed < kills )); then
    # On average 1/KILLS of the whole run, so that the kills spread over it.
    delay_ms=$(( RANDOM % (2 * full_ms / kills + 1) + 20 ))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -KILL "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      killed=$((killed + 1))
      loads
      continue
    fi
  fi
  if wait "$pid"; then
    finished=1
  else
    echo "crash test: a run failed: $(tail -2 "$dir/run.log")"
    exit 1
  fi
done
loads
leftover=$(find "$dir" -name '*.tmp.*' | wc -l)
cmp -s "$dir/full.safetensors" "$dir/part.safetensors" ||
  { echo "crash test: the resumed model differs from the uninterrupted one"; exit 1; }
diff <(cut -d, -f1-5 "$dir/full.ckpt/metrics.csv") <(cut -d, -f1-5 "$dir/part.ckpt/metrics.csv") \
  >/dev/null || { echo "crash test: the resumed metrics.csv differs"; exit 1; }
echo "crash test: $killed kills (SIGKILL) in $runs runs, uninterrupted run ${full_ms} ms;" \
     "model bit-identical, same metrics; every file loaded after every kill;" \
     "$leftover temporary files left by killed writes"
