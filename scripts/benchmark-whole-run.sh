#!/usr/bin/env bash
# What a whole run costs besides its epochs: trains the quick start (experiments/quickstart.yaml,
# ResNet-50 at 64x64 on data/fashion-mnist-3) for a few epochs into a scratch database and prints,
# from the run's own record, the process's wall time (timed here too), its start-up, the sum of
# its epochs, the training thread's checkpoint time, its time outside the epochs (start-up,
# checkpoints, the last write, the run's end) and the whole over epochs plus start-up.
# Arguments: the number of epochs (default 3), then --set overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
shift || true
[ -x build/bin/runner ] || { echo "benchmark-whole-run: build first (bash scripts/build.sh)" >&2; exit 2; }
[ -d data/fashion-mnist-3 ] || bash scripts/prepare-data.sh
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
start=$(date +%s.%N)
build/bin/runner experiments/quickstart.yaml --set train.epochs="$epochs" --set output.db="$scratch/r.db" \
  --set output.checkpoints="$scratch/checkpoints" -q "$@"
end=$(date +%s.%N)
sqlite3 "$scratch/r.db" "
  SELECT printf('whole process %.2f s (timed outside: %.2f s)', r.wall_seconds, $end - $start),
         printf('start-up %.2f s; %d epochs %.2f s; checkpoints on the training thread %.2f s',
                r.startup_seconds, count(e.epoch), sum(e.epoch_seconds), sum(e.checkpoint_seconds)),
         printf('outside the epochs (start-up included): %.2f s; whole / (epochs + start-up) = %.3f',
                r.wall_seconds - sum(e.epoch_seconds),
                r.wall_seconds / (r.startup_seconds + sum(e.epoch_seconds)))
  FROM runs r JOIN epochs e ON e.run_id = r.id GROUP BY r.id" | tr '|' '\n'
