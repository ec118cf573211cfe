#!/usr/bin/env bash
# Make sure the benchmarks' load generator, wrk, is installed (Debian package `wrk`).
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  echo "ensure-bench: installed wrk"
fi
