#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ (CMakeLists.txt's
# PETRA_SANITIZE option holds the flags) and runs the native tests against it. The normal build/ is not touched.
#
#   scripts/asan.sh                  build (incremental) and run the default set below
#   scripts/asan.sh test/native/ops.test.ts ...   build and run only these ava files
#   scripts/asan.sh --ci             build and run CI's subset (below)
#
# Environment: JOBS (parallel compile jobs, default 2), NICE (niceness, default 10), PETRA_ASAN_NO_BUILD=1 (reuse
# build-asan/ as it is), Torch_DIR / LIBTORCH (as for the normal build). Exit status: 0 only when the build worked,
# the positive controls fired, every test passed and no sanitizer report was written (also by child processes).
# Last clean run and timing: docs/sanitizers.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=build-asan
JOBS=${JOBS:-2}
NICE=${NICE:-10}
REPORTS=$ROOT/$OUT/reports
say() { echo "asan.sh: $*" >&2; }
START=$(date +%s)

# The default set: everything that exercises native/ and takes minutes, not hours, under ASan.
# test/fuzz/spec-native.test.ts feeds ~120 hostile-but-validated specs and bad inputs through Model.build/forward.
# Left out: the two Fashion-MNIST tests (train: one epoch on 60k images; compress/quantize: train on 20k, then static
# int8), 3.5-4.5 min each under ASan and nearly all of it inside LibTorch, which is not instrumented; their native
# paths (dataset batches, training, calibration, static int8, save/load) run in the smaller tests that stay.
# --ci: CI's subset (.ci/run), every native entry point without the minutes-long training, composition, GRU and lab
# files (~2 min of tests after a ~4.5 min build on 2 cores).
if [ "${1:-}" = --ci ]; then
  FILES=(test/asan/ test/fuzz/spec-native.test.ts test/native/ops.test.ts test/native/build.test.ts test/native/derive.test.ts
    test/native/errors.test.ts test/native/error-boundaries.test.ts test/native/save-load.test.ts test/compress/prune-native.test.ts
    test/compress/lowrank-native.test.ts test/compress/quantize-int8-graph.test.ts test/compress/int8-cpu.test.ts)
  MATCH=(--match '!*Fashion-MNIST*')
