#!/usr/bin/env bash
# Coverage-guided fuzzing of the model-file loader (libFuzzer, clang, with AddressSanitizer and
# UndefinedBehaviorSanitizer). Builds cpp/checks/fuzz_model_file.cpp against the library compiled in fuzzing mode
# (checksums ignored, see CMakeLists.txt) in its own build directory, then mutates the seed corpus for a bounded
# time. Any crash, sanitizer report, uncaught exception, input slower than the time limit, leak or runaway
# allocation fails the run; the input that caused it is printed (hex) and kept under $BUILD/findings — add it to
# tests/corpus/model_files as crash-<what>.nncore so tests/test_fuzz_corpus.py keeps it fixed.
#
#   bash tools/fuzz_model_file.sh [seconds]      # default 60
#
# Environment: NNCORE_FUZZ_BUILD (default build-fuzz), CLANGXX (default clang++, else clang++-14).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
BUILD=${NNCORE_FUZZ_BUILD:-build-fuzz}
CLANGXX=${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$CLANGXX" ] || { echo "fuzz_model_file.sh: clang++ not found (Debian: apt-get install clang libomp-dev)" >&2; exit 1; }

# -Wno-pass-failed: at -O1 clang reports every "omp simd" loop it leaves unvectorized; noise here.
# -fsanitize-address-outline-instrumentation: a call per checked access instead of inline code. Clang 14 took 122 s
# over conv_avx512.cpp with the checks inline (the whole build 173 s in CI), 21-34 s outlined; the fuzzer ran no
# slower (5,800 inputs/s against 5,100).
flags="-fsanitize=address,undefined -fsanitize-address-outline-instrumentation -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1 -Wno-pass-failed"
rm -f "$BUILD/CMakeCache.txt"  # a cache from another compiler would drop the -D options below
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER="$CLANGXX" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DNNCORE_BUILD_FUZZERS=ON > "$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" --target fuzz_model_file

# Mutations grow a working corpus of their own; the committed corpus only seeds it.
work="$BUILD/corpus"
findings="$BUILD/findings"
rm -rf "$work" "$findings"
mkdir -p "$work" "$findings"
cp tests/corpus/model_files/* "$work/"

export OMP_NUM_THREADS=1
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# -timeout: the issue's bound is 1 s for any file of 1 MB; inputs here are at most 64 KB, so 2 s (sanitized, -O1)
# is generous. -rss_limit_mb/-malloc_limit_mb: the loader must never ask for more than the file justifies.
set +e
"$BUILD/fuzz_model_file" "$work" -max_total_time="$SECS" -max_len=65536 -timeout=2 -rss_limit_mb=2048 \
  -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$findings/" 2>&1 | tee "$BUILD/fuzz.log" \
  | grep -v -E "^#[0-9]+\s+(NEW|REDUCE|pulse)"
rc=${PIPESTATUS[0]}
set -e
runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$BUILD/fuzz.log" | grep -oE "[0-9]+$" || echo 0)
echo "fuzz_model_file: $runs inputs in ${SECS} s, exit $rc"
for f in "$findings"/*; do
  [ -e "$f" ] || continue
  echo "finding $f ($(stat -c %s "$f") bytes):"
  od -An -tx1 -v "$f" | head -c 20000
  rc=${rc:-1}
  [ "$rc" -ne 0 ] || rc=1
done
if [ "$rc" -eq 0 ] && [ "${runs:-0}" -lt 1000 ]; then
  echo "fuzz_model_file: only $runs inputs ran; expected at least 1000" >&2
  rc=1
fi
exit "$rc"
