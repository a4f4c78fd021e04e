#!/usr/bin/env bash
# The installed package: `cmake --install` of a built tree into a scratch
# prefix; the files it must hold; librecur.so's SONAME and its exports (recur_*
# only); then examples/ built against the installed copy with pkg-config
# (shared, and static with --static) and with find_package(recur) (the CMake
# project examples/CMakeLists.txt), and run.
# usage: test_install.sh BUILD_DIR SCRATCH_DIR
set -uo pipefail
build=$1 dir=$2
source "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
prefix=$dir/prefix

# The compiler and flags of the build tree (a sanitizer build's library needs
# its programs built with the sanitizers too).
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cc=$(cache CMAKE_C_COMPILER)
version=$(cache CMAKE_PROJECT_VERSION)
cflags=(-std=c11 -O2 -Wall -Wextra -Werror)
[[ $(cache RECUR_SANITIZE) == ON ]] && cflags+=(-fsanitize=address,undefined -fno-omit-frame-pointer)

if ! cmake --install "$build" --prefix "$prefix" >"$dir/install.log" 2>&1; then
  bad "cmake --install: $(tail -3 "$dir/install.log")"
  finish test_install
  exit
fi

# --- the installed files ---
so=$(find "$prefix" -name 'librecur.so.0' | head -1)
libdir=$(dirname "${so:-$prefix/lib/none}")
for f in "$prefix/include/recur.h" "$prefix/bin/recur" "$libdir/librecur.a" "$libdir/librecur.so" \
         "$libdir/pkgconfig/recur.pc" "$libdir/cmake/recur/recurConfig.cmake" \
         "$libdir/cmake/recur/recurConfigVersion.cmake" "$libdir/cmake/recur/recurTargets.cmake"; do
  [[ -e $f ]] && ok || bad "not installed: ${f#"$prefix"/}"
done
[[ -n $so ]] || { bad "librecur.so.0 not installed"; finish test_install; exit; }
readelf -d "$so" | grep 'SONAME.*\[librecur\.so\.0\]' >/dev/null && ok || bad "SONAME is not librecur.so.0"
[[ -f $libdir/librecur.so.$version ]] && ok || bad "librecur.so.$version not installed"
nm -D --defined-only "$so" | awk '{print $NF}' >"$dir/exports"
others=$(grep -v '^recur_' "$dir/exports" | head -5 | tr '\n' ' ')
[[ -z $others ]] && ok || bad "librecur.so exports symbols other than recur_*: $others"
(( $(wc -l <"$dir/exports") > 100 )) && grep -qx recur_lm_load "$dir/exports" && ok \
  || bad "librecur.so exports too few symbols ($(wc -l <"$dir/exports"))"
[[ $("$prefix/bin/recur" --version) == "recur $version"* ]] && ok || bad "installed recur --version"

# --- pkg-config: the examples against librecur.so ---
export PKG_CONFIG_PATH=$libdir/pkgconfig
[[ $(pkg-config --modversion recur) == "$version" ]] && ok || bad "pkg-config --modversion recur"
mkdir -p "$dir/pc"
for example in lstm_demo run_stream train_classifier forecaster; do
  # shellcheck disable=SC2046
  "$cc" "${cflags[@]}" "$src/examples/$example.c" -o "$dir/pc/$example" \
    $(pkg-config --cflags --libs recur) -lm 2>"$dir/pc/$example.log" \
    && ok || bad "pkg-config build of $example: $(head -3 "$dir/pc/$example.log")"
done
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
ldd "$dir/pc/train_classifier" | grep "librecur.so.0 => $libdir/" >/dev/null && ok \
  || bad "the pkg-config build does not use the installed librecur.so.0"
if "$dir/pc/train_classifier" >"$dir/classifier.out" 2>&1; then
  awk '/^test accuracy/ { found = 1; ok = $3 >= 0.8 } END { exit !(found && ok) }' \
    "$dir/classifier.out" && ok || bad "train_classifier: $(tail -1 "$dir/classifier.out")"
else bad "train_classifier failed: $(tail -2 "$dir/classifier.out")"; fi

