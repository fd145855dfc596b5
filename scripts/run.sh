#!/bin/sh
# README command 1: install what is needed, build, and bring up a real local Snowflake bridge
# (Debian's tor + this server, in a network namespace of its own) for a few seconds.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j "$(nproc)"
exec bash scripts/demo.sh --build-dir build/release "$@"
