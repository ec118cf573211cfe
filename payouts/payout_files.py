"""A payout batch as files for the bank: CSV for people, ISO 20022 pain.001 for the bank."""

from django.conf import settings
from sepaxml import SepaTransfer
from sepaxml.utils import int_to_decimal_str

from trust.csv_export import csv_text
from trust.errors import Conflict

from .models import PayoutBatch

PAIN_SCHEMA = "pain.001.001.09"
CSV_COLUMNS = ["batch", "member_number", "account_name", "iban", "bic", "amount", "currency", "end_to_end_id"]


def batch_csv(batch: PayoutBatch) -> str:
    """One row per payment; cells are formula-safe (an account name is member-supplied text)."""
    rows = (
        [
            batch.pk,
            item.member.member_number,
            item.account_name,
            item.iban,
            item.bic,
            int_to_decimal_str(item.amount_cents),
            batch.currency,
            end_to_end_id(batch, item),
        ]
        for item in batch.items.select_related("member")
    )
    return csv_text(CSV_COLUMNS, rows)


def end_to_end_id(batch: PayoutBatch, item) -> str:
    return f"GT-{batch.pk}-{item.member.member_number}"[:35]


def batch_pain001(batch: PayoutBatch) -> bytes:
    """The batch as one pain.001 credit transfer initiation, validated against its XSD."""
    if not batch.items.exists():
        raise Conflict("this batch paid nobody: there is no transfer to send", code="batch_empty")
    transfer = SepaTransfer(
        {
            "name": settings.TRUST_NAME,
            "IBAN": settings.TRUST_IBAN,
            "BIC": settings.TRUST_BIC,
            "batch": True,
            "currency": batch.currency,
        },
        schema=PAIN_SCHEMA,
    )
    for item in batch.items.select_related("member"):
        payment = {
            "name": item.account_name,
            "IBAN": item.iban,
            "amount": item.amount_cents,
            "execution_date": batch.execution_date,
            "description": f"Guildtrust royalties, batch {batch.pk}",
            "endtoend_id": end_to_end_id(batch, item),
        }
        if item.bic:
            payment["BIC"] = item.bic
        transfer.add_payment(payment)
    return transfer.export(validate=True)
