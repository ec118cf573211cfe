"""Double-entry ledger: every movement is one balanced, idempotent transaction."""

from collections import defaultdict

from django.db import connection, transaction
from django.db.models import F, Sum

from .bulk import bigint_array
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


def peer_payable(peer) -> Account:
    """What this trust owes a peer trust: its parts' revenue of federated leases homed here."""
    return Account.objects.get_or_create(
        code=f"peer:{peer.slug}:payable", defaults={"kind": Account.Kind.PEER_PAYABLE, "peer": peer}
    )[0]


def peer_receivable(peer) -> Account:
    """What a peer trust owes this one: the revenue of this trust's parts of its leases."""
    return Account.objects.get_or_create(
        code=f"peer:{peer.slug}:receivable", defaults={"kind": Account.Kind.PEER_RECEIVABLE, "peer": peer}
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
    add_to_balances((account.pk, amount) for account, amount in lines)
    return txn


def post_new_many(
    transactions: list[tuple[str, str, list[tuple[int, int]]]], *, period=None
) -> list[LedgerTransaction]:
    """Post many new transactions at once: (key, memo, [(account id, signed cents), ...]) each,
    in three statements whatever their number, all of `period` when given. For movements whose
    keys are new by construction (a new batch's payments); a key posted before fails the unique
    constraint rather than being skipped, so nothing is ever posted twice. Returns them in order."""
    for key, _, lines in transactions:
        if sum(amount for _, amount in lines) != 0:
            raise Unbalanced(f"transaction {key} does not balance")
    created = LedgerTransaction.objects.bulk_create(
        [LedgerTransaction(key=key, memo=memo, period=period) for key, memo, _ in transactions]
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=txn, account_id=account_id, amount_cents=amount)
            for txn, (_, _, lines) in zip(created, transactions, strict=True)
            for account_id, amount in lines
            if amount != 0
        ]
    )
    add_to_balances(line for _, _, lines in transactions for line in lines)
    return created


def add_to_balances(lines) -> None:
    """Add posted (account id, cents) lines to the accounts' kept balances, in the posting's
    transaction. Accounts are updated in id order, so two postings never wait on each other in
    a cycle. Every posting goes through here: `balances_disagreeing()` finds any that did not."""
    deltas: dict[int, int] = defaultdict(int)
    for account_id, amount in lines:
        deltas[account_id] += amount
    rows = [(delta, account_id) for account_id, delta in sorted(deltas.items()) if delta]
    if not rows:
        return
    table = Account._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(f"UPDATE {table} SET balance_cents = balance_cents + %s WHERE id = %s", rows)
            return
        # Two statements however many accounts (a close's batch moves thousands): the rows
        # locked in id order first, then every balance moved by one join with the deltas.
        ids = bigint_array(account_id for _, account_id in rows)
        amounts = bigint_array(delta for delta, _ in rows)
        cursor.execute(
            f"SELECT id FROM {table} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR NO KEY UPDATE", [ids]
        )
        # `a.id = ANY(...)` as well as the join: the accounts are found by their key. Joined
        # alone, PostgreSQL hashed the whole table (200k accounts) to move 1,600 of them.
        cursor.execute(
            f"UPDATE {table} AS a SET balance_cents = a.balance_cents + d.delta "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS d(id, delta) "
            "WHERE a.id = d.id AND a.id = ANY(%s::bigint[])",
            [ids, amounts, ids],
        )


def balance(account: Account) -> int:
    """Signed balance: debits minus credits (the kept balance, read fresh)."""
    return Account.objects.filter(pk=account.pk).values_list("balance_cents", flat=True).get()


def balance_of(code: str) -> int:
    """Signed balance of the account with this code, 0 when it does not exist yet. A read:
    it creates no account."""
    return Account.objects.filter(code=code).values_list("balance_cents", flat=True).first() or 0


def books_total() -> int:
    """Sum of every account's kept balance: zero when the books balance. One pass over the
    accounts, not the entries (the operations overview's figure)."""
    return Account.objects.aggregate(total=Sum("balance_cents"))["total"] or 0


def trial_balance() -> int:
    """Sum of every entry in the ledger: zero when the books balance. Reads every entry: for
    checks and tests; pages use `books_total`."""
    return LedgerEntry.objects.aggregate(total=Sum("amount_cents"))["total"] or 0


