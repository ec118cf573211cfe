"""Unclaimed royalties: money the trust owes members it cannot pay.

The rule, as the README's "Unclaimed royalties" section documents it:

- A member *cannot be paid* while they have no bank details or stand marked untraceable. They
  keep accruing royalties like everyone else; payout batches skip them.
- **Hold**: what such a member has been owed for longer than `UNCLAIMED_HOLD_DAYS` (default
  3 years) moves from their payable account to the unclaimed pool (one ledger account). Payments
  are taken as settling the oldest credits first, so the overdue part of a balance is what is
  owed minus the credits posted to the account within the hold period.
- **Claim**: each move is held until `moved_at + UNCLAIMED_CLAIM_WINDOW_DAYS` (default 2 years).
  Until then the member (or an administrator on their behalf) can claim every held amount back
  into their payable account, once they can be paid again.
- **Release**: held amounts past their release date are redistributed to the recipients of the
  latest closed period, pro rata to their net earnings in it, whole cents by floor and largest
  remainder (ties to the lower member number). Left out: the members whose money is released,
  and members who cannot be paid themselves (the money would only age back into the pool).
  Fee and pension were taken when the money was first earned; the redistribution is net.

Every step takes the pool account's row lock first, so moves, claims and releases run one at a
time, and each is a fixed number of statements whatever the number of members.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from trust import audit
from trust.errors import Conflict, Forbidden
from trust.models import Member
from trust.selectors import is_trust_admin
from trust.services import require_trust_admin

from . import ledger, split
from .models import (
    Account,
    LedgerEntry,
    MemberEarning,
    Period,
    UnclaimedClaim,
    UnclaimedHolding,
    UnclaimedRelease,
    UntraceableMark,
)

# The operations page's ageing buckets: time since the money moved to the pool, in days.
AGEING_BUCKETS = [
    ("under_6_months", "Under 6 months", 0, 183),
    ("6_to_12_months", "6 to 12 months", 183, 365),
    ("1_to_2_years", "1 to 2 years", 365, 730),
    ("over_2_years", "2 years or more", 730, None),
]


def hold_period() -> timedelta:
    return timedelta(days=settings.UNCLAIMED_HOLD_DAYS)


def claim_window() -> timedelta:
    return timedelta(days=settings.UNCLAIMED_CLAIM_WINDOW_DAYS)


def standing_marks() -> QuerySet:
    return UntraceableMark.objects.filter(cleared_at__isnull=True)


# A member's account to pay into: an IBAN, or (outside the IBAN world) a number with a BIC.
WITHOUT_BANK_DETAILS = Q(member__payout_iban="", member__payout_account_number="")


def untraceable_member() -> Q:
    """Rows (of a model with a `member`) whose member stands marked untraceable. An uncorrelated
    `IN`: PostgreSQL hashes the few standing marks once instead of probing them once per row,
    which over every member's account is the difference between one pass and 100k probes."""
    return Q(member_id__in=standing_marks().values("member_id"))


def cannot_be_paid() -> Q:
    """Rows (of a model with a `member`) of members no payout can reach: no bank details, or
    marked untraceable."""
    return WITHOUT_BANK_DETAILS | untraceable_member()


def is_untraceable(member: Member) -> bool:
    return standing_marks().filter(member=member).exists()


def _lock_pool() -> Account:
    pool = ledger.unclaimed_pool()
    return Account.objects.select_for_update().get(pk=pool.pk)


# Writes -------------------------------------------------------------------------------------


@transaction.atomic
def member_mark_untraceable(*, actor, member: Member, reason: str) -> UntraceableMark:
    """An administrator finds the member cannot be reached: payouts stop until it is cleared."""
    require_trust_admin(actor)
    already = Conflict(f"{member.member_number} is already marked untraceable", code="already_untraceable")
    if is_untraceable(member):
        raise already
    try:
        # Two administrators at once: the standing-mark constraint lets one in.
        with transaction.atomic():
            mark = UntraceableMark.objects.create(
                member=member, reason=reason, marked_at=timezone.now(), marked_by=actor
            )
    except IntegrityError as error:
        raise already from error
    audit.record(actor=actor, action="payouts.member_untraceable", subject=member, data={"reason": reason})
    return mark


