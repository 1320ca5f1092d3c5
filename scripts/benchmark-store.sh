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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { as_owner "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_owner "$bin/initdb" -D "$work/data" -U trainyard --auth=trust -E UTF8 >/dev/null
as_owner "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -o "-h 127.0.0.1 -p $port -k $work" start >/dev/null
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U trainyard bench
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (default durability), data in $work"
args=(--epochs "$epochs" --trials "$trials" --workers "$workers")
build/bin/store_benchmark --db "$work/bench.db" --label sqlite "${args[@]}" | tee "$work/sqlite.txt"
build/bin/store_benchmark --db "postgresql://trainyard@127.0.0.1:$port/bench" --label postgres "${args[@]}" \
  | tee "$work/postgres.txt"
python3 - "$work/sqlite.txt" "$work/postgres.txt" <<'PY'
import re, sys
def figures(path):
    text = open(path).read()
    return (float(re.search(r"= (\d+) epochs/s", text).group(1)),
            float(re.search(r"1 worker: \d+ claims; median ([\d.]+) ms", text).group(1)),
            float(re.search(r"= (\d+) claims/s", text).group(1)))
s, p = figures(sys.argv[1]), figures(sys.argv[2])
print(f"postgres / sqlite: epoch writes per second {p[0] / s[0]:.2f}x, single-worker claim latency "
      f"{p[1] / s[1]:.2f}x, claims per second with several workers {p[2] / s[2]:.2f}x")
PY
