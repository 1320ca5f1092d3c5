#!/usr/bin/env bash
# Builds Trainyard against the CUDA LibTorch inside a PyTorch wheel and runs the speed benchmark
# on the GPU: the commands behind the README's GPU figures.
#
#   scripts/cuda-benchmark.sh --data DIR [--debs DIR] [--batch N] [--epochs N] [--tests]
#                             [--skip-benchmark]
#
# --data    an ImageFolder (e.g. made here by build/bin/idx_to_imagefolder --per-class 4000)
# --debs    a folder of Debian 12 .deb files for the libraries the GPU machine lacks (yaml-cpp,
#           spdlog, fmt, Boost, SQLite, SQLiteCpp, CLI11, libpng, TurboJPEG, tcmalloc, GoogleTest,
#           pkgconf): unpacked into a private prefix, never into /. Fetch them on a Debian 12
#           machine with `apt-get download` (docs/gpu.md lists the names).
# --tests   also run the test suite against the CUDA build.
# --test-programs a,b  build and run only these test programs (e.g. test_distributed).
# Logs and the benchmark table go to $OUT (or build-cuda/logs).
set -euo pipefail
cd "$(dirname "$0")/.."

data="" debs="" batch=256 epochs=3 tests=0 benchmark=1 test_programs=""
while (($#)); do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --debs) debs=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --tests) tests=1; shift ;;
    --test-programs) test_programs=$2; tests=1; shift 2 ;;
    --skip-benchmark) benchmark=0; shift ;;
    *) echo "cuda-benchmark: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -n $data || $benchmark == 0 ]] || { echo "cuda-benchmark: --data DIR is required" >&2; exit 2; }
logs=${OUT:-build-cuda/logs}
mkdir -p "$logs"
python=${PYTHON:-python3}

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
      "cxx11 abi", torch._C._GLIBCXX_USE_CXX11_ABI, "gpu", torch.cuda.is_available())'
(. /etc/os-release && echo "os: $PRETTY_NAME"); c++ --version | head -1; cmake --version | head -1
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
nvcc --version | tail -1 || true
echo "cpu cores: $(nproc)"

cmake_args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
prefix_path=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
deps_lib=""
if [[ -n $debs ]]; then
  # A private prefix for the Debian libraries. Their .pc files say prefix=/usr: pkgconf's sysroot
  # maps that into the prefix, and system paths must not be filtered out of its answers.
  deps=/opt/trainyard-deps
  rm -rf "$deps" && mkdir -p "$deps/bin"
  for f in "$debs"/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$deps"
    else
      (t=$(mktemp -d) && cd "$t" && ar x "$f" && tar -xf data.tar.* -C "$deps" && rm -rf "$t")
    fi
  done
  # Some -dev packages link absolutely (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13): point
  # those links into the prefix, or the linker falls back to the static library.
  find "$deps" -type l -lname '/*' | while read -r link; do ln -sfn "$deps$(readlink "$link")" "$link"; done
  deps_lib=$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$deps_lib" "$deps/usr/bin/pkgconf" >"$deps/bin/pkg-config"
  chmod +x "$deps/bin/pkg-config"
  export PKG_CONFIG_SYSROOT_DIR=$deps PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
  export PKG_CONFIG_LIBDIR=$deps/usr/lib/x86_64-linux-gnu/pkgconfig:$deps/usr/share/pkgconfig
  prefix_path="$prefix_path;$deps/usr"
  cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$deps/bin/pkg-config" -DCMAKE_LIBRARY_ARCHITECTURE=x86_64-linux-gnu)
fi
# The Debian libraries' own dependencies (libfmt under libspdlog, say) are found through this
# path; it is set only for our programs, never for Python, whose sqlite3 module it would break.
with_deps() { LD_LIBRARY_PATH=${deps_lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"; }

# A machine that only trains may lack cairo and its many -dev packages: no results tool there.
if ! ${deps:+"$deps/bin/"}pkg-config --exists cairo 2>/dev/null; then
  echo "no cairo: building without the results tool"
  cmake_args+=(-DTRAINYARD_BUILD_RESULTS_TOOL=OFF)
fi

echo "== configure and build (build-cuda)"
start=$SECONDS
with_deps cmake -S . -B build-cuda -G Ninja "${cmake_args[@]}" -DCMAKE_PREFIX_PATH="$prefix_path" \
  -DTRAINYARD_BUILD_TESTS=$([[ $tests == 1 ]] && echo ON || echo OFF) >"$logs/configure.log" 2>&1 \
  || { tail -60 "$logs/configure.log"; exit 1; }
grep -E "CUDA|Torch|cuDNN" "$logs/configure.log" | head -20 || true
# The runner and its plugins first, so the benchmark runs even when a test fails to build.
with_deps cmake --build build-cuda --parallel "$(nproc)" -- -k 0 runner trainyard_plugins >"$logs/build.log" 2>&1 \
  || { grep -E "error:|FAILED" "$logs/build.log" | sort | uniq | head -60; exit 1; }
echo "built in $((SECONDS - start)) s"
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
  "$deps_lib" "$PWD/build-cuda/bin/runner" >build-cuda/runner-env
chmod +x build-cuda/runner-env
./build-cuda/runner-env --list-plugins

if [[ $benchmark == 1 ]]; then
  echo "== benchmark: $data, batch $batch, $epochs epochs"
  PYTHONUNBUFFERED=1 "$python" tools/benchmark/benchmark.py --root "$data" --device cuda \
    --batch-size "$batch" --epochs "$epochs" --runner build-cuda/runner-env --python "$python" \
    2>&1 | tee "$logs/benchmark.log"
fi

if [[ -n $test_programs ]]; then
  echo "== test programs: $test_programs"
  IFS=, read -ra programs <<<"$test_programs"
  with_deps cmake --build build-cuda --parallel "$(nproc)" --target "${programs[@]}" >"$logs/build-tests.log" 2>&1 \
    || { grep -E "error:|FAILED" "$logs/build-tests.log" | sort | uniq | head -60; exit 1; }
  status=0
  for program in "${programs[@]}"; do
    (cd build-cuda && with_deps "bin/$program") >"$logs/$program.log" 2>&1 || status=1
    grep -E "^\[  (PASSED|FAILED|SKIPPED) " "$logs/$program.log" || tail -20 "$logs/$program.log"
  done
  exit $status
elif [[ $tests == 1 ]]; then
  echo "== tests"
  with_deps cmake --build build-cuda --parallel "$(nproc)" -- -k 0 >"$logs/build-tests.log" 2>&1 \
    || { grep -E "error:|FAILED" "$logs/build-tests.log" | sort | uniq | head -60; exit 1; }
  (cd build-cuda && with_deps ctest -j "$(nproc)" --timeout 300 --output-on-failure) >"$logs/ctest.log" 2>&1 \
    && echo "all tests passed" || { grep -E "tests passed|Failed|\*\*\*" "$logs/ctest.log" | head -40; exit 1; }
fi
