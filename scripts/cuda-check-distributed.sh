#!/usr/bin/env bash
# The GPU checks of data-parallel training (docs/gpu.md), for a lent GPU machine: builds against
# the PyTorch wheel's CUDA LibTorch (through scripts/cuda-benchmark.sh), runs the distributed and
# mixed-precision test programs, then the runner on an ImageFolder: on CUDA alone, under --nproc 1
# over NCCL, and under --nproc 2 (two GPUs over NCCL where there are two; else the refusal).
#
#   scripts/cuda-check-distributed.sh --data DIR [--debs DIR]
#
# Logs and the results database (gpu.db) go to $OUT (or build-cuda/logs).
set -uo pipefail
cd "$(dirname "$0")/.."

data="" debs=()
while (($#)); do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --debs) debs=(--debs "$2"); shift 2 ;;
    *) echo "cuda-check-distributed: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -n $data ]] || { echo "cuda-check-distributed: --data DIR is required" >&2; exit 2; }
logs=${OUT:-build-cuda/logs}
mkdir -p "$logs"

start=$SECONDS
scripts/cuda-benchmark.sh --skip-benchmark --test-programs test_distributed,test_mixed_precision "${debs[@]}"
echo "build and test programs: exit $? after $((SECONDS - start)) s"
[[ -x build-cuda/runner-env ]] || exit 1

checkpoints=$(mktemp -d)
common=(experiments/quickstart.yaml --set "dataset.root=$data" --set train.epochs=2
        --set "output.db=$logs/gpu.db" --set "output.checkpoints=$checkpoints")
attempt() {
  local label=$1; shift
  echo "== runner: $label"
  local began=$SECONDS
  build-cuda/runner-env "${common[@]}" "$@" >"$logs/runner-${label// /-}.log" 2>&1
  echo "exit $? after $((SECONDS - began)) s"
  grep -E "error|rank|epoch 2|nccl|NCCL" "$logs/runner-${label// /-}.log" | tail -8
}
attempt "cuda one process" --set train.epochs=10   # BN statistics need more than 30 steps
attempt "nccl nproc 1" --nproc 1 --set distributed.backend=nccl
if (($(nvidia-smi -L | wc -l) >= 2)); then
  attempt "nccl nproc 2" --nproc 2 --set distributed.backend=nccl --set train.batch_size=16
else
  attempt "nproc 2 on one gpu is refused" --nproc 2
fi
attempt "gloo nproc 1 on cuda" --nproc 1 --set distributed.backend=gloo

echo "== runs in gpu.db"
python3 - "$logs/gpu.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for row in db.execute("""
    SELECT r.id, r.status, r.device, r.precision, r.world_size, r.distributed_backend,
           e.epoch, round(e.train_loss, 4), round(e.test_accuracy, 4),
           round(e.train_images_per_second, 1), substr(coalesce(r.error, ''), 1, 160)
    FROM runs r LEFT JOIN epochs e ON e.run_id = r.id ORDER BY r.id, e.epoch"""):
    print(*row, sep=" | ")
EOF
