"""The pain.001 a bank accepts: SEPA only for euros to SEPA IBANs, an ordinary credit transfer
for everything else, and every file valid against the official ISO 20022 schema it declares
(tests/payouts/xsd/, see its README for where it comes from)."""

import csv
import io
from pathlib import Path

import pytest
import xmlschema

from payouts import ledger, services
from payouts.payout_files import PAIN_SCHEMA, batch_csv, batch_pain001
from payouts.statements import amount
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "xsd" / f"{PAIN_SCHEMA}.xsd")
GERMAN_IBAN = "DE89370400440532013000"
DUTCH_IBAN = "NL91ABNA0417164300"
BRAZILIAN_IBAN = "BR1800360305000010009795493C1"  # an IBAN country outside SEPA


def _owed(cents: int, **bank) -> None:
    member = MemberFactory(payout_account_name=f"Payee {cents}", **bank)
    ledger.post(
        key=f"earned:{member.pk}",
        memo="earned",
        lines=[(ledger.trust_fee_revenue(), cents), (ledger.member_payable(member), -cents)],
    )


def _pain(cast) -> dict:
    """The batch's pain.001, validated against the XSD (raises if it is not), as a dict."""
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    xml = batch_pain001(batch).decode()
    SCHEMA.validate(xml)
    return SCHEMA.to_dict(xml)["CstmrCdtTrfInitn"]


def _blocks(document) -> list[dict]:
    """Each payment block: its service level, charge bearer, currency and payments."""
    return [
        {
            # SvcLvl may repeat in .09: a list.
            "service_level": (block.get("PmtTpInf", {}).get("SvcLvl") or [{}])[0].get("Cd"),
            "charges": block["ChrgBr"],
            "control_sum": str(block["CtrlSum"]),
            "payments": [
                (
                    tx["Amt"]["InstdAmt"]["@Ccy"],
                    str(tx["Amt"]["InstdAmt"]["$"]),
                    tx["CdtrAcct"]["Id"].get("IBAN") or tx["CdtrAcct"]["Id"]["Othr"]["Id"],
                    tx.get("CdtrAgt", {}).get("FinInstnId", {}).get("BICFI"),
                )
                for tx in block["CdtTrfTxInf"]
            ],
        }
        for block in document["PmtInf"]
    ]


def test_euros_to_sepa_ibans_are_a_valid_sepa_transfer(cast, settings):
    settings.TRUST_CURRENCY = "EUR"
    _owed(1368, payout_iban=GERMAN_IBAN, payout_bic="COBADEFFXXX")
    _owed(342, payout_iban=DUTCH_IBAN, payout_bic="ABNANL2A")
    document = _pain(cast)
    assert (document["GrpHdr"]["NbOfTxs"], str(document["GrpHdr"]["CtrlSum"])) == ("2", "17.10")
    (block,) = _blocks(document)
    assert (block["service_level"], block["charges"], block["control_sum"]) == ("SEPA", "SLEV", "17.10")
    assert sorted(block["payments"]) == [
        ("EUR", "13.68", GERMAN_IBAN, "COBADEFFXXX"),
        ("EUR", "3.42", DUTCH_IBAN, "ABNANL2A"),
    ]


def test_another_currency_is_a_valid_non_sepa_transfer_even_to_sepa_ibans(cast, settings):
    settings.TRUST_CURRENCY = "USD"
    _owed(1368, payout_iban=GERMAN_IBAN, payout_bic="COBADEFFXXX")
    _owed(342, payout_account_number="000123456789", payout_bic="CHASUS33")
    document = _pain(cast)
    (block,) = _blocks(document)
    assert (block["service_level"], block["charges"], block["control_sum"]) == (None, "SHAR", "17.10")
    assert sorted(block["payments"]) == [
        ("USD", "13.68", GERMAN_IBAN, "COBADEFFXXX"),
        ("USD", "3.42", "000123456789", "CHASUS33"),
    ]


def test_euros_outside_sepa_go_in_their_own_non_sepa_block(cast, settings):
    settings.TRUST_CURRENCY = "EUR"
    _owed(1000, payout_iban=GERMAN_IBAN, payout_bic="COBADEFFXXX")
    _owed(250, payout_account_number="000123456789", payout_bic="CHASUS33")
    _owed(5, payout_iban=BRAZILIAN_IBAN, payout_bic="BRASBRRJ")
    document = _pain(cast)
    assert (document["GrpHdr"]["NbOfTxs"], str(document["GrpHdr"]["CtrlSum"])) == ("3", "12.55")
    sepa, other = _blocks(document)
    assert (sepa["service_level"], sepa["charges"], sepa["control_sum"]) == ("SEPA", "SLEV", "10.00")
    assert sepa["payments"] == [("EUR", "10.00", GERMAN_IBAN, "COBADEFFXXX")]
    assert (other["service_level"], other["charges"], other["control_sum"]) == (None, "SHAR", "2.55")
    assert sorted(other["payments"]) == [
        ("EUR", "0.05", BRAZILIAN_IBAN, "BRASBRRJ"),
        ("EUR", "2.50", "000123456789", "CHASUS33"),
    ]


def test_the_csv_names_an_account_number_where_there_is_no_iban(cast, settings):
    _owed(250, payout_account_number="000123456789", payout_bic="CHASUS33")
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    (row,) = csv.DictReader(io.StringIO(batch_csv(batch)))
    written = (row["iban"], row["account_number"], row["bic"], row["amount"])
    assert written == ("", "000123456789", "CHASUS33", "2.50")


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0.00"), (5, "0.05"), (100, "1.00"), (123456789, "1234567.89"), (-250, "-2.50")]
)
def test_cents_are_written_exactly_as_the_bank_reads_them(cents, text):
    assert amount(cents) == text


@pytest.mark.parametrize("payments", [3, 40])
def test_the_files_read_a_fixed_number_of_queries_however_many_payments(
    cast, django_assert_max_num_queries, payments
):
    for n in range(payments):
        _owed(100 + n, payout_iban=GERMAN_IBAN)
    batch = services.payout_batch_create(actor=cast.admin, minimum_cents=1)
    with django_assert_max_num_queries(2):
        SCHEMA.validate(batch_pain001(batch).decode())
    with django_assert_max_num_queries(2):
        assert len(batch_csv(batch).splitlines()) == payments + 1
