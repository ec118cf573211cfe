"""A payout batch after it is created: sent to the bank, settled by it, payments it returned;
what each step moves in the ledger, and what the member sees of it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts import ledger, payout_batches, selectors, services
from payouts.invoices import bank_account
from payouts.models import PayoutBatch
from tests.factories import PASSWORD, MemberFactory
from trust.errors import Conflict, Invalid

pytestmark = pytest.mark.django_db
IBAN = "DE89370400440532013000"


def _owed(member, cents: int) -> None:
    ledger.post(
        key=f"earned:{member.pk}:{cents}",
        memo="earned",
        lines=[(ledger.trust_fee_revenue(), cents), (ledger.member_payable(member), -cents)],
    )


@pytest.fixture
def two_paid(cast):
    """Alice owed 1368, Bob 342, both with an IBAN, paid by one batch."""
    for member, cents in ((cast.alice, 1368), (cast.bob, 342)):
        member.payout_iban = IBAN
        member.save(update_fields=["payout_iban"])
        _owed(member, cents)
    return services.payout_batch_create(actor=cast.admin, minimum_cents=1)


def _balances() -> dict:
    return {
        "transit": ledger.balance_of("trust:payouts_in_transit"),
        "bank": ledger.balance_of("trust:bank"),
    }


def test_a_batch_is_sent_then_settled_and_the_bank_pays_it_out_of_transit(cast, as_user, two_paid):
    admin = as_user(cast.admin)
    assert _balances() == {"transit": -1710, "bank": 0}
    sent = admin.post(f"/api/v1/payouts/batches/{two_paid.pk}/sent/", {}, format="json")
    assert sent.status_code == 200
    assert (sent.json()["state"], sent.json()["sent_on"]) == ("sent", str(timezone.localdate()))
    assert _balances() == {"transit": -1710, "bank": 0}  # sending moves no money

    settled = admin.post(f"/api/v1/payouts/batches/{two_paid.pk}/settled/", {}, format="json")
    assert settled.status_code == 200 and settled.json()["state"] == "settled"
    assert _balances() == {"transit": 0, "bank": -1710}
    assert ledger.trial_balance() == 0 and ledger.balances_disagreeing() == []


def test_a_payment_returned_before_settlement_goes_back_to_the_member_and_is_not_settled(
    cast, as_user, two_paid
):
    admin = as_user(cast.admin)
    admin.post(f"/api/v1/payouts/batches/{two_paid.pk}/sent/", {}, format="json")
    returned = admin.post(
        f"/api/v1/payouts/batches/{two_paid.pk}/returns/",
        {"member": cast.bob.pk, "reason": "account closed"},
        format="json",
    )
    assert returned.status_code == 200
    (bob_item,) = [i for i in returned.json()["items"] if i["member"] == cast.bob.pk]
    assert (bob_item["returned_on"], bob_item["return_reason"]) == (
        str(timezone.localdate()),
        "account closed",
    )
    assert selectors.member_balance_cents(cast.bob) == 342  # owed again, paid by the next batch
    assert _balances() == {"transit": -1368, "bank": 0}

    admin.post(f"/api/v1/payouts/batches/{two_paid.pk}/settled/", {}, format="json")
    assert _balances() == {"transit": 0, "bank": -1368}
    assert selectors.member_paid_cents(cast.bob) == 0 and selectors.member_paid_cents(cast.alice) == 1368
    again = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    assert (again.item_count, again.total_cents) == (1, 342)
    assert ledger.trial_balance() == 0


def test_a_payment_returned_after_settlement_comes_back_into_the_bank(cast, two_paid):
    payout_batches.payout_batch_mark_sent(actor=cast.admin, batch_id=two_paid.pk)
    payout_batches.payout_batch_mark_settled(actor=cast.admin, batch_id=two_paid.pk)
    payout_batches.payout_item_return(
        actor=cast.admin, batch_id=two_paid.pk, member_id=cast.alice.pk, reason="name does not match"
    )
    assert _balances() == {"transit": 0, "bank": -342}
    assert selectors.member_balance_cents(cast.alice) == 1368
    assert ledger.trial_balance() == 0


@pytest.mark.parametrize(
    ("steps", "then", "code", "status"),
    [
        ([], "settled", "batch_not_sent", 409),
        (["sent"], "sent", "batch_already_sent", 409),
        (["sent", "settled"], "settled", "batch_already_settled", 409),
        ([], "returns", "batch_not_sent", 409),
    ],
)
def test_a_step_out_of_order_is_refused_and_changes_nothing(
    cast, as_user, two_paid, steps, then, code, status
):
    admin = as_user(cast.admin)
    url = f"/api/v1/payouts/batches/{two_paid.pk}/"
    for step in steps:
        assert admin.post(url + f"{step}/", {}, format="json").status_code == 200
    before = (_balances(), PayoutBatch.objects.get(pk=two_paid.pk).state)
    body = {"member": cast.alice.pk, "reason": "closed"} if then == "returns" else {}
    response = admin.post(url + f"{then}/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert (_balances(), PayoutBatch.objects.get(pk=two_paid.pk).state) == before


def test_a_payment_is_returned_once(cast, two_paid):
    payout_batches.payout_batch_mark_sent(actor=cast.admin, batch_id=two_paid.pk)
    payout_batches.payout_item_return(
        actor=cast.admin, batch_id=two_paid.pk, member_id=cast.bob.pk, reason="x"
    )
    with pytest.raises(Conflict) as refused:
        payout_batches.payout_item_return(
            actor=cast.admin, batch_id=two_paid.pk, member_id=cast.bob.pk, reason="x"
        )
    assert refused.value.code == "payout_already_returned"
    assert selectors.member_balance_cents(cast.bob) == 342


def test_dates_in_the_future_or_before_sending_are_a_clear_422(cast, as_user, two_paid):
    admin = as_user(cast.admin)
    url = f"/api/v1/payouts/batches/{two_paid.pk}/"
    tomorrow = str(timezone.localdate() + timedelta(days=1))
    response = admin.post(url + "sent/", {"sent_on": tomorrow}, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "bad_date")
    assert admin.post(url + "sent/", {}, format="json").status_code == 200
    yesterday = str(timezone.localdate() - timedelta(days=1))
    response = admin.post(url + "settled/", {"settled_on": yesterday}, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "bad_date")
    assert admin.post(url + "settled/", {"settled_on": "not a day"}, format="json").status_code == 400
    assert PayoutBatch.objects.get(pk=two_paid.pk).state == "sent"


def test_a_return_without_a_reason_or_for_someone_not_in_the_batch_is_refused(cast, as_user, two_paid):
    admin = as_user(cast.admin)
    url = f"/api/v1/payouts/batches/{two_paid.pk}/returns/"
    admin.post(f"/api/v1/payouts/batches/{two_paid.pk}/sent/", {}, format="json")
    with pytest.raises(Invalid):
        payout_batches.payout_item_return(
            actor=cast.admin, batch_id=two_paid.pk, member_id=cast.bob.pk, reason=" "
        )
    stranger = MemberFactory()
    response = admin.post(url, {"member": stranger.pk, "reason": "closed"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "payout_not_found")
    missing = admin.post("/api/v1/payouts/batches/999999/sent/", {}, format="json")
    assert missing.status_code == 404
    assert _balances() == {"transit": -1710, "bank": 0}


def test_an_empty_batch_cannot_be_sent(cast):
    empty = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    with pytest.raises(Conflict) as refused:
        payout_batches.payout_batch_mark_sent(actor=cast.admin, batch_id=empty.pk)
    assert refused.value.code == "batch_empty"


def test_the_member_sees_their_payouts_with_the_batch_state_and_dates(cast, as_user, two_paid):
    payout_batches.payout_batch_mark_sent(actor=cast.admin, batch_id=two_paid.pk)
    payout_batches.payout_item_return(
        actor=cast.admin, batch_id=two_paid.pk, member_id=cast.bob.pk, reason="account closed"
    )
    payout_batches.payout_batch_mark_settled(actor=cast.admin, batch_id=two_paid.pk)
    today = str(timezone.localdate())
    (alice_row,) = as_user(cast.alice).get("/api/v1/me/payouts/").json()["results"]
    assert {k: alice_row[k] for k in ("batch", "amount_cents", "account_ends", "batch_state")} == {
        "batch": two_paid.pk,
        "amount_cents": 1368,
        "account_ends": "3000",
        "batch_state": "settled",
    }
    assert (alice_row["sent_on"], alice_row["settled_on"], alice_row["returned_on"]) == (today, today, None)
    (bob_row,) = as_user(cast.bob).get("/api/v1/me/payouts/").json()["results"]
    assert (bob_row["amount_cents"], bob_row["returned_on"], bob_row["return_reason"]) == (
        342,
        today,
        "account closed",
    )


def test_a_member_with_an_account_number_and_bic_is_paid(cast, as_user):
    client = as_user(cast.alice)
    body = {"account_number": "0001 2345-6789", "bic": "CHASUS33", "current_password": PASSWORD}
    response = client.put("/api/v1/me/bank-account/", body, format="json")
    assert response.status_code == 200
    assert (response.json()["iban"], response.json()["account_number"]) == ("", "000123456789")
    _owed(cast.alice, 500)
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    (item,) = batch.items.all()
    assert (item.iban, item.account_number, item.bic, item.amount_cents) == (
        "",
        "000123456789",
        "CHASUS33",
        500,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"account_number": "000123456789"},  # no BIC: the bank could not be found
        {"account_number": "000123456789", "iban": IBAN, "bic": "CHASUS33"},  # which one?
        {"account_number": "12", "bic": "CHASUS33"},
        {"account_number": "000123456789", "bic": "NOTABIC"},
        {},
    ],
)
def test_an_incomplete_account_is_refused_and_nothing_changes(cast, as_user, body):
    response = as_user(cast.alice).put(
        "/api/v1/me/bank-account/", body | {"current_password": PASSWORD}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (422, "bad_bank_account")
    cast.alice.refresh_from_db()
    assert (cast.alice.payout_iban, cast.alice.payout_account_number) == ("", "")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payments=st.lists(
        st.tuples(st.integers(min_value=1, max_value=10**9), st.sampled_from(["kept", "before", "after"])),
        min_size=1,
        max_size=6,
    )
)
def test_any_returns_leave_transit_empty_and_the_bank_down_by_what_was_paid(cast, payments):
    """Whatever is returned, before or after settlement: in transit ends at zero, the bank is
    down by exactly the payments kept, each returned member is owed their amount again, and the
    books balance."""
    members = []
    for n, (cents, fate) in enumerate(payments):
        member = MemberFactory(payout_iban=IBAN, payout_account_name=f"payee {n}")
        _owed(member, cents)
        members.append((member, cents, fate))
    owed_before = {m.pk: selectors.member_balance_cents(m) for m in MemberFactory._meta.model.objects.all()}
    bank_before, transit_before = (
        ledger.balance_of("trust:bank"),
        ledger.balance_of("trust:payouts_in_transit"),
    )
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    paid = {item.member_id: item.amount_cents for item in batch.items.all()}
    payout_batches.payout_batch_mark_sent(actor=cast.admin, batch_id=batch.pk)
    for fate in ("before", "after"):
        for member, _, member_fate in members:
            if member_fate == fate:
                payout_batches.payout_item_return(
                    actor=cast.admin, batch_id=batch.pk, member_id=member.pk, reason="returned"
                )
        if fate == "before":
            payout_batches.payout_batch_mark_settled(actor=cast.admin, batch_id=batch.pk)
    returned = {member.pk for member, _, fate in members if fate != "kept"}
    kept = sum(cents for member_id, cents in paid.items() if member_id not in returned)
    assert ledger.balance_of("trust:payouts_in_transit") == transit_before
    assert ledger.balance_of("trust:bank") == bank_before - kept
    assert bank_account().balance_cents == bank_before - kept
    for member_id in paid:
        expected = owed_before[member_id] if member_id in returned else 0
        assert selectors.member_balance_cents(MemberFactory._meta.model.objects.get(pk=member_id)) == expected
    assert ledger.trial_balance() == 0


@pytest.mark.parametrize("payments", [3, 40])
def test_each_step_costs_the_same_queries_however_many_payments(
    cast, as_user, django_assert_max_num_queries, payments
):
    for n in range(payments):
        _owed(MemberFactory(payout_iban=IBAN, payout_account_name=f"payee {n}"), 100 + n)
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    admin = as_user(cast.admin)
    url = f"/api/v1/payouts/batches/{batch.pk}/"
    member = batch.items.first().member
    with django_assert_max_num_queries(30):
        assert admin.post(url + "sent/", {}, format="json").status_code == 200
    with django_assert_max_num_queries(30):
        body = {"member": member.pk, "reason": "closed"}
        assert admin.post(url + "returns/", body, format="json").status_code == 200
    with django_assert_max_num_queries(30):
        assert admin.post(url + "settled/", {}, format="json").status_code == 200
    with django_assert_max_num_queries(20):
        assert as_user(member).get("/api/v1/me/payouts/").status_code == 200


@pytest.mark.parametrize("who", ["alice", "carol", None])
@pytest.mark.parametrize("step", ["sent", "settled", "returns"])
def test_only_an_administrator_moves_a_batch_on_its_page(client, cast, two_paid, who, step):
    if who:
        person = getattr(cast, who)
        client.force_login(getattr(person, "user", person))
    url = f"/operations/payouts/batches/{two_paid.pk}/{step}/"
    response = client.post(url, {"day": str(timezone.localdate()), "member": cast.alice.pk, "reason": "x"})
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")
    assert PayoutBatch.objects.get(pk=two_paid.pk).state == "created"
    assert _balances() == {"transit": -1710, "bank": 0}


def test_the_administrator_marks_a_batch_sent_on_its_page(client, cast, two_paid):
    client.force_login(cast.admin)
    response = client.post(
        f"/operations/payouts/batches/{two_paid.pk}/sent/", {"day": "2001-01-01"}, follow=True
    )
    assert "cannot have been sent on 2001-01-01" in response.content.decode()
    response = client.post(
        f"/operations/payouts/batches/{two_paid.pk}/sent/", {"day": str(timezone.localdate())}, follow=True
    )
    assert "marked sent to the bank" in response.content.decode()
    assert PayoutBatch.objects.get(pk=two_paid.pk).state == "sent"
