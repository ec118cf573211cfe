"""C2PA provenance: each media asset delivered under a lease has a `.c2pa` sidecar signed by the
trust, which c2pa-python's reader validates against the bytes the gateway serves, and which stops
validating when the bytes or the manifest are changed.

The suite signs with a chain it generates (a root CA and an ES256 signing certificate). Read with
that root as a trust anchor the state is `Trusted`; read without it (as a stranger would, who has
never heard of this test root) the state is `Valid` and the one failure is
`signingCredential.untrusted`: the signature and the hash binding hold, only the root is unknown."""

import hashlib
import io
import struct
import wave
import zlib
from datetime import timedelta

import c2pa
import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from licensing import provenance
from licensing import services as licensing
from licensing.models import Lease, UsageEvent
from tests.conftest import bearer_client
from trust import services as trust
from trust.models import Asset, Consent, DatasetVersionItem
from trust.storage import get_object_store

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def test_chain(tmp_path_factory):
    return provenance.write_certificate_chain(
        tmp_path_factory.mktemp("c2pa"), organisation="Guildtrust test suite"
    )


@pytest.fixture
def signing(settings, test_chain):
    settings.C2PA_SIGNING_CERT = str(test_chain["chain"])
    settings.C2PA_SIGNING_KEY = str(test_chain["key"])
    cache.clear()  # this run's own Redis db: a sidecar signed by an earlier test is not reused
    return test_chain


def png_bytes(width: int = 8, height: int = 8, shade: int = 200) -> bytes:
    """A real PNG (grey square), written with the standard library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wav_bytes(frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(frames)))
    return buffer.getvalue()


def mp4_bytes(payload: bytes = b"\x00" * 64) -> bytes:
    """A minimal ISO BMFF (MP4) file: ftyp, a moov holding an mvhd, and an mdat."""

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", 8 + len(body)) + kind + body

    matrix = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
    mvhd = (
        bytes(4)
        + struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x00010000, 0x0100)
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2)
    )
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    return ftyp + box(b"moov", box(b"mvhd", mvhd)) + box(b"mdat", payload)


def store_as(asset, data: bytes, *, content_type: str, title: str) -> bytes:
    """Put `data` in the object store under the asset's key and record it as verified."""
    get_object_store().put_bytes(asset.object_key, data, content_type=content_type)
    sha = hashlib.sha256(data).hexdigest()
    Asset.objects.filter(pk=asset.pk).update(
        content_type=content_type, title=title, sha256=sha, size=len(data)
    )
    DatasetVersionItem.objects.filter(asset_id=asset.pk).update(sha256=sha, size=len(data))
    return data


@pytest.fixture
def media(world, s3_settings, signing):
    """Alice's asset a PNG face still, Bob's (shared with Alice) a WAV line reading, on S3."""
    world.png = store_as(world.alice_asset, png_bytes(), content_type="image/png", title="Alice, face still")
    world.wav = store_as(world.bob_asset, wav_bytes(), content_type="audio/wav", title="Bob and Alice, line")
    return world


def sidecar(world, asset, secret=None):
    return bearer_client(secret or world.secret_a).get(
        f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/c2pa/"
    )


def downloaded(world, asset) -> bytes:
    """The asset's bytes as a studio gets them: the gateway's redirect to the S3 server."""
    response = bearer_client(world.secret_a).get(
        f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/"
    )
    assert response.status_code == 302
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200
    return fetched.content


def read(manifest: bytes, data: bytes, media_type: str, *, anchor: bytes | None = None):
    """(validation state, failure codes, active manifest) as c2pa-python's Reader reports them."""
    options = {"verify": {"verify_trust": True}}
    if anchor is not None:
        options["trust"] = {"trust_anchors": anchor.decode()}
    context = c2pa.Context.from_dict(options)
    with c2pa.Reader(media_type, io.BytesIO(data), manifest, context=context) as reader:
        failures = (reader.get_validation_results() or {}).get("activeManifest", {}).get("failure", [])
        return (
            reader.get_validation_state(),
            sorted({f["code"] for f in failures}),
            reader.get_active_manifest(),
        )


def assertion(manifest: dict, label: str) -> dict:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)


def test_a_sidecar_validates_as_trusted_against_the_downloaded_bytes(media, signing):
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/c2pa"
    assert response["Content-Disposition"] == 'attachment; filename="alice-face-still.c2pa"'
    state, failures, manifest = read(
        response.content,
        downloaded(media, media.alice_asset),
        "image/png",
        anchor=signing["root"].read_bytes(),
    )
    assert (state, failures) == ("Trusted", [])
    assert manifest["signature_info"]["issuer"] == "Guildtrust test suite"


