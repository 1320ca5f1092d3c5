#!/usr/bin/env bash
# Sweep search against Optuna on the quick-start data: Trainyard's random, TPE and pruners against
# Optuna's TPESampler, MedianPruner and SuccessiveHalvingPruner on one search space and epoch
# budget, per seed: epochs trained, best accuracy, wall time (tools/benchmark/search_benchmark.py).
# Arguments go to the script, e.g. --seeds 1 2 3 --trials 24.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/benchmark-setup.sh
python_modules_or_install optuna python3-optuna
bash scripts/prepare-data.sh
exec /usr/bin/python3 tools/benchmark/search_benchmark.py "$@"
