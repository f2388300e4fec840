#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for development and tests.
#
#   scripts/pg-throwaway.sh start DIR   initdb (if needed) and start on a free loopback port
#   scripts/pg-throwaway.sh stop DIR    stop it (the data stays in DIR until DIR is removed)
#
# PostgreSQL refuses to run as root, so the cluster runs as the unprivileged `postgres`
# user. After `start`, DIR/env holds the connection settings as shell exports:
#   CREDVAULT_PG_HOST (loopback address), CREDVAULT_PG_SOCKET_DIR, CREDVAULT_PG_PORT,
#   CREDVAULT_PG_SUPERUSER, CREDVAULT_PG_SUPERUSER_PASSWORD_FILE
# The local socket trusts its (root-only readable) directory; TCP requires SCRAM passwords.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$PGBIN/initdb" ]] || { echo "pg-throwaway: PostgreSQL server binaries not found (run scripts/bootstrap.sh)" >&2; exit 1; }
run_user=postgres
id "$run_user" >/dev/null 2>&1 || { echo "pg-throwaway: user '$run_user' does not exist" >&2; exit 1; }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$run_user" -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    data="$dir/data"
    sock="$dir/socket"
    mkdir -p "$sock"
    if [[ $(id -u) -eq 0 ]]; then chown "$run_user" "$dir" "$sock"; fi
    chmod 0700 "$dir"
    chmod 0755 "$sock"
    if [[ ! -f "$data/PG_VERSION" ]]; then
      pwfile="$dir/superuser.password"
      head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pwfile"
      [[ $(id -u) -eq 0 ]] && chown "$run_user" "$pwfile"
      chmod 0600 "$pwfile"
      as_pg "$PGBIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    for attempt in $(seq 1 50); do
      port=$(( 20000 + (RANDOM * 7 + attempt) % 40000 ))
      port_in_use "$port" && continue
      if as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 30 \
          -o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
          start >/dev/null 2>&1; then
        cat > "$dir/env" <<ENV
export CREDVAULT_PG_HOST=127.0.0.1
export CREDVAULT_PG_SOCKET_DIR=$sock
export CREDVAULT_PG_PORT=$port
export CREDVAULT_PG_SUPERUSER=postgres
export CREDVAULT_PG_SUPERUSER_PASSWORD_FILE=$dir/superuser.password
export CREDVAULT_PG_BIN=$PGBIN
ENV
        echo "pg-throwaway: PostgreSQL running on 127.0.0.1:$port (data in $data)" >&2
        exit 0
      fi
    done
    echo "pg-throwaway: could not start PostgreSQL; see $dir/server.log" >&2
    tail -20 "$dir/server.log" >&2 || true
    exit 1
    ;;
  stop)
    dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