def test_a_client_asking_for_application_c2pa_gets_the_sidecar(media):
    path = f"/api/v1/leases/{media.lease_a.pk}/assets/{media.alice_asset.pk}/c2pa/"
    response = bearer_client(media.secret_a).get(path, HTTP_ACCEPT="application/c2pa")
    assert response.status_code == 200
    assert read(response.content, media.png, "image/png")[0] == "Valid"


def test_without_the_test_root_the_only_failure_is_the_untrusted_root(media):
    state, failures, _ = read(sidecar(media, media.alice_asset).content, media.png, "image/png")
    assert (state, failures) == ("Valid", ["signingCredential.untrusted"])


def test_audio_gets_a_sidecar_that_validates_too(media, signing):
    response = sidecar(media, media.bob_asset)
    assert response.status_code == 200
    state, failures, _ = read(
        response.content, downloaded(media, media.bob_asset), "audio/wav", anchor=signing["root"].read_bytes()
    )
    assert (state, failures) == ("Trusted", [])


def test_video_gets_a_sidecar_bound_by_its_boxes_and_tampering_breaks_it(media, signing):
    store_as(media.alice_asset, mp4_bytes(), content_type="video/mp4", title="Alice, walk")
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 200
    root = signing["root"].read_bytes()
    state, failures, manifest = read(
        response.content, downloaded(media, media.alice_asset), "video/mp4", anchor=root
    )
    assert (state, failures) == ("Trusted", [])
    assert any(a["label"].startswith("c2pa.hash.bmff") for a in manifest["assertions"])
    state, failures, _ = read(response.content, mp4_bytes(b"\x01" * 64), "video/mp4", anchor=root)
    assert state == "Invalid"
    assert "assertion.bmffHash.mismatch" in failures


def test_the_manifest_holds_member_numbers_consent_and_the_lease(media):
    _, _, manifest = read(sidecar(media, media.bob_asset).content, media.wav, "audio/wav")
    holding = assertion(manifest, provenance.HOLDING_ASSERTION)
    assert holding["held_for"] == [
        {"member_number": "M-00001", "share": "0.600000"},
        {"member_number": "M-00002", "share": "0.400000"},
    ]
    assert holding["consent_uses_granted"] == ["capture", "training"]
    assert holding["asset"]["sha256"] == hashlib.sha256(media.wav).hexdigest()
    lease = holding["lease"]
    assert (lease["id"], lease["studio"], lease["permitted_uses"]) == (
        media.lease_a.pk,
        "Studio A",
        ["training"],
    )
    assert lease["agreement"].endswith(f"/api/v1/leases/{media.lease_a.pk}/odrl.json")
    assert "Alice" not in str(manifest) and "Bob" not in str(holding)


def test_training_and_mining_are_constrained_to_the_named_lease(media):
    _, _, manifest = read(sidecar(media, media.alice_asset).content, media.png, "image/png")
    entries = assertion(manifest, "cawg.training-mining")["entries"]
    assert sorted(entries) == [
        "cawg.ai_generative_training",
        "cawg.ai_inference",
        "cawg.ai_training",
        "cawg.data_mining",
    ]
    for entry in entries.values():
        assert entry["use"] == "constrained"
        assert f"lease {media.lease_a.pk} to Studio A" in entry["constraint_info"]


def test_a_member_listed_publicly_is_named_the_others_by_number_only(media):
    media.cast.alice.listed_publicly = True
    media.cast.alice.save(update_fields=["listed_publicly"])
    _, _, manifest = read(sidecar(media, media.bob_asset).content, media.wav, "audio/wav")
    assert assertion(manifest, provenance.HOLDING_ASSERTION)["held_for"] == [
        {"member_number": "M-00001", "share": "0.600000", "name": "Alice"},
        {"member_number": "M-00002", "share": "0.400000"},
    ]


def test_a_use_only_one_contributor_granted_is_not_listed(media):
    trust.consent_grant(actor=media.cast.alice.user, member=media.cast.alice, use="voice_synthesis")
    _, _, alone = read(sidecar(media, media.alice_asset).content, media.png, "image/png")
    _, _, shared = read(sidecar(media, media.bob_asset).content, media.wav, "audio/wav")
    assert assertion(alone, provenance.HOLDING_ASSERTION)["consent_uses_granted"] == [
        "capture",
        "training",
        "voice_synthesis",
    ]
    assert assertion(shared, provenance.HOLDING_ASSERTION)["consent_uses_granted"] == ["capture", "training"]


def test_tampered_asset_bytes_break_the_hash_binding(media):
    manifest = sidecar(media, media.alice_asset).content
    darker = png_bytes(shade=20)  # another valid PNG, same size: only the pixels differ
    state, failures, _ = read(manifest, darker, "image/png")
    assert state == "Invalid"
    assert "assertion.dataHash.mismatch" in failures


