#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1 and the `guildtrust` database exists.
# Uses a running server as it is; installs (Debian) and starts one only when none answers.
set -euo pipefail
PGHOST=127.0.0.1
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
DBNAME=${DBNAME:-guildtrust}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "postgres: installing the Debian package"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 0.5; done
  pg_isready -q -h "$PGHOST" -p "$PGPORT" || { echo "postgres: did not start" >&2; exit 1; }
  started=" (started)"
fi

psql_local() { psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -v ON_ERROR_STOP=1 -tAq "$@"; }
if ! psql_local -d postgres -c "select 1" >/dev/null 2>&1; then
  # A fresh Debian cluster asks for a password over TCP: trust local loopback connections, as CI does.
  hba=$(as_root su postgres -c "psql -tAc 'show hba_file'")
  as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  as_root su postgres -c "psql -tAc 'select pg_reload_conf()'" >/dev/null
  sleep 0.5
fi
if [ "$(psql_local -d postgres -c "select 1 from pg_database where datname = '$DBNAME'")" != "1" ]; then
  psql_local -d postgres -c "create database $DBNAME"
  created=", database $DBNAME created"
fi
echo "postgres: ready on $PGHOST:$PGPORT${started:-}${created:-}"
