#!/usr/bin/env bash
# recur plot: PNGs of the right size from metrics files (sparse validation
# points, a single point, --log-y, a custom size), and bad input of every kind
# giving one line on stderr, exit status 2, and no output file.
# usage: test_plot.sh RECUR_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 dir=$2
source "$(dirname "$0")/lib.sh"

# expect_error NAME ARGS...: exit 2, exactly one stderr line starting "recur: error:".

# be32 FILE OFFSET: the big-endian uint32 at OFFSET.
be32() { od -An -tu1 -j "$2" -N4 "$1" | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }'; }

# expect_png NAME FILE WIDTH HEIGHT: PNG signature, IHDR first, its width and height.
expect_png() {
  local name=$1 file=$2 w=$3 h=$4
  if [[ ! -s "$file" ]]; then bad "$name: $file missing or empty"; return; fi
  local sig; sig=$(od -An -tx1 -N8 "$file" | tr -d ' \n')
  local chunk; chunk=$(dd if="$file" bs=1 skip=12 count=4 2>/dev/null)
  local gw gh; gw=$(be32 "$file" 16) gh=$(be32 "$file" 20)
  if [[ $sig == 89504e470d0a1a0a && $chunk == IHDR && $gw -eq $w && $gh -eq $h ]]; then ok
  else bad "$name: signature $sig, first chunk '$chunk', size ${gw}x$gh (expected ${w}x$h)"; fi
}

# --- help ---
"$recur" plot --help >"$dir/out" 2>&1 && grep -q -- "--log-y" "$dir/out" && ok || bad "plot --help"
"$recur" --help | grep -q "plot" && ok || bad "plot missing from recur --help"

# --- a metrics file as recur train writes it: val_loss every 10th step ---
csv=$dir/metrics.csv
{
  echo "step,epoch,train_loss,val_loss,lr,tokens_per_s,elapsed_s"
  for ((s = 1; s <= 200; s++)); do
    awk -v s=$s 'BEGIN {
      train = 4.2 * exp(-s / 60) + 1.1 + 0.05 * sin(s);
      val = (s % 10 == 0) ? sprintf("%.4f", 4.3 * exp(-s / 60) + 1.25) : "";
      printf "%d,%d,%.4f,%s,0.002,51234.5,%.2f\n", s, int(s / 50), train, val, s * 0.1 }'
  done
} >"$csv"
"$recur" plot "$csv" -o "$dir/loss.png" 2>"$dir/stderr" && [[ ! -s "$dir/stderr" ]] && ok \
  || bad "plot of a metrics file: $(head -c 300 "$dir/stderr")"
expect_png "default size" "$dir/loss.png" 800 500
ls "$dir" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok

"$recur" plot "$csv" -o "$dir/log.png" --title "LSTM, log scale" --width 640 --height 400 --log-y \
  && ok || bad "--log-y with a title and size"
expect_png "custom size" "$dir/log.png" 640 400

# Overwrites an existing file.
"$recur" plot "$csv" --width 300 --height 200 -o "$dir/loss.png" && ok || bad "overwrite"
expect_png "overwritten" "$dir/loss.png" 300 200

# A single validation point (drawn as a marker), quoted header cells, CRLF lines,
# a column with no data at all, and a partly written last line.
printf 'step,"train_loss",val_loss,test_loss\r\n0,2.5,,\r\n1,2.0,2.2,\r\n2,1.5,,\r\n3,' >"$dir/sparse.csv"
"$recur" plot "$dir/sparse.csv" -o "$dir/sparse.png" 2>"$dir/stderr" && ok \
  || bad "sparse file: $(head -c 300 "$dir/stderr")"
expect_png "sparse" "$dir/sparse.png" 800 500

# One row, one column: a single marker on a padded axis.
printf 'step,val_loss\n7,0.5\n' >"$dir/one.csv"
"$recur" plot "$dir/one.csv" -o "$dir/one.png" && ok || bad "single point"
expect_png "single point" "$dir/one.png" 800 500

# --- bad flags and arguments ---
expect_error "missing csv" plot -o "$dir/x.png"
expect_error "missing -o" plot "$csv"
expect_error "unknown flag" plot "$csv" -o "$dir/x.png" --fast
expect_error "flag without value" plot "$csv" -o
cp "$csv" "$dir/same.csv"
expect_error "output = input" plot "$dir/same.csv" -o "$dir/same.csv"
cmp -s "$csv" "$dir/same.csv" && ok || bad "plot -o over its input replaced the CSV file"
expect_error "extra argument" plot "$csv" other.csv -o "$dir/x.png"
expect_error "width not a number" plot "$csv" -o "$dir/x.png" --width wide
expect_error "width too small" plot "$csv" -o "$dir/x.png" --width 10
expect_error "height too large" plot "$csv" -o "$dir/x.png" --height 100000

# --- bad files ---
expect_error "missing file" plot "$dir/nope.csv" -o "$dir/x.png"
expect_error "directory as csv" plot "$dir" -o "$dir/x.png"
: >"$dir/empty.csv"
expect_error "empty file" plot "$dir/empty.csv" -o "$dir/x.png"
printf 'time,train_loss\n1,2.0\n' >"$dir/nostep.csv"
expect_error "no step column" plot "$dir/nostep.csv" -o "$dir/x.png"
printf 'epoch,train_loss,val_loss\n1,2.0,2.1\n2,1.5,1.7\n3,1.2,1.6\n' >"$dir/epochs.csv"
"$recur" plot "$dir/epochs.csv" -o "$dir/epochs.png" && ok || bad "an epoch column as x"
expect_png "epochs" "$dir/epochs.png" 800 500
printf 'step,lr,accuracy\n1,0.1,0.5\n' >"$dir/noloss.csv"
expect_error "no _loss column" plot "$dir/noloss.csv" -o "$dir/x.png"
printf 'step,train_loss\n' >"$dir/header.csv"
expect_error "header only" plot "$dir/header.csv" -o "$dir/x.png"
printf 'step,train_loss\nabc,def\n1,\n,2\n' >"$dir/text.csv"
expect_error "no numeric rows" plot "$dir/text.csv" -o "$dir/x.png"
printf 'step,train_loss\n1,0\n2,-1\n' >"$dir/nonpositive.csv"
expect_error "--log-y without positive values" plot "$dir/nonpositive.csv" -o "$dir/x.png" --log-y
expect_error "unwritable output directory" plot "$csv" -o "$dir/no/such/dir/x.png"
expect_error "output is a directory" plot "$csv" -o "$dir"
[[ -e "$dir/x.png" ]] && bad "an output file was written on error" || ok
ls "$dir" | grep -q '\.tmp\.' && bad "temporary file left behind on error" || ok

finish test_plot
