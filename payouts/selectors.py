"""Reads of the payouts app: period results and a member's earnings."""

from collections import defaultdict

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from licensing.models import Lease, UsageEvent
from licensing.selectors import leases_including_member
from trust.consent import in_use_order
from trust.errors import NotFound
from trust.models import Member
from trust.templatetags.portal import period_label, period_last_day

from . import ledger
from .models import Account, LeaseRevenue, LedgerEntry, MemberEarning, Period, RateSetting


def rate_history() -> QuerySet[RateSetting]:
    return RateSetting.objects.select_related("set_by").order_by("-effective_at", "-pk")


def period_ledger_balances(period: Period) -> bool:
    """True when the period's ledger entries sum to zero."""
    total = LedgerEntry.objects.filter(transaction__period=period).aggregate(t=Sum("amount_cents"))["t"]
    return (total or 0) == 0


def period_books_check(period: Period) -> dict:
    """The two checks of a period's money, for the period page and the API alike:
    `revenue_adds_up` (revenue = admin fee + pension + net, to the cent) and `ledger_balanced`
    (the period's ledger entries sum to zero)."""
    return {
        "revenue_adds_up": period.revenue_cents
        == period.admin_fee_cents + period.pension_cents + period.net_cents,
        "ledger_balanced": period_ledger_balances(period),
    }


def member_earnings(member: Member) -> dict:
    """Net and pension per closed period and lease, newest period first, with totals."""
    rows = (
        MemberEarning.objects.filter(member=member, period__status=Period.Status.CLOSED)
        .select_related("period", "lease__studio")
        .order_by("-period__start", "lease_id")
    )
    periods: dict[int, dict] = {}
    for row in rows:
        entry = periods.setdefault(
            row.period_id,
            {
                "period": row.period_id,
                "start": row.period.start,
                "end": row.period.end,
                "net_cents": 0,
                "pension_cents": 0,
                "leases": [],
            },
        )
        entry["net_cents"] += row.net_cents
        entry["pension_cents"] += row.pension_cents
        entry["leases"].append(
            {
                "lease": row.lease_id,
                "studio": row.lease.studio.name,
                "net_cents": row.net_cents,
                "pension_cents": row.pension_cents,
            }
        )
    return {
        "currency": settings.TRUST_CURRENCY,
        "balance_cents": member_balance_cents(member),
        "total_net_cents": sum(p["net_cents"] for p in periods.values()),
        "total_pension_cents": sum(p["pension_cents"] for p in periods.values()),
        "periods": list(periods.values()),
    }


def member_balance_cents(member: Member) -> int:
    """What the trust owes the member now (credits on their payable account)."""
    return -ledger.balance_of(ledger.member_payable_code(member))


def earnings_by_lease(member: Member) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for lease_id, net in MemberEarning.objects.filter(member=member).values_list("lease_id", "net_cents"):
        totals[lease_id] += net
    return dict(totals)


def member_lease_history(member: Member) -> list[dict]:
    """Every approved lease that included any of the member's assets: who, what for, when,
    how often their assets were downloaded, and what it earned them."""
    earned: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for lease_id, net, pension in MemberEarning.objects.filter(member=member).values_list(
        "lease_id", "net_cents", "pension_cents"
    ):
        earned[lease_id][0] += net
        earned[lease_id][1] += pension
    history = []
    for lease in leases_including_member(member):
        mine = list(
            lease.version.items.filter(asset__contributors__member=member).values_list("asset_id", flat=True)
        )
        downloads = UsageEvent.objects.filter(
            lease=lease, kind=UsageEvent.Kind.DOWNLOAD, asset_id__in=mine
        ).count()
        history.append(
            {
                "lease": lease.pk,
                "studio": lease.studio.name,
                "dataset": lease.version.dataset.slug,
                "version": lease.version.number,
                "purpose": lease.purpose,
                "uses": lease.permitted_uses,
                "status": lease.status,
                "starts_at": lease.starts_at,
                "ends_at": lease.ends_at,
                "revoked_at": lease.revoked_at,
                "my_assets": mine,
                "downloads_of_my_assets": downloads,
                "net_cents": earned[lease.pk][0],
                "pension_cents": earned[lease.pk][1],
            }
        )
    return history


