"""The estate pages: a member names their representative; an administrator records a death on
the operations page; the representative opens the late member's pages (consent matrix,
earnings, who used my data) and decides there; nobody else can."""

import pytest
from django.test import Client

from tests.factories import UserFactory
from trust import services as trust
from trust.models import AuditEvent, Consent, MemberDeath

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def late_alice(world):
    """Alice named Erin, then died; Bob named Frank and lives."""
    world.erin = UserFactory(username="erin")
    world.frank = UserFactory(username="frank")
    trust.estate_representative_name(actor=world.cast.alice.user, member=world.cast.alice, username="erin")
    trust.estate_representative_name(actor=world.cast.bob.user, member=world.cast.bob, username="frank")
    from django.utils import timezone

    trust.member_record_death(
        actor=world.cast.admin, member=world.cast.alice, died_on=timezone.localdate(), evidence="cert 9"
    )
    return world


def test_a_member_names_their_representative_on_the_estate_page(world):
    UserFactory(username="gail")
    bob = _client(world.cast.bob.user)
    page = bob.get("/member/estates/")
    assert page.status_code == 200 and "You have named no one" in page.text
    bob.post("/member/estates/", {"username": "gail"})
    assert "You named <strong>gail</strong>" in bob.get("/member/estates/").text


def test_an_administrator_records_a_death_on_the_operations_page(world):
    admin = _client(world.cast.admin)
    page = admin.get(f"/operations/members/{world.cast.bob.pk}/death/")
    assert page.status_code == 200 and "the union (they named no representative)" in page.text
    done = admin.post(
        f"/operations/members/{world.cast.bob.pk}/death/",
        {"date": "2026-11-01", "evidence": "certificate 4411", "authority": "union"},
        follow=True,
    )
    assert "Recorded: the death of Bob" in done.text and "certificate 4411" in done.text
    assert MemberDeath.objects.get(member=world.cast.bob).evidence == "certificate 4411"
    assert AuditEvent.objects.filter(action="member.death_recorded").count() == 1


@pytest.mark.parametrize("who", ["alice", "carol", "outsider"])
def test_only_administrators_reach_the_death_page(world, who):
    user = getattr(getattr(world.cast, who), "user", getattr(world.cast, who))
    client = _client(user)
    assert client.get(f"/operations/members/{world.cast.bob.pk}/death/").status_code == 403
    client.post(f"/operations/members/{world.cast.bob.pk}/death/", {"date": "2026-11-01", "evidence": "x"})
    assert not MemberDeath.objects.exists()


def test_the_representative_opens_the_late_members_pages_and_decides(late_alice):
    erin = _client(late_alice.erin)
    estates = erin.get("/member/estates/")
    assert "Alice (M-00001)" in estates.text
    home = erin.post(f"/member/estates/{late_alice.cast.alice.pk}/open/", follow=True)
    assert "the pages of the late Alice" in home.text
    for page in ("/member/consent/", "/member/leases/", "/member/"):
        response = erin.get(page)
        assert response.status_code == 200, page
        assert "the late Alice" in response.text
    erin.post("/member/consent/", {"use": "voice_synthesis", "decision": "grant", "asset": ""})
    grant = Consent.objects.get(member=late_alice.cast.alice, use="voice_synthesis")
    assert (grant.actor, grant.authority) == (late_alice.erin, "estate_representative")
    training = late_alice.cast.alice.consents.get(use="training")
    erin.post(f"/member/consent/{training.pk}/withdraw/")
    assert Consent.objects.filter(supersedes=training, actor=late_alice.erin).exists()


def test_the_late_members_own_login_sees_but_cannot_decide(late_alice):
    alice = _client(late_alice.cast.alice.user)
    page = alice.post(
        "/member/consent/", {"use": "voice_synthesis", "decision": "grant", "asset": ""}, follow=True
    )
    assert "their estate representative or the union decides now" in page.text
    assert not Consent.objects.filter(member=late_alice.cast.alice, use="voice_synthesis").exists()


def test_a_representative_of_another_member_cannot_open_the_pages(late_alice):
    frank = _client(late_alice.frank)
    assert frank.post(f"/member/estates/{late_alice.cast.alice.pk}/open/").status_code == 404
    assert frank.get("/member/consent/").status_code == 403


def test_an_authority_change_closes_the_old_representatives_view(late_alice):
    erin = _client(late_alice.erin)
    erin.post(f"/member/estates/{late_alice.cast.alice.pk}/open/")
    trust.consent_authority_change(
        actor=late_alice.cast.admin, member=late_alice.cast.alice, authority="union", evidence="resigned"
    )
    assert erin.get("/member/consent/").status_code == 403