# run_stream on a model from the installed recur train: chunking must not change the scores.
for i in $(seq 1 40); do echo "the cat sat on the mat. the dog ate the log."; done >"$dir/text.txt"
"$prefix/bin/recur" train --text "$dir/text.txt" --hidden 32 --layers 1 --embed 8 --batch 4 --bptt 16 \
  --steps 40 --eval-interval 40 --seed 1 -o "$dir/lm.safetensors" >"$dir/train.log" 2>&1 \
  || bad "installed recur train: $(tail -1 "$dir/train.log")"
head -c 300 "$dir/text.txt" | "$dir/pc/run_stream" "$dir/lm.safetensors" 7 >"$dir/stream7.out" 2>&1 \
  || bad "run_stream failed: $(tail -1 "$dir/stream7.out")"
head -c 300 "$dir/text.txt" | "$dir/pc/run_stream" "$dir/lm.safetensors" 1000 >"$dir/stream1000.out" 2>&1
grep -q '^# 300 bytes read, 299 scored' "$dir/stream7.out" && ok || bad "run_stream: $(tail -1 "$dir/stream7.out")"
paste "$dir/stream7.out" "$dir/stream1000.out" | awk -F'\t' 'NF == 6 && ($3 - $6 > 1e-3 || $6 - $3 > 1e-3) { d++ }
  END { exit d > 0 }' && [[ $(wc -l <"$dir/stream1000.out") -eq 301 ]] && ok \
  || bad "run_stream: the losses depend on the chunk size"

# Static: librecur.a with the Libs.private and Requires.private of recur.pc.
if [[ $(cache RECUR_SANITIZE) != ON ]]; then
  # shellcheck disable=SC2046
  "$cc" "${cflags[@]}" "$src/examples/train_classifier.c" -o "$dir/pc/train_classifier_static" \
    $(pkg-config --cflags recur) "$libdir/librecur.a" \
    $(pkg-config --static --libs recur | sed 's/-lrecur\b//') -lm 2>"$dir/pc/static.log" \
    && ! ldd "$dir/pc/train_classifier_static" | grep librecur >/dev/null \
    && "$dir/pc/train_classifier_static" 20 >/dev/null 2>&1 && ok \
    || bad "static link with pkg-config --static: $(head -3 "$dir/pc/static.log")"
fi
unset LD_LIBRARY_PATH PKG_CONFIG_PATH

# --- find_package(recur): examples/CMakeLists.txt against the installed copy ---
cmake_flags=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc")
[[ $(cache RECUR_SANITIZE) == ON ]] && cmake_flags+=(-DCMAKE_C_FLAGS="-fsanitize=address,undefined")
if cmake -S "$src/examples" -B "$dir/cm" "${cmake_flags[@]}" >"$dir/cm.log" 2>&1 \
   && cmake --build "$dir/cm" -j 2 >>"$dir/cm.log" 2>&1; then
  ok
  "$dir/cm/forecaster" >"$dir/forecaster.out" 2>&1 && grep -q '^forecast of the next 12 steps' \
    "$dir/forecaster.out" && ok || bad "forecaster: $(tail -2 "$dir/forecaster.out")"
  "$dir/cm/lstm_demo" "$dir/cm" >"$dir/demo.out" 2>&1 && [[ -s $dir/cm/model.safetensors ]] && ok \
    || bad "lstm_demo: $(tail -1 "$dir/demo.out")"
  ldd "$dir/cm/forecaster" | grep "librecur.so.0 => $libdir/" >/dev/null && ok \
    || bad "the find_package build does not use the installed librecur.so.0 (RPATH)"
else
  bad "find_package(recur) build: $(grep -m3 -i 'error' "$dir/cm.log")"
fi
# recur::recur_static: librecur.a and the dependencies the package finds for it.
if [[ $(cache RECUR_SANITIZE) != ON ]]; then
  cmake -S "$src/examples" -B "$dir/cms" "${cmake_flags[@]}" -DRECUR_EXAMPLES_STATIC=ON \
      >"$dir/cms.log" 2>&1 && cmake --build "$dir/cms" --target train_classifier >>"$dir/cms.log" 2>&1 \
    && ! ldd "$dir/cms/train_classifier" | grep librecur >/dev/null && "$dir/cms/train_classifier" 20 >/dev/null \
    && ok || bad "find_package(recur) with recur::recur_static: $(grep -m3 -i 'error' "$dir/cms.log")"
fi

finish test_install
