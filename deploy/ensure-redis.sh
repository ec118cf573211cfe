#!/usr/bin/env bash
# Make sure Redis answers on 127.0.0.1; install (Debian) and start it only when none does.
set -euo pipefail
REDIS_PORT=${REDIS_PORT:-6379}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if command -v redis-cli >/dev/null 2>&1 && ping; then
  echo "redis: ready on 127.0.0.1:$REDIS_PORT"
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: installing the Debian package"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# No persistence: the suite's broker and cache are disposable.
mkdir -p var/redis
redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --dir "$(pwd)/var/redis" --logfile "$(pwd)/var/redis/redis.log"
for _ in $(seq 1 50); do ping && break; sleep 0.2; done
ping || { echo "redis: did not start" >&2; exit 1; }
echo "redis: ready on 127.0.0.1:$REDIS_PORT (started)"
