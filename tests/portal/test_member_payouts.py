"""The member's payouts page: every payment with its account ending, the CSV of them all, and
bank details that only change with the member's current password."""

import csv
import io
import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payouts import services
from payouts.models import PayoutItem
from tests.factories import PASSWORD, MemberFactory
from trust import services as trust
from trust.models import AuditEvent
from trust.templatetags.portal import day

pytestmark = pytest.mark.django_db
ALICE_IBAN = "DE89370400440532013000"
BOB_IBAN = "GB33BUKB20201555555555"
NEW_IBAN = "NL91ABNA0417164300"
URL = "/member/payouts/"


def _text(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.fixture
def paid(world):
    """A closed period, both members' bank details, and one payout batch paying them both."""
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    services.period_close(period_id=period.pk)
    for member, iban in ((world.cast.alice, ALICE_IBAN), (world.cast.bob, BOB_IBAN)):
        trust.member_set_bank_account(actor=world.cast.admin, member=member, iban=iban)
    return services.payout_batch_create(actor=world.cast.admin, minimum_cents=1)


@pytest.fixture
def alice(client, world):
    client.force_login(world.cast.alice.user)
    return client


def test_the_member_sees_each_payout_with_its_date_amount_and_account_ending(alice, world, paid):
    response = alice.get(URL)
    assert response.status_code == 200
    text = _text(response)
    item = PayoutItem.objects.get(member=world.cast.alice)
    assert item.amount_cents == 1368
    made, due = day(paid.created_at), day(paid.execution_date)
    assert f"{made} Batch #{paid.pk}, paid on {due} 13.68 ending …3000" in text
    assert "Paid to you so far 13.68 USD" in text
    assert "Balance waiting to be paid 0.00 USD" in text
    assert "Showing 1–1 of 1" in text
    assert ALICE_IBAN not in response.content.decode()  # only the last four are ever shown


def test_another_members_payouts_are_not_shown(client, world, paid):
    client.force_login(world.cast.bob.user)
    text = _text(client.get(URL))
    assert "3.42 ending …5555" in text and "13.68" not in text and "…3000" not in text


def test_a_member_never_paid_sees_an_empty_state_and_the_bank_form(client, world):
    newcomer = MemberFactory()
    client.force_login(newcomer.user)
    text = _text(client.get(URL))
    assert "No payment has been made to you yet. Add your bank details below" in text
    assert "No bank account is on file yet" in text and "Save bank details" in text


def _credit(world, cents: int) -> None:
    """Credit Alice's payable account as a close would (one balanced ledger transaction)."""
    from payouts import ledger

    ledger.post(
        key=f"test-credit:{cents}",
        memo="test credit",
        lines=[
            (ledger.studio_receivable(world.cast.studio_a), cents),
            (ledger.member_payable(world.cast.alice), -cents),
        ],
    )


@pytest.fixture
def paid_three_times(world, paid):
    for cents in (500, 9000):
        _credit(world, cents)
        services.payout_batch_create(actor=world.cast.admin, minimum_cents=1)
    return paid


def test_the_list_pages_and_sorts_by_amount(alice, paid_three_times, monkeypatch):
    monkeypatch.setattr("payouts.pages.member.PAYOUTS_PER_PAGE", 2)
    first = alice.get(URL + "?sort=-amount")
    assert [row["amount_cents"] for row in first.context["listing"].rows] == [9000, 1368]
    assert "Showing 1–2 of 3" in _text(first)
    second = alice.get(URL + "?sort=-amount&page=2")
    assert [row["amount_cents"] for row in second.context["listing"].rows] == [500]
    newest_first = alice.get(URL)
    assert [row["amount_cents"] for row in newest_first.context["listing"].rows] == [9000, 500]


def test_the_csv_holds_every_payout_not_just_the_page(alice, paid_three_times, monkeypatch):
    monkeypatch.setattr("payouts.pages.member.PAYOUTS_PER_PAGE", 1)
    response = alice.get(URL + "?format=csv&sort=amount")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="guildtrust-payouts-M-00001.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "batch",
        "made_on",
        "paid_on",
        "amount",
        "currency",
        "account_ending",
        "state",
        "returned_on",
    ]
    assert [r[3] for r in rows[1:]] == ["5.00", "13.68", "90.00"]
    assert {r[5] for r in rows[1:]} == {"3000"}
    assert {(r[6], r[7]) for r in rows[1:]} == {("created", "")}


# --- Bank details ---------------------------------------------------------------------------