def studio_charges(studio) -> list[dict]:
    """What the studio owes per closed period, lease by lease: the flat fee and metered usage."""
    rows = (
        LeaseRevenue.objects.filter(lease__studio=studio, period__status=Period.Status.CLOSED)
        .select_related("period", "lease__version__dataset")
        .order_by("-period__start", "lease_id")
    )
    periods: dict[int, dict] = {}
    for row in rows:
        entry = periods.setdefault(
            row.period_id,
            {
                "period": row.period_id,
                "start": row.period.start,
                "end": row.period.end,
                "currency": row.lease.currency,
                "total_cents": 0,
                "leases": [],
            },
        )
        entry["total_cents"] += row.revenue_cents
        entry["leases"].append(
            {
                "lease": row.lease_id,
                "dataset": row.lease.version.dataset.slug,
                "flat_fee_cents": row.flat_fee_cents,
                "usage_cents": row.usage_cents,
                "total_cents": row.revenue_cents,
            }
        )
    return list(periods.values())


def operations_overview() -> dict:
    """What needs the trust administrator now: lease requests waiting, periods open or closing,
    the last closed period's result, whether the whole ledger balances, and what the trust owes
    members (the largest balances first) and their pension plan."""

    payable = (
        Account.objects.filter(kind__in=[Account.Kind.MEMBER_PAYABLE, Account.Kind.PENSION_PAYABLE])
        .annotate(balance=Sum("entries__amount_cents"))
        .select_related("member")
    )
    owed_members, pension_owed = [], 0
    for account in payable:
        owed = -(account.balance or 0)  # what the trust owes is a credit balance
        if account.kind == Account.Kind.PENSION_PAYABLE:
            pension_owed += owed
        elif owed:
            owed_members.append({"member": account.member, "owed_cents": owed})
    owed_members.sort(key=lambda row: (-row["owed_cents"], row["member"].member_number))
    minimum = settings.TRUST_MINIMUM_PAYOUT_CENTS
    trial_balance = ledger.trial_balance()
    return {
        "currency": settings.TRUST_CURRENCY,
        "lease_requests": Lease.objects.filter(status=Lease.Status.REQUESTED).count(),
        "open_periods": list(Period.objects.filter(status=Period.Status.OPEN).order_by("start")),
        "closing_periods": list(Period.objects.filter(status=Period.Status.CLOSING).order_by("start")),
        "last_closed": Period.objects.filter(status=Period.Status.CLOSED).order_by("-end", "-pk").first(),
        "trial_balance_cents": trial_balance,
        "ledger_balances": trial_balance == 0,
        "owed_cents": sum(row["owed_cents"] for row in owed_members),
        "members_owed": owed_members,
        "minimum_payout_cents": minimum,
        "members_at_minimum": sum(1 for row in owed_members if row["owed_cents"] >= minimum),
        "pension_owed_cents": pension_owed,
    }


def period_lease_revenues(period: Period) -> QuerySet[LeaseRevenue]:
    """How each lease's revenue in a closed period was split, with its studio and dataset."""
    return (
        LeaseRevenue.objects.filter(period=period)
        .select_related("lease__studio", "lease__version__dataset")
        .order_by("lease_id")
    )


# --- Member pages: earnings per period, where they came from, statements ----------------------


def member_statement_periods(member: Member) -> QuerySet[Period]:
    """The closed periods that are the member's business, oldest first: those they earned in,
    and those that ended after they were enrolled (a statement of zeros)."""

    return (
        Period.objects.filter(status=Period.Status.CLOSED)
        .filter(Q(earnings__member=member) | Q(end__gt=member.created_at))
        .distinct()
        .order_by("start", "pk")
    )


