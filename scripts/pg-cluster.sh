#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on loopback (the same as src/store/pg/cluster.ts, for a shell):
#   eval "$(bash scripts/pg-cluster.sh start)"   # initdb into a temp dir, start on a free 127.0.0.1 port; prints
#                                                 # export PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=... PG_CLUSTER_DIR=...
#   bash scripts/pg-cluster.sh stop "$PG_CLUSTER_DIR"   # stop the server and remove the directory
# As root the server runs as the `postgres` user of Debian's package (PostgreSQL refuses to run as root).
set -euo pipefail
bin="${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
[ -x "$bin/initdb" ] || { echo "pg-cluster: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
as=(); [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
case "${1:-}" in
  start)
    dir="$(mktemp -d /tmp/fleet-pg-XXXXXX)"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    pw="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$pw" > "$dir/pw"; chmod 600 "$dir/pw"
    [ ${#as[@]} -gt 0 ] && chown -R postgres: "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U fleet --pwfile "$dir/pw" --auth scram-sha-256 -E UTF8 --no-locale --no-sync >/dev/null
    rm -f "$dir/pw"
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=50" start >/dev/null
    PGPASSWORD="$pw" "${as[@]}" env PGPASSWORD="$pw" "$bin/createdb" -w -h "$dir" -p "$port" -U fleet fleet
    echo "export PGHOST=127.0.0.1 PGPORT=$port PGUSER=fleet PGPASSWORD=$pw PGDATABASE=fleet PG_CLUSTER_DIR=$dir"
    ;;
  stop)
    dir="${2:?usage: pg-cluster.sh stop DIR}"
    case "$dir" in /tmp/fleet-pg-*) ;; *) echo "pg-cluster: refusing to remove $dir (not a /tmp/fleet-pg-* directory)" >&2; exit 1 ;; esac
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
  *) echo "usage: pg-cluster.sh start | stop DIR" >&2; exit 2 ;;
esac
