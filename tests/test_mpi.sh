#!/usr/bin/env bash
# Data-parallel recur train (mpirun, cli/dist.c): 2 processes with --batch 8
# (4 streams each) must follow the single-process run with the same seed.
# The per-step training and validation losses in metrics.csv agree within a
# relative 1e-4: the gradients of the two halves of the batch are summed by
# MPI instead of inside one GEMM, a floating-point reordering that the 40
# Adam steps carry forward. Checkpoints hold the carried state of all 8
# streams, so a run stopped under 2 processes resumes under 1 and the reverse.
# classify train and forecast train split each batch the same way (below),
# and --device cuda runs where a GPU is (else its error path is checked).
# A rank killed by SIGKILL mid-run ends the job with mpirun's message and
# leaves a loadable checkpoint.
# Skips (77) without mpirun, without an MPI build, or when mpirun cannot start 2 processes.
# usage: test_mpi.sh RECUR_BINARY SCRATCH_DIR
set -uo pipefail
recur=$1 dir=$2
source "$(dirname "$0")/lib.sh"

skip() { echo "skipped: $*"; exit 77; }
command -v mpirun >/dev/null || skip "no mpirun (apt-get install openmpi-bin)"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1 RECUR_NUM_THREADS=1
mpi=(mpirun -np 2 --oversubscribe)
# Open MPI keeps allocations to the end of the process, which LeakSanitizer
# reports in sanitizer builds: leak detection is off for the ranks (ASan's other
# checks stay on; every other test keeps it).
[[ -n ${ASAN_OPTIONS:-} ]] && mpi+=(-x "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0")
[[ $(id -u) -eq 0 ]] && mpi+=(--allow-run-as-root)
timeout 30 "${mpi[@]}" true >"$dir/mpirun_true.log" 2>&1 || skip "mpirun -np 2 true fails: $(tail -1 "$dir/mpirun_true.log")"

