#!/usr/bin/env bash
# The speed benchmark: Trainyard's runner against the same recipe in Python PyTorch (Debian's
# python3-torch, same LibTorch 1.13), on 300 Fashion-MNIST images at 224x224, batch 10.
# Extra arguments go to tools/benchmark/benchmark.py, e.g. --epochs 3 or --set train.precision=fp32
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    python3 python3-torch python3-torchvision
fi
scripts/build.sh
bench=data/fashion-mnist-3-bench
if [[ $(find "$bench" -name '*.png' 2>/dev/null | wc -l) -ne 300 ]]; then
  rm -rf "$bench"
  ./build/bin/idx_to_imagefolder --out "$bench" --classes 0,1,2 --per-class 100
fi
exec /usr/bin/python3 tools/benchmark/benchmark.py --root "$bench" "$@"
