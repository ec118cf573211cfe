"""Reads of the payouts app: period results and a member's earnings."""

from collections import defaultdict

from django.conf import settings
from django.db.models import QuerySet, Sum

from licensing.models import UsageEvent
from licensing.selectors import leases_including_member
from trust.models import Member

from . import ledger
from .models import LeaseRevenue, LedgerEntry, MemberEarning, Period, RateSetting


def rate_history() -> QuerySet[RateSetting]:
    return RateSetting.objects.select_related("set_by").order_by("-effective_at", "-pk")


def period_ledger_balances(period: Period) -> bool:
    """True when the period's ledger entries sum to zero."""
    total = LedgerEntry.objects.filter(transaction__period=period).aggregate(t=Sum("amount_cents"))["t"]
    return (total or 0) == 0


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
    return -ledger.balance(ledger.member_payable(member))


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
