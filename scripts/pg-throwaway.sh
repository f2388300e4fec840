#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for development and tests.
#
#   scripts/pg-throwaway.sh start DIR   initdb (if needed) and start on a free loopback port
#   scripts/pg-throwaway.sh stop DIR    stop it (the data stays in DIR until DIR is removed)
#   scripts/pg-throwaway.sh standby PRIMARY_DIR DIR
#                                       make DIR a streaming standby of the running cluster in
#                                       PRIMARY_DIR, start it on a free loopback port, and make
#                                       it the primary's synchronous standby (a commit is
#                                       acknowledged only once the standby has flushed it)
#
# PostgreSQL refuses to run as root, so the cluster runs as the unprivileged `postgres`
# user. After `start`, DIR/env holds the connection settings as shell exports:
#   CREDVAULT_PG_HOST (loopback address), CREDVAULT_PG_SOCKET_DIR, CREDVAULT_PG_PORT,
#   CREDVAULT_PG_SUPERUSER, CREDVAULT_PG_SUPERUSER_PASSWORD_FILE
# The local socket trusts its (root-only readable) directory; TCP requires SCRAM passwords.
# A standby's DIR/env has the same keys (its superuser password is the primary's).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
usage="usage: $0 start|stop DIR, or $0 standby PRIMARY_DIR DIR"
[[ -n "$cmd" && -n "$dir" ]] || { echo "$usage" >&2; exit 2; }

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$PGBIN/initdb" ]] || { echo "pg-throwaway: PostgreSQL server binaries not found (run scripts/bootstrap.sh)" >&2; exit 1; }
run_user=postgres
id "$run_user" >/dev/null 2>&1 || { echo "pg-throwaway: user '$run_user' does not exist" >&2; exit 1; }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$run_user" -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Creates DIR and DIR/socket owned by the cluster's user.
make_cluster_dir() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  data="$dir/data"
  sock="$dir/socket"
  mkdir -p "$sock"
  if [[ $(id -u) -eq 0 ]]; then chown "$run_user" "$dir" "$sock"; fi
  chmod 0700 "$dir"
  chmod 0755 "$sock"
}

# Starts the cluster in $data on a free loopback port and writes $dir/env; exits.
start_on_free_port() {
  local password_file=$1
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
export CREDVAULT_PG_SUPERUSER_PASSWORD_FILE=$password_file
export CREDVAULT_PG_BIN=$PGBIN
ENV
      echo "pg-throwaway: PostgreSQL running on 127.0.0.1:$port (data in $data)" >&2
      exit 0
    fi
  done
  echo "pg-throwaway: could not start PostgreSQL; see $dir/server.log" >&2
  tail -20 "$dir/server.log" >&2 || true
  exit 1
}

case "$cmd" in
  start)
    make_cluster_dir
    pwfile="$dir/superuser.password"
    if [[ ! -f "$data/PG_VERSION" ]]; then
      head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pwfile"
      [[ $(id -u) -eq 0 ]] && chown "$run_user" "$pwfile"
      chmod 0600 "$pwfile"
      as_pg "$PGBIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    start_on_free_port "$pwfile"
    ;;
  standby)
    primary=$(cd "$dir" 2>/dev/null && pwd) || { echo "pg-throwaway: no cluster in $dir" >&2; exit 1; }
    dir=${3:-}
    [[ -n "$dir" ]] || { echo "$usage" >&2; exit 2; }
    [[ -f "$primary/env" ]] || { echo "pg-throwaway: $primary/env missing (not started?)" >&2; exit 1; }
    primary_sock=$(sed -n 's/^export CREDVAULT_PG_SOCKET_DIR=//p' "$primary/env")
    primary_port=$(sed -n 's/^export CREDVAULT_PG_PORT=//p' "$primary/env")
    make_cluster_dir
    [[ ! -e "$data" ]] || { echo "pg-throwaway: $data exists already" >&2; exit 1; }
    # The name the primary's synchronous_standby_names refers to.
    name=standby_$(basename "$dir" | tr -c 'a-zA-Z0-9_\n' '_')
    psql_primary() {
      as_pg "$PGBIN/psql" -h "$primary_sock" -p "$primary_port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -qAtX "$@"
    }
    # Over the socket, which the primary's pg_hba.conf trusts for replication too; -R writes
    # standby.signal and the primary_conninfo that the next line names.
    as_pg "$PGBIN/pg_basebackup" -h "$primary_sock" -p "$primary_port" -U postgres \
      -D "$data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 \
      || { cat "$dir/basebackup.log" >&2; exit 1; }
    echo "primary_conninfo = 'host=$primary_sock port=$primary_port user=postgres application_name=$name'" \
      | as_pg tee -a "$data/postgresql.auto.conf" >/dev/null
    # Synchronous on the primary only: the copy taken above must not wait for a standby of
    # its own once promoted.
    start_on_free_port "$primary/superuser.password" &
    wait $! || exit 1
    psql_primary -c "ALTER SYSTEM SET synchronous_standby_names = '\"$name\"'" \
      -c "SELECT pg_reload_conf()" >/dev/null
    for attempt in $(seq 1 300); do
      state=$(psql_primary -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$name'")
      if [[ "$state" == sync ]]; then
        echo "pg-throwaway: $name is the synchronous standby of $primary" >&2
        exit 0
      fi
      sleep 0.1
    done
    echo "pg-throwaway: $name did not become a synchronous standby; see $dir/server.log" >&2
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
    echo "$usage" >&2; exit 2 ;;
esac
