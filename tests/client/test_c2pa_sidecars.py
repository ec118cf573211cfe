"""`guildtrust pull --c2pa` and `Lease.provenance()` against a live server on the real stack: the
C2PA sidecar of each pulled image and audio file is saved beside it and validates against it with
c2pa-python (Trusted, with the suite's root as the anchor); an asset C2PA cannot bind has none."""

import io
import json

import c2pa
import pytest

import guildtrust
from guildtrust.errors import Refused
from licensing import provenance
from tests.client.conftest import StoredObject, make_lease, puller
from tests.conftest import S3_BUCKET, stack_env
from tests.licensing.test_c2pa_provenance import png_bytes, wav_bytes
from tests.servers import GunicornServer

# make_lease gives asset n the media type conftest.MEDIA[n % 4]: PNG, WAV, "MP4", octet-stream.
CONTENTS = [png_bytes(), wav_bytes(), b"not really an mp4", b"motion capture data"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return provenance.write_certificate_chain(
        tmp_path_factory.mktemp("c2pa"), organisation="Guildtrust test suite"
    )


@pytest.fixture(scope="module")
def signing_server(django_db_setup, s3_server, chain):
    import os

    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") or not os.environ.get("REDIS_URL"):
        pytest.skip("the live server runs on the real stack (PostgreSQL, Redis)")
    env = stack_env(redis_url=os.environ["REDIS_URL"], s3_server=s3_server) | {
        "HTTPS": "off",
        "DEBUG": "false",
        "S3_REGION": "us-east-1",
        "C2PA_SIGNING_CERT": str(chain["chain"]),
        "C2PA_SIGNING_KEY": str(chain["key"]),
    }
    with GunicornServer(env, workers=2, log_name="c2pa-client-gunicorn.log") as web:
        yield web


@pytest.fixture
def media_lease(committed_cast, s3_server, signing_server):
    client = s3_server.client()
    objects = [StoredObject(f"c2pa-client/{n}", data) for n, data in enumerate(CONTENTS)]
    for stored in objects:
        client.put_object(Bucket=S3_BUCKET, Key=stored.key, Body=stored.data)
    return make_lease(committed_cast, objects, url=signing_server.url)


def _state(sidecar: bytes, data: bytes, media_type: str, root: bytes) -> str:
    context = c2pa.Context.from_dict(
        {"trust": {"trust_anchors": root.decode()}, "verify": {"verify_trust": True}}
    )
    with c2pa.Reader(media_type, io.BytesIO(data), sidecar, context=context) as reader:
        return reader.get_validation_state()


def test_pull_with_c2pa_saves_a_sidecar_beside_each_media_file(media_lease, chain, tmp_path):
    folder = tmp_path / "pulled"
    process = puller(
        "pull",
        *("--url", media_lease.url, "--lease", str(media_lease.lease.pk), "--to", str(folder)),
        *("--quiet", "--c2pa"),
        secret=media_lease.secret,
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "C2PA sidecars: 2 saved" in stderr
    names = json.loads((folder / ".guildtrust" / "names.json").read_text())["names"]
    png, wav = (names[str(asset_id)] for asset_id in media_lease.asset_ids[:2])
    assert sorted(p.name for p in folder.glob("*.c2pa")) == sorted(
        [png.rsplit(".", 1)[0] + ".c2pa", wav.rsplit(".", 1)[0] + ".c2pa"]
    )
    root = chain["root"].read_bytes()
    for name, media_type in ((png, "image/png"), (wav, "audio/wav")):
        sidecar = (folder / (name.rsplit(".", 1)[0] + ".c2pa")).read_bytes()
        assert _state(sidecar, (folder / name).read_bytes(), media_type, root) == "Trusted"
    assert not list(folder.glob(".*.part"))


def test_the_notebook_api_reads_an_assets_provenance(media_lease, chain):
    with guildtrust.open_lease(media_lease.url, media_lease.secret, lease=media_lease.lease.pk) as lease:
        asset = media_lease.asset_ids[0]
        sidecar, data = lease.provenance(asset), lease.read(asset)
        with pytest.raises(Refused) as refused:
            lease.provenance(media_lease.asset_ids[2])  # "MP4" bytes C2PA cannot parse
    assert _state(sidecar, data, "image/png", chain["root"].read_bytes()) == "Trusted"
    assert refused.value.code == "c2pa_unsupported_media"