def test_the_member_changes_bank_details_with_their_password(alice, world):
    response = alice.post(URL, {"iban": "nl91 abna 0417 1643 00", "current_password": PASSWORD}, follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert "Bank details saved: payouts now go to the account ending 4300." in _text(response)
    world.cast.alice.refresh_from_db()
    assert (world.cast.alice.payout_iban, world.cast.alice.payout_bic) == (NEW_IBAN, "ABNANL2A")
    event = AuditEvent.objects.filter(action="member.bank_account_set").latest("seq")
    assert event.actor_id == world.cast.alice.user_id
    assert event.data["iban_ends"] == "4300" and NEW_IBAN not in str(event.data)


def test_a_wrong_password_changes_nothing_and_says_why(alice, world):
    trust.member_set_bank_account(actor=world.cast.admin, member=world.cast.alice, iban=ALICE_IBAN)
    events = AuditEvent.objects.count()
    response = alice.post(URL, {"iban": NEW_IBAN, "current_password": "not-my-password"})
    assert response.status_code == 200
    text = _text(response)
    assert "your current password is needed to change your bank details, and the one given is not it" in text
    assert "Payouts go to the account ending …3000" in text
    world.cast.alice.refresh_from_db()
    assert world.cast.alice.payout_iban == ALICE_IBAN
    assert AuditEvent.objects.count() == events


def test_a_missing_password_is_asked_for_on_the_form(alice, world):
    response = alice.post(URL, {"iban": NEW_IBAN})
    assert response.status_code == 200
    assert "This field is required." in _text(response)
    world.cast.alice.refresh_from_db()
    assert world.cast.alice.payout_iban == ""


def test_an_invalid_iban_is_refused_with_its_reason(alice, world):
    response = alice.post(URL, {"iban": "DE00370400440532013000", "current_password": PASSWORD})
    assert response.status_code == 200
    assert "not a valid bank account" in _text(response)
    world.cast.alice.refresh_from_db()
    assert world.cast.alice.payout_iban == ""


# --- Who may see it ---------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    for response in (client.get(URL), client.post(URL, {"iban": NEW_IBAN}), client.get(URL + "?format=csv")):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("who", ["admin", "carol", "outsider"])
def test_administrators_studio_staff_and_others_are_refused(client, world, paid, who):
    client.force_login(getattr(world.cast, who))
    assert client.get(URL).status_code == 403
    assert client.get(URL + "?format=csv").status_code == 403
    response = client.post(URL, {"iban": NEW_IBAN, "current_password": PASSWORD})
    assert response.status_code == 403
    world.cast.alice.refresh_from_db()
    assert world.cast.alice.payout_iban == ALICE_IBAN


def test_the_member_nav_links_to_payouts(alice):
    assert (
        f'<a href="{reverse("member-payouts")}">Payouts</a>'
        in alice.get(reverse("member-home")).content.decode()
    )


def test_the_page_reads_a_fixed_number_of_queries_however_many_payouts(
    alice, paid_three_times, django_assert_max_num_queries
):
    # Session, user, member, the page of payouts and its count, balance and total paid.
    with django_assert_max_num_queries(12):
        assert alice.get(URL).status_code == 200


# --- Where each payout stands ------------------------------------------------------------------


def test_each_payout_says_where_it_stands_and_a_returned_one_is_not_counted_as_paid(alice, world, paid):
    from payouts import payout_batches

    assert "Being prepared" in _text(alice.get(URL))
    payout_batches.payout_batch_mark_sent(actor=world.cast.admin, batch_id=paid.pk)
    assert f"Sent to the bank on {day(timezone.localdate())}" in _text(alice.get(URL))
    payout_batches.payout_item_return(
        actor=world.cast.admin, batch_id=paid.pk, member_id=world.cast.alice.pk, reason="account closed"
    )
    payout_batches.payout_batch_mark_settled(actor=world.cast.admin, batch_id=paid.pk)
    text = _text(alice.get(URL))
    assert f"Returned by the bank on {day(timezone.localdate())}" in text
    assert "account closed; the amount is back in your balance" in text
    assert "Paid to you so far 0.00 USD" in text and "Balance waiting to be paid 13.68 USD" in text
    client = Client()
    client.force_login(world.cast.bob.user)
    assert f"Paid: settled on {day(timezone.localdate())}" in _text(client.get(URL))


def test_a_member_whose_bank_has_no_iban_gives_the_account_number_and_bic(alice, world):
    body = {"account_number": "000123456789", "bic": "CHASUS33", "current_password": PASSWORD}
    response = alice.post(URL, body, follow=True)
    assert "Bank details saved: payouts now go to the account ending 6789." in _text(response)
    world.cast.alice.refresh_from_db()
    assert (world.cast.alice.payout_iban, world.cast.alice.payout_account_number) == ("", "000123456789")
    assert "Payouts go to the account ending …6789 (BIC CHASUS33)" in _text(response)