def balances_disagreeing():
    """Accounts whose kept balance is not the sum of their entries (none, unless some code
    wrote entries without `post`): (code, kept, summed) rows."""
    summed = Sum("entries__amount_cents", default=0)
    return list(
        Account.objects.annotate(summed=summed)
        .exclude(balance_cents=F("summed"))
        .values_list("code", "balance_cents", "summed")
    )


def ensure_member_accounts_of_assets(*asset_querysets) -> None:
    """Create the payable and pension accounts of every contributor of these assets (querysets
    of `asset_id` values) where missing: one INSERT ... SELECT, whatever the number of
    members, so a close never creates accounts one by one."""
    from trust.models import AssetContributor

    # A UNION of one semi-join per set of assets: ORed IN (subquery) conditions made PostgreSQL
    # test every contributor against each subquery's rows.
    first, *others = (
        AssetContributor.objects.filter(asset_id__in=assets).order_by().values("member_id")
        for assets in asset_querysets
    )
    members = first.union(*others) if others else first.distinct()
    sql, params = members.query.sql_with_params()
    table = Account._meta.db_table
    with connection.cursor() as cursor:
        # Both kinds in one statement: the members are found once (a large trust has hundreds
        # of thousands of contributors). In code order, so two closing batches creating the
        # same new members' accounts wait on each other's rows in one order, never in a cycle.
        # `WHERE true` lets SQLite tell the upsert's ON CONFLICT from a join's ON.
        cursor.execute(
            f"INSERT INTO {table} (code, kind, member_id, studio_id) "
            f"SELECT 'member:' || m.member_id || k.suffix, k.kind, m.member_id, NULL FROM ({sql}) m "
            "CROSS JOIN (SELECT %s AS suffix, %s AS kind UNION ALL SELECT %s, %s) k WHERE true "
            "ORDER BY 1 ON CONFLICT (code) DO NOTHING",
            [*params, ":payable", Account.Kind.MEMBER_PAYABLE, ":pension", Account.Kind.PENSION_PAYABLE],
        )


def ensure_studio_accounts(studio_ids) -> None:
    ensure_accounts(
        [
            Account(code=f"studio:{pk}:receivable", kind=Account.Kind.STUDIO_RECEIVABLE, studio_id=pk)
            for pk in studio_ids
        ]
    )


def ensure_accounts(accounts: list[Account]) -> None:
    Account.objects.bulk_create(accounts, ignore_conflicts=True, batch_size=5000)


def member_account_ids(member_ids) -> dict[int, tuple[int, int]]:
    """member id -> (payable account id, pension account id), for members whose accounts exist.
    Thousands of ids go as one array parameter on PostgreSQL, not one placeholder each."""
    found: dict[int, dict[str, int]] = {}
    member_ids = list(member_ids)
    wanted = [Account.Kind.MEMBER_PAYABLE, Account.Kind.PENSION_PAYABLE]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT member_id, kind, id FROM {Account._meta.db_table} "
                "WHERE member_id = ANY(%s) AND kind = ANY(%s)",
                [member_ids, wanted],
            )
            rows = cursor.fetchall()
    else:
        rows = Account.objects.filter(member_id__in=member_ids, kind__in=wanted).values_list(
            "member_id", "kind", "pk"
        )
    for member_id, kind, pk in rows:
        found.setdefault(member_id, {})[kind] = pk
    return {
        member_id: (kinds[Account.Kind.MEMBER_PAYABLE], kinds[Account.Kind.PENSION_PAYABLE])
        for member_id, kinds in found.items()
        if len(kinds) == 2
    }


def studio_account_ids(studio_ids) -> dict[int, int]:
    return dict(
        Account.objects.filter(
            studio_id__in=list(studio_ids), kind=Account.Kind.STUDIO_RECEIVABLE
        ).values_list("studio_id", "pk")
    )


UNCLAIMED_POOL_CODE = "trust:unclaimed_pool"


def unclaimed_pool() -> Account:
    """Money owed to members who could not be paid within the hold period (payouts.unclaimed)."""
    return Account.objects.get_or_create(
        code=UNCLAIMED_POOL_CODE, defaults={"kind": Account.Kind.UNCLAIMED_POOL}
    )[0]