src=$(dirname "$0")/..
cat "$src/README.md" "$src"/docs/*.md >"$dir/text.txt"
args=(--text "$dir/text.txt" --batch 8 --bptt 32 --hidden 32 --layers 1 --embed 16 --steps 40
      --eval-interval 1 --seed 3)

"$recur" train "${args[@]}" -o "$dir/one.safetensors" >"$dir/one.log" 2>&1 || bad "1 process failed: $(tail -2 "$dir/one.log")"
timeout 60 "${mpi[@]}" "$recur" train "${args[@]}" -o "$dir/two.safetensors" >"$dir/two.log" 2>&1 || bad "2 processes failed: $(tail -3 "$dir/two.log")"
grep -q "data-parallel over 2 processes" "$dir/two.log" || skip "this recur was built without MPI (RECUR_MPI=OFF)"

same_losses "1 vs 2 processes" "$dir/one.ckpt/metrics.csv" "$dir/two.ckpt/metrics.csv" 40 3 4

# the gradients summed in many small buckets on the communication thread, and
# after the backward on the main thread: the same model file as in one bucket
for overlap in 1 0; do
  RECUR_DIST_BUCKET_FLOATS=500 RECUR_DIST_OVERLAP=$overlap timeout 60 "${mpi[@]}" -x RECUR_DIST_BUCKET_FLOATS -x RECUR_DIST_OVERLAP \
    "$recur" train "${args[@]}" -o "$dir/bucket$overlap.safetensors" >"$dir/bucket$overlap.log" 2>&1 ||
    bad "2 processes, buckets of 500 floats, overlap $overlap failed: $(tail -3 "$dir/bucket$overlap.log")"
  cmp -s "$dir/two.safetensors" "$dir/bucket$overlap.safetensors" && ok ||
    bad "buckets of 500 floats (overlap $overlap): a different model than one bucket"
done

# stopped at step 20 under 2 processes, resumed under 1 (and the reverse)
timeout 60 "${mpi[@]}" "$recur" train "${args[@]}" --stop-at 20 -o "$dir/r21.safetensors" >"$dir/r21_a.log" 2>&1 || bad "2 processes, --stop-at 20 failed: $(tail -3 "$dir/r21_a.log")"
"$recur" train --text "$dir/text.txt" --resume "$dir/r21.ckpt/last.safetensors" -o "$dir/r21.safetensors" >"$dir/r21_b.log" 2>&1 || bad "resume under 1 process failed: $(tail -2 "$dir/r21_b.log")"
same_losses "2 then 1 processes" "$dir/one.ckpt/metrics.csv" "$dir/r21.ckpt/metrics.csv" 40 3 4
"$recur" train "${args[@]}" --stop-at 20 -o "$dir/r12.safetensors" >"$dir/r12_a.log" 2>&1 || bad "1 process, --stop-at 20 failed"
timeout 60 "${mpi[@]}" "$recur" train --text "$dir/text.txt" --resume "$dir/r12.ckpt/last.safetensors" -o "$dir/r12.safetensors" >"$dir/r12_b.log" 2>&1 || bad "resume under 2 processes failed: $(tail -3 "$dir/r12_b.log")"
same_losses "1 then 2 processes" "$dir/one.ckpt/metrics.csv" "$dir/r12.ckpt/metrics.csv" 40 3 4

# a batch that 2 processes cannot split: a clear error and the whole job ends
timeout 60 "${mpi[@]}" "$recur" train "${args[@]}" --batch 7 -o "$dir/bad.safetensors" >"$dir/bad.log" 2>&1
rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "is not a multiple of the 2 processes" "$dir/bad.log" && ok || bad "--batch 7 under 2 processes: exit $rc, $(head -c 300 "$dir/bad.log")"

# --device cuda (cli/dist_gpu.c). Without a GPU every process stops with one
# clear line and the job ends (no hang). With one (the lent GPU machine:
# bench/gpu_mpi_check.sh; in CI the emulated GPU of tests/emulation/) 2
# processes share it, so the gradients go through host memory, and must
# follow 1 process on it and 2 on the CPU; a single process that averages
# anyway (RECUR_DIST_TRANSPORT: through the host, or NCCL over one GPU) gives
# the same model file as one that does not. A shorter run than above (the
# emulated GPU runs its kernels on the CPU, thread by thread).
head -c 20000 "$dir/text.txt" >"$dir/gpu_text.txt"
gargs=(--text "$dir/gpu_text.txt" --batch 8 --bptt 32 --hidden 32 --layers 1 --embed 16 --steps 12
       --eval-interval 3 --seed 3)
timeout 120 "${mpi[@]}" "$recur" train "${gargs[@]}" --device cuda -o "$dir/gpu2.safetensors" >"$dir/gpu2.log" 2>&1
rc=$?
if no_gpu "$dir/gpu2.log"; then
  echo "no GPU: $(grep -m1 "recur: error" "$dir/gpu2.log")"
  [[ $rc -eq 2 && $(grep -c "recur: error" "$dir/gpu2.log") -ge 1 ]] && ok || bad "--device cuda without a GPU: exit $rc, $(head -c 300 "$dir/gpu2.log")"
else
  [[ $rc -eq 0 ]] && grep -q "gradients by MPI through host memory" "$dir/gpu2.log" && ok || bad "2 processes on the GPU: exit $rc, $(tail -3 "$dir/gpu2.log")"
  "$recur" train "${gargs[@]}" --device cuda -o "$dir/gpu1.safetensors" >"$dir/gpu1.log" 2>&1 || bad "1 process on the GPU failed: $(tail -2 "$dir/gpu1.log")"
  timeout 60 "${mpi[@]}" "$recur" train "${gargs[@]}" -o "$dir/cpu2.safetensors" >"$dir/cpu2.log" 2>&1 || bad "2 processes on the CPU failed: $(tail -3 "$dir/cpu2.log")"
  same_losses "GPU: 1 vs 2 processes" "$dir/gpu1.ckpt/metrics.csv" "$dir/gpu2.ckpt/metrics.csv" 4 3 4
  same_losses "2 processes: CPU vs GPU" "$dir/cpu2.ckpt/metrics.csv" "$dir/gpu2.ckpt/metrics.csv" 4 3 4
  timeout 120 "${mpi[@]}" "$recur" train "${gargs[@]}" --device cuda --stop-at 6 -o "$dir/g21.safetensors" >"$dir/g21_a.log" 2>&1 || bad "GPU, 2 processes, --stop-at 6 failed: $(tail -3 "$dir/g21_a.log")"
  "$recur" train --text "$dir/gpu_text.txt" --device cuda --resume "$dir/g21.ckpt/last.safetensors" -o "$dir/g21.safetensors" >"$dir/g21_b.log" 2>&1 || bad "GPU resume under 1 process failed: $(tail -2 "$dir/g21_b.log")"
  same_losses "GPU: 2 then 1 processes" "$dir/gpu1.ckpt/metrics.csv" "$dir/g21.ckpt/metrics.csv" 4 3 4
  # nccl: averaged layer by layer during the backward; nccl0: after it
  for transport in mpi nccl nccl0; do
    RECUR_DIST_TRANSPORT=${transport%0} RECUR_DIST_OVERLAP=${transport//[a-z]/} "$recur" train "${gargs[@]}" \
      --device cuda -o "$dir/gpu1$transport.safetensors" >"$dir/gpu1$transport.log" 2>&1
    rc=$?
    if [[ $transport == nccl* ]] && grep -q "built without NCCL" "$dir/gpu1$transport.log"; then
      echo "NCCL: this recur was built without it"
    else
      [[ $rc -eq 0 ]] && cmp -s "$dir/gpu1.safetensors" "$dir/gpu1$transport.safetensors" && ok ||
        bad "1 process averaging by $transport: exit $rc, $(cmp "$dir/gpu1.safetensors" "$dir/gpu1$transport.safetensors" 2>&1; tail -2 "$dir/gpu1$transport.log")"
    fi
  done
fi

# classify train and forecast train: each batch split among 2 processes (5
# examples: 2 and 3, the last batch smaller), the gradients weighted by each
# share; the same epochs' losses as one process, only rank 0's files.
# classify prints its losses with 4 decimals: they agree within 1.5e-4.
{ for i in $(seq 1 37); do echo "quite good movie $i"; done; } >"$dir/pos.txt"
{ for i in $(seq 1 30); do echo "rather bad film number $i"; done; } >"$dir/neg.txt"
cargs=(classify train --lines "$dir/pos.txt=pos,$dir/neg.txt=neg" --tokens char --epochs 3 --hidden 8
       --embed 4 --max-len 32 --batch 5 --class-weights balanced --aux next-token --seed 4)
"$recur" "${cargs[@]}" -o "$dir/c1.safetensors" >"$dir/c1.log" 2>&1 || bad "classify, 1 process failed: $(tail -2 "$dir/c1.log")"
timeout 60 "${mpi[@]}" "$recur" "${cargs[@]}" -o "$dir/c2.safetensors" >"$dir/c2.log" 2>&1 || bad "classify, 2 processes failed: $(tail -3 "$dir/c2.log")"
grep -q "data-parallel over 2 processes" "$dir/c2.log" && ok || bad "classify: not data-parallel: $(head -3 "$dir/c2.log")"
worst=$(printed_difference "train loss" "$dir/c1.log" "$dir/c2.log" 3)
echo "classify 1 vs 2 processes: worst difference of the printed losses $worst"
awk -v w="$worst" 'BEGIN { exit !(w ~ /^[0-9.e+-]+$/ && w + 0 <= 1.5e-4) }' && ok || bad "classify: losses differ ($worst)"
[[ -s $dir/c2.safetensors && $(grep -c "train loss" "$dir/c2.log") -eq 3 && $(grep -c "^saved" "$dir/c2.log") -eq 1 ]] \
  && ok || bad "classify: rank 0 alone reports and saves: $(cat "$dir/c2.log")"

awk 'BEGIN { print "t,y,x"; for (i = 0; i < 260; i++)
  printf "%d,%.5f,%.5f\n", i, sin(i / 5) + 0.3 * sin(i / 23), cos(i / 7) }' >"$dir/series.csv"
fargs=(forecast train "$dir/series.csv" --target y --lookback 12 --horizon 2 --holdout 40 --epochs 4
       --hidden 8 --batch 7 --seed 5)
"$recur" "${fargs[@]}" -o "$dir/f1" >"$dir/f1.log" 2>&1 || bad "forecast, 1 process failed: $(tail -2 "$dir/f1.log")"
timeout 60 "${mpi[@]}" "$recur" "${fargs[@]}" -o "$dir/f2" >"$dir/f2.log" 2>&1 || bad "forecast, 2 processes failed: $(tail -3 "$dir/f2.log")"
same_losses "forecast 1 vs 2 processes" "$dir/f1/metrics.csv" "$dir/f2/metrics.csv" 4 2 3
[[ $(ls "$dir/f2" | tr '\n' ' ') == "$(ls "$dir/f1" | tr '\n' ' ')" && $(grep -c "^saved" "$dir/f2.log") -eq 1 ]] \
  && ok || bad "forecast: files $(ls "$dir/f2"), $(grep -c "^saved" "$dir/f2.log") saved lines"
timeout 60 "${mpi[@]}" "$recur" forecast predict "$dir/f1" "$dir/series.csv" -o "$dir/next.csv" >"$dir/fp.log" 2>&1
rc=$?
[[ $rc -eq 2 ]] && grep -q "only forecast train runs under mpirun" "$dir/fp.log" && ok || bad "forecast predict under mpirun: exit $rc"

# rank 0 alone fails (it cannot write metrics.csv) while rank 1 waits in the
# all-reduce: MPI_Abort from rank 0 must end both instead of a hang
timeout 60 "${mpi[@]}" "$recur" train "${args[@]}" --metrics "$dir/missing/m.csv" -o "$dir/fail.safetensors" >"$dir/fail.log" 2>&1
rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] && grep -q "recur: error: .*m.csv" "$dir/fail.log" && ok || bad "a failing rank 0: exit $rc, $(head -c 300 "$dir/fail.log")"

# a rank killed by a signal in the middle of a run: mpirun ends the other one
# (which would wait in the next all-reduce) with a message, and the last
# checkpoint stays loadable
timeout 120 "${mpi[@]}" "$recur" train "${args[@]}" --steps 100000 --eval-interval 5 \
  -o "$dir/killed.safetensors" >"$dir/killed.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do [[ -s $dir/killed.ckpt/last.safetensors ]] && break; sleep 0.1; done
sleep 0.3
# a rank: a process running the training, not mpirun or timeout
victim=$(command -v pgrep >/dev/null && pgrep -a -f "train .*killed\.safetensors" |
  awk '$2 !~ /(mpirun|mpiexec|orterun|timeout)$/ { print $1 }' | tail -1)
if ! command -v pgrep >/dev/null; then
  wait "$job"
  echo "skipped: a killed rank (no pgrep: apt-get install procps)"
elif [[ -n $victim ]]; then
  kill -KILL "$victim"
  wait "$job"
  rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qi "signal 9\|killed" "$dir/killed.log" && ok || bad "a killed rank: exit $rc, $(tail -3 "$dir/killed.log")"
  "$recur" generate "$dir/killed.ckpt/last.safetensors" --length 5 >/dev/null 2>&1 && ok || bad "the last checkpoint after a killed rank does not load"
else
  kill "$job" 2>/dev/null
  wait "$job"
  bad "a killed rank: no rank process found"
fi

finish test_mpi
