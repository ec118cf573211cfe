"""Sub-licences to vendors: studio staff derive, from a federated lease's `ft_` token, a narrower
token naming a vendor (fewer assets or uses, a shorter life). It is never wider than its parent
(the endpoint refuses; the Biscuit itself grants nothing more whatever a vendor appends offline),
it is revoked with its parent, and the vendor's use is recorded for the members to see.

These run at the home trust alone (lease_a made federated, its other part at a peer that is
down): the home part's gateway verifies `ft_` tokens as every part's does."""

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import biscuit_auth
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from federation import biscuits
from licensing import tokens as lease_tokens
from licensing.models import DerivedToken, FederatedRevocation, Lease, LeasePart, UsageEvent
from tests.federation.helpers import bearer, download, make_lease_federated, signing_key
from trust import keys
from trust.models import AuditEvent
from trust.services import consent_grant

pytestmark = pytest.mark.django_db

VENDOR = "Pixel Forge VFX"


@pytest.fixture
def home(world, settings):
    """lease_a, federated with its home here, permitting training and crowd generation (which
    Alice and Bob consent to), and a minted `ft_` token of it."""
    settings.TRUST_SLUG = "sag-aftra"
    equity = make_lease_federated(world.lease_a)
    Lease.objects.filter(pk=world.lease_a.pk).update(permitted_uses=["training", "crowd_generation"])
    world.lease_a.refresh_from_db()
    for member in (world.cast.alice, world.cast.bob):
        consent_grant(actor=member.user, member=member, use="crowd_generation")
    token, secret = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="farm")
    return SimpleNamespace(lease=world.lease_a, token=token, secret=secret, equity=equity)


