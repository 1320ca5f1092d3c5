#!/usr/bin/env bash
# The results store on its two engines, in one script so both see the same machine: epoch writes
# (one committed transaction each, as training makes them) and trial claims by workers, on a
# SQLite file (WAL, synchronous=FULL) and on a PostgreSQL server on loopback with its default,
# durable settings (fsync and synchronous_commit on). Prints the figures and the ratios.
#
#   scripts/benchmark-store.sh [EPOCHS, default 2000] [TRIALS, default 1000] [WORKERS, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2000} trials=${2:-1000} workers=${3:-4}
[[ -x build/bin/store_benchmark ]] || { scripts/install-deps.sh; scripts/build.sh; }
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/trainyard-store-bench.XXXXXX)
as_owner() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres "$work"
cleanup() { as_owner "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_owner "$bin/initdb" -D "$work/data" -U trainyard --auth=trust -E UTF8 >/dev/null
for attempt in 1 2 3 4 5 6 7 8 9 10; do   # a free port: random ones until the server binds one
  port=$((20000 + RANDOM % 40000))
  as_owner "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -o "-h 127.0.0.1 -p $port -k $work" start \
    >/dev/null && break
done
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U trainyard bench
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (default durability), data in $work"
args=(--epochs "$epochs" --trials "$trials" --workers "$workers")
build/bin/store_benchmark --db "$work/bench.db" --label sqlite "${args[@]}" | tee "$work/sqlite.txt"
build/bin/store_benchmark --db "postgresql://trainyard@127.0.0.1:$port/bench" --label postgres "${args[@]}" \
  | tee "$work/postgres.txt"
ratio() {   # $1: the figure's pattern (the number follows it); postgres / sqlite
  local p q
  p=$(grep -oP "$1\K[0-9.]+" "$work/postgres.txt") q=$(grep -oP "$1\K[0-9.]+" "$work/sqlite.txt")
  awk -v p="$p" -v q="$q" 'BEGIN { printf "%.2fx", p / q }'
}
echo "postgres / sqlite: epoch writes per second $(ratio 'epoch writes: [0-9]+ in [0-9.]+ s = '), single-worker" \
     "claim latency $(ratio '1 worker: [0-9]+ claims; median '), claims per second with several workers" \
     "$(ratio 'workers at once: .* s = ')"