@transaction.atomic
def member_mark_traceable(*, actor, member: Member) -> UntraceableMark:
    """The member was found again: the standing mark is cleared (kept as history)."""
    require_trust_admin(actor)
    mark = standing_marks().select_for_update().filter(member=member).first()
    if mark is None:
        raise Conflict(f"{member.member_number} is not marked untraceable", code="not_untraceable")
    mark.cleared_at = timezone.now()
    mark.cleared_by = actor
    mark.save(update_fields=["cleared_at", "cleared_by"])
    audit.record(actor=actor, action="payouts.member_traceable", subject=member)
    return mark


def unclaimed_move_overdue(*, now: datetime | None = None) -> int:
    """Move what members who cannot be paid have been owed for longer than the hold period into
    the pool: one held amount and one ledger transaction per member, in a fixed number of
    statements. Run again, it moves nothing more (what moved is no longer owed). Returns the
    number of members moved."""
    now = now or timezone.now()
    with transaction.atomic():
        pool = _lock_pool()
        recent_credits = (
            LedgerEntry.objects.filter(
                account_id=OuterRef("pk"), amount_cents__lt=0, transaction__created_at__gt=now - hold_period()
            )
            .order_by()
            .values("account_id")
            .annotate(total=Sum("amount_cents"))
            .values("total")
        )
        # Owed (-balance) less the credits still inside the hold period (negative: added).
        overdue = list(
            Account.objects.select_for_update(of=("self",))
            .filter(kind=Account.Kind.MEMBER_PAYABLE, balance_cents__lt=0)
            .filter(cannot_be_paid())
            .annotate(overdue=-F("balance_cents") + Coalesce(Subquery(recent_credits), Value(0)))
            .filter(overdue__gt=0)
            .order_by("pk")
            .values_list("pk", "member_id", "overdue")
        )
        if not overdue:
            return 0
        stamp = now.strftime("%Y%m%dT%H%M%S%f")
        transactions = ledger.post_new_many(
            [
                (
                    f"unclaimed:move:{stamp}:member:{member_id}",
                    f"Unpaid past the hold period: member {member_id} to the unclaimed pool",
                    [(account_id, amount), (pool.pk, -amount)],
                )
                for account_id, member_id, amount in overdue
            ]
        )
        UnclaimedHolding.objects.bulk_create(
            [
                UnclaimedHolding(
                    member_id=member_id,
                    amount_cents=amount,
                    moved_at=now,
                    release_at=now + claim_window(),
                    transaction=txn,
                )
                for (_, member_id, amount), txn in zip(overdue, transactions, strict=True)
            ]
        )
        audit.record(
            actor=None,
            action="unclaimed.moved",
            subject=pool,
            data={"members": len(overdue), "cents": sum(amount for _, _, amount in overdue)},
        )
    return len(overdue)


@transaction.atomic
def unclaimed_claim(*, actor, member: Member, now: datetime | None = None) -> UnclaimedClaim:
    """Move every amount of the member's still held in the pool back to their payable account,
    where the next payout batch pays it. The member themself or an administrator; only once the
    member can be paid (bank details, not marked untraceable)."""
    if member.user_id != getattr(actor, "pk", None) and not is_trust_admin(actor):
        raise Forbidden("only the member or an administrator can claim", code="not_your_account")
    now = now or timezone.now()
    pool = _lock_pool()
    member.refresh_from_db(fields=["payout_iban", "payout_account_number"])
    if not (member.payout_iban or member.payout_account_number):
        raise Conflict(
            "bank details are needed first: a claim is paid into the member's bank account",
            code="no_bank_details",
        )
    if is_untraceable(member):
        raise Conflict(
            "the member is marked untraceable: an administrator marks them traceable first",
            code="member_untraceable",
        )
    # The pool's lock (taken first by every step) keeps these rows still until commit.
    held = UnclaimedHolding.objects.filter(
        member=member, state=UnclaimedHolding.State.HELD, release_at__gt=now
    )
    amount = held.aggregate(total=Sum("amount_cents"))["total"] or 0
    if not amount:
        raise Conflict("nothing of this member's is held in the unclaimed pool", code="nothing_to_claim")
    txn = ledger.post(
        key=f"unclaimed:claim:{member.pk}:{now.strftime('%Y%m%dT%H%M%S%f')}",
        memo=f"Claimed from the unclaimed pool by {member.member_number}",
        lines=[(pool, amount), (ledger.member_payable(member), -amount)],
    )
    claim = UnclaimedClaim.objects.create(
        member=member, amount_cents=amount, claimed_at=now, claimed_by=actor, transaction=txn
    )
    held.update(state=UnclaimedHolding.State.CLAIMED, claim=claim)
    audit.record(actor=actor, action="unclaimed.claimed", subject=member, data={"cents": amount})
    return claim


