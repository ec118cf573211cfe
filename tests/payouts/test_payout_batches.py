"""Bank details, payout batches, and the CSV and pain.001 files the bank receives."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts import ledger, selectors, services
from payouts.models import Account, PayoutItem
from payouts.payout_files import PAIN_SCHEMA
from tests.factories import PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db
ALICE_IBAN = "DE89370400440532013000"
BOB_IBAN = "GB33BUKB20201555555555"


@pytest.fixture
def closed(world):
    now = timezone.now()
    period = services.period_create(actor=world.cast.admin, start=now - timedelta(hours=1), end=now)
    return services.period_close(period_id=period.pk)


def test_a_member_sets_a_valid_bank_account(world, as_user):
    client = as_user(world.cast.alice)
    response = client.put(
        "/api/v1/me/bank-account/",
        {"iban": "de89 3704 0044 0532 0130 00", "current_password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "account_name": "Alice",
        "iban": ALICE_IBAN,
        "bic": "COBADEFFXXX",
        "account_number": "",
    }


@pytest.mark.parametrize("iban", ["DE00370400440532013000", "XX123", "DE8937040044053201300"])
def test_an_invalid_iban_is_refused(world, as_user, iban):
    response = as_user(world.cast.alice).put(
        "/api/v1/me/bank-account/", {"iban": iban, "current_password": PASSWORD}, format="json"
    )
    assert response.status_code == 422 and response.json()["code"] == "bad_bank_account"
    world.cast.alice.refresh_from_db()
    assert world.cast.alice.payout_iban == ""


@pytest.mark.parametrize("password", [None, "", "not-her-password"])
def test_bank_details_are_not_changed_without_the_current_password(world, as_user, password):
    body = {"iban": ALICE_IBAN} | ({} if password is None else {"current_password": password})
    response = as_user(world.cast.alice).put("/api/v1/me/bank-account/", body, format="json")
    assert response.status_code in (400, 403, 422)
    if password:
        assert (response.status_code, response.json()["code"]) == (403, "wrong_password")
    world.cast.alice.refresh_from_db()
    assert world.cast.alice.payout_iban == ""


def test_balances_at_or_above_the_minimum_are_paid_and_the_rest_carry_forward(world, closed, as_user):
    # Each lease: Alice 684 net, Bob 171 net; two leases.
    for member, iban in ((world.cast.alice, ALICE_IBAN), (world.cast.bob, BOB_IBAN)):
        as_user(member).put(
            "/api/v1/me/bank-account/", {"iban": iban, "current_password": PASSWORD}, format="json"
        )
    admin = as_user(world.cast.admin)
    batch = admin.post("/api/v1/payouts/batches/", {"minimum_cents": 500}, format="json").json()
    assert (batch["total_cents"], batch["item_count"]) == (1368, 1)
    assert [(i["member_number"], i["amount_cents"], i["iban"]) for i in batch["items"]] == [
        ("M-00001", 1368, ALICE_IBAN)
    ]
    assert selectors.member_balance_cents(world.cast.alice) == 0
    assert selectors.member_balance_cents(world.cast.bob) == 342
    assert ledger.trial_balance() == 0
    again = admin.post("/api/v1/payouts/batches/", {"minimum_cents": 500}, format="json").json()
    assert again["item_count"] == 0  # nothing is paid twice

    earnings = as_user(world.cast.alice).get("/api/v1/me/earnings/").json()
    assert earnings["balance_cents"] == 0 and earnings["total_net_cents"] == 1368


def test_the_csv_and_the_pain001_file_add_up(world, closed, as_user):
    for member, iban in ((world.cast.alice, ALICE_IBAN), (world.cast.bob, BOB_IBAN)):
        as_user(member).put(
            "/api/v1/me/bank-account/", {"iban": iban, "current_password": PASSWORD}, format="json"
        )
    admin = as_user(world.cast.admin)
    batch = admin.post("/api/v1/payouts/batches/", {"minimum_cents": 1}, format="json").json()
    rows = list(
        csv.DictReader(io.StringIO(admin.get(f"/api/v1/payouts/batches/{batch['id']}/csv/").content.decode()))
    )
    assert sorted((r["member_number"], r["amount"]) for r in rows) == [
        ("M-00001", "13.68"),
        ("M-00002", "3.42"),
    ]

    response = admin.get(f"/api/v1/payouts/batches/{batch['id']}/pain001/")
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    schema = xmlschema.XMLSchema(Path(__file__).parent / "xsd" / f"{PAIN_SCHEMA}.xsd")
    document = schema.to_dict(response.content.decode())
    header = document["CstmrCdtTrfInitn"]["GrpHdr"]
    assert (header["NbOfTxs"], str(header["CtrlSum"])) == ("2", "17.10")
    amounts = [
        tx["Amt"]["InstdAmt"] for info in document["CstmrCdtTrfInitn"]["PmtInf"] for tx in info["CdtTrfTxInf"]
    ]
    assert sorted((a["@Ccy"], str(a["$"])) for a in amounts) == [("USD", "13.68"), ("USD", "3.42")]


def test_a_formula_in_an_account_name_is_written_as_text_in_the_batch_csv(world, closed, as_user):
    as_user(world.cast.alice).put(
        "/api/v1/me/bank-account/",
        {"iban": ALICE_IBAN, "account_name": '=HYPERLINK("x")', "current_password": PASSWORD},
        format="json",
    )
    admin = as_user(world.cast.admin)
    batch = admin.post("/api/v1/payouts/batches/", {"minimum_cents": 1}, format="json").json()
    text = admin.get(f"/api/v1/payouts/batches/{batch['id']}/csv/").content.decode()
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["account_name"] == '\'=HYPERLINK("x")' and row["amount"] == "13.68"


def test_a_member_without_bank_details_carries_forward(world, closed, as_user):
    admin = as_user(world.cast.admin)
    batch = admin.post("/api/v1/payouts/batches/", {}, format="json").json()
    assert batch["item_count"] == 0
    assert selectors.member_balance_cents(world.cast.alice) == 1368
    empty = admin.get(f"/api/v1/payouts/batches/{batch['id']}/pain001/")
    assert empty.status_code == 409 and empty.json()["code"] == "batch_empty"


@pytest.mark.parametrize("minimum", [0, -5, 10**30, "lots"])
def test_a_nonsense_minimum_is_a_clear_400(world, as_user, minimum):
    response = as_user(world.cast.admin).post(
        "/api/v1/payouts/batches/", {"minimum_cents": minimum}, format="json"
    )
    assert response.status_code == 400


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    balances=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=6),
    minimum=st.integers(min_value=1, max_value=10**9),
)
def test_any_balances_pay_out_to_the_cent(cast, balances, minimum):
    members = []
    for n, amount in enumerate(balances):
        member = MemberFactory(payout_iban=ALICE_IBAN, payout_account_name=f"payee {n}")
        ledger.post(
            key=f"seed:{member.pk}",
            memo="earned",
            lines=[(ledger.trust_fee_revenue(), amount), (ledger.member_payable(member), -amount)],
        )
        members.append((member, amount))
    # Members from earlier examples may still carry balances: they count too.
    from trust.models import Member

    payees = list(Member.objects.exclude(payout_iban=""))
    before = {m.pk: selectors.member_balance_cents(m) for m in payees}
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=minimum)
    paid = {item.member_id: item.amount_cents for item in PayoutItem.objects.filter(batch=batch)}
    assert batch.total_cents == sum(paid.values()) == sum(b for b in before.values() if b >= minimum)
    for member in payees:
        expected_after = 0 if before[member.pk] >= minimum else before[member.pk]
        assert selectors.member_balance_cents(member) == expected_after
        assert paid.get(member.pk, 0) == before[member.pk] - expected_after
    assert ledger.trial_balance() == 0


def test_reading_a_new_members_balance_creates_no_account(db, as_user):
    member = MemberFactory(user__username="newcomer", member_number="M-09999")
    assert selectors.member_balance_cents(member) == 0
    response = as_user(member).get("/api/v1/me/earnings/")
    assert response.status_code == 200 and response.json()["balance_cents"] == 0
    assert not Account.objects.filter(member=member).exists()
