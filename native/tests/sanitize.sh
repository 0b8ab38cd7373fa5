#!/bin/sh
# Builds the runtime with AddressSanitizer + UndefinedBehaviorSanitizer and runs the native tests,
# a load/run/free loop (LeakSanitizer), valgrind on a release build, and the Python runtime tests
# against the sanitized library. Run from the repository root: sh native/tests/sanitize.sh
set -eu
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
CORPUS=$ROOT/native/fuzz/corpus

cmake -S . -B build/asan -G Ninja -DLOADRUN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build/asan
echo "== native tests (ASan+UBSan)"
build/asan/test_native "$CORPUS"
echo "== load/run/free loop (LeakSanitizer)"
ASAN_OPTIONS=detect_leaks=1 build/asan/test_native "$CORPUS" --loop 20

if command -v valgrind >/dev/null; then
    cmake -S . -B build/dev -G Ninja >/dev/null
    ninja -C build/dev test_native
    echo "== load/run/free loop (valgrind memcheck)"
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
        build/dev/test_native "$CORPUS" --loop 6
fi

echo "== Python runtime tests against the sanitized library"
ASAN_LIB=$(gcc -print-file-name=libasan.so)
UBSAN_LIB=$(gcc -print-file-name=libubsan.so)
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    LOADRUN_LIB=$ROOT/build/asan/libloadrun.so "$PY" -m pytest -q -p no:cacheprovider \
    tests/test_native.py tests/test_compiled_format.py tests/test_runtime_options.py
echo "sanitizers: clean"
