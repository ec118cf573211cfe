"""Estate and union authority: an administrator records a member's death with its evidence;
from then on the estate representative the member named, or the union, decides on their
consent, and the member's own login decides nothing. Grants the member made stay in force."""

import pytest
from django.utils import timezone

from tests.conftest import bearer_client, json_body
from tests.factories import UserFactory
from trust import services as trust
from trust.models import AuditEvent, Consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(world):
    """Alice named Erin her estate representative; Bob named Frank. Neither is a member."""
    erin = UserFactory(username="erin")
    frank = UserFactory(username="frank")
    trust.estate_representative_name(actor=world.cast.alice.user, member=world.cast.alice, username="erin")
    trust.estate_representative_name(actor=world.cast.bob.user, member=world.cast.bob, username="frank")
    world.erin, world.frank = erin, frank
    return world


def _record_death(as_user, world, member, **body):
    payload = {"date": timezone.localdate().isoformat(), "evidence": "death certificate 2026/4411", **body}
    return as_user(world.cast.admin).post(f"/api/v1/members/{member.pk}/death/", payload, format="json")


def test_an_administrator_records_a_death_and_authority_passes_to_the_named_representative(estate, as_user):
    response = _record_death(as_user, estate, estate.cast.alice)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["evidence"] == "death certificate 2026/4411"
    assert (body["authority"]["kind"], body["authority"]["user"]) == ("estate_representative", estate.erin.pk)
    event = AuditEvent.objects.get(action="member.death_recorded")
    assert event.data["evidence"] == "death certificate 2026/4411"
    assert event.data["authority_user"] == "erin"


def test_without_a_named_representative_the_union_holds_the_authority(world, as_user):
    response = _record_death(as_user, world, world.cast.alice)
    assert response.status_code == 200
    assert response.json()["authority"] == {
        **response.json()["authority"],
        "kind": "union",
        "user": None,
    }


def test_the_late_members_own_login_can_no_longer_decide(estate, as_user):
    _record_death(as_user, estate, estate.cast.alice)
    alice = as_user(estate.cast.alice)
    refused = alice.post("/api/v1/consents/", {"use": "voice_synthesis"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "authority_passed")
    grant = estate.cast.alice.consents.get(use="training")
    refused = alice.post(f"/api/v1/consents/{grant.pk}/withdraw/")
    assert (refused.status_code, refused.json()["code"]) == (403, "authority_passed")
    assert not Consent.objects.filter(supersedes=grant).exists()


def test_grants_made_in_life_stay_in_force_after_death(estate, as_user):
    _record_death(as_user, estate, estate.cast.alice)
    manifest = json_body(bearer_client(estate.secret_a).get(f"/api/v1/leases/{estate.lease_a.pk}/manifest/"))
    assert {row["id"] for row in manifest["assets"]} == {str(estate.alice_asset.pk), str(estate.bob_asset.pk)}


def test_the_representative_decides_and_the_receipt_says_in_whose_right(estate, as_user):
    _record_death(as_user, estate, estate.cast.alice)
    erin = as_user(estate.erin)
    made = erin.post(
        "/api/v1/consents/", {"member": estate.cast.alice.pk, "use": "voice_synthesis"}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["authority"] == "estate_representative"
    receipt = erin.get(f"/api/v1/consents/{made.json()['id']}/receipt/").json()["receipt"]
    assert receipt["method"]["actor"] == "erin"
    assert receipt["method"]["acting_for_subject"] is True
    assert receipt["method"]["authority"] == "estate_representative"
    # And a withdrawal: the studio's manifest loses the late member's assets at once.
    grant = estate.cast.alice.consents.get(use="training")
    withdrawn = erin.post(f"/api/v1/consents/{grant.pk}/withdraw/")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["authority"] == "estate_representative"
    manifest = json_body(bearer_client(estate.secret_a).get(f"/api/v1/leases/{estate.lease_a.pk}/manifest/"))
    assert manifest["assets"] == []
    history = erin.get(f"/api/v1/consents/?member={estate.cast.alice.pk}").json()
    assert {row["state"] for row in history["results"]} >= {"granted", "withdrawn"}


def test_the_union_decides_through_its_administrators(world, as_user):
    admin = as_user(world.cast.admin)
    before = admin.post(
        "/api/v1/consents/", {"member": world.cast.alice.pk, "use": "voice_synthesis"}, format="json"
    )
    # No late member is the union's yet: the administrator holds no consent authority at all.
    assert (before.status_code, before.json()["code"]) == (403, "members_only")
    _record_death(as_user, world, world.cast.alice, authority="union")
    made = admin.post(
        "/api/v1/consents/", {"member": world.cast.alice.pk, "use": "voice_synthesis"}, format="json"
    )
    assert made.status_code == 201
    receipt = admin.get(f"/api/v1/consents/{made.json()['id']}/receipt/").json()["receipt"]
    assert (receipt["method"]["authority"], receipt["method"]["acting_for_subject"]) == ("union", True)


def test_a_representative_of_another_member_cannot_decide(estate, as_user):
    _record_death(as_user, estate, estate.cast.alice)
    _record_death(as_user, estate, estate.cast.bob)
    frank = as_user(estate.frank)
    refused = frank.post(
        "/api/v1/consents/", {"member": estate.cast.alice.pk, "use": "voice_synthesis"}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (404, "member_not_found")
    grant = estate.cast.alice.consents.get(use="training")
    assert frank.post(f"/api/v1/consents/{grant.pk}/withdraw/").status_code == 404
    assert frank.get(f"/api/v1/consents/{grant.pk}/receipt/").status_code == 404
    assert frank.get(f"/api/v1/consents/?member={estate.cast.alice.pk}").status_code == 404


def test_a_named_representative_decides_nothing_while_the_member_lives(estate, as_user):
    refused = as_user(estate.erin).post(
        "/api/v1/consents/", {"member": estate.cast.alice.pk, "use": "voice_synthesis"}, format="json"
    )
    assert refused.status_code == 403  # erin is no member and holds no authority yet
    assert refused.json()["code"] == "members_only"


def test_an_authority_change_moves_the_decisions_and_keeps_the_earlier_ones(estate, as_user):
    _record_death(as_user, estate, estate.cast.alice)
    admin = as_user(estate.cast.admin)
    erin = as_user(estate.erin)
    made = erin.post(
        "/api/v1/consents/", {"member": estate.cast.alice.pk, "use": "voice_synthesis"}, format="json"
    )
    changed = admin.post(
        f"/api/v1/members/{estate.cast.alice.pk}/authority/",
        {"authority": "union", "evidence": "resignation letter 7"},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["kind"] == "union"
    assert erin.post(f"/api/v1/consents/{made.json()['id']}/withdraw/").status_code == 403
    assert Consent.objects.get(pk=made.json()["id"]).state == "granted"
    assert admin.post(f"/api/v1/consents/{made.json()['id']}/withdraw/").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"date": "2999-01-01"}, 422, "date_in_future"),
        ({"authority": "999999"}, 422, "unknown_user"),
        ({"evidence": "   "}, 400, None),
    ],
)
def test_a_death_is_refused_on_bad_input(estate, as_user, body, status, code):
    response = _record_death(as_user, estate, estate.cast.alice, **body)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    assert (
        not hasattr(type(estate.cast.alice), "death")
        or not AuditEvent.objects.filter(action="member.death_recorded").exists()
    )


