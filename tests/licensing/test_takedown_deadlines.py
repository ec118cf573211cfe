"""Takedowns with deadlines (issue 12, items 4 and 9): each lease's terms set the days a studio
has to acknowledge a notice and to attest deletion; overdue notices are flagged on the studio's,
the administrator's and the member's pages; when an attestation deadline passes the deadline job
suspends the lease's tokens (`lt_` and `ft_`, 423 `tokens_suspended` at the gateway, the manifest
and usage reports) until the studio attests; notices also reach leases that ended within the
retention and downloaded the asset.

Time is controlled, never slept: the job is asked "at" an instant, and notices are moved back in
time with one UPDATE where a page must see them overdue now."""

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from federation import biscuits
from licensing import deadlines, services
from licensing import tokens as lease_tokens
from licensing.models import InboundLeasePart, Lease, Takedown
from licensing.tasks import suspend_overdue_leases
from tests.conftest import bearer_client
from tests.federation.helpers import bearer, live_peer, make_lease_federated, signed_call, signing_key
from trust import services as trust
from trust.errors import Invalid
from trust.models import AuditEvent

pytestmark = pytest.mark.django_db

SUSPENDED = (423, "tokens_suspended")


def _withdraw(member, use="training"):
    trust.consent_withdraw(actor=member.user, consent=member.consents.get(use=use, state="granted"))


def _download(secret, lease, asset):
    return bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/assets/{asset.pk}/download/")


def _manifest(secret, lease):
    return bearer_client(secret).get(f"/api/v1/leases/{lease.pk}/manifest/")


def _usage(secret, lease):
    event = {
        "event_key": str(uuid.uuid4()),
        "kind": "training_run",
        "quantity": 1,
        "occurred_at": timezone.now().isoformat(),
    }
    return bearer_client(secret).post(f"/api/v1/leases/{lease.pk}/usage/", {"events": [event]}, format="json")


def _refusal(response):
    return response.status_code, response.json().get("code")


def _back_in_time(notices, days):
    """The notices as if issued `days` earlier: their deadlines move with them."""
    notices.update(
        issued_at=F("issued_at") - timedelta(days=days),
        acknowledge_due_at=F("acknowledge_due_at") - timedelta(days=days),
        attest_due_at=F("attest_due_at") - timedelta(days=days),
    )


