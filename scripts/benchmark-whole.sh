#!/usr/bin/env bash
# What a user feels, in one run: the quick start's whole process against its epochs and start-up,
# the reference recipe's whole process (1 epoch on 150 images, 3 epochs on 300) against the Python
# recipe as written and tuned at the same threads, and a 4-trial grid against Optuna with SQLite
# storage; each alternated, with ratios (tools/benchmark/whole_benchmark.py).
# Arguments go to whole_benchmark.py, e.g. --rounds 3 or --only sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/benchmark-setup.sh
python_modules_or_install optuna python3-optuna
bash scripts/prepare-data.sh
for per_class in 50 200; do
  folder="data/bench-$((3 * per_class))"
  if [[ $(find "$folder" -name '*.png' 2>/dev/null | wc -l) -ne $((3 * per_class)) ]]; then
    rm -rf "$folder"
    ./build/bin/idx_to_imagefolder --out "$folder" --classes 0,1,2 --per-class "$per_class"
  fi
done
exec /usr/bin/python3 tools/benchmark/whole_benchmark.py "$@"
