#!/usr/bin/env bash
# A local S3 API for development (moto's standalone server). The test suite starts its own on
# a free port; production points S3_ENDPOINT_URL at AWS, MinIO, Ceph RGW or R2 instead.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/moto_server -H 127.0.0.1 -p "${S3_PORT:-9000}"
