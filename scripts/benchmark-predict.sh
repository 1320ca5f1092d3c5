#!/usr/bin/env bash
# Prediction throughput: `runner --predict` with a model package against torchvision's ImageFolder
# + DataLoader + model.eval() in Python (Debian's python3-torch, the same LibTorch 1.13), as
# written and tuned, on 300 Fashion-MNIST images at 224x224, batch 10, the same threads.
# Extra arguments go to tools/benchmark/predict_benchmark.py, e.g. --repeats 5 or --threads 1.
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
exec /usr/bin/python3 tools/benchmark/predict_benchmark.py --root "$bench" "$@"
