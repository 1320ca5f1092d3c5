#!/usr/bin/env bash
# One PostgreSQL server for a whole CTest run (the fixture "postgres", tests/CMakeLists.txt): the
# tests find its port in INFO and make a database each, instead of each test process starting a
# server of its own (about 1.5 s each).
#
#   postgres_fixture.sh start INFO   # a fresh cluster in a temporary folder; "PORT FOLDER" to INFO
#   postgres_fixture.sh stop INFO    # stops it and removes the folder and INFO
set -euo pipefail
action=$1 info=$2
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# The server refuses to run as root: as root, the cluster belongs to Debian's postgres user.
as_owner() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() {
  [[ -f $info ]] || return 0
  read -r _ folder <"$info"
  as_owner "$bin/pg_ctl" -D "$folder/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$folder" "$info"
}
case $action in
  start)
    stop
    folder=$(mktemp -d /tmp/trainyard-ctest-postgres.XXXXXX)
    [[ $(id -u) == 0 ]] && chown postgres "$folder"
    as_owner "$bin/initdb" -D "$folder/data" -U trainyard --auth=trust -E UTF8 --no-sync >"$folder/initdb.log"
    # A free port: try random ones until the server binds one (durability off, as in the tests).
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
      port=$((20000 + RANDOM % 40000))
      if as_owner "$bin/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 \
           -o "-h 127.0.0.1 -p $port -k $folder -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
           start >/dev/null; then
        echo "$port $folder" >"$info"
        echo "PostgreSQL for the tests on 127.0.0.1:$port ($folder)"
        exit 0
      fi
    done
    cat "$folder/server.log" >&2
    exit 1 ;;
  stop) stop ;;
  *) echo "postgres_fixture.sh: start|stop INFO" >&2; exit 2 ;;
esac
