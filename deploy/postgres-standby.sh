#!/usr/bin/env bash
# A hot standby of the local PostgreSQL (127.0.0.1:$PGPORT), by streaming replication: what
# DATABASE_REPLICA_URL points at (deploy/SCALING.md, step 4), made on one machine for the read
# replica's tests (tests/ops/test_read_replica.py) and for trying it out.
#   deploy/postgres-standby.sh start DIR PORT   a base backup of the primary in DIR, served on PORT
#   deploy/postgres-standby.sh stop DIR         stop it and remove DIR
# The primary must be local with trust authentication (as ensure-postgres.sh leaves it): start
# adds a replication rule for 127.0.0.1 to its pg_hba.conf when it has none.
set -euo pipefail

PRIMARY_PORT=${PGPORT:-5432}
action=${1:?usage: postgres-standby.sh start DIR PORT | stop DIR}
dir=${2:?usage: postgres-standby.sh start DIR PORT | stop DIR}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -u postgres "$@"); fi
}
primary() {
  psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -w -v ON_ERROR_STOP=1 -tAqX -c "$1" </dev/null
}
major=$(($(primary "SHOW server_version_num") / 10000))
bin=/usr/lib/postgresql/$major/bin

case "$action" in
start)
  port=${3:?usage: postgres-standby.sh start DIR PORT}
  rules=$(primary "SELECT count(*) FROM pg_hba_file_rules
    WHERE 'replication' = ANY(database) AND (address = '127.0.0.1' OR type = 'local')")
  if [ "$rules" = 0 ]; then
    hba=$(primary "SHOW hba_file")
    echo "host replication all 127.0.0.1/32 trust" >>"$hba"
    primary "SELECT pg_reload_conf()" >/dev/null
    echo "postgres-standby: allowed replication from 127.0.0.1 in $hba"
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  chown postgres "$dir" 2>/dev/null || as_postgres true
  chmod 700 "$dir"
  # -R: the backup starts as a standby streaming from the primary (standby.signal, primary_conninfo).
  as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$dir" -X stream -R -c fast -w
  # A hot standby needs at least the primary's limits; Debian keeps both configuration files
  # outside the data directory, so the standby gets its own.
  limits=""
  for name in max_connections max_worker_processes max_wal_senders max_prepared_transactions \
    max_locks_per_transaction; do
    limits+="$name = $(primary "SHOW $name")"$'\n'
  done
  as_postgres tee "$dir/postgresql.conf" >/dev/null <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
hot_standby = on
shared_buffers = 64MB
$limits
EOF
  as_postgres tee "$dir/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/standby.log" -w -t 120 start >/dev/null
  echo "postgres-standby: streaming from 127.0.0.1:$PRIMARY_PORT, serving 127.0.0.1:$port ($dir)"
  ;;
stop)
  if [ -f "$dir/postmaster.pid" ]; then
    as_postgres "$bin/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: postgres-standby.sh start DIR PORT | stop DIR" >&2
  exit 2
  ;;
esac
