#!/usr/bin/env bash
# Installs the Debian packages recur needs to build and test.
# usage: scripts/install-deps.sh [--with-torch]   (as root, or with sudo available)
#   --with-torch  also Debian's python3-torch, needed only to regenerate the
#                 reference fixtures (tests/fixtures/make_fixtures.py)
set -euo pipefail

# cairo draws plots, protobuf-c encodes TensorBoard events and ONNX models, libcsv
# reads CSV files; fortunes is the demo's training corpus; clang (libFuzzer),
# clang-tidy, cppcheck and lcov are for the reliability checks (scripts/fuzz.sh,
# lint.sh, coverage.sh); python3-venv lets the ONNX test make its environment.
packages=(build-essential cmake pkg-config libopenblas-dev libcjson-dev libcairo2-dev
          protobuf-c-compiler libprotobuf-c-dev libcsv-dev zlib1g-dev fortunes
          clang clang-tidy cppcheck lcov python3-venv libopenmpi-dev openmpi-bin procps)
if [[ "${1:-}" == "--with-torch" ]]; then
  packages+=(python3-torch python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
  echo "install-deps: all packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
