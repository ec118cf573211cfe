"""A payout batch as files for the bank: CSV for people, ISO 20022 pain.001 for the bank.

The pain.001 claims SEPA (service level SEPA, charges SLEV) only for what SEPA carries: euros
to an IBAN in the SEPA zone. Every other payment (another currency, or an account known by its
number and BIC) is an ordinary credit transfer: no service level, charges shared (SHAR), the
creditor's bank by BIC. Payments are grouped into one payment information block per currency
and kind, since service level, charge bearer and control sum are set per block."""

# ElementTree builds the file here, it never parses XML (bandit B405 is about parsing).
import xml.etree.ElementTree as ET  # nosec B405
from dataclasses import dataclass
from functools import cache
from itertools import groupby

from django.conf import settings
from django.utils import timezone
from schwifty.exceptions import SchwiftyException
from schwifty.iban import registry as iban_registry

from trust.csv_export import csv_text
from trust.errors import Conflict

from .models import PayoutBatch
from .statements import amount

PAIN_SCHEMA = "pain.001.001.09"
PAIN_NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{PAIN_SCHEMA}"
CSV_COLUMNS = [
    "batch",
    "member_number",
    "account_name",
    "iban",
    "account_number",
    "bic",
    "amount",
    "currency",
    "end_to_end_id",
]


def batch_csv(batch: PayoutBatch) -> str:
    """One row per payment; cells are formula-safe (an account name is member-supplied text)."""
    rows = (
        [
            batch.pk,
            member_number,
            account_name,
            iban,
            account_number,
            bic,
            amount(amount_cents),
            batch.currency,
            end_to_end_id(batch, member_number),
        ]
        for member_number, account_name, iban, account_number, bic, amount_cents in batch.items.order_by(
            "member__member_number"
        )
        .values_list("member__member_number", "account_name", "iban", "account_number", "bic", "amount_cents")
        .iterator(chunk_size=5000)
    )
    return csv_text(CSV_COLUMNS, rows)


def end_to_end_id(batch: PayoutBatch, member_number: str) -> str:
    return f"GT-{batch.pk}-{member_number}"[:35]


@cache
def _country_in_sepa_zone(country_code: str) -> bool:
    try:
        return bool(iban_registry.get_iban_spec(country_code).in_sepa_zone)
    except SchwiftyException:
        return False


def is_sepa_payment(*, currency: str, iban: str) -> bool:
    """SEPA carries euros between IBANs of the SEPA zone, nothing else. IBANs were validated
    when the member gave them, so the country prefix is enough (and fast for a whole union)."""
    return currency == "EUR" and bool(iban) and _country_in_sepa_zone(iban[:2].upper())


@dataclass(frozen=True)
class Payment:
    end_to_end_id: str
    amount_cents: int
    currency: str
    name: str
    iban: str
    account_number: str
    bic: str
    sepa: bool


def batch_payments(batch: PayoutBatch) -> list[Payment]:
    """The batch's payments in file order: SEPA blocks first, then by currency, then by member.
    Plain rows in one query, not model instances: a batch may pay every member of the union."""
    rows = batch.items.order_by("member__member_number").values_list(
        "member__member_number", "amount_cents", "account_name", "iban", "account_number", "bic"
    )
    payments = [
        Payment(
            end_to_end_id=end_to_end_id(batch, member_number),
            amount_cents=amount_cents,
            currency=batch.currency,
            name=account_name,
            iban=iban,
            account_number=account_number,
            bic=bic,
            sepa=is_sepa_payment(currency=batch.currency, iban=iban),
        )
        for member_number, amount_cents, account_name, iban, account_number, bic in rows.iterator(
            chunk_size=5000
        )
    ]
    return sorted(payments, key=lambda p: (not p.sepa, p.currency))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _agent(parent: ET.Element, tag: str, bic: str) -> None:
    _sub(_sub(_sub(parent, tag), "FinInstnId"), "BICFI", bic)


def _account(parent: ET.Element, tag: str, *, iban: str = "", number: str = "") -> None:
    identification = _sub(_sub(parent, tag), "Id")
    if iban:
        _sub(identification, "IBAN", iban)
    else:
        _sub(_sub(identification, "Othr"), "Id", number)


def _payment_information(root: ET.Element, batch: PayoutBatch, number: int, payments: list[Payment]) -> None:
    sepa, currency = payments[0].sepa, payments[0].currency
    block = _sub(root, "PmtInf")
    _sub(block, "PmtInfId", f"GT-{batch.pk}-{number}")
    _sub(block, "PmtMtd", "TRF")
    _sub(block, "BtchBookg", "true")
    _sub(block, "NbOfTxs", str(len(payments)))
    _sub(block, "CtrlSum", amount(sum(p.amount_cents for p in payments)))
    if sepa:
        _sub(_sub(_sub(block, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    _sub(_sub(block, "ReqdExctnDt"), "Dt", batch.execution_date.isoformat())
    _sub(_sub(block, "Dbtr"), "Nm", settings.TRUST_NAME[:140])
    _account(block, "DbtrAcct", iban=settings.TRUST_IBAN)
    _agent(block, "DbtrAgt", settings.TRUST_BIC)
    # SLEV (the scheme's rules) exists only inside SEPA; elsewhere each side pays its own bank.
    _sub(block, "ChrgBr", "SLEV" if sepa else "SHAR")
    for payment in payments:
        transaction = _sub(block, "CdtTrfTxInf")
        _sub(_sub(transaction, "PmtId"), "EndToEndId", payment.end_to_end_id)
        _sub(_sub(transaction, "Amt"), "InstdAmt", amount(payment.amount_cents), Ccy=currency)
        if payment.bic:
            _agent(transaction, "CdtrAgt", payment.bic)
        _sub(_sub(transaction, "Cdtr"), "Nm", payment.name[:140])
        _account(transaction, "CdtrAcct", iban=payment.iban, number=payment.account_number)
        _sub(_sub(transaction, "RmtInf"), "Ustrd", f"Guildtrust royalties, batch {batch.pk}")


def batch_pain001(batch: PayoutBatch) -> bytes:
    """The batch as one pain.001.001.09 credit transfer initiation: a SEPA block for euros to
    SEPA IBANs, and non-SEPA blocks (per currency) for everything else."""
    payments = batch_payments(batch)
    if not payments:
        raise Conflict("this batch paid nobody: there is no transfer to send", code="batch_empty")
    document = ET.Element("Document", xmlns=PAIN_NAMESPACE)
    root = _sub(document, "CstmrCdtTrfInitn")
    header = _sub(root, "GrpHdr")
    _sub(header, "MsgId", f"GT-PAYOUT-{batch.pk}")
    _sub(header, "CreDtTm", timezone.now().replace(microsecond=0).isoformat())
    _sub(header, "NbOfTxs", str(len(payments)))
    _sub(header, "CtrlSum", amount(sum(p.amount_cents for p in payments)))
    _sub(_sub(header, "InitgPty"), "Nm", settings.TRUST_NAME[:140])
    blocks = groupby(payments, key=lambda p: (p.sepa, p.currency))
    for number, (_, block) in enumerate(blocks, start=1):
        _payment_information(root, batch, number, list(block))
    return ET.tostring(document, encoding="UTF-8", xml_declaration=True)
