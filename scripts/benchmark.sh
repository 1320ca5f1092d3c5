#!/usr/bin/env bash
# The speed benchmark: Trainyard's runner against the same recipe in Python PyTorch (Debian's
# python3-torch, same LibTorch 1.13), on 300 Fashion-MNIST images at 224x224, batch 10.
# Extra arguments go to tools/benchmark/benchmark.py, e.g. --epochs 3 or --set train.precision=fp32
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/benchmark-setup.sh
exec /usr/bin/python3 tools/benchmark/benchmark.py --root "$bench" "$@"