def redistribution_shares(total_cents: int, recipients: list[tuple[str, int, int]]) -> dict[int, int]:
    """Split `total_cents` over (member number, member id, net cents) rows pro rata to their net:
    floor, then the leftover cents by largest remainder, ties to the lower member number. Pure:
    the rows are sorted here, so the result does not depend on their order."""
    rows = sorted(row for row in recipients if row[2] > 0)
    parts = split.apportion(total_cents, [net for _, _, net in rows], sum(net for _, _, net in rows))
    return {member_id: part for (_, member_id, _), part in zip(rows, parts, strict=True) if part}


def unclaimed_release_due(*, now: datetime | None = None) -> UnclaimedRelease | None:
    """Redistribute every held amount past its release date (see the module's rule) in one
    balanced transaction. None when nothing is due, or no closed period has anyone to receive
    it (the amounts stay held and the next run tries again)."""
    now = now or timezone.now()
    with transaction.atomic():
        pool = _lock_pool()
        # The pool's lock (taken first by every step) keeps these rows still until commit.
        due = UnclaimedHolding.objects.filter(state=UnclaimedHolding.State.HELD, release_at__lte=now)
        figures = due.aggregate(total=Sum("amount_cents"), members=Count("member_id", distinct=True))
        total = figures["total"] or 0
        if not total:
            return None
        period = Period.objects.closed().order_by("-end", "-pk").first()
        if period is None:
            return None
        recipients = list(
            MemberEarning.objects.filter(period=period, net_cents__gt=0)
            .exclude(member_id__in=due.values("member_id"))
            .exclude(cannot_be_paid())
            .order_by()
            .values("member__member_number", "member_id")
            .annotate(net=Sum("net_cents"))
            .values_list("member__member_number", "member_id", "net")
        )
        shares = redistribution_shares(total, recipients)
        if not shares:
            return None
        ledger.ensure_accounts(
            [
                Account(
                    code=f"member:{member_id}:payable", kind=Account.Kind.MEMBER_PAYABLE, member_id=member_id
                )
                for member_id in shares
            ]
        )
        payables = dict(
            Account.objects.filter(kind=Account.Kind.MEMBER_PAYABLE, member_id__in=list(shares)).values_list(
                "member_id", "pk"
            )
        )
        (txn,) = ledger.post_new_many(
            [
                (
                    f"unclaimed:release:{now.strftime('%Y%m%dT%H%M%S%f')}",
                    f"Unclaimed royalties released to the recipients of {period}",
                    [(pool.pk, total)]
                    + [(payables[member_id], -cents) for member_id, cents in shares.items()],
                )
            ]
        )
        release = UnclaimedRelease.objects.create(
            released_at=now, period=period, total_cents=total, recipients=len(shares), transaction=txn
        )
        due.update(state=UnclaimedHolding.State.RELEASED, release=release)
        audit.record(
            actor=None,
            action="unclaimed.released",
            subject=release,
            data={"cents": total, "from_members": figures["members"], "recipients": len(shares)},
        )
    return release