def test_a_tampered_manifest_no_longer_validates(media):
    manifest = sidecar(media, media.alice_asset).content
    assert manifest.count(b"Studio A") >= 1
    rewritten = manifest.replace(b"Studio A", b"Studio B")  # claim another studio's lease
    state, failures, _ = read(rewritten, media.png, "image/png")
    assert state == "Invalid"
    assert "assertion.hashedURI.mismatch" in failures


def test_the_sidecar_is_cached_and_records_no_usage(media):
    first = sidecar(media, media.alice_asset).content
    # Gone from storage: a second request is served from the cache, not signed again.
    get_object_store().delete(media.alice_asset.object_key)
    assert sidecar(media, media.alice_asset).content == first
    assert not UsageEvent.objects.filter(lease=media.lease_a).exists()


def test_a_consent_change_signs_a_new_sidecar(media):
    first = sidecar(media, media.alice_asset).content
    trust.consent_grant(actor=media.cast.alice.user, member=media.cast.alice, use="crowd_generation")
    second = sidecar(media, media.alice_asset).content
    assert second != first
    _, _, manifest = read(second, media.png, "image/png")
    assert "crowd_generation" in assertion(manifest, provenance.HOLDING_ASSERTION)["consent_uses_granted"]


def test_the_sidecar_takes_a_flat_number_of_queries(media, django_assert_max_num_queries):
    # The token, the gateway's check, the asset, the lease, its contributors, their grants (one
    # UNION over every use), whatever the number of contributors or uses.
    with django_assert_max_num_queries(8):
        assert sidecar(media, media.bob_asset).status_code == 200


def test_a_bad_stored_object_is_refused_not_signed(media):
    get_object_store().put_bytes(media.alice_asset.object_key, png_bytes(shade=1), content_type="image/png")
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 409
    assert response.json()["code"] == "asset_bytes_changed"


# --- Refusals, as the gateway refuses -------------------------------------------------------------


def test_an_asset_that_is_not_media_has_no_sidecar(media):
    store_as(media.alice_asset, b"INT. STUDIO - DAY", content_type="text/plain", title="Scene 4")
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 409
    assert response.json()["code"] == "c2pa_unsupported_media"


def test_a_withdrawn_asset_has_no_sidecar(media):
    grant = Consent.objects.get(member=media.cast.bob, use="training", state=Consent.State.GRANTED)
    trust.consent_withdraw(actor=media.cast.bob.user, consent=grant)
    response = sidecar(media, media.bob_asset)
    assert response.status_code == 403
    assert response.json()["code"] == "not_licensable"


def test_a_revoked_lease_has_no_sidecar(media):
    licensing.lease_revoke(actor=media.cast.admin, lease=media.lease_a)
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 410


def test_an_ended_lease_has_no_sidecar(media):
    Lease.objects.filter(pk=media.lease_a.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 410
    assert response.json()["code"] == "lease_expired"


def test_another_studios_token_finds_nothing(media):
    response = sidecar(media, media.alice_asset, secret=media.secret_b)
    assert response.status_code == 404


def test_no_token_gets_no_sidecar(media):
    response = bearer_client().get(f"/api/v1/leases/{media.lease_a.pk}/assets/{media.alice_asset.pk}/c2pa/")
    assert response.status_code == 401


# --- Where the key comes from --------------------------------------------------------------------


def test_without_a_configured_certificate_a_production_trust_signs_nothing(media, settings):
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""
    settings.EMBEDDED_DEFAULT = False
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 503
    assert response.json()["code"] == "c2pa_not_configured"


def test_a_key_that_does_not_match_the_certificate_signs_nothing(media, settings, tmp_path):
    other = provenance.write_certificate_chain(tmp_path, organisation="Someone else")
    settings.C2PA_SIGNING_KEY = str(other["key"])
    response = sidecar(media, media.alice_asset)
    assert response.status_code == 503
    assert response.json()["code"] == "c2pa_signing_failed"


@pytest.mark.embedded
def test_the_embedded_default_signs_with_a_local_chain_marked_untrusted(world, settings, tmp_path):
    """On `make run` (SQLite, the local object store): no certificate configured, so a local chain
    is made under var/c2pa/ on first use; readers call it untrusted unless given its root."""
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""
    settings.EMBEDDED_DEFAULT = True
    settings.VAR_DIR = tmp_path
    cache.clear()
    png = store_as(world.alice_asset, png_bytes(), content_type="image/png", title="Alice, face still")
    response = sidecar(world, world.alice_asset)
    assert response.status_code == 200
    assert (tmp_path / "c2pa" / "chain.pem").exists()
    state, failures, manifest = read(response.content, png, "image/png")
    assert (state, failures) == ("Valid", ["signingCredential.untrusted"])
    assert "NOT TRUSTED" in manifest["signature_info"]["issuer"]
    local_root = (tmp_path / "c2pa" / "root.pem").read_bytes()
    assert read(response.content, png, "image/png", anchor=local_root)[0] == "Trusted"
