#!/usr/bin/env bash
# Builds everything (framework, plugins, tools, tests) with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-sanitize/ and runs the whole test suite there.
#
#   scripts/sanitize.sh [extra ctest args, e.g. -R test_resume]
#
# Any report fails the test that triggered it: UBSan does not recover, ASan stops at its first
# error. LibTorch and the system libraries are Debian's uninstrumented builds, so what is checked is
# Trainyard's own code and what it hands to them. Leak detection is off: LibTorch keeps its static
# registries alive to the end, and a plugin's library is never unloaded (by design, see
# framework/src/plugin/plugin_registry.cpp), so its allocations look leaked at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DTRAINYARD_SANITIZERS=address,undefined
cmake --build build-sanitize --parallel "$(nproc)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-sanitize
ctest --output-on-failure --parallel "$(nproc)" --timeout 600 "$@"
