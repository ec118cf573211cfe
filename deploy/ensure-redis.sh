#!/usr/bin/env bash
# Make sure Redis answers PONG on 127.0.0.1:$REDIS_PORT. A server that already answers is used as
# it is; redis-server is installed (Debian) and started only when nothing answers.
set -euo pipefail

REDIS_PORT=${REDIS_PORT:-6379}
did=()

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
ping() {
  command -v redis-cli >/dev/null 2>&1 &&
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

if ! ping; then
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
    did+=("installed redis-server")
  fi
  # On a systemd machine the package starts its own server on 6379.
  if ! ping; then
    # The suite's broker and cache are disposable: no RDB snapshots, no AOF.
    # "-::1": also bind IPv6 loopback when the machine has it.
    log=/var/log/redis/ci.log
    [ "$REDIS_PORT" = 6379 ] || log=/var/log/redis/ci-$REDIS_PORT.log
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
      --save "" --appendonly no --dir /var/lib/redis --logfile "$log"
    for _ in $(seq 1 50); do ping && break; sleep 0.2; done
    if ! ping; then
      echo "redis: did not answer on 127.0.0.1:$REDIS_PORT; last lines of $log:" >&2
      as_root tail -n 20 "$log" >&2 || true
      exit 1
    fi
    did+=("started redis-server without persistence, log $log")
  fi
fi

summary="already running"
if [ ${#did[@]} -gt 0 ]; then summary=$(printf '%s, ' "${did[@]}"); summary=${summary%, }; fi
echo "redis: redis://127.0.0.1:$REDIS_PORT ready ($summary)"
