#!/bin/sh
# The whole test suite, as CI runs it: dependencies, a release build and a sanitizer build
# (ASan + UBSan), each with every unit, interop and tor test; the libFuzzer targets; then the
# Debian package (build, install, lintian: scripts/package-test.sh).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j "$jobs"
SF_TEST_SECCOMP=1 ctest --test-dir build/release --output-on-failure -j "$jobs" # every server with --seccomp

cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSF_SANITIZE=ON \
	-DSF_SFPEER_BIN="$PWD/build/release/sfpeer/sfpeer"
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
SF_TEST_SCALE=0.25 ctest --test-dir build/asan --output-on-failure -j "$jobs"

# libFuzzer targets (tests/fuzz, docs/security.md "Fuzzing"): clang, each target for
# SF_FUZZ_SECONDS (15 by default) over its seed corpus. The whole tree is built there, so that
# it also compiles with clang's warnings (-Werror), not only gcc's.
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DSF_FUZZ=ON \
	-DSF_SFPEER_BIN="$PWD/build/release/sfpeer/sfpeer"
cmake --build build/fuzz -j "$jobs"
ctest --test-dir build/fuzz -L fuzz --output-on-failure -j "$jobs"

sh scripts/package-test.sh
