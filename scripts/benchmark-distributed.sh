#!/usr/bin/env bash
# Data-parallel throughput on this machine: the quick start's recipe (ResNet-50, 64x64, Adam,
# global batch 32) trained as one process and as N processes (`runner --nproc N`, Gloo on
# loopback, batch 32/N each), in one script so both run on the same machine state. Prints the
# training images/s of each (mean over epochs after the first) and their ratio.
#
#   scripts/benchmark-distributed.sh [NPROC, default 2] [EPOCHS, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
nproc_ranks=${1:-2}
epochs=${2:-3}
[[ -x build/bin/runner ]] || { scripts/install-deps.sh; scripts/build.sh; }
[[ -d data/fashion-mnist-3 ]] || scripts/prepare-data.sh
out=$(mktemp -d /tmp/trainyard-ddp-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
common=(experiments/quickstart.yaml --set "train.epochs=$epochs" --set "output.db=$out/bench.db"
        --set "output.checkpoints=$out/checkpoints" --set "output.cache=\"\"" -q)
./build/bin/runner "${common[@]}"
./build/bin/runner "${common[@]}" --nproc "$nproc_ranks" --set "train.batch_size=$((32 / nproc_ranks))"
sqlite3 -separator ' ' "$out/bench.db" "
  SELECT 'processes ' || r.world_size || ': ' || printf('%.1f', avg(e.train_images_per_second)) ||
         ' train images/s, final test accuracy ' || printf('%.1f%%', 100 * (
           SELECT test_accuracy FROM epochs WHERE run_id = r.id ORDER BY epoch DESC LIMIT 1))
  FROM runs r JOIN epochs e ON e.run_id = r.id AND e.epoch > 1 GROUP BY r.id ORDER BY r.id;
  SELECT 'ratio (N processes / 1): ' || printf('%.2f',
    (SELECT avg(train_images_per_second) FROM epochs WHERE run_id = 2 AND epoch > 1) /
    (SELECT avg(train_images_per_second) FROM epochs WHERE run_id = 1 AND epoch > 1));"
