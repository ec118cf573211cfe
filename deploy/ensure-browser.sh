#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium (Playwright drives it; it never downloads a
# browser of its own) and axe-core from npm, pinned by tests/browser/package-lock.json.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
BROWSER_TESTS=$(cd "$(dirname "$0")/../tests/browser" && pwd)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  echo "ensure-browser: installed ${missing[*]}"
fi

# npm ci only when the lock file changed since the last install.
stamp="$BROWSER_TESTS/node_modules/.installed"
if [ ! -f "$stamp" ] || [ "$BROWSER_TESTS/package-lock.json" -nt "$stamp" ]; then
  npm ci --prefix "$BROWSER_TESTS" --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