def _staff(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _derive(world, home, *, client=None, **body):
    client = client or _staff(world.cast.carol)
    body = {"token": home.secret, "vendor": VENDOR} | body
    return client.post(f"/api/v1/leases/{home.lease.pk}/tokens/derive/", body, format="json")


def _derived(world, home, **body) -> str:
    answer = _derive(world, home, **body)
    assert answer.status_code == 201, answer.content
    return answer.json()["token"]


def _report(token: str, lease, *events):
    now = timezone.now()
    body = {
        "events": [
            {"event_key": str(uuid.uuid4()), "quantity": 1, "occurred_at": now.isoformat()} | event
            for event in events
        ]
    }
    return bearer(token).post(f"/api/v1/leases/{lease.pk}/usage/", body, format="json")


def _public_key(kid):
    return keys.current_key().public_hex


# --- Narrower works ----------------------------------------------------------------------------


def test_a_narrower_vendor_token_opens_only_its_assets_and_uses(world, home):
    expires = timezone.now() + timedelta(hours=2)
    answer = _derive(
        world,
        home,
        assets=[str(world.alice_asset.pk)],
        uses=["training"],
        expires_at=expires.isoformat(),
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    secret = body["token"]
    assert secret.startswith("ft_") and secret != home.secret
    assert body["vendor"] == VENDOR and body["state"] == "active" and body["derived_here"] is True
    assert body["assets"] == [str(world.alice_asset.pk)] and body["uses"] == ["training"]
    row = DerivedToken.objects.get(pk=body["id"])
    assert row.parent == home.token and row.parent_revocation_id == home.token.revocation_id
    assert row.revocation_id == biscuits.revocation_ids(secret)[-1]
    assert row.expires_at == expires.replace(microsecond=0) < home.token.expires_at
    audited = AuditEvent.objects.get(action="token.derived")
    assert audited.data["vendor"] == VENDOR and audited.data["parent"] == home.token.pk

    assert download(secret, home.lease.pk, world.alice_asset.pk).status_code == 302
    refused = download(secret, home.lease.pk, world.bob_asset.pk)
    assert refused.status_code == 403 and refused.json()["code"] == "token_not_for_this"
    trained = _report(secret, home.lease, {"kind": "training_run", "asset": str(world.alice_asset.pk)})
    assert trained.status_code == 202, trained.content
    generated = _report(secret, home.lease, {"kind": "generated_second", "asset": str(world.alice_asset.pk)})
    assert generated.status_code == 403 and generated.json()["code"] == "use_not_permitted"
    other_asset = _report(secret, home.lease, {"kind": "training_run", "asset": str(world.bob_asset.pk)})
    assert other_asset.status_code == 403 and other_asset.json()["code"] == "token_not_for_this"
    # The parent still does everything the lease allows.
    assert download(home.secret, home.lease.pk, world.bob_asset.pk).status_code == 302
    assert (
        _report(
            home.secret, home.lease, {"kind": "generated_second", "asset": str(world.bob_asset.pk)}
        ).status_code
        == 202
    )


def test_a_vendor_tokens_manifest_lists_only_its_assets(world, home):
    secret = _derived(world, home, assets=[str(world.alice_asset.pk)])

    def listed(token):
        answer = bearer(token).get(f"/api/v1/leases/{home.lease.pk}/manifest/")
        assert answer.status_code == 200
        return {a["id"] for a in json.loads(b"".join(answer.streaming_content))["assets"]}

    assert listed(secret) == {str(world.alice_asset.pk)}
    assert listed(home.secret) == {str(world.alice_asset.pk), str(world.bob_asset.pk)}
    assert listed(_derived(world, home, uses=["training"])) == listed(home.secret)


def test_a_vendor_token_expires_before_its_parent(world, home):
    secret = _derived(world, home, expires_at=(timezone.now() + timedelta(hours=1)).isoformat())
    check = dict(public_key_for=_public_key, trust="sag-aftra", local_lease=home.lease.pk)
    later = timezone.now() + timedelta(hours=2)
    biscuits.authorize(home.secret, now=later, **check)  # the parent still works then
    with pytest.raises(biscuits.TokenRefused) as refused:
        biscuits.authorize(secret, now=later, **check)
    assert refused.value.code == "token_expired"


def test_the_vendor_is_recorded_on_every_usage_event_its_token_makes(world, home):
    secret = _derived(world, home)
    assert download(secret, home.lease.pk, world.alice_asset.pk).status_code == 302
    assert _report(secret, home.lease, {"kind": "training_run"}).status_code == 202
    assert download(home.secret, home.lease.pk, world.bob_asset.pk).status_code == 302
    events = UsageEvent.objects.filter(lease=home.lease).order_by("recorded_at", "pk")
    assert [(e.kind, e.vendor, e.token_id) for e in events] == [
        ("download", VENDOR, home.token.pk),
        ("training_run", VENDOR, home.token.pk),
        ("download", "", home.token.pk),
    ]


def test_a_token_derived_offline_is_recorded_when_first_seen_and_listed(world, home):
    offline = biscuits.derive(home.secret, public_key_for=_public_key, vendor="Roto Ltd", uses=["training"])
    assert download(offline, home.lease.pk, world.alice_asset.pk).status_code == 302
    assert UsageEvent.objects.get(lease=home.lease, kind="download").vendor == "Roto Ltd"
    seen = DerivedToken.objects.get(revocation_id=biscuits.revocation_ids(offline)[-1])
    assert (seen.created_by, seen.vendor, seen.uses, seen.assets) == (None, "Roto Ltd", ["training"], None)
    assert seen.last_used_at is not None
    listed = _staff(world.cast.carol).get(f"/api/v1/leases/{home.lease.pk}/derived-tokens/").json()["results"]
    assert [(t["vendor"], t["derived_here"], t["state"]) for t in listed] == [("Roto Ltd", False, "active")]


def test_another_parts_assets_are_named_by_their_trust(world, home):
    remote = str(uuid.uuid4())
    answer = _derive(world, home, assets=[f"equity-uk:{remote}", f"sag-aftra:{world.alice_asset.pk}"])
    assert answer.status_code == 201, answer.content
    assert set(answer.json()["assets"]) == {remote, str(world.alice_asset.pk)}


# --- Never wider -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"uses": ["voice_synthesis"]}, "use_not_in_lease"),
        ({"uses": []}, "uses_empty"),
        ({"assets": [str(uuid.uuid4())]}, "asset_not_in_lease"),
        ({"assets": [f"actra:{uuid.uuid4()}"]}, "asset_not_in_lease"),
        ({"assets": ["not-an-id"]}, "asset_invalid"),
        ({"assets": []}, "assets_empty"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "expiry_not_before_parent"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expiry_in_past"),
        ({"vendor": 'Quote "me"'}, "vendor_invalid"),
    ],
)
def test_a_token_wider_than_its_lease_or_parent_is_refused(world, home, body, code):
    answer = _derive(world, home, **body)
    assert answer.status_code == 422 and answer.json()["code"] == code, answer.content
    assert not DerivedToken.objects.exists()


def test_a_token_derived_from_a_vendor_token_cannot_widen_it(world, home):
    first = _derived(world, home, uses=["training"], assets=[str(world.alice_asset.pk)])
    home_first = SimpleNamespace(lease=home.lease, secret=first)
    for body, code in (
        ({"uses": ["training", "crowd_generation"]}, "wider_than_parent"),
        ({"assets": [str(world.bob_asset.pk)]}, "wider_than_parent"),
    ):
        answer = _derive(world, home_first, vendor="Sub Vendor", **body)
        assert answer.status_code == 422 and answer.json()["code"] == code
    narrower = _derive(world, home_first, vendor="Sub Vendor", uses=["training"])
    assert narrower.status_code == 201, narrower.content
    row = DerivedToken.objects.get(pk=narrower.json()["id"])
    assert row.parent == home.token and row.parent_revocation_id == biscuits.revocation_ids(first)[-1]
    assert row.assets == [str(world.alice_asset.pk)]  # the parent's restriction, kept


def test_widening_offline_grants_nothing_at_the_gateway_or_in_usage_reports(world, home):
    narrow = _derived(world, home, uses=["training"], assets=[str(world.alice_asset.pk)])
    # Another block asking for more uses and every asset: its checks are added, the first stay.
    wider = biscuits.derive(narrow, public_key_for=_public_key, vendor="Greedy", uses=["crowd_generation"])
    assert download(wider, home.lease.pk, world.bob_asset.pk).status_code == 403
    refused = _report(wider, home.lease, {"kind": "generated_second", "asset": str(world.alice_asset.pk)})
    assert refused.status_code == 403 and refused.json()["code"] == "use_not_permitted"
    # Facts an appended block adds grant nothing: the authorizer trusts the authority block only.
    parsed = biscuit_auth.Biscuit.from_base64(
        narrow[3:],
        biscuit_auth.PublicKey.from_bytes(
            bytes.fromhex(keys.current_key().public_hex), biscuit_auth.Algorithm.Ed25519
        ),
    )
    facts = biscuit_auth.BlockBuilder(
        'use("crowd_generation"); use("voice_synthesis"); asset({bob});', {"bob": str(world.bob_asset.pk)}
    )
    forged = "ft_" + parsed.append(facts).to_base64()
    assert download(forged, home.lease.pk, world.bob_asset.pk).status_code == 403
    assert (
        _report(
            forged, home.lease, {"kind": "generated_second", "asset": str(world.alice_asset.pk)}
        ).status_code
        == 403
    )
    # A later expiry appended to an expired vendor token: the earliest expiry binds.
    expired = biscuits.derive(
        home.secret,
        public_key_for=_public_key,
        vendor="Late",
        expires_at=timezone.now() - timedelta(seconds=5),
    )
    extended = biscuits.derive(
        expired, public_key_for=_public_key, vendor="Late", expires_at=timezone.now() + timedelta(days=1)
    )
    answer = download(extended, home.lease.pk, world.alice_asset.pk)
    assert answer.status_code == 401 and answer.json()["code"] == "token_expired"
    assert not UsageEvent.objects.filter(lease=home.lease, kind="generated_second").exists()


# --- Refusals ----------------------------------------------------------------------------------


def test_only_a_federated_token_can_be_derived(world, home):
    answer = _derive(world, home, token=world.secret_a)
    assert answer.status_code == 422 and answer.json()["code"] == "not_derivable"
    for junk in ("ft_", "ft_not-a-biscuit!", "ft_" + "A" * 400):
        answer = _derive(world, home, token=junk)
        assert answer.status_code == 422 and answer.json()["code"] == "parent_invalid", junk


def test_a_parent_token_of_another_lease_or_trust_is_refused(world, home):
    LeasePart.objects.create(lease=world.lease_b, peer=None, status="approved")
    _, other_lease = lease_tokens.lease_token_mint(actor=world.cast.dave, lease=world.lease_b, name="b")
    answer = _derive(world, home, token=other_lease)
    assert answer.status_code == 422 and answer.json()["code"] == "parent_invalid"
    grant = biscuits.LeaseGrant(
        home="sag-aftra",
        lease=home.lease.pk,
        parts=(("sag-aftra", home.lease.pk),),
        studio="sag-aftra:1",
        uses=("training",),
        expires_at=timezone.now() + timedelta(days=1),
    )
    forged = biscuits.mint(grant, key=signing_key())
    answer = _derive(world, home, token=forged)
    assert answer.status_code == 422 and answer.json()["code"] == "parent_invalid"


def test_derived_tokens_are_refused_to_anyone_but_the_leases_studio(world, home):
    derived = _derived(world, home)
    row = DerivedToken.objects.get(revocation_id=biscuits.revocation_ids(derived)[-1])
    paths = [
        ("post", f"/api/v1/leases/{home.lease.pk}/tokens/derive/", {"token": home.secret, "vendor": "X"}),
        ("get", f"/api/v1/leases/{home.lease.pk}/derived-tokens/", None),
        ("post", f"/api/v1/leases/{home.lease.pk}/derived-tokens/{row.pk}/revoke/", None),
    ]
    other_studio = _staff(world.cast.dave)
    member = _staff(world.cast.alice.user)
    for method, path, body in paths:
        assert getattr(APIClient(), method)(path, body, format="json").status_code == 401
        assert getattr(other_studio, method)(path, body, format="json").status_code == 404
        assert getattr(member, method)(path, body, format="json").status_code == 404
        # A lease token opens machines' calls, not people's.
        assert getattr(bearer(world.secret_a), method)(path, body, format="json").status_code == 403
    assert DerivedToken.objects.count() == 1 and DerivedToken.objects.get().revoked_at is None


def test_an_administrator_cannot_derive_for_a_studio(world, home):
    answer = _derive(world, home, client=_staff(world.cast.admin))
    assert answer.status_code == 403 and answer.json()["code"] == "studio_only"


# --- Revocation --------------------------------------------------------------------------------


def test_revoking_a_vendor_token_refuses_it_and_its_descendants_but_not_its_parent(world, home):
    child = _derive(world, home)
    child_secret, child_id = child.json()["token"], child.json()["id"]
    grandchild = _derived(world, SimpleNamespace(lease=home.lease, secret=child_secret), vendor="Roto Ltd")
    revoked = _staff(world.cast.carol).post(
        f"/api/v1/leases/{home.lease.pk}/derived-tokens/{child_id}/revoke/"
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    for secret in (child_secret, grandchild):
        answer = download(secret, home.lease.pk, world.alice_asset.pk)
        assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"
    assert download(home.secret, home.lease.pk, world.alice_asset.pk).status_code == 302
    # On the list the peers pull, so every trust of the lease refuses it too.
    pulled = lease_tokens.revocations_for_peer(peer=home.equity, since=0)["revocations"]
    assert [r["revocation_id"] for r in pulled] == [biscuits.revocation_ids(child_secret)[-1]]
    listed = _staff(world.cast.carol).get(f"/api/v1/leases/{home.lease.pk}/derived-tokens/").json()["results"]
    assert {t["vendor"]: t["state"] for t in listed} == {VENDOR: "revoked", "Roto Ltd": "revoked"}
    again = _staff(world.cast.carol).post(f"/api/v1/leases/{home.lease.pk}/derived-tokens/{child_id}/revoke/")
    assert again.status_code == 200 and FederatedRevocation.objects.count() == 1


def test_revoking_the_parent_refuses_every_token_derived_from_it(world, home):
    derived = _derived(world, home)
    staff = _staff(world.cast.carol)
    assert staff.delete(f"/api/v1/leases/{home.lease.pk}/tokens/{home.token.pk}/").status_code == 204
    answer = download(derived, home.lease.pk, world.alice_asset.pk)
    assert answer.status_code == 401 and answer.json()["code"] == "token_revoked"
    refused = _report(derived, home.lease, {"kind": "training_run"})
    assert refused.status_code == 401
    listed = staff.get(f"/api/v1/leases/{home.lease.pk}/derived-tokens/").json()["results"]
    assert [(t["state"], t["revoked_at"] is not None) for t in listed] == [("revoked", True)]
    again = _derive(world, home)
    assert again.status_code == 422 and again.json()["code"] == "parent_revoked"


def test_the_derived_list_costs_the_same_queries_for_many_tokens(world, home, django_assert_max_num_queries):
    for n in range(12):
        _derived(world, home, vendor=f"Vendor {n}")
    staff = _staff(world.cast.carol)
    with django_assert_max_num_queries(12):
        answer = staff.get(f"/api/v1/leases/{home.lease.pk}/derived-tokens/")
    assert answer.status_code == 200 and answer.json()["count"] == 12


# --- Pages -------------------------------------------------------------------------------------


def _signed_in(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_members_see_the_vendors_that_used_their_assets(world, home):
    secret = _derived(world, home)
    assert download(secret, home.lease.pk, world.alice_asset.pk).status_code == 302  # Alice's alone
    alice = _signed_in(world.cast.alice.user).get("/member/leases/")
    assert alice.status_code == 200
    assert f'Studio A <span class="via-vendors">(via vendor {VENDOR})</span>' in alice.content.decode()
    bob = _signed_in(world.cast.bob.user).get("/member/leases/")
    assert VENDOR not in bob.content.decode()
    api = _staff(world.cast.alice.user).get("/api/v1/me/leases/").json()["results"]
    assert {row["lease"]: row["vendors"] for row in api}[home.lease.pk] == [VENDOR]
    # A training run names no asset: it used every member's data in the lease.
    assert _report(secret, home.lease, {"kind": "training_run"}).status_code == 202
    assert VENDOR in _signed_in(world.cast.bob.user).get("/member/leases/").content.decode()


def test_the_studio_lease_page_lists_derives_and_revokes_vendor_tokens(world, home):
    staff = _signed_in(world.cast.carol)
    page = staff.get(f"/studio/leases/{home.lease.pk}/")
    assert page.status_code == 200 and "No vendor tokens yet." in page.content.decode()
    form = page.context["derive_form"]
    derived = staff.post(
        f"/studio/leases/{home.lease.pk}/tokens/derive/",
        {
            "derive-parent": home.secret,
            "derive-vendor": VENDOR,
            "derive-assets": f"{world.alice_asset.pk}\n",
            "derive-uses": ["training"],
            "derive-lifetime_hours": "2",
            "derive-mint_key": form.initial["mint_key"],
        },
    )
    assert derived.status_code == 200, derived.content
    secret = derived.context["new_vendor_token"]["secret"]
    assert secret.startswith("ft_") and secret in derived.content.decode()
    row = DerivedToken.objects.get()
    assert (row.vendor, row.assets, row.uses) == (VENDOR, [str(world.alice_asset.pk)], ["training"])
    listed = staff.get(f"/studio/leases/{home.lease.pk}/").content.decode()
    assert VENDOR in listed and secret not in listed
    revoked = staff.post(f"/studio/leases/{home.lease.pk}/derived-tokens/{row.pk}/revoke/", follow=True)
    assert "revoked at every trust" in revoked.content.decode()
    assert download(secret, home.lease.pk, world.alice_asset.pk).status_code == 401
    # Another studio's staff see no such token.
    other = _signed_in(world.cast.dave).post(
        f"/studio/leases/{home.lease.pk}/derived-tokens/{row.pk}/revoke/"
    )
    assert other.status_code == 404


def test_a_wider_derivation_on_the_page_is_refused_with_the_reason(world, home):
    staff = _signed_in(world.cast.carol)
    key = staff.get(f"/studio/leases/{home.lease.pk}/").context["derive_form"].initial["mint_key"]
    answer = staff.post(
        f"/studio/leases/{home.lease.pk}/tokens/derive/",
        {
            "derive-parent": home.secret,
            "derive-vendor": VENDOR,
            "derive-lifetime_hours": str(24 * 365),
            "derive-mint_key": key,
        },
        follow=True,
    )
    assert "must expire before its parent" in answer.content.decode()
    assert not DerivedToken.objects.exists()