def unclaimed_run(*, now: datetime | None = None) -> dict:
    """The daily job: move what is overdue, then release what is due."""
    moved = unclaimed_move_overdue(now=now)
    release = unclaimed_release_due(now=now)
    return {"moved": moved, "released_cents": release.total_cents if release else 0}


# Reads --------------------------------------------------------------------------------------


def unclaimed_pool_rows() -> QuerySet:
    """The pool per member, largest first: what is held, since when (the earliest move still
    held), and the first release date."""
    return (
        UnclaimedHolding.objects.filter(state=UnclaimedHolding.State.HELD)
        .order_by()
        .values("member_id")
        .annotate(
            member_number=F("member__member_number"),
            display_name=F("member__display_name"),
            amount_cents=Sum("amount_cents"),
            since=Min("moved_at"),
            release_at=Min("release_at"),
            untraceable=ExpressionWrapper(untraceable_member(), output_field=BooleanField()),
            has_bank_details=ExpressionWrapper(~WITHOUT_BANK_DETAILS, output_field=BooleanField()),
        )
        .order_by("-amount_cents", "member_number")
    )


def member_unclaimed(member: Member) -> dict:
    """What the member can claim back from the pool now, and until when."""
    row = UnclaimedHolding.objects.filter(
        member=member, state=UnclaimedHolding.State.HELD, release_at__gt=timezone.now()
    ).aggregate(amount_cents=Sum("amount_cents"), release_at=Min("release_at"))
    return {"amount_cents": row["amount_cents"] or 0, "release_at": row["release_at"]}


def unclaimed_overview(*, now: datetime | None = None) -> dict:
    """The operations page: the pool's total (the ledger account's balance), held amounts by
    age, what is past its release date and awaits the job, and the totals claimed and released.
    A fixed handful of aggregates."""
    now = now or timezone.now()
    held = UnclaimedHolding.objects.filter(state=UnclaimedHolding.State.HELD).order_by()
    aggregates = {}
    for key, _, low, high in AGEING_BUCKETS:
        condition = Q(moved_at__lte=now - timedelta(days=low))
        if high is not None:
            condition &= Q(moved_at__gt=now - timedelta(days=high))
        aggregates[f"{key}__cents"] = Sum("amount_cents", filter=condition, default=0)
        aggregates[f"{key}__members"] = Count("member_id", filter=condition, distinct=True)
    aggregates["due__cents"] = Sum("amount_cents", filter=Q(release_at__lte=now), default=0)
    aggregates["held__cents"] = Sum("amount_cents", default=0)
    aggregates["held__members"] = Count("member_id", distinct=True)
    figures = held.aggregate(**aggregates)
    claimed = UnclaimedClaim.objects.aggregate(cents=Sum("amount_cents", default=0), count=Count("pk"))
    released = UnclaimedRelease.objects.aggregate(cents=Sum("total_cents", default=0), count=Count("pk"))
    return {
        # The pool is a liability: a credit balance, shown positive.
        "pool_cents": -ledger.balance_of("trust:unclaimed_pool"),
        "held_cents": figures["held__cents"],
        "held_members": figures["held__members"],
        "due_cents": figures["due__cents"],
        "buckets": [
            {
                "key": key,
                "label": label,
                "cents": figures[f"{key}__cents"],
                "members": figures[f"{key}__members"],
            }
            for key, label, _, _ in AGEING_BUCKETS
        ],
        "claimed_cents": claimed["cents"],
        "claims": claimed["count"],
        "released_cents": released["cents"],
        "releases": released["count"],
        "untraceable_members": standing_marks().count(),
    }


def recent_claims() -> QuerySet:
    return UnclaimedClaim.objects.order_by("-claimed_at", "-pk").values(
        "pk",
        "claimed_at",
        "amount_cents",
        "member__member_number",
        "member__display_name",
        "claimed_by__username",
    )


def recent_releases() -> QuerySet:
    return UnclaimedRelease.objects.order_by("-released_at", "-pk").values(
        "pk", "released_at", "total_cents", "recipients", "period__start", "period__end"
    )
