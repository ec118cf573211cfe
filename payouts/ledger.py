"""Double-entry ledger: every movement is one balanced, idempotent transaction."""

from django.db import transaction
from django.db.models import Sum

from .models import Account, LedgerEntry, LedgerTransaction


class Unbalanced(ValueError):
    pass


def studio_receivable(studio) -> Account:
    return Account.objects.get_or_create(
        code=f"studio:{studio.pk}:receivable",
        defaults={"kind": Account.Kind.STUDIO_RECEIVABLE, "studio": studio},
    )[0]


def trust_fee_revenue() -> Account:
    return Account.objects.get_or_create(
        code="trust:fee_revenue", defaults={"kind": Account.Kind.TRUST_FEE_REVENUE}
    )[0]


def payouts_in_transit() -> Account:
    return Account.objects.get_or_create(
        code="trust:payouts_in_transit", defaults={"kind": Account.Kind.PAYOUTS_IN_TRANSIT}
    )[0]


def member_payable_code(member) -> str:
    return f"member:{member.pk}:payable"


def member_payable(member) -> Account:
    """The member's payable account, created on first use: for posting, never for reading."""
    return Account.objects.get_or_create(
        code=member_payable_code(member), defaults={"kind": Account.Kind.MEMBER_PAYABLE, "member": member}
    )[0]


def pension_payable(member) -> Account:
    return Account.objects.get_or_create(
        code=f"member:{member.pk}:pension", defaults={"kind": Account.Kind.PENSION_PAYABLE, "member": member}
    )[0]


@transaction.atomic
def post(
    *, key: str, memo: str, lines: list[tuple[Account, int]], period=None, lease=None
) -> LedgerTransaction:
    """Post `lines` (account, signed cents) as one transaction. Refuses an unbalanced set;
    returns the existing transaction if `key` was posted before."""
    existing = LedgerTransaction.objects.filter(key=key).first()
    if existing is not None:
        return existing
    lines = [(account, amount) for account, amount in lines if amount != 0]
    if sum(amount for _, amount in lines) != 0:
        raise Unbalanced(f"transaction {key} does not balance")
    txn = LedgerTransaction.objects.create(key=key, memo=memo, period=period, lease=lease)
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(transaction=txn, account=account, amount_cents=amount) for account, amount in lines]
    )
    return txn


def post_new_many(transactions: list[tuple[str, str, list[tuple[int, int]]]]) -> list[LedgerTransaction]:
    """Post many new transactions at once: (key, memo, [(account id, signed cents), ...]) each,
    in three statements whatever their number. For movements whose keys are new by
    construction (a new batch's payments); a key posted before fails the unique constraint
    rather than being skipped, so nothing is ever posted twice. Returns them in order."""
    for key, _, lines in transactions:
        if sum(amount for _, amount in lines) != 0:
            raise Unbalanced(f"transaction {key} does not balance")
    created = LedgerTransaction.objects.bulk_create(
        [LedgerTransaction(key=key, memo=memo) for key, memo, _ in transactions]
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=txn, account_id=account_id, amount_cents=amount)
            for txn, (_, _, lines) in zip(created, transactions, strict=True)
            for account_id, amount in lines
            if amount != 0
        ]
    )
    return created


def balance(account: Account) -> int:
    """Signed balance: debits minus credits."""
    return account.entries.aggregate(total=Sum("amount_cents"))["total"] or 0


def balance_of(code: str) -> int:
    """Signed balance of the account with this code, 0 when it does not exist yet. A read:
    it creates no account."""
    return LedgerEntry.objects.filter(account__code=code).aggregate(total=Sum("amount_cents"))["total"] or 0


def trial_balance() -> int:
    """Sum of every entry in the ledger: zero when the books balance."""
    return LedgerEntry.objects.aggregate(total=Sum("amount_cents"))["total"] or 0