def _staff(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _attest(world, notice, client=None):
    client = client or _staff(world.cast.carol)
    assert client.post(f"/api/v1/takedowns/{notice.pk}/acknowledge/").status_code == 200
    answer = client.post(
        f"/api/v1/takedowns/{notice.pk}/attest/", {"statement": "deleted from every store"}, format="json"
    )
    assert answer.status_code == 200, answer.content


# --- Deadlines come from the lease's terms ------------------------------------------------------


def test_a_notices_deadlines_are_its_issue_time_plus_its_lease_terms_days(world):
    terms = services.terms_create(
        actor=world.cast.admin,
        dataset=world.dataset,
        title="Fast takedowns",
        permitted_uses=["training"],
        duration_days=30,
        takedown_acknowledge_days=2,
        takedown_attest_days=5,
    )
    lease = services.lease_approve(
        actor=world.cast.admin,
        lease=services.lease_request(actor=world.cast.carol, terms=terms, purpose="fast"),
    )
    assert (lease.takedown_acknowledge_days, lease.takedown_attest_days) == (2, 5)
    # Later edits of the terms never change an approved lease's deadlines.
    type(terms).objects.filter(pk=terms.pk).update(takedown_attest_days=90)

    _withdraw(world.cast.bob)

    fast = Takedown.objects.get(lease=lease)
    assert fast.acknowledge_due_at - fast.issued_at == timedelta(days=2)
    assert fast.attest_due_at - fast.issued_at == timedelta(days=5)
    default = Takedown.objects.get(lease=world.lease_a)
    assert default.acknowledge_due_at - default.issued_at == timedelta(days=7)
    assert default.attest_due_at - default.issued_at == timedelta(days=30)
    api = _staff(world.cast.carol).get(f"/api/v1/leases/{lease.pk}/takedowns/").json()["results"]
    assert [(row["overdue"], row["attest_due_at"] is not None) for row in api] == [("", True)]


def test_terms_refuse_less_time_to_attest_than_to_acknowledge(world):
    with pytest.raises(Invalid) as refused:
        services.terms_create(
            actor=world.cast.admin,
            dataset=world.dataset,
            title="Backwards",
            permitted_uses=["training"],
            duration_days=30,
            takedown_acknowledge_days=10,
            takedown_attest_days=3,
        )
    assert refused.value.code == "takedown_windows_out_of_order"


def test_the_overdue_step_is_named_in_words(world):
    _withdraw(world.cast.bob)
    notice = Takedown.objects.get(lease=world.lease_a)
    assert notice.overdue(at=notice.acknowledge_due_at - timedelta(seconds=1)) == ""
    assert notice.overdue(at=notice.acknowledge_due_at) == "acknowledgement overdue"
    assert notice.overdue(at=notice.attest_due_at) == "deletion attestation overdue"
    notice.status = Takedown.Status.ACKNOWLEDGED
    assert notice.overdue(at=notice.attest_due_at - timedelta(seconds=1)) == ""


# --- The deadline job suspends tokens, attestation restores them -------------------------------


def test_the_job_suspends_lt_tokens_at_the_attestation_deadline_and_attestation_restores_them(world):
    _withdraw(world.cast.bob)
    notice = Takedown.objects.get(lease=world.lease_a)
    lease = world.lease_a

    assert deadlines.leases_suspend_overdue(at=notice.attest_due_at - timedelta(seconds=1)) == []
    assert _download(world.secret_a, lease, world.alice_asset).status_code == 302

    suspended = deadlines.leases_suspend_overdue(at=notice.attest_due_at)
    assert suspended == sorted([world.lease_a.pk, world.lease_b.pk])
    assert deadlines.leases_suspend_overdue(at=notice.attest_due_at + timedelta(days=1)) == []  # idempotent
    assert _refusal(_download(world.secret_a, lease, world.alice_asset)) == SUSPENDED
    assert _refusal(_manifest(world.secret_a, lease)) == SUSPENDED
    assert _refusal(_usage(world.secret_a, lease)) == SUSPENDED
    assert _refusal(_download(world.secret_b, world.lease_b, world.alice_asset)) == SUSPENDED
    tokens = _staff(world.cast.carol).get(f"/api/v1/leases/{lease.pk}/tokens/").json()["results"]
    assert [row["state"] for row in tokens] == ["suspended"]
    assert AuditEvent.objects.filter(action="lease.tokens_suspended").count() == 2

    _attest(world, notice)

    assert _download(world.secret_a, lease, world.alice_asset).status_code == 302
    assert _manifest(world.secret_a, lease).status_code == 200
    assert _usage(world.secret_a, lease).status_code == 202
    assert AuditEvent.objects.filter(action="lease.tokens_restored", subject_id=str(lease.pk)).exists()
    # The other studio has not attested: its lease stays suspended.
    assert _refusal(_download(world.secret_b, world.lease_b, world.alice_asset)) == SUSPENDED


def test_acknowledging_alone_does_not_restore_and_a_second_overdue_notice_keeps_the_suspension(world):
    _withdraw(world.cast.bob)
    _back_in_time(Takedown.objects.filter(lease=world.lease_a), 31)
    assert world.lease_a.pk in deadlines.leases_suspend_overdue()
    first = Takedown.objects.get(lease=world.lease_a)
    assert _staff(world.cast.carol).post(f"/api/v1/takedowns/{first.pk}/acknowledge/").status_code == 200
    assert _refusal(_download(world.secret_a, world.lease_a, world.alice_asset)) == SUSPENDED

    # Alice withdraws too; her notice is overdue as well: attesting Bob's alone is not enough.
    _withdraw(world.cast.alice)
    _back_in_time(Takedown.objects.filter(lease=world.lease_a, asset=world.alice_asset), 31)
    _attest_acknowledged(world, first)
    assert Lease.objects.get(pk=world.lease_a.pk).tokens_suspended_at is not None
    _attest(world, Takedown.objects.get(lease=world.lease_a, asset=world.alice_asset))
    assert Lease.objects.get(pk=world.lease_a.pk).tokens_suspended_at is None


def _attest_acknowledged(world, notice):
    answer = _staff(world.cast.carol).post(
        f"/api/v1/takedowns/{notice.pk}/attest/", {"statement": "deleted"}, format="json"
    )
    assert answer.status_code == 200, answer.content


def test_the_beat_task_suspends_in_one_update_whatever_the_number_of_leases(
    world, django_assert_max_num_queries
):
    _withdraw(world.cast.bob)
    _back_in_time(Takedown.objects.all(), 31)
    # Two leases, a fixed number of statements: select-for-update, one UPDATE, the audit events.
    with django_assert_max_num_queries(4 + 2 * 6):
        assert suspend_overdue_leases.delay().get() == 2
    assert suspend_overdue_leases.delay().get() == 0
    assert Lease.objects.filter(tokens_suspended_at__isnull=False).count() == 2


def test_a_federated_token_is_suspended_at_the_home_trust_and_restored_by_attestation(world, settings):
    settings.TRUST_SLUG = "sag-aftra"
    make_lease_federated(world.lease_a)
    _, secret = lease_tokens.lease_token_mint(actor=world.cast.carol, lease=world.lease_a, name="farm")
    assert secret.startswith("ft_")
    _withdraw(world.cast.bob)
    notice = Takedown.objects.get(lease=world.lease_a)
    deadlines.leases_suspend_overdue(at=notice.attest_due_at)

    assert _refusal(_download(secret, world.lease_a, world.alice_asset)) == SUSPENDED
    assert _refusal(_manifest(secret, world.lease_a)) == SUSPENDED
    assert _refusal(_usage(secret, world.lease_a)) == SUSPENDED
    _attest(world, notice)
    assert _download(secret, world.lease_a, world.alice_asset).status_code == 302


def test_a_parts_trust_suspends_its_own_part_for_its_overdue_notice_and_the_home_attestation_restores_it(
    world, settings, monkeypatch
):
    """This trust is equity-uk, holding a part (lease_a here) of sag-aftra's lease 77: its own
    notice passes its deadline, so its part refuses the `ft_` token signed by sag-aftra; the
    studio attests at home and the status call sent back here lifts the suspension."""
    from federation import signed_calls

    monkeypatch.setattr(signed_calls, "peer_call", lambda *args, **kwargs: {"id": 1, "status": "issued"})
    settings.TRUST_SLUG = "equity-uk"
    home_key = signing_key()
    home = live_peer("sag-aftra", home_key)
    InboundLeasePart.objects.create(
        peer=home, home_lease_id=77, lease=world.lease_a, reported_status="approved"
    )
    token = biscuits.mint(
        biscuits.LeaseGrant(
            home="sag-aftra",
            lease=77,
            parts=(("sag-aftra", 77), ("equity-uk", world.lease_a.pk)),
            studio="sag-aftra:1",
            uses=("training",),
            expires_at=timezone.now() + timedelta(days=1),
        ),
        key=home_key,
    )
    _withdraw(world.cast.bob)
    notice = Takedown.objects.get(lease=world.lease_a)
    assert world.lease_a.pk in deadlines.leases_suspend_overdue(at=notice.attest_due_at)

    refused = bearer(token).get(f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/")
    assert _refusal(refused) == SUSPENDED

    def status(body):
        return signed_call(
            "POST",
            "/api/v1/federation/inbound/takedowns/status/",
            body,
            key=home_key,
            issuer="sag-aftra",
            audience="equity-uk",
        )

    assert status({"takedown": notice.pk, "status": "acknowledged"}).status_code == 200
    assert Lease.objects.get(pk=world.lease_a.pk).tokens_suspended_at is not None
    attested = status({"takedown": notice.pk, "status": "deletion_attested", "attestation": "Gone."})
    assert attested.status_code == 200, attested.content
    again = bearer(token).get(f"/api/v1/leases/{world.lease_a.pk}/assets/{world.alice_asset.pk}/download/")
    assert again.status_code == 302


def test_the_home_trust_keeps_a_relayed_notices_deadlines_and_does_not_suspend_for_it(world, settings):
    settings.TRUST_SLUG = "sag-aftra"
    equity_key = signing_key()
    equity = live_peer("equity-uk", equity_key)
    from licensing.models import LeasePart

    LeasePart.objects.create(lease=world.lease_a, peer=None, status="approved")
    LeasePart.objects.create(
        lease=world.lease_a, peer=equity, status="approved", remote_lease_id=55, remote_terms_id=3
    )
    issued = timezone.now() - timedelta(days=3)
    body = {
        "home_lease_id": world.lease_a.pk,
        "takedown": 41,
        "asset": str(uuid.uuid4()),
        "kind": "voice_recording",
        "issued_at": issued.isoformat(),
        "acknowledge_due_at": (issued + timedelta(days=1)).isoformat(),
        "attest_due_at": (issued + timedelta(days=2)).isoformat(),
    }
    answer = signed_call(
        "POST",
        "/api/v1/federation/inbound/takedowns/",
        body,
        key=equity_key,
        issuer="equity-uk",
        audience="sag-aftra",
    )
    assert answer.status_code == 200, answer.content
    relayed = Takedown.objects.get(peer=equity)
    assert relayed.attest_due_at == issued + timedelta(days=2)
    assert relayed.overdue() == "deletion attestation overdue"
    # equity-uk enforces its own notice on its own part; the home part here keeps serving.
    assert deadlines.leases_suspend_overdue() == []


# --- Notices to ended leases within the retention ----------------------------------------------


def _expire(lease, *, ended_days_ago):
    Lease.objects.filter(pk=lease.pk).update(
        status=Lease.Status.EXPIRED, ends_at=timezone.now() - timedelta(days=ended_days_ago)
    )


def test_an_ended_lease_that_downloaded_the_asset_within_the_retention_gets_a_notice(world, settings):
    settings.TAKEDOWN_RETENTION_DAYS = 30
    assert _download(world.secret_a, world.lease_a, world.bob_asset).status_code == 302
    _expire(world.lease_a, ended_days_ago=10)
    _expire(world.lease_b, ended_days_ago=10)  # never downloaded Bob's asset

    _withdraw(world.cast.bob)

    assert list(Takedown.objects.values_list("lease_id", "asset_id")) == [
        (world.lease_a.pk, world.bob_asset.pk)
    ]
    notice = Takedown.objects.get()
    assert notice.attest_due_at - notice.issued_at == timedelta(days=world.lease_a.takedown_attest_days)


def test_an_ended_lease_past_the_retention_gets_no_notice(world, settings):
    settings.TAKEDOWN_RETENTION_DAYS = 30
    assert _download(world.secret_a, world.lease_a, world.bob_asset).status_code == 302
    _expire(world.lease_a, ended_days_ago=31)
    _expire(world.lease_b, ended_days_ago=31)
    _withdraw(world.cast.bob)
    assert not Takedown.objects.exists()


# --- Overdue flags on the three sides' pages ----------------------------------------------------


def _signed_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def overdue(world):
    """Bob withdrew training 31 days ago; the deadline job ran since."""
    _withdraw(world.cast.bob)
    _back_in_time(Takedown.objects.all(), 31)
    deadlines.leases_suspend_overdue()
    return SimpleNamespace(notice=Takedown.objects.get(lease=world.lease_a))


def test_the_studio_sees_the_overdue_notice_and_the_suspension_on_its_lease_and_list(world, overdue):
    carol = _signed_in(world.cast.carol)
    page = carol.get(reverse("studio-lease", args=[world.lease_a.pk])).content.decode()
    assert "Deletion attestation overdue" in page
    assert "This lease&#x27;s tokens are suspended" in page or "This lease's tokens are suspended" in page
    listing = carol.get(reverse("studio-leases")).content.decode()
    assert "1 overdue" in listing and "tokens suspended" in listing


def test_the_administrator_sees_overdue_notices_on_the_lease_the_leases_and_the_overview(world, overdue):
    admin = _signed_in(world.cast.admin)
    lease_page = admin.get(reverse("operations-lease", args=[world.lease_a.pk])).content.decode()
    assert "Deletion attestation overdue" in lease_page and "Tokens suspended" in lease_page
    assert "30 to attest deletion" in lease_page
    assert "2 overdue" not in lease_page
    leases = admin.get(reverse("operations-leases")).content.decode()
    assert "1 overdue" in leases
    overview = admin.get("/operations/")
    assert overview.context["overview"]["takedowns_overdue_count"] == 2
    assert overview.context["overview"]["leases_tokens_suspended"] == 2
    assert "Deletion attestation overdue" in overview.content.decode()


def test_who_used_my_data_shows_each_withdrawn_assets_takedown_state_per_lease(
    world, django_assert_max_num_queries
):
    bob = world.cast.bob
    _withdraw(bob)
    a = Takedown.objects.get(lease=world.lease_a)
    carol = _staff(world.cast.carol)
    assert carol.post(f"/api/v1/takedowns/{a.pk}/acknowledge/").status_code == 200

    def states():
        page = _signed_in(bob.user).get(reverse("member-leases"))
        rows = {row["lease"]: [n["state"] for n in row["takedowns"]] for row in page.context["listing"].rows}
        return rows, page.content.decode()

    rows, html = states()
    assert rows == {world.lease_a.pk: ["acknowledged"], world.lease_b.pk: ["notified"]}
    assert "Takedowns of your withdrawn assets" in html and "Notified" in html

    _back_in_time(Takedown.objects.filter(lease=world.lease_b), 8)  # acknowledgement overdue
    _attest_acknowledged(world, a)
    rows, html = states()
    assert rows == {world.lease_a.pk: ["attested"], world.lease_b.pk: ["overdue"]}
    assert "Overdue" in html

    # Alice shares Bob's asset but withdrew nothing: no notice is hers.
    alice_rows = _signed_in(world.cast.alice.user).get(reverse("member-leases")).context["listing"].rows
    assert all(row["takedowns"] == [] for row in alice_rows)


@pytest.mark.embedded
def test_on_the_embedded_default_deadlines_suspend_and_the_pages_count_them(world):
    """SQLite does the deadline arithmetic too: the half-time filter, the overdue counts, the job."""
    from licensing import selectors
    from payouts import selectors as payouts

    _withdraw(world.cast.bob)
    notice = Takedown.objects.get(lease=world.lease_a)
    assert list(selectors.takedowns_past_half_time(at=notice.issued_at + timedelta(days=14))) == []
    halfway = notice.issued_at + timedelta(days=15)
    assert {t.lease_id for t in selectors.takedowns_past_half_time(at=halfway)} == {
        world.lease_a.pk,
        world.lease_b.pk,
    }
    assert deadlines.leases_suspend_overdue(at=notice.attest_due_at) == sorted(
        [world.lease_a.pk, world.lease_b.pk]
    )
    assert _refusal(_download(world.secret_a, world.lease_a, world.alice_asset)) == SUSPENDED
    assert selectors.takedowns_overdue(at=notice.attest_due_at).count() == 2
    rows = payouts.member_lease_takedowns(world.cast.bob, [world.lease_a.pk], at=notice.attest_due_at)
    assert [n["state"] for n in rows[world.lease_a.pk]] == ["overdue"]
    _attest(world, notice)
    assert _download(world.secret_a, world.lease_a, world.alice_asset).status_code == 302


def test_the_withdraw_page_previews_the_notice_to_an_ended_lease_that_downloaded(world, settings):
    from licensing import selectors

    settings.TAKEDOWN_RETENTION_DAYS = 30
    assert _download(world.secret_a, world.lease_a, world.bob_asset).status_code == 302
    _expire(world.lease_a, ended_days_ago=5)
    grant = world.cast.bob.consents.get(use="training", state="granted")
    rows = {row["lease"].pk: row for row in selectors.withdrawal_reach(grant)["leases"]}
    assert rows[world.lease_a.pk]["ended"] and [a.pk for a in rows[world.lease_a.pk]["losing"]] == [
        world.bob_asset.pk
    ]
    assert not rows[world.lease_b.pk]["ended"]
    page = _signed_in(world.cast.bob.user).get(reverse("member-consent-withdraw", args=[grant.pk]))
    assert "(ended, downloaded your assets)" in page.content.decode()
