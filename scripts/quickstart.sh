#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is needed, build, prepare the default
# dataset, train the quick-start experiment and plot its curves. Extra arguments go to the runner, e.g.
#   scripts/quickstart.sh --set train.epochs=2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/prepare-data.sh
./build/bin/runner experiments/quickstart.yaml "$@"
# The run's loss and accuracy curves, from the results database.
./build/bin/results plot --out results/quickstart-curves.png
echo "quickstart: to look at the run in the browser: ./build/bin/results serve   (then open http://127.0.0.1:8080/)"
