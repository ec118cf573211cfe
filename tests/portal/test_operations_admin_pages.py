"""The administrator's payouts, audit log, members and studios pages, and the confirmation
steps of approve, revoke and freeze: each page shows the selectors' figures, each POST calls
its service (a row and an audit event), and no other role sees any of it."""

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing import services as licensing
from licensing.models import Lease, Studio, StudioStaff, Takedown
from payouts import ledger, selectors, services
from payouts.models import PayoutBatch, PayoutItem
from tests.factories import MemberFactory, make_asset
from trust import services as trust
from trust.errors import Conflict
from trust.models import AuditEvent, DatasetVersion, Member

pytestmark = pytest.mark.django_db
IBAN = "DE89370400440532013000"
PASSWORD = "a long enough passphrase 7"


def page_text(response) -> str:
    """What a reader sees: the page's text without tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def owe(member, cents: int) -> None:
    """Credit a member's payable account, as a period close would."""
    ledger.post(
        key=f"test:owe:{member.pk}:{cents}",
        memo="earned",
        lines=[(ledger.trust_fee_revenue(), cents), (ledger.member_payable(member), -cents)],
    )


@pytest.fixture
def owed(cast):
    """Five members the trust owes: two payable (one exactly at the 25.00 minimum), one with
    no bank details, one below the minimum, and one who has been paid everything."""
    payable = MemberFactory(member_number="M-10001", display_name="Payable Pat", payout_iban=IBAN)
    at_minimum = MemberFactory(member_number="M-10002", display_name="Minimum Max", payout_iban=IBAN)
    no_bank = MemberFactory(member_number="M-10003", display_name="Bankless Bea")
    small = MemberFactory(member_number="M-10004", display_name="Small Sam", payout_iban=IBAN)
    settled = MemberFactory(member_number="M-10005", display_name="Settled Sue", payout_iban=IBAN)
    owe(payable, 5000)
    owe(at_minimum, 2500)
    owe(no_bank, 3000)
    owe(small, 100)
    ledger.post(
        key="test:settled",
        memo="paid",
        lines=[(ledger.member_payable(settled), 700), (ledger.member_payable(settled), -700)],
    )
    return {"payable": payable, "at_minimum": at_minimum, "no_bank": no_bank, "small": small}


@pytest.fixture
def as_admin(client, cast):
    client.force_login(cast.admin.user if hasattr(cast.admin, "user") else cast.admin)
    return client


def pages(cast) -> list[tuple[str, str]]:
    """Every new page and action, as (method, path)."""
    studio = cast.studio_a
    return [
        ("get", "/operations/payouts/"),
        ("get", "/operations/payouts/batches/"),
        ("get", "/operations/payouts/batches/new/"),
        ("post", "/operations/payouts/batches/new/"),
        ("get", "/operations/audit/"),
        ("get", "/operations/members/"),
        ("get", "/operations/members/enrol/"),
        ("post", "/operations/members/enrol/"),
        ("get", "/operations/studios/"),
        ("get", "/operations/studios/enrol/"),
        ("post", "/operations/studios/enrol/"),
        ("get", f"/operations/studios/{studio.pk}/"),
        ("post", f"/operations/studios/{studio.pk}/"),
    ]


def batch_pages(batch) -> list[tuple[str, str]]:
    return [
        ("get", f"/operations/payouts/batches/{batch.pk}/"),
        ("get", f"/operations/payouts/batches/{batch.pk}/csv/"),
        ("get", f"/operations/payouts/batches/{batch.pk}/pain001/"),
    ]


def confirmation_pages(world) -> list[tuple[str, str]]:
    lease, dataset = world.lease_a, world.dataset
    return [
        ("get", f"/operations/leases/{lease.pk}/approve/"),
        ("post", f"/operations/leases/{lease.pk}/approve/"),
        ("get", f"/operations/leases/{lease.pk}/revoke/"),
        ("post", f"/operations/leases/{lease.pk}/revoke/"),
        ("get", f"/operations/datasets/{dataset.pk}/freeze/"),
        ("post", f"/operations/datasets/{dataset.pk}/freeze/"),
    ]


# Who may see the pages


