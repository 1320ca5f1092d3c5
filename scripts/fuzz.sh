#!/usr/bin/env bash
# Fuzzes the experiment-file loader, the image decoders and the IDX reader with libFuzzer (clang), the framework
# built with AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/.
#
#   scripts/fuzz.sh [SECONDS per target, default 600]
#
# Corpora grow in build-fuzz/corpus/<target> (seeded from tests/fuzz/seeds/<target>); an input
# that crashes is written to build-fuzz/findings/<target>/ and the script fails: copy it to
# tests/fuzz/regressions/<target>/ so the test suite replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
scripts/install-deps.sh >/dev/null
if ! command -v clang++ >/dev/null; then   # libFuzzer comes with Debian's clang (libclang-common)
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang
fi
# The sanitizers come from TRAINYARD_SANITIZERS (as in scripts/sanitize.sh); libFuzzer's coverage
# instrumentation is added to every object, its main() only to the fuzz targets.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" \
  -DTRAINYARD_SANITIZERS=address,undefined -DTRAINYARD_FUZZ=ON -DTRAINYARD_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --parallel "$(nproc)" --target fuzz_experiment_config fuzz_image_decode fuzz_idx_reader
# LibTorch's own static objects are not freed at exit; that is not what this looks for.
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
status=0
for target in fuzz_experiment_config fuzz_image_decode fuzz_idx_reader; do
  name=${target#fuzz_}
  mkdir -p "build-fuzz/corpus/$name" "build-fuzz/findings/$name"
  echo "== $target: $seconds s"
  if ! "build-fuzz/bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix="build-fuzz/findings/$name/" -print_final_stats=1 \
      "build-fuzz/corpus/$name" "tests/fuzz/seeds/$name" 2>&1 | tee "build-fuzz/$name.log" | \
      grep -E "^#[0-9]+ +(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY"; then
    :
  fi
  if ls "build-fuzz/findings/$name"/* >/dev/null 2>&1; then
    echo "fuzz: $target found crashing inputs: build-fuzz/findings/$name/" >&2
    status=1
  fi
  echo "corpus: $(ls "build-fuzz/corpus/$name" | wc -l) inputs"
done
exit $status
