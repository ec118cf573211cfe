#!/usr/bin/env bash
# Make sure postgres://$PGUSER@127.0.0.1:$PGPORT/$DBNAME answers without a password.
# A server that already answers is used as it is; PostgreSQL is installed (Debian) and its
# cluster started only when nothing answers. Safe to run any number of times.
set -euo pipefail

PGHOST=127.0.0.1
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
# Not PGCLUSTER: the postgresql-common wrappers read that as "version/cluster".
PG_CLUSTER_NAME=${PG_CLUSTER_NAME:-main}
DBNAME=${DBNAME:-guildtrust}
did=()

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# The OS user postgres over the local socket (peer auth) works before TCP auth is sorted out.
# cd / first: psql as postgres cannot read root's working directory.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -u postgres "$@"); fi
}
# env -u: the caller's PGHOST/PGUSER must not turn this into a TCP or non-postgres login.
sql_admin() {
  as_postgres env -u PGHOST -u PGUSER -u PGPASSWORD psql -U postgres -p "$PGPORT" -d postgres \
    -v ON_ERROR_STOP=1 -tAqX -c "$1"
}
# -w: never prompt for a password (a prompt would hang `make test`).
sql() { psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -w -v ON_ERROR_STOP=1 -tAqX -c "$1" </dev/null; }
ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$PGHOST" -p "$PGPORT"; }

if ! ready; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    did+=("installed postgresql")
  fi
  # On a systemd machine the package starts its cluster itself.
  if ! ready; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ] || [ ! -d "/etc/postgresql/$version/$PG_CLUSTER_NAME" ]; then
      # Some images install the server without creating a cluster.
      version=${version:-$(ls /usr/lib/postgresql | sort -V | tail -n 1)}
      as_root pg_createcluster --port "$PGPORT" "$version" "$PG_CLUSTER_NAME" >/dev/null
      did+=("created cluster $version/$PG_CLUSTER_NAME")
    fi
    # `|| true`: "already running" is fine; readiness below is what counts.
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$PG_CLUSTER_NAME" start || true
    for _ in $(seq 1 60); do ready && break; sleep 0.5; done
    if ! ready; then
      echo "postgres: cluster $version/$PG_CLUSTER_NAME did not come up on $PGHOST:$PGPORT;" \
        "see /var/log/postgresql/postgresql-$version-$PG_CLUSTER_NAME.log" >&2
      exit 1
    fi
    did+=("started cluster $version/$PG_CLUSTER_NAME")
  fi
fi

if ! sql "select 1" >/dev/null 2>&1; then
  # A fresh Debian cluster wants a password over TCP (and may lack the role): trust loopback for
  # this one role, as a CI box does, and reload. Only reached when the connection fails.
  hba=$(sql_admin "show hba_file") || {
    echo "postgres: cannot connect as $PGUSER on $PGHOST:$PGPORT, and this is not a local Debian" \
      "cluster I can fix; set up that role (or TEST_DATABASE_URL) by hand" >&2
    exit 1
  }
  line="host all $PGUSER 127.0.0.1/32 trust"
  if ! as_root grep -qxF "$line" "$hba"; then
    as_root sed -i "1i $line" "$hba"
    did+=("trusted $PGUSER@127.0.0.1 in $hba")
  fi
  if [ "$(sql_admin "select 1 from pg_roles where rolname = '$PGUSER'")" != "1" ]; then
    sql_admin "create role \"$PGUSER\" login createdb" >/dev/null
    did+=("created role $PGUSER")
  fi
  sql_admin "select pg_reload_conf()" >/dev/null
  for _ in $(seq 1 20); do sql "select 1" >/dev/null 2>&1 && break; sleep 0.25; done
  sql "select 1" >/dev/null || { echo "postgres: still cannot connect as $PGUSER" >&2; exit 1; }
fi

# The suite's test database is created by pytest-django, so the role needs CREATEDB.
if [ "$(sql "select rolsuper or rolcreatedb from pg_roles where rolname = current_user")" != "t" ]; then
  sql_admin "alter role \"$PGUSER\" createdb" >/dev/null
  did+=("granted createdb to $PGUSER")
fi

if [ "$(sql "select 1 from pg_database where datname = '$DBNAME'")" != "1" ]; then
  sql "create database \"$DBNAME\"" >/dev/null
  did+=("created database $DBNAME")
fi

summary="already running, database $DBNAME present"
if [ ${#did[@]} -gt 0 ]; then summary=$(printf '%s, ' "${did[@]}"); summary=${summary%, }; fi
echo "postgres: postgres://$PGUSER@$PGHOST:$PGPORT/$DBNAME ready ($summary)"