def test_anonymous_visitors_are_sent_to_sign_in_everywhere(client, world, owed):
    batch = PayoutBatch.objects.create(
        created_by=world.cast.admin, minimum_cents=1, currency="USD", execution_date=timezone.localdate()
    )
    events = AuditEvent.objects.count()
    for method, url in pages(world.cast) + batch_pages(batch) + confirmation_pages(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    assert AuditEvent.objects.count() == events
    assert Lease.objects.get(pk=world.lease_a.pk).status == Lease.Status.ACTIVE


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_members_and_studio_staff_are_refused_every_page_and_action(client, world, owed, who):
    batch = PayoutBatch.objects.create(
        created_by=world.cast.admin, minimum_cents=1, currency="USD", execution_date=timezone.localdate()
    )
    user = getattr(world.cast, who)
    client.force_login(getattr(user, "user", user))
    events = AuditEvent.objects.count()
    for method, url in pages(world.cast) + batch_pages(batch) + confirmation_pages(world):
        response = getattr(client, method)(url, {"name": "X", "reason": "x"} if method == "post" else None)
        assert response.status_code == 403, url
        assert b"Payable Pat" not in response.content
    assert AuditEvent.objects.count() == events
    assert PayoutBatch.objects.count() == 1 and Studio.objects.count() == 2


def test_unknown_batch_and_studio_are_404(as_admin):
    for url in (
        "/operations/payouts/batches/999999/",
        "/operations/payouts/batches/999999/csv/",
        "/operations/payouts/batches/999999/pain001/",
        "/operations/studios/999999/",
    ):
        assert as_admin.get(url).status_code == 404, url


# payable_members(): the page, the API and the batch agree


def test_payable_members_are_those_at_the_minimum_with_bank_details(owed):
    payable = list(selectors.payable_members())
    assert [(row["member_number"], row["owed_cents"]) for row in payable] == [
        ("M-10001", 5000),
        ("M-10002", 2500),
    ]
    unpayable = {row["member_number"]: row["reason"] for row in selectors.unpayable_members()}
    assert unpayable == {"M-10003": "no_bank_details", "M-10004": "below_minimum"}


def test_payable_members_and_their_totals_take_a_fixed_number_of_queries(owed, django_assert_num_queries):
    with django_assert_num_queries(1):
        list(selectors.payable_members())
    # One pass over the owed accounts: every reason a filtered aggregate, the payable what is left.
    with django_assert_num_queries(1):
        selectors.payout_totals()


def test_the_page_the_api_and_the_batch_agree_on_who_is_paid(as_admin, as_user, cast, owed):
    page = as_admin.get("/operations/payouts/?status=payable")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Payable Pat" in text and "Minimum Max" in text
    assert "Bankless Bea" not in text and "Small Sam" not in text
    assert page.context["totals"]["payable"] == {"members": 2, "cents": 7500}

    api = as_user(cast.admin).get("/api/v1/payouts/balances/?payable=true")
    assert api.status_code == 200
    api_rows = {(r["member_number"], r["owed_cents"]) for r in api.json()["results"]}
    assert api_rows == {("M-10001", 5000), ("M-10002", 2500)}

    response = as_admin.post(
        "/operations/payouts/batches/new/", {"execution_date": (timezone.localdate() + timedelta(days=2))}
    )
    batch = PayoutBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/operations/payouts/batches/{batch.pk}/"
    paid = set(PayoutItem.objects.filter(batch=batch).values_list("member__member_number", "amount_cents"))
    assert paid == api_rows
    assert (batch.total_cents, batch.item_count) == (7500, 2)
    assert batch.execution_date == timezone.localdate() + timedelta(days=2)
    assert AuditEvent.objects.filter(action="payouts.batch_created", subject_id=str(batch.pk)).exists()
    assert ledger.trial_balance() == 0
    # Paid members are no longer owed; the others carry forward.
    after = {row["member_number"]: row["reason"] for row in selectors.member_balances()}
    assert after == {"M-10003": "no_bank_details", "M-10004": "below_minimum"}


def test_the_api_says_why_a_member_cannot_be_paid(as_user, cast, owed):
    body = as_user(cast.admin).get("/api/v1/payouts/balances/?payable=false").json()
    assert {(r["member_number"], r["payable"], r["reason"]) for r in body["results"]} == {
        ("M-10003", False, "no_bank_details"),
        ("M-10004", False, "below_minimum"),
    }
    assert as_user(cast.admin).get("/api/v1/payouts/balances/?payable=maybe").status_code == 400
    assert as_user(cast.alice).get("/api/v1/payouts/balances/").status_code == 403


def test_payouts_page_shows_totals_reasons_and_searches(as_admin, owed):
    response = as_admin.get("/operations/payouts/")
    text = response.content.decode()
    assert "75.00" in text and "No bank details" in text and "Below minimum" in text
    assert response.context["listing"].total == 4
    searched = as_admin.get("/operations/payouts/?q=bea")
    assert [row["member_number"] for row in searched.context["listing"].rows] == ["M-10003"]
    by_owed = as_admin.get("/operations/payouts/?sort=-owed").context["listing"].rows
    assert [row["owed_cents"] for row in by_owed] == [5000, 3000, 2500, 100]


def test_payouts_csv_holds_the_whole_filtered_list(as_admin, owed):
    response = as_admin.get("/operations/payouts/?status=payable&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["member_number"], r["owed"], r["status"]) for r in rows] == [
        ("M-10001", "50.00", "payable"),
        ("M-10002", "25.00", "payable"),
    ]


def test_the_batch_confirmation_says_what_it_will_pay_and_writes_nothing(as_admin, owed):
    response = as_admin.get("/operations/payouts/batches/new/")
    text = " ".join(response.content.decode().split())
    assert "It pays <strong>2 members 75.00 USD</strong>" in text
    assert "1 member below the 25.00 USD minimum" in text
    assert PayoutBatch.objects.count() == 0


def test_a_bad_execution_date_is_refused_on_the_page_and_nothing_is_written(as_admin, owed):
    response = as_admin.post("/operations/payouts/batches/new/", {"execution_date": "someday"})
    assert response.status_code == 200 and "Enter a valid date" in response.content.decode()
    assert PayoutBatch.objects.count() == 0


def test_a_batch_page_lists_its_payments_and_serves_its_files(as_admin, owed):
    as_admin.post("/operations/payouts/batches/new/", {"execution_date": timezone.localdate()})
    batch = PayoutBatch.objects.get()
    page = as_admin.get(f"/operations/payouts/batches/{batch.pk}/")
    assert [row["member__member_number"] for row in page.context["listing"].rows] == ["M-10001", "M-10002"]
    assert as_admin.get(f"/operations/payouts/batches/{batch.pk}/csv/")["Content-Type"].startswith("text/csv")
    pain = as_admin.get(f"/operations/payouts/batches/{batch.pk}/pain001/")
    assert pain["Content-Type"] == "application/xml" and b"<CtrlSum>75.00</CtrlSum>" in pain.content
    history = as_admin.get("/operations/payouts/")
    assert f"Batch #{batch.pk}" in history.content.decode()


def test_an_empty_batch_has_no_bank_file_and_says_so(as_admin, cast):
    as_admin.post("/operations/payouts/batches/new/", {"execution_date": timezone.localdate()})
    batch = PayoutBatch.objects.get()
    assert batch.item_count == 0
    response = as_admin.get(f"/operations/payouts/batches/{batch.pk}/pain001/", follow=True)
    assert "this batch paid nobody" in response.content.decode()


# The overview's attention list


def test_overview_lists_members_who_cannot_be_paid_and_why(as_admin, owed):
    response = as_admin.get("/operations/")
    overview = response.context["overview"]
    assert overview["cannot_be_paid_count"] == 2
    assert [(r["member_number"], r["reason"]) for r in overview["cannot_be_paid"]] == [
        ("M-10003", "no_bank_details"),
        ("M-10004", "below_minimum"),
    ]
    assert overview["members_at_minimum"] == 2
    assert overview["owed_cents"] == 10600
    assert 'id="cannot-be-paid">2<' in response.content.decode()


def test_overview_lists_open_takedowns_past_half_their_time(as_admin, world, settings):
    settings.TAKEDOWN_DEADLINE_DAYS = 30
    grant = world.cast.alice.consents.get(use="training", state="granted")
    trust.consent_withdraw(actor=world.cast.alice.user, consent=grant)
    takedowns = list(Takedown.objects.order_by("pk"))
    assert takedowns
    old, recent = takedowns[0], takedowns[1:]
    sixteen_days_earlier = {
        field: F(field) - timedelta(days=16) for field in ("issued_at", "acknowledge_due_at", "attest_due_at")
    }
    Takedown.objects.filter(pk=old.pk).update(**sixteen_days_earlier)
    response = as_admin.get("/operations/")
    overview = response.context["overview"]
    assert overview["takedowns_past_half_time_count"] == 1
    (due,) = overview["takedowns_past_half_time"]
    assert due.pk == old.pk
    assert due.due_at == Takedown.objects.get(pk=old.pk).issued_at + timedelta(days=30)
    assert f"Lease #{old.lease_id}" in response.content.decode()
    # Past half of their time, every notice is listed; an attested one never is.
    Takedown.objects.exclude(pk=old.pk).update(**sixteen_days_earlier)
    assert as_admin.get("/operations/").context["overview"]["takedowns_past_half_time_count"] == len(
        takedowns
    )
    Takedown.objects.filter(pk=old.pk).update(status=Takedown.Status.DELETION_ATTESTED)
    assert as_admin.get("/operations/").context["overview"]["takedowns_past_half_time_count"] == len(recent)


# The audit log


def test_audit_log_lists_events_and_filters_them(as_admin, world):
    response = as_admin.get("/operations/audit/")
    assert response.status_code == 200
    listing = response.context["listing"]
    assert listing.total == AuditEvent.objects.count()
    assert listing.rows[0]["seq"] == AuditEvent.objects.order_by("-seq").first().seq
    approved = as_admin.get("/operations/audit/?action=lease.approved").context["listing"]
    assert listing.total > approved.total == 2
    assert {row["subject_id"] for row in approved.rows} == {str(world.lease_a.pk), str(world.lease_b.pk)}
    by_subject = as_admin.get("/operations/audit/?subject_type=licensing.studio").context["listing"]
    assert by_subject.total == Studio.objects.count() * 2  # enrolled, then its staff added
    by_actor = as_admin.get("/operations/audit/?actor=carol").context["listing"]
    assert by_actor.total and all(row["actor_label"] == "carol" for row in by_actor.rows)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert as_admin.get(f"/operations/audit/?since={tomorrow}").context["listing"].total == 0
    assert as_admin.get(f"/operations/audit/?until={tomorrow}").context["listing"].total == listing.total


def test_audit_log_shows_the_chain_is_intact(as_admin, world):
    text = page_text(as_admin.get("/operations/audit/?verify=now"))
    assert f"Chain intact: {AuditEvent.objects.count()} events verified" in text


def test_audit_log_shows_the_first_broken_link(as_admin, world):
    event = AuditEvent.objects.order_by("seq")[2]
    AuditEvent.objects.filter(pk=event.pk).update(data={"tampered": True})
    response = as_admin.get("/operations/audit/?verify=now")
    text = page_text(response)
    assert f"Chain broken at event #{event.seq}: contents do not match the recorded hash" in text
    assert response.context["chain"].checked == event.seq


def test_audit_log_csv_is_the_filtered_log(as_admin, world):
    response = as_admin.get("/operations/audit/?action=lease.&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows and all(row["action"].startswith("lease.") for row in rows)
    assert len(rows) == AuditEvent.objects.filter(action__startswith="lease.").count()


# Members


def test_members_page_lists_searches_and_exports(as_admin, owed):
    listing = as_admin.get("/operations/members/").context["listing"]
    assert listing.total == Member.objects.count()
    found = as_admin.get("/operations/members/?q=bankless").context["listing"]
    assert [row["member_number"] for row in found.rows] == ["M-10003"]
    assert found.rows[0]["has_bank_details"] is False
    missing = as_admin.get("/operations/members/?bank=no").context["listing"]
    assert {row["member_number"] for row in missing.rows} == set(
        Member.objects.filter(payout_iban="").values_list("member_number", flat=True)
    )
    response = as_admin.get("/operations/members/?q=M-1000&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["member_number"] for row in rows] == ["M-10001", "M-10002", "M-10003", "M-10004", "M-10005"]


def test_enrolling_a_member_creates_them_and_audits_it(as_admin, cast):
    response = as_admin.post(
        "/operations/members/enrol/",
        {
            "member_number": "M-20001",
            "display_name": "New Nell",
            "email": "nell@example.org",
            "username": "nell",
            "password": PASSWORD,
        },
    )
    member = Member.objects.get(member_number="M-20001")
    assert response.status_code == 302 and response["Location"] == "/operations/members/?q=M-20001"
    assert member.user.check_password(PASSWORD) and not member.listed_publicly
    assert AuditEvent.objects.filter(action="member.enrolled", subject_id=str(member.pk)).exists()


def test_a_taken_member_number_or_weak_password_is_refused_and_nothing_is_written(as_admin, cast):
    events, members = AuditEvent.objects.count(), Member.objects.count()
    base = {"display_name": "X", "email": "x@example.org", "username": "xavier", "password": PASSWORD}
    taken = as_admin.post("/operations/members/enrol/", {**base, "member_number": "M-00001"})
    assert "member number M-00001 is taken" in taken.content.decode()
    weak = as_admin.post("/operations/members/enrol/", {**base, "member_number": "M-3", "password": "123"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    assert (AuditEvent.objects.count(), Member.objects.count()) == (events, members)
    assert not Member.objects.filter(user__username="xavier").exists()


# Studios


def test_studios_page_lists_counts_and_searches_by_staff_login(as_admin, world):
    listing = as_admin.get("/operations/studios/").context["listing"]
    rows = {row["name"]: row for row in listing.rows}
    assert rows["Studio A"]["staff_count"] == 1 and rows["Studio A"]["active_leases"] == 1
    found = as_admin.get("/operations/studios/?q=dave").context["listing"]
    assert [row["name"] for row in found.rows] == ["Studio B"]


def test_enrolling_a_studio_creates_it_with_its_first_staff_and_audits_both(as_admin, cast):
    response = as_admin.post(
        "/operations/studios/enrol/",
        {
            "name": "Studio C",
            "staff_username": "erin",
            "staff_email": "e@c.example",
            "staff_password": PASSWORD,
        },
    )
    studio = Studio.objects.get(name="Studio C")
    assert response.status_code == 302 and response["Location"] == f"/operations/studios/{studio.pk}/"
    assert StudioStaff.objects.get(studio=studio).user.get_username() == "erin"
    actions = set(
        AuditEvent.objects.filter(subject_id=str(studio.pk), subject_type="licensing.studio").values_list(
            "action", flat=True
        )
    )
    assert actions == {"studio.enrolled", "studio.staff_added"}
    page = as_admin.get(f"/operations/studios/{studio.pk}/")
    assert "erin" in page.content.decode()


def test_a_studio_whose_staff_login_is_refused_is_not_created(as_admin, cast):
    events = AuditEvent.objects.count()
    response = as_admin.post(
        "/operations/studios/enrol/",
        {
            "name": "Studio D",
            "staff_username": "carol",
            "staff_email": "c@d.example",
            "staff_password": PASSWORD,
        },
    )
    assert response.status_code == 200 and "username 'carol' is taken" in page_text(response)
    assert not Studio.objects.filter(name="Studio D").exists()
    assert AuditEvent.objects.count() == events


def test_adding_staff_to_a_studio_audits_it(as_admin, cast):
    url = f"/operations/studios/{cast.studio_a.pk}/"
    response = as_admin.post(
        url, {"staff_username": "fay", "staff_email": "f@a.example", "staff_password": PASSWORD}
    )
    assert response.status_code == 302
    assert StudioStaff.objects.filter(studio=cast.studio_a, user__username="fay").exists()
    assert AuditEvent.objects.filter(action="studio.staff_added", data__username="fay").exists()
    taken = as_admin.post(
        url, {"staff_username": "fay", "staff_email": "f@a.example", "staff_password": PASSWORD}
    )
    assert "username 'fay' is taken" in page_text(taken)


# Confirmations: approve, revoke, freeze


def test_approve_asks_first_and_says_what_it_will_pin(as_admin, world):
    lease = licensing.lease_request(actor=world.cast.carol, terms=world.terms, purpose="another model")
    page = as_admin.get(f"/operations/leases/{lease.pk}/approve/?next=/operations/leases/")
    text = " ".join(page.content.decode().split())
    version = DatasetVersion.objects.get(dataset=world.dataset)
    assert f"World version {version.number}</strong> and the <strong>2 of its 2 assets</strong>" in text
    lease.refresh_from_db()
    assert lease.status == Lease.Status.REQUESTED
    response = as_admin.post(f"/operations/leases/{lease.pk}/approve/", {"next": "/operations/leases/"})
    assert response.status_code == 302 and response["Location"] == "/operations/leases/"
    lease.refresh_from_db()
    assert lease.status == Lease.Status.ACTIVE and lease.version == version
    assert AuditEvent.objects.filter(action="lease.approved", subject_id=str(lease.pk)).exists()


def test_revoke_asks_first_and_says_which_tokens_stop(as_admin, world):
    page = as_admin.get(f"/operations/leases/{world.lease_a.pk}/revoke/")
    text = " ".join(page.content.decode().split())
    assert "<strong>1 working token</strong> stops" in text
    assert Lease.objects.get(pk=world.lease_a.pk).status == Lease.Status.ACTIVE
    as_admin.post(f"/operations/leases/{world.lease_a.pk}/revoke/", {"reason": "breach of terms"})
    lease = Lease.objects.get(pk=world.lease_a.pk)
    assert lease.status == Lease.Status.REVOKED and lease.decision_reason == "breach of terms"
    assert AuditEvent.objects.filter(action="lease.revoked", subject_id=str(lease.pk)).exists()
    again = as_admin.get(f"/operations/leases/{world.lease_a.pk}/revoke/")
    assert "only an active lease can be revoked" in again.content.decode()


def test_freeze_asks_first_and_says_how_many_assets_the_version_will_hold(as_admin, world, cast):
    extra = make_available_asset(world)
    trust.dataset_add_assets(actor=cast.admin, dataset=world.dataset, asset_ids=[extra.pk])
    page = as_admin.get(f"/operations/datasets/{world.dataset.pk}/freeze/")
    text = " ".join(page.content.decode().split())
    assert "Version 2 will hold <strong>3 assets</strong>: 1 new and 0 dropped since version 1" in text
    assert world.dataset.versions.count() == 1
    as_admin.post(f"/operations/datasets/{world.dataset.pk}/freeze/")
    version = world.dataset.versions.get(number=2)
    assert version.items.count() == 3
    assert AuditEvent.objects.filter(action="dataset.frozen", subject_id=str(version.pk)).exists()


def make_available_asset(world):
    return make_asset(admin=world.cast.admin, contributors=[(world.cast.bob, "1")], data=b"bob again")


# Freezing with no change is refused: the service, the page and the API


def test_the_service_refuses_to_freeze_an_unchanged_draft(world, cast):
    with pytest.raises(Conflict) as refused:
        trust.dataset_freeze(actor=cast.admin, dataset=world.dataset)
    assert refused.value.code == "dataset_unchanged"
    assert "nothing changed since version 1" in refused.value.detail
    assert world.dataset.versions.count() == 1


def test_the_page_refuses_to_freeze_an_unchanged_draft_with_a_message(as_admin, world):
    events = AuditEvent.objects.count()
    page = as_admin.get(f"/operations/datasets/{world.dataset.pk}/freeze/")
    assert "Nothing changed since version 1" in page.content.decode()
    assert b"Freeze version 2" not in page.content
    response = as_admin.post(f"/operations/datasets/{world.dataset.pk}/freeze/", follow=True)
    assert "nothing changed since version 1" in response.content.decode()
    assert world.dataset.versions.count() == 1 and AuditEvent.objects.count() == events


def test_the_api_refuses_to_freeze_an_unchanged_draft_with_409(as_user, world, cast):
    response = as_user(cast.admin).post(f"/api/v1/datasets/{world.dataset.pk}/versions/")
    assert response.status_code == 409
    assert response.json()["code"] == "dataset_unchanged"
    assert world.dataset.versions.count() == 1


def test_a_batch_takes_the_same_number_of_queries_for_3_or_30_members(cast):
    ledger.payouts_in_transit()  # the first batch ever also creates this account

    def queries_for(count: int, prefix: str) -> int:
        for n in range(count):
            member = MemberFactory(member_number=f"{prefix}-{n:03d}", payout_iban=IBAN)
            owe(member, 3000 + n)
        with CaptureQueriesContext(connection) as captured:
            batch = services.payout_batch_create(actor=cast.admin)
        assert batch.item_count == count
        return len(captured.captured_queries)

    assert queries_for(3, "Q") == queries_for(30, "R")
