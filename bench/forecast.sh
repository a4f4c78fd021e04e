#!/usr/bin/env bash
# Forecasting quality (not a test): trains recur forecast on the three data
# sets of ../shared/data and prints, for each, the holdout MASE of the model
# and of the naive and seasonal-naive forecasts (all horizon steps pooled).
# Record the output in docs/RESULTS.md.
# usage: bench/forecast.sh [OUT_DIR]   (default /tmp/recur-forecast)
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data
out=${1:-/tmp/recur-forecast}
mkdir -p "$out"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

run() { # NAME FILE ARGS...
  local name=$1 file=$2; shift 2
  if [[ ! -f $file ]]; then echo "SKIP: $file is absent"; return; fi
  echo "== $name: recur forecast train $file $*"
  ./build/recur forecast train "$file" "$@" -o "$out/$name" --predictions "$out/$name.csv" \
    >"$out/$name.log"
  awk -F, -v name="$name" '$3 == "all" { mase[$2] = $7; mae[$2] = $4 }
    END { printf "%-22s model MASE %.3f (MAE %.4g) | naive %.3f (%.4g) | seasonal %s\n", name,
          mase["model"], mae["model"], mase["naive"], mae["naive"],
          ("seasonal" in mase) ? sprintf("%.3f (%.4g)", mase["seasonal"], mae["seasonal"]) : "-" }' \
    "$out/$name/evaluation.csv"
}

pollution=(--target pm2.5 --time-cols year,month,day,hour --features DEWP,TEMP,PRES,cbwd,Iws,Is,Ir
           --lookback 24 --holdout 8760 --season 24 --epochs 20 --seed 1)
run pollution-h1 "$data/pollution.csv" "${pollution[@]}" --horizon 1
run pollution-h24 "$data/pollution.csv" "${pollution[@]}" --horizon 24
run temperatures-h1 "$data/daily-min-temperatures.csv" --target Temp --time Date \
  --lookback 30 --horizon 1 --holdout 365 --epochs 30 --seed 1
run temperatures-h7 "$data/daily-min-temperatures.csv" --target Temp --time Date \
  --lookback 30 --horizon 7 --holdout 365 --epochs 30 --seed 1
run airline-h1 "$data/airline-passengers.csv" --target Passengers --time Month \
  --lookback 12 --horizon 1 --holdout 24 --hidden 32 --epochs 200 --early-stop 30 --batch 16 --lr 0.01 --seed 1
run airline-h12 "$data/airline-passengers.csv" --target Passengers --time Month \
  --lookback 24 --horizon 12 --holdout 24 --hidden 32 --epochs 300 --early-stop 40 --batch 16 --lr 0.01 --seed 1
echo "logs, models and predictions: $out"
