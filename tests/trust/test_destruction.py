"""Retention and verified destruction (issue 12 item 8): which assets are due, what holds them,
what the store answers after the job (on the suite's real S3 server, with bucket versioning on,
and on the embedded default's local store), what is kept, and the signed certificate."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import services as licensing
from licensing import tokens as lease_tokens
from licensing.models import LeaseAsset, Takedown
from payouts import selectors as payouts_selectors
from payouts import services as payouts
from payouts.models import MemberEarning
from tests.conftest import bearer_client, json_body
from tests.factories import MemberFactory, grant_all, make_asset
from trust import destruction, receipts
from trust import services as trust
from trust.errors import Conflict
from trust.models import Asset, AssetDestruction, AuditEvent, Consent
from trust.selectors import is_licensable
from trust.storage import get_object_store

pytestmark = pytest.mark.django_db

VERSIONED_BUCKET = "guildtrust-versioned"


@pytest.fixture
def versioned_s3(s3_settings, s3_server, settings):
    """The suite's S3 server, on a bucket with versioning on: a delete there keeps every old
    version unless each is deleted by its version id."""
    client = s3_server.client()
    if VERSIONED_BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=VERSIONED_BUCKET)
    client.put_bucket_versioning(Bucket=VERSIONED_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    assert client.get_bucket_versioning(Bucket=VERSIONED_BUCKET)["Status"] == "Enabled"
    settings.S3_BUCKET = VERSIONED_BUCKET
    return client


def _versions(client, key):
    listing = client.list_object_versions(Bucket=VERSIONED_BUCKET, Prefix=key)
    return [v for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []) if v["Key"] == key]


def _head_status(client, key):
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=VERSIONED_BUCKET, Key=key)
    except ClientError as error:
        return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def _lease_on(cast, assets, *, uses=("training",)):
    dataset = trust.dataset_create(actor=cast.admin, slug=f"d-{Asset.objects.count()}", title="D")
    trust.dataset_add_assets(actor=cast.admin, dataset=dataset, asset_ids=[a.pk for a in assets])
    trust.dataset_freeze(actor=cast.admin, dataset=dataset)
    terms = licensing.terms_create(
        actor=cast.admin,
        dataset=dataset,
        title="Training",
        permitted_uses=list(uses),
        duration_days=30,
        flat_fee_cents=1000,
        price_per_download_cents=10,
    )
    return licensing.lease_approve(
        actor=cast.admin, lease=licensing.lease_request(actor=cast.carol, terms=terms, purpose="model")
    )


def _new_member(number):
    """A member of this test alone (the module's cast may hold grants made by other tests)."""
    return MemberFactory(user__username=f"member-{number}", member_number=f"M-9{number:04d}")


def _attest(staff, notice):
    licensing.takedown_acknowledge(actor=staff, takedown=notice)
    licensing.takedown_attest_deletion(actor=staff, takedown=notice, statement="deleted")


def _withdraw(member, use):
    grant = Consent.objects.get(member=member, use=use, state=Consent.State.GRANTED, asset__isnull=True)
    return trust.consent_withdraw(actor=member.user, consent=grant)


def test_destruction_on_s3_removes_every_version_and_leftover_and_keeps_royalties(cast, versioned_s3):
    alice = _new_member(1)
    grant_all(alice, "training")
    asset = make_asset(admin=cast.admin, contributors=[(alice, "1")], data=b"alice face scan v1")
    sha256, size = asset.sha256, asset.size
    store = get_object_store()
    # More versions of the final object, and an upload left open under the staging key.
    store.put_bytes(asset.object_key, b"alice face scan v2", content_type="application/octet-stream")
    store.put_bytes(asset.object_key, b"alice face scan v3", content_type="application/octet-stream")
    store.start_multipart(asset.staging_key, content_type="application/octet-stream")
    object_key, staging_key = asset.object_key, asset.staging_key
    assert len(_versions(versioned_s3, object_key)) == 3
    # The staging copy survives its delete on a versioned bucket: an old version and a marker.
    assert len(_versions(versioned_s3, staging_key)) == 2
    assert versioned_s3.list_multipart_uploads(Bucket=VERSIONED_BUCKET, Prefix=staging_key).get("Uploads")
    # A lease downloads it and pays: Alice earns her royalties in a closed period.
    lease = _lease_on(cast, [asset])
    _, secret = lease_tokens.lease_token_mint(actor=cast.carol, lease=lease, name="farm")
    studio = bearer_client(secret)
    assert studio.get(f"/api/v1/leases/{lease.pk}/assets/{asset.pk}/download/").status_code == 302
    period = payouts.period_create(
        actor=cast.admin, start=timezone.now() - timedelta(hours=1), end=timezone.now()
    )
    payouts.period_close(period_id=period.pk)
    earned = payouts_selectors.member_balance_cents(alice)
    assert earned > 0
    earnings = list(MemberEarning.objects.filter(member=alice).values_list("pk", "gross_cents"))
    _withdraw(alice, "capture")
    # Alice's withdrawal issued a notice to the lease: its attestation window holds the asset.
    notice = Takedown.objects.get(lease=lease, asset=asset)
    assert destruction.destroy_due()["claimed"] == 0
    _attest(cast.carol, notice)

    result = destruction.destroy_due()

    assert result == {"claimed": 1, "destroyed": 1, "unconfirmed": 0}
    for key in (object_key, staging_key):
        assert _versions(versioned_s3, key) == []
        assert _head_status(versioned_s3, key) == 404
        assert not versioned_s3.list_multipart_uploads(Bucket=VERSIONED_BUCKET, Prefix=key).get("Uploads")
    asset.refresh_from_db()
    assert asset.status == Asset.Status.DESTROYED and asset.destroyed_at is not None
    assert asset.object_key is None
    # What royalties and audit need is kept, and what was earned stays earned.
    assert (asset.sha256, asset.kind, asset.size) == (sha256, "face_scan", size)
    assert list(asset.contributors.values_list("member_id", flat=True)) == [alice.pk]
    assert payouts_selectors.member_balance_cents(alice) == earned
    assert list(MemberEarning.objects.filter(member=alice).values_list("pk", "gross_cents")) == earnings
    # Never licensable again: the lease's manifest leaves it out and the gateway refuses it.
    assert not is_licensable(asset=asset, uses=["training"], at=timezone.now())
    manifest = json_body(studio.get(f"/api/v1/leases/{lease.pk}/manifest/"))
    assert manifest["assets"] == []
    refused = studio.get(f"/api/v1/leases/{lease.pk}/assets/{asset.pk}/download/")
    assert (refused.status_code, refused.json()["code"]) == (403, "not_licensable")
    certificate = AssetDestruction.objects.get(asset=asset)
    assert certificate.removed["object_versions_removed"] == 4  # three final versions, one staging
    assert certificate.removed["multipart_uploads_aborted"] == 1
    assert all(not answer["head_found"] for answer in certificate.verification["answers"].values())


def test_the_asset_is_never_licensable_again_not_even_after_a_new_capture_grant(world):
    alice, asset = world.cast.alice, world.alice_asset
    _withdraw(alice, "capture")
    for notice in Takedown.objects.filter(asset=asset):
        staff = world.cast.carol if notice.lease_id == world.lease_a.pk else world.cast.dave
        _attest(staff, notice)
    destruction.destroy_due()

    trust.consent_grant(actor=alice.user, member=alice, use="capture")

    asset.refresh_from_db()
    assert asset.status == Asset.Status.DESTROYED
    assert not is_licensable(asset=asset, uses=["training"], at=timezone.now())
    assert not LeaseAsset.objects.filter(asset=asset).exists()
    manifest = json_body(bearer_client(world.secret_a).get(f"/api/v1/leases/{world.lease_a.pk}/manifest/"))
    assert str(asset.pk) not in {row["id"] for row in manifest["assets"]}
    download = bearer_client(world.secret_a).get(
        f"/api/v1/leases/{world.lease_a.pk}/assets/{asset.pk}/download/"
    )
    assert (download.status_code, download.json()["code"]) == (403, "not_licensable")
    with pytest.raises(Conflict):
        trust.asset_complete(actor=world.cast.admin, asset=asset)


# Also on the embedded default (SQLite, local store): `pytest -m embedded`.
@pytest.mark.embedded
def test_destruction_on_the_local_store_removes_the_file_staging_and_open_parts(cast, settings):
    alice = _new_member(2)
    grant_all(alice, "training")
    asset = make_asset(admin=cast.admin, contributors=[(alice, "1")], data=b"local scan")
    store = get_object_store()
    store.put_bytes(asset.staging_key, b"a staging copy left behind", content_type="text/plain")
    upload_id = store.start_multipart(asset.staging_key, content_type="text/plain")
    Asset.objects.filter(pk=asset.pk).update(upload_id=upload_id)
    object_key = asset.object_key
    _withdraw(alice, "capture")

    assert destruction.destroy_due()["destroyed"] == 1

    assert store.size(object_key) is None and store.size(asset.staging_key) is None
    assert not (settings.LOCAL_OBJECT_ROOT / ".multipart" / upload_id).exists()
    asset.refresh_from_db()
    assert asset.status == Asset.Status.DESTROYED and asset.upload_id == ""


def test_withdrawing_another_use_or_a_capture_grant_still_covered_destroys_nothing(cast):
    alice = _new_member(3)
    grant_all(alice, "training")
    asset = make_asset(admin=cast.admin, contributors=[(alice, "1")], data=b"kept scan")
    _withdraw(alice, "training")
    assert destruction.destroy_due()["claimed"] == 0
    # A capture grant for this asset alone still covers it when the all-assets one is withdrawn.
    trust.consent_grant(actor=alice.user, member=alice, use="capture", asset=asset)
    _withdraw(alice, "capture")
    assert destruction.destroy_due()["claimed"] == 0
    asset.refresh_from_db()
    assert asset.status == Asset.Status.AVAILABLE


# Also on the embedded default (SQLite, local store): `pytest -m embedded`.
@pytest.mark.embedded
def test_one_contributor_withdrawing_capture_destroys_a_shared_asset(world):
    bob, asset = world.cast.bob, world.bob_asset
    _withdraw(bob, "capture")
    later = max(Takedown.objects.filter(asset=asset).values_list("attest_due_at", flat=True))
    # Until every notice's attestation deadline passes (or the studio attests) the asset is held.
    assert destruction.destroy_due(at=later - timedelta(seconds=1))["claimed"] == 0
    assert destruction.destroy_due(at=later + timedelta(seconds=1))["destroyed"] == 1
    done = AssetDestruction.objects.get(asset=asset)
    assert done.reason == AssetDestruction.Reason.CAPTURE_WITHDRAWN
    assert done.withdrawal.member == bob
    world.alice_asset.refresh_from_db()
    assert world.alice_asset.status == Asset.Status.AVAILABLE  # only bob's consent moved


# Also on the embedded default (SQLite, local store): `pytest -m embedded`.
@pytest.mark.embedded
def test_retention_ends_destruction_and_takes_the_asset_out_of_the_lease(world):
    admin, asset = world.cast.admin, world.alice_asset
    destruction.retention_set(actor=admin, periods={"face_scan": 30})
    assert destruction.destroy_due(at=asset.created_at + timedelta(days=29))["claimed"] == 0
    assert LeaseAsset.objects.filter(asset=asset, lease=world.lease_a).exists()

    result = destruction.destroy_due(at=world.bob_asset.created_at + timedelta(days=30, seconds=1))

    # Both world assets are face scans registered together: both are due.
    assert result["destroyed"] == 2
    done = AssetDestruction.objects.get(asset=asset)
    assert (done.reason, done.retention_days) == (AssetDestruction.Reason.RETENTION_ENDED, 30)
    assert not LeaseAsset.objects.filter(asset=asset).exists()


# Also on the embedded default (SQLite, local store): `pytest -m embedded`.
@pytest.mark.embedded
def test_running_twice_changes_nothing_and_an_unconfirmed_purge_is_retried(cast, monkeypatch):
    alice = _new_member(4)
    grant_all(alice)
    asset = make_asset(admin=cast.admin, contributors=[(alice, "1")], data=b"stubborn")
    _withdraw(alice, "capture")
    real = type(get_object_store()).purge
    monkeypatch.setattr(type(get_object_store()), "purge", lambda self, keys, upload_ids=(): real(self, []))

    first = destruction.destroy_due()

    assert first == {"claimed": 1, "destroyed": 0, "unconfirmed": 1}
    asset.refresh_from_db()
    assert asset.status == Asset.Status.DESTROYING and asset.destroyed_at is None
    monkeypatch.setattr(type(get_object_store()), "purge", real)
    assert destruction.destroy_due() == {"claimed": 0, "destroyed": 1, "unconfirmed": 0}
    assert destruction.destroy_due() == {"claimed": 0, "destroyed": 0, "unconfirmed": 0}
    assert AuditEvent.objects.filter(action="asset.destroyed", subject_id=str(asset.pk)).count() == 1


def test_the_certificate_verifies_with_the_public_key_and_a_tampered_one_does_not(world, as_user, anon):
    _withdraw(world.cast.bob, "capture")
    later = max(Takedown.objects.filter(asset=world.bob_asset).values_list("attest_due_at", flat=True))
    destruction.destroy_due(at=later + timedelta(seconds=1))
    done = AssetDestruction.objects.get(asset=world.bob_asset)
    published = anon.get("/.well-known/guildtrust.json").json()["public_keys"]

    document = as_user(world.cast.alice.user).get(f"/api/v1/destructions/{done.pk}/certificate/").json()

    assert receipts.verify(document, published)
    certificate = document["receipt"]
    assert certificate["asset"]["sha256"] == world.bob_asset.sha256
    assert certificate["reason"] == "capture_withdrawn"
    assert [s["member_number"] for s in certificate["subjects"]] == ["M-00001", "M-00002"]
    tampered = {**document, "receipt": {**certificate, "reason": "retention_ended"}}
    assert not receipts.verify(tampered, published)


def test_a_certificate_is_for_the_assets_contributors_and_administrators_only(world, as_user):
    _withdraw(world.cast.alice, "capture")
    later = max(Takedown.objects.values_list("attest_due_at", flat=True))
    destruction.destroy_due(at=later + timedelta(seconds=1))
    alone = AssetDestruction.objects.get(asset=world.alice_asset)  # Alice's alone
    url = f"/api/v1/destructions/{alone.pk}/certificate/"
    assert as_user(world.cast.alice.user).get(url).status_code == 200
    assert as_user(world.cast.admin).get(url).status_code == 200
    refused = as_user(world.cast.bob.user).get(url)
    assert refused.status_code == 404
    assert refused.json()["code"] == "destruction_not_found"
    listed = as_user(world.cast.bob.user).get("/api/v1/destructions/").json()["results"]
    assert str(world.alice_asset.pk) not in {row["asset"] for row in listed}
    assert str(world.bob_asset.pk) in {row["asset"] for row in listed}  # Bob contributes to it


def test_the_administrator_sets_retention_per_kind(world, as_user):
    admin = as_user(world.cast.admin)
    answer = admin.put("/api/v1/settings/retention/", {"face_scan": 365, "script": 30}, format="json")
    assert answer.status_code == 200
    assert answer.json()["face_scan"] == 365 and answer.json()["script"] == 30
    assert answer.json()["voice_recording"] is None
    # Kinds not named keep theirs; null lifts a limit.
    admin.put("/api/v1/settings/retention/", {"script": None}, format="json")
    assert admin.get("/api/v1/settings/retention/").json() == {
        **{kind: None for kind in Asset.Kind.values},
        "face_scan": 365,
    }
    assert AuditEvent.objects.filter(action="retention.set").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"face_scan": 0},
        {"face_scan": -3},
        {"face_scan": "a year"},
        {"face_scan": True},
        {"face_scan": 36501},
        {"face_scans": 30},
        {},
        ["face_scan", 30],
    ],
)
def test_nonsense_retention_is_a_clear_400_and_changes_nothing(world, as_user, body):
    answer = as_user(world.cast.admin).put("/api/v1/settings/retention/", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid"
    assert destruction.retention_periods() == {kind: None for kind in Asset.Kind.values}


def test_selecting_due_assets_is_one_query(world, django_assert_num_queries):
    destruction.retention_set(actor=world.cast.admin, periods={"face_scan": 1, "script": 5})
    with django_assert_num_queries(2):  # the retention periods, then the due assets
        list(destruction.assets_due_for_destruction(at=timezone.now()).values_list("pk"))


def test_held_and_due_per_kind_count_every_kind_in_one_query_each(world, django_assert_num_queries):
    destruction.retention_set(actor=world.cast.admin, periods={"face_scan": 30})
    later = world.bob_asset.created_at + timedelta(days=30, seconds=1)
    none = {kind: 0 for kind in Asset.Kind.values}
    registered = Counter(Asset.objects.values_list("kind", flat=True))

    with django_assert_num_queries(1):
        assert destruction.assets_held_per_kind() == {**none, **registered}
    with django_assert_num_queries(2):  # the retention periods, then the due assets
        assert destruction.assets_due_per_kind(at=later) == {**none, "face_scan": registered["face_scan"]}

    destruction.destroy_due(at=later)
    assert destruction.assets_held_per_kind() == {**none, **registered, "face_scan": 0}
    assert destruction.assets_due_per_kind(at=later) == none


def test_the_command_destroys_what_is_due_and_says_so(world, capsys):
    from django.core.management import call_command

    destruction.retention_set(actor=world.cast.admin, periods={"face_scan": 1})
    Asset.objects.update(created_at=timezone.now() - timedelta(days=2))
    call_command("destroy_due_assets", verbosity=0)
    assert "claimed 2, destroyed 2" in capsys.readouterr().out
    call_command("destroy_due_assets", verbosity=0)
    assert "claimed 0, destroyed 0" in capsys.readouterr().out


def test_the_daily_beat_job_names_the_destruction_task(settings):
    from config.celery import app
    from trust.tasks import destroy_due_assets

    entry = settings.CELERY_BEAT_SCHEDULE["destroy-due-assets"]
    assert entry["schedule"] == 86400.0
    assert app.tasks[entry["task"]].name == destroy_due_assets.name == "trust.tasks.destroy_due_assets"