def member_earnings_by_period(member: Member, *, earnings: dict | None = None) -> list[dict]:
    """Net and pension for each of the member's statement periods, oldest first: the figures of
    `member_earnings` (pass its result to save reading it twice), zeros where they earned
    nothing."""

    earned = {row["period"]: row for row in (earnings or member_earnings(member))["periods"]}
    rows = []
    for period in member_statement_periods(member):
        figures = earned.get(period.pk, {})
        rows.append(
            {
                "period": period.pk,
                "start": period.start,
                "end": period.end,
                "last_day": period_last_day(period.start, period.end),
                "label": period_label(period.start, period.end),
                "net_cents": figures.get("net_cents", 0),
                "pension_cents": figures.get("pension_cents", 0),
            }
        )
    return rows


def member_earnings_breakdown(member: Member) -> dict:
    """The member's net earnings in closed periods by studio, and by the uses the lease
    permitted. A lease licenses its uses together, so a lease's earnings count once, under the
    combination of uses it permitted (in the order of `Use`). Each list adds up to
    `total_net_cents`, the same total as `member_earnings`."""

    rows = MemberEarning.objects.filter(member=member, period__status=Period.Status.CLOSED).values_list(
        "lease_id", "lease__studio__name", "lease__permitted_uses", "net_cents", "pension_cents"
    )
    by_studio: dict[str, dict] = {}
    by_uses: dict[tuple, dict] = {}
    for lease_id, studio, uses, net, pension in rows:
        combination = tuple(in_use_order(uses or []))
        for groups, key, fields in (
            (by_studio, studio, {"studio": studio}),
            (by_uses, combination, {"uses": list(combination)}),
        ):
            group = groups.setdefault(key, {**fields, "net_cents": 0, "pension_cents": 0, "leases": set()})
            group["net_cents"] += net
            group["pension_cents"] += pension
            group["leases"].add(lease_id)

    def ordered(groups: dict) -> list[dict]:
        result = [{**group, "leases": len(group["leases"])} for group in groups.values()]
        return sorted(result, key=lambda group: -group["net_cents"])

    return {
        "currency": settings.TRUST_CURRENCY,
        "total_net_cents": sum(group["net_cents"] for group in by_studio.values()),
        "total_pension_cents": sum(group["pension_cents"] for group in by_studio.values()),
        "by_studio": ordered(by_studio),
        "by_uses": ordered(by_uses),
    }


def member_statement(member: Member, period_id: int) -> dict:
    """The member's statement for one of their statement periods: who they are, the period,
    and their earnings lease by lease (studio, dataset, gross, pension, net) with totals.
    NotFound for a period that is not closed or not the member's business."""

    period = member_statement_periods(member).filter(pk=period_id).first()
    if period is None:
        raise NotFound("no statement for this period", code="statement_not_found")
    earnings = (
        MemberEarning.objects.filter(member=member, period=period)
        .select_related("lease__studio", "lease__version__dataset")
        .order_by("lease_id")
    )
    rows = [
        {
            "lease": row.lease_id,
            "studio": row.lease.studio.name,
            "dataset": row.lease.version.dataset.title if row.lease.version_id else "",
            "version": row.lease.version.number if row.lease.version_id else None,
            "gross_cents": row.gross_cents,
            "pension_cents": row.pension_cents,
            "net_cents": row.net_cents,
        }
        for row in earnings
    ]
    return {
        "period": period.pk,
        "label": period_label(period.start, period.end),
        "start": period.start,
        "end": period.end,
        "first_day": timezone.localtime(period.start).date(),
        "last_day": period_last_day(period.start, period.end),
        "member_name": member.display_name,
        "member_number": member.member_number,
        "currency": settings.TRUST_CURRENCY,
        "trust_name": settings.TRUST_NAME,
        "rows": rows,
        "gross_cents": sum(row["gross_cents"] for row in rows),
        "pension_cents": sum(row["pension_cents"] for row in rows),
        "net_cents": sum(row["net_cents"] for row in rows),
    }