def test_a_death_names_only_the_representative_the_member_chose(estate, as_user):
    response = _record_death(as_user, estate, estate.cast.alice, authority=str(estate.frank.pk))
    assert (response.status_code, response.json()["code"]) == (422, "not_the_named_representative")
    response = _record_death(as_user, estate, estate.cast.alice, authority=str(estate.cast.admin.pk))
    assert response.status_code == 422


def test_a_death_is_recorded_once(estate, as_user):
    assert _record_death(as_user, estate, estate.cast.alice).status_code == 200
    again = _record_death(as_user, estate, estate.cast.alice)
    assert (again.status_code, again.json()["code"]) == (409, "death_already_recorded")


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "outsider"])
def test_only_an_administrator_records_a_death(estate, as_user, who):
    response = as_user(getattr(estate.cast, who)).post(
        f"/api/v1/members/{estate.cast.alice.pk}/death/",
        {"date": "2026-01-01", "evidence": "forged"},
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (403, "admin_only")
    assert not AuditEvent.objects.filter(action="member.death_recorded").exists()


def test_a_death_of_no_such_member_is_not_found(world, as_user):
    response = as_user(world.cast.admin).post(
        "/api/v1/members/999999/death/", {"date": "2026-01-01", "evidence": "x"}, format="json"
    )
    assert response.status_code == 404


def test_a_member_names_and_reads_their_representative(world, as_user):
    UserFactory(username="gail")
    alice = as_user(world.cast.alice)
    assert alice.get("/api/v1/me/estate-representative/").json()["username"] is None
    named = alice.put("/api/v1/me/estate-representative/", {"username": "gail"}, format="json")
    assert named.status_code == 200 and named.json()["username"] == "gail"
    assert (
        alice.put("/api/v1/me/estate-representative/", {"username": "alice"}, format="json").status_code
        == 422
    )
    assert (
        alice.put("/api/v1/me/estate-representative/", {"username": "nobody"}, format="json").status_code
        == 422
    )


def test_a_late_members_representative_cannot_be_changed_by_their_login(estate, as_user):
    _record_death(as_user, estate, estate.cast.alice)
    response = as_user(estate.cast.alice).put(
        "/api/v1/me/estate-representative/", {"username": "frank"}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "member_deceased")