elif [ $# -gt 0 ]; then
  FILES=("$@")
  MATCH=()
else
  FILES=(test/asan/ test/native/ test/compress/ test/fuzz/spec-native.test.ts)
  MATCH=(--match '!*Fashion-MNIST*')
fi

# --- build ---------------------------------------------------------------------------------------------------------
if [ "${PETRA_ASAN_NO_BUILD:-0}" != 1 ]; then
  TORCH_DIR=${Torch_DIR:-$(node scripts/find-libtorch.mjs --torch-dir)}
  GEN=()
  if command -v ninja >/dev/null; then GEN=(--generator Ninja); fi
  say "building $OUT/Release/petra.node (-fsanitize=address,undefined,float-cast-overflow, $JOBS jobs)"
  T0=$(date +%s)
  mkdir -p "$OUT"
  CMAKE_BUILD_PARALLEL_LEVEL=$JOBS nice -n "$NICE" node node_modules/cmake-js/bin/cmake-js build \
    --directory "$ROOT" --out "$OUT" --parallel "$JOBS" "${GEN[@]}" \
    --CDTorch_DIR="$TORCH_DIR" --CDPETRA_SANITIZE=ON >"$ROOT/$OUT/build.log" 2>&1 ||
    { tail -50 "$ROOT/$OUT/build.log"; say "the sanitized build failed (full log: $OUT/build.log)"; exit 1; }
  say "built in $(( $(date +%s) - T0 )) s"
fi
ADDON=$ROOT/$OUT/Release/petra.node
[ -f "$ADDON" ] || { say "no $ADDON"; exit 1; }

# --- the sanitizer environment -------------------------------------------------------------------------------------
# Node is not built with ASan, so the ASan runtime must be the first library in the process: preload it (and UBSan's
# runtime, which GCC keeps separate). The sanitized addon then refuses to load anywhere else, which is why
# test/asan/loaded.test.ts checks which addon the ava workers actually got (the loader falls back to build/).
LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
[ -f "$LIBASAN" ] && [ -f "$LIBUBSAN" ] || { say "gcc's libasan.so / libubsan.so not found"; exit 1; }
rm -rf "$REPORTS"; mkdir -p "$REPORTS"

# ASAN_OPTIONS, and why:
#   detect_leaks=0   LeakSanitizer cannot work in Node + LibTorch: its tracer segfaults scanning thread-local storage
#                    (LibTorch/libgomp threads); with use_tls=0 it runs but reports only false positives (TLS-held
#                    objects via __cxa_thread_atexit, ld.so, glib, libgomp), and it never scans V8's mmap'ed heap,
#                    so every native object held by a live JS wrapper would look leaked.
#   allocator_may_return_null=1   a huge request returns NULL as glibc's malloc does, so LibTorch raises its usual
#                    "can't allocate memory" error (a PetraError the tests may expect) instead of ASan aborting.
#   detect_stack_use_after_return=1, check_initialization_order=1   extra checks that cost little here.
#   log_path         every process (ava workers, and the CLI / node children some tests spawn with their output
#                    captured) writes its ASan reports to a file; any file there fails the run.
# Not needed, contrary to common advice for LibTorch: alloc_dealloc_mismatch=0 (no report with LibTorch 1.13's
# posix_memalign/free CPU allocator), protect_shadow_gap=0 (only for CUDA's driver mappings; this build is CPU-only).
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$REPORTS/asan"
# The addon is built with -fno-sanitize-recover, so the first UB report fails the process (and so its test). With
# GCC 12's ASan + UBSan runtimes loaded together, UBSan ignores log_path and always writes to stderr: ava forwards
# its workers' stderr, and the script also scans ava's output for UBSan's "file:line:col: runtime error:" lines.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LD_PRELOAD="$LIBASAN:$LIBUBSAN${LD_PRELOAD:+:$LD_PRELOAD}"
export PETRA_NATIVE=$ADDON
export PETRA_ASAN=1

# --- positive controls ---------------------------------------------------------------------------------------------
# A tiny library with a heap overflow and a signed overflow, built with the same flags and loaded by node under
# the same environment: each must write a report and fail, or a clean run below would prove nothing.
CANARY=$ROOT/$OUT/canary.so
gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -o "$CANARY" test/asan/canary.c
for control in 'asan:heap-buffer-overflow' 'ubsan:signed integer overflow'; do
  kind=${control%%:*} expected=${control#*:}
  if out=$(PETRA_CANARY=$kind node -e "process.dlopen({ exports: {} }, process.argv[1])" "$CANARY" 2>&1); then
    say "positive control '$kind': the planted bug did not fail the process: the sanitizers are not active"; exit 1
  fi
  all="$out$(cat "$REPORTS"/* 2>/dev/null || true)"  # (no `| grep -q`: with pipefail its early exit fails the pipe)
  if [[ "$all" != *"$expected"* ]]; then
    say "positive control '$kind': no '$expected' report"; echo "$out" | tail -20; exit 1
  fi
done
rm -f "$REPORTS"/*
say "positive controls: ASan and UBSan both report and fail a process"

# --- the tests -----------------------------------------------------------------------------------------------------
say "running under ASan+UBSan: ${FILES[*]} ${MATCH[*]}"
T0=$(date +%s)
AVA_LOG=$ROOT/$OUT/ava.log
set +e
nice -n "$NICE" npx ava --concurrency="$JOBS" "${MATCH[@]}" "${FILES[@]}" 2>&1 | tee "$AVA_LOG"
rc=${PIPESTATUS[0]}
set -e
say "tests took $(( $(date +%s) - T0 )) s (ava exit status $rc)"

shopt -s nullglob
reports=("$REPORTS"/*)
if [ ${#reports[@]} -gt 0 ]; then
  for r in "${reports[@]}"; do echo "=== $r"; cat "$r"; done
  say "${#reports[@]} ASan report(s), above"
  rc=1
fi
if grep -E -n ':[0-9]+:[0-9]+: runtime error: |ERROR: [A-Za-z]*Sanitizer' "$AVA_LOG"; then
  say "sanitizer report(s) in the test output (lines above, whole output in $OUT/ava.log)"
  rc=1
fi
say "$([ $rc = 0 ] && echo clean || echo FAILED) after $(( $(date +%s) - START )) s"
exit $rc
