#!/usr/bin/env bash
# Installs every Debian 12 package Trainyard needs to build, test and run its main job.
# Idempotent: apt-get skips what is already there. Run as root (or through sudo).
set -euo pipefail

packages=(
  # Toolchain
  build-essential cmake ninja-build pkg-config git clang-format
  # LibTorch 1.13 (CPU). libtorch links libblas.so.3: without OpenBLAS it falls back to the
  # reference BLAS, which made ResNet-50 training 9x slower (shared/notes/libtorch.md).
  libtorch-dev libopenblas0-openmp
  # Data-parallel training: c10d's ProcessGroupGloo (in libtorch_cpu) includes Gloo's headers.
  libgloo-dev
  # A caching allocator linked into the runner: glibc malloc re-faults every large activation.
  libgoogle-perftools-dev
  # Configuration, plugins, logging, command line
  libyaml-cpp-dev libboost-dev libboost-filesystem-dev libspdlog-dev libfmt-dev libcli11-dev
  # Results store
  libsqlite3-dev sqlite3 libsqlitecpp-dev
  # PostgreSQL: libpq for the shared results store; the server for its tests (a temporary one)
  libpq-dev postgresql
  # Results tool: JSON output, PNG/SVG figures, and the dashboard's HTTP server (results serve)
  nlohmann-json3-dev libcairo2-dev libcpp-httplib-dev
  # Image decoding (TurboJPEG API gives scaled decoding) and PNG
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev
  # Tests; the dashboard's are run in a real headless browser
  googletest libgtest-dev chromium
  # The default dataset (IDX files under /usr/share/datasets/fashion-mnist)
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all ${#packages[@]} packages present"
