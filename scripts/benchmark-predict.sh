#!/usr/bin/env bash
# Prediction throughput: `runner --predict` with a model package against torchvision's ImageFolder
# + DataLoader + model.eval() in Python (Debian's python3-torch, the same LibTorch 1.13), as
# written and tuned, on 300 Fashion-MNIST images at 224x224, batch 10, the same threads.
# Extra arguments go to tools/benchmark/predict_benchmark.py, e.g. --repeats 5 or --threads 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/benchmark-setup.sh
exec /usr/bin/python3 tools/benchmark/predict_benchmark.py --root "$bench" "$@"
