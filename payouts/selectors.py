"""Reads of the payouts app: period results and a member's earnings."""

from collections import defaultdict

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf, Right
from django.utils import timezone

from licensing.models import Lease, Takedown, UsageEvent
from licensing.selectors import takedowns_overdue, takedowns_past_half_time
from trust.consent import in_use_order
from trust.errors import NotFound
from trust.models import Consent, DatasetVersionItem, Member
from trust.templatetags.portal import period_label, period_last_day

from . import corrections, ledger, premiums
from .metering import NEVER_ACTIVE, usage_in
from .models import (
    Account,
    LeaseRevenue,
    LedgerEntry,
    MemberAdjustmentLine,
    MemberEarning,
    MemberEarningLine,
    PayoutBatch,
    PayoutItem,
    Period,
    RateSetting,
    Settlement,
)
from .unclaimed import WITHOUT_BANK_DETAILS, untraceable_member


def rate_history() -> QuerySet[RateSetting]:
    return RateSetting.objects.select_related("set_by").order_by("-effective_at", "-pk")


def period_ledger_is_balanced(period: Period) -> bool:
    """True when the period's ledger entries sum to zero."""
    total = LedgerEntry.objects.filter(transaction__period=period).aggregate(t=Sum("amount_cents"))["t"]
    return (total or 0) == 0


# The unit price one usage event is charged at: its lease's price for its kind.
EVENT_UNIT_PRICE = Case(
    When(kind=UsageEvent.Kind.DOWNLOAD, then=F("lease__price_per_download_cents")),
    When(kind=UsageEvent.Kind.TRAINING_RUN, then=F("lease__price_per_training_run_cents")),
    When(kind=UsageEvent.Kind.GENERATED_SECOND, then=F("lease__price_per_generated_second_cents")),
    default=0,
)


def period_accrued_revenue(period: Period, *, at=None) -> dict:
    """The revenue a period has earned so far, by the rule its close applies: the flat fee of
    each lease approved in it, plus usage dated in it times the lease's unit prices, plus the
    premiums (production fees and substitution premiums). Four aggregate queries whatever the
    volume; integers only. The admin fee and pension are not
    split here: they take the rates in force when the period closes. `ended` says whether the
    period can be closed yet."""
    at = at or timezone.now()
    flat = Lease.objects.filter(starts_at__gte=period.start, starts_at__lt=period.end).aggregate(
        cents=Sum("flat_fee_cents"), leases=Count("pk")
    )
    # Quantities are summed in SQL per kind and unit price (a handful of rows) and multiplied
    # in Python ints: quantity x price summed in SQL overflows BIGINT on a period a close
    # refuses, and the page must still show it.
    usage: dict[str, dict] = {}
    for row in (
        usage_in(period)
        .annotate(unit_price=EVENT_UNIT_PRICE)
        .values("kind", "unit_price")
        .annotate(units=Sum("quantity"))
        .order_by()
    ):
        kind = usage.setdefault(row["kind"], {"units": 0, "cents": 0})
        units = int(row["units"] or 0)
        kind["units"] += units
        kind["cents"] += units * row["unit_price"]
    by_kind = [
        {
            "kind": kind,
            "label": kind.label,
            "quantity": usage.get(kind, {}).get("units") or 0,
            "cents": usage.get(kind, {}).get("cents") or 0,
        }
        for kind in UsageEvent.Kind
    ]
    _add_accrued_premiums(period, by_kind)
    flat_cents = flat["cents"] or 0
    usage_cents = sum(row["cents"] for row in by_kind)
    return {
        "currency": settings.TRUST_CURRENCY,
        "ended": period.end <= at,
        "through": min(at, period.end),
        "flat_fee_cents": flat_cents,
        "leases_approved": flat["leases"],
        "usage_cents": usage_cents,
        "usage_by_kind": by_kind,
        "revenue_cents": flat_cents + usage_cents,
    }


def _add_accrued_premiums(period: Period, by_kind: list[dict]) -> None:
    """The premiums in the accrued figures (payouts/premiums.py): a saving's row charges its
    premium, and the production fees owed so far are a row of their own."""
    accrued = premiums.accrued_premiums(period, never_active=NEVER_ACTIVE)
    for row in by_kind:
        if row["kind"] == UsageEvent.Kind.SUBSTITUTION_SAVING:
            row["label"] = "Substitution premium (quantity: cents saved)"
            row["cents"] = accrued["substitution_premium_cents"]
    by_kind.append(
        {
            "kind": premiums.PRODUCTION_FEE.value,
            "label": "Production fees (quantity: leases)",
            "quantity": accrued["production_fee_leases"],
            "cents": accrued["production_fee_cents"],
        }
    )


def period_books_check(period: Period) -> dict:
    """The two checks of a period's money, for the period page and the API alike:
    `revenue_adds_up` (revenue = admin fee + pension + net, to the cent) and `ledger_balanced`
    (the period's ledger entries sum to zero)."""
    return {
        "revenue_adds_up": period.revenue_cents
        == period.admin_fee_cents + period.pension_cents + period.net_cents,
        "ledger_balanced": period_ledger_is_balanced(period),
    }


# A row of a member's earnings is an `earning` (a lease's revenue of the period) or an
# `adjustment` (a correction of an earlier period priced in this one): statements, the earnings
# API and the pages name the kind, never the studio's name with a suffix.
STATEMENT_EARNING = "earning"
STATEMENT_ADJUSTMENT = "adjustment"


def _closed_earnings(member: Member) -> QuerySet:
    """The member's earnings that count: those of closed periods."""
    return MemberEarning.objects.filter(member=member, period__status=Period.Status.CLOSED)


def _closed_adjustment_lines(member: Member) -> QuerySet:
    """The member's adjustment lines that count: corrections of earlier periods priced in a
    closed period (payouts.corrections), counted in that period as on its statement and in the
    ledger."""
    return MemberAdjustmentLine.objects.filter(member=member, adjustment__period__status=Period.Status.CLOSED)


def member_earnings(member: Member) -> dict:
    """Net and pension per closed period and lease (each row's `kind` an earning or an
    adjustment), newest period first, with totals. Four queries of plain rows (no model
    instances), whatever the length of the history: the periods' dates are read once per period,
    not once per row (converting a timestamp costs more than the rest of a row)."""
    earned = (
        _closed_earnings(member)
        .order_by("period_id", "lease_id")
        .values_list("period_id", "lease_id", "lease__studio__name", "net_cents", "pension_cents")
    )
    adjusted = (  # a row per lease adjusted
        _closed_adjustment_lines(member)
        .values_list("adjustment__period_id", "adjustment__lease_id", "adjustment__lease__studio__name")
        .annotate(net=Sum("net_cents"), pension=Sum("pension_cents"))
        .order_by("adjustment__period_id", "adjustment__lease_id")
    )
    leases: dict[int, list[dict]] = defaultdict(list)
    for kind, rows in ((STATEMENT_EARNING, earned), (STATEMENT_ADJUSTMENT, adjusted)):
        for period_id, lease_id, studio, net, pension in rows:
            leases[period_id].append(
                {
                    "lease": lease_id,
                    "studio": studio,
                    "kind": kind,
                    "net_cents": net,
                    "pension_cents": pension,
                }
            )
    periods = [
        {
            "period": period_id,
            "start": start,
            "end": end,
            "net_cents": sum(row["net_cents"] for row in leases[period_id]),
            "pension_cents": sum(row["pension_cents"] for row in leases[period_id]),
            "leases": leases[period_id],
        }
        for period_id, start, end in Period.objects.filter(pk__in=list(leases))
        .order_by("-start", "-pk")
        .values_list("pk", "start", "end")
    ]
    return {
        "currency": settings.TRUST_CURRENCY,
        "balance_cents": member_balance_cents(member),
        "total_net_cents": sum(p["net_cents"] for p in periods),
        "total_pension_cents": sum(p["pension_cents"] for p in periods),
        "periods": periods,
    }


def member_earnings_totals(member: Member) -> dict:
    """`member_earnings` without its rows: the currency, what the trust owes the member now, and
    net and pension to date, summed in the database (three queries, whatever the length of the
    history)."""
    totals = {"net_cents": 0, "pension_cents": 0}
    for rows in (_closed_earnings(member), _closed_adjustment_lines(member)):
        summed = rows.aggregate(net_cents=Sum("net_cents"), pension_cents=Sum("pension_cents"))
        totals = {key: value + (summed[key] or 0) for key, value in totals.items()}
    return {
        "currency": settings.TRUST_CURRENCY,
        "balance_cents": member_balance_cents(member),
        "total_net_cents": totals["net_cents"],
        "total_pension_cents": totals["pension_cents"],
    }


def member_balance_cents(member: Member) -> int:
    """What the trust owes the member now (credits on their payable account)."""
    return -ledger.balance_of(ledger.member_payable_code(member))


def _subquery_count(queryset) -> Coalesce:
    """COUNT(*) of a correlated subquery, as an annotation (0 when it matches nothing)."""
    counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _subquery_sum(queryset, field: str) -> Coalesce:
    summed = queryset.order_by().annotate(total=Func(F(field), function="SUM")).values("total")
    return Coalesce(Subquery(summed, output_field=BigIntegerField()), 0)


def member_lease_history(member: Member) -> QuerySet:
    """Every approved lease that included any of the member's assets, newest start first, as
    rows: who (`studio`), what for, when, how many of the member's assets the pinned version
    held, how often those were downloaded, and what the lease earned them. One statement; the
    database sorts and pages it (`member_lease_assets` adds the asset ids for a page of rows)."""
    mine_in_version = DatasetVersionItem.objects.filter(
        version=OuterRef("version"), asset__contributors__member=member
    )
    # A download's asset is always in the lease's version (the gateway refuses others), and a
    # member holds at most one share of an asset: counting by contributor is exact.
    my_downloads = UsageEvent.objects.filter(
        lease=OuterRef("pk"), kind=UsageEvent.Kind.DOWNLOAD, asset__contributors__member=member
    )
    earned = MemberEarning.objects.filter(lease=OuterRef("pk"), member=member)
    return (
        Lease.objects.approved()
        .filter(Exists(mine_in_version))
        .annotate(
            lease=F("pk"),
            studio_name=F("studio__name"),
            dataset=F("version__dataset__slug"),
            dataset_title=F("version__dataset__title"),
            version_number=F("version__number"),
            uses=F("permitted_uses"),
            my_asset_count=_subquery_count(mine_in_version),
            downloads_of_my_assets=_subquery_count(my_downloads),
            net_cents=_subquery_sum(earned, "net_cents"),
            pension_cents=_subquery_sum(earned, "pension_cents"),
        )
        .values(
            "lease",
            "studio_name",
            "dataset",
            "dataset_title",
            "version_id",
            "version_number",
            "purpose",
            "uses",
            "status",
            "starts_at",
            "ends_at",
            "revoked_at",
            "my_asset_count",
            "downloads_of_my_assets",
            "net_cents",
            "pension_cents",
        )
        .order_by("-starts_at", "-pk")
    )


def member_lease_totals(history: QuerySet) -> dict:
    """Leases, downloads of the member's assets, net and pension over `member_lease_history` rows."""
    fields = ("downloads_of_my_assets", "net_cents", "pension_cents")
    # Aggregates may not reuse the annotations' names: sum into `total_<name>`, then rename.
    totals = history.order_by().aggregate(
        total_leases=Count("pk"), **{f"total_{field}": Sum(field) for field in fields}
    )
    return {key.removeprefix("total_"): value or 0 for key, value in totals.items()}


def member_lease_assets(member: Member, rows: list[dict]) -> list[dict]:
    """`rows` of `member_lease_history` in the API's shape: `studio`, `version`, and `my_assets`
    (the ids of the member's assets in each lease's version), in one query for the page."""
    mine: dict[int, list] = defaultdict(list)
    for version_id, asset_id in (
        DatasetVersionItem.objects.filter(
            version_id__in={row["version_id"] for row in rows}, asset__contributors__member=member
        )
        .order_by("asset__created_at", "asset_id")
        .values_list("version_id", "asset_id")
    ):
        mine[version_id].append(asset_id)
    vendors = member_lease_vendors(member, [row["lease"] for row in rows])
    return [
        {
            **row,
            "studio": row["studio_name"],
            "version": row["version_number"],
            "my_assets": mine[row["version_id"]],
            "vendors": vendors.get(row["lease"], []),
        }
        for row in rows
    ]


def member_lease_vendors(member: Member, lease_ids) -> dict[int, list[str]]:
    """The vendors (named by the studio's derived tokens) that used the member's data under each
    of `lease_ids`: usage events of the member's assets, or naming no asset (a training run uses
    the whole dataset), recorded with a vendor. One grouped query for a page of leases, on the
    partial index of vendors' events."""
    rows = (
        UsageEvent.objects.filter(lease_id__in=lease_ids)
        .exclude(vendor="")
        .filter(Q(asset__isnull=True) | Q(asset__contributors__member=member))
        .values_list("lease_id", "vendor")
        .distinct()
        .order_by("lease_id", "vendor")
    )
    vendors: dict[int, list[str]] = defaultdict(list)
    for lease_id, vendor in rows:
        vendors[lease_id].append(vendor)
    return vendors


def member_lease_takedowns(member: Member, lease_ids, *, at=None) -> dict[int, list[dict]]:
    """Per lease of `lease_ids`, the takedown notices the member's own withdrawals issued, one
    row per withdrawn asset: `asset`, `title`, `state` (notified, acknowledged, attested or
    overdue), `attest_due_at`, `attested_at`. One query for a page of leases."""
    at = at or timezone.now()
    withdrawals = Consent.objects.filter(member=member, state=Consent.State.WITHDRAWN).values("pk")
    rows = (
        Takedown.objects.filter(lease_id__in=lease_ids, withdrawal_id__in=withdrawals)
        .order_by("lease_id", "asset__title", "asset_id")
        .values(
            "lease_id",
            "asset_id",
            "asset__title",
            "status",
            "acknowledge_due_at",
            "attest_due_at",
            "attested_at",
        )
    )
    notices: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        notices[row["lease_id"]].append(
            {
                "asset": row["asset_id"],
                "title": row["asset__title"],
                "state": Takedown.member_state(
                    status=row["status"],
                    acknowledge_due_at=row["acknowledge_due_at"],
                    attest_due_at=row["attest_due_at"],
                    at=at,
                ),
                "attest_due_at": row["attest_due_at"],
                "attested_at": row["attested_at"],
            }
        )
    return notices


def studio_charge_lines(studio) -> QuerySet:
    """What the studio owes, one row per lease and closed period (newest period first): the
    period, the lease, its dataset, the flat fee, metered usage and their total."""
    return (
        LeaseRevenue.objects.filter(lease__studio=studio, period__status=Period.Status.CLOSED)
        .values("period_id", "lease_id", "flat_fee_cents", "usage_cents")
        .annotate(
            start=F("period__start"),
            end=F("period__end"),
            terms=F("lease__terms__title"),
            dataset=F("lease__version__dataset__slug"),
            dataset_title=F("lease__version__dataset__title"),
            currency=F("lease__currency"),
            total_cents=F("revenue_cents"),
        )
        .order_by("-period__start", "lease_id")
    )


def studio_charges(studio) -> QuerySet:
    """The studio's closed periods with charges, newest first, each with its total (the API's
    rows; `studio_charges_lines_of` adds each period's lines for one page of them)."""
    return (
        Period.objects.filter(status=Period.Status.CLOSED, lease_revenues__lease__studio=studio)
        .values("start", "end")
        .annotate(
            period=F("pk"),
            total_cents=Sum("lease_revenues__revenue_cents"),
            currency=Max("lease_revenues__lease__currency"),
        )
        .order_by("-start", "-pk")
    )


def studio_charges_lines_of(studio, periods: list[dict]) -> list[dict]:
    """`periods` (rows of `studio_charges`) with their lease lines, in one query for them all."""
    lines: dict[int, list[dict]] = defaultdict(list)
    for line in studio_charge_lines(studio).filter(period_id__in=[row["period"] for row in periods]):
        lines[line["period_id"]].append(
            {
                "lease": line["lease_id"],
                "dataset": line["dataset"],
                "flat_fee_cents": line["flat_fee_cents"],
                "usage_cents": line["usage_cents"],
                "total_cents": line["total_cents"],
            }
        )
    return [{**row, "leases": lines[row["period"]]} for row in periods]


class Unpayable:
    """Why a member who is owed money is not paid by the next batch."""

    NO_BANK_DETAILS = "no_bank_details"
    UNTRACEABLE = "untraceable"
    BELOW_MINIMUM = "below_minimum"

    LABELS = {
        NO_BANK_DETAILS: "No bank details: the member has not given an account to pay into.",
        UNTRACEABLE: "Untraceable: an administrator marked the member as not reachable.",
        BELOW_MINIMUM: "Below the minimum payout: the balance carries forward.",
    }


def member_balances(*, minimum_cents: int | None = None) -> QuerySet:
    """Every member the trust owes money, in one aggregate query over their payable accounts,
    as plain rows: the account, the member's number, name and bank details, `owed_cents`, and
    `reason` ("" when the next payout batch pays them, else an `Unpayable` code). Bank details
    are only ever written through `member_set_bank_account`, which validates them, so "has
    bank details" is "has an IBAN or an account number (with its BIC)"."""

    minimum = settings.TRUST_MINIMUM_PAYOUT_CENTS if minimum_cents is None else minimum_cents
    # What the trust owes is a credit balance (negative): the account's kept balance, negated.
    return (
        Account.objects.filter(kind=Account.Kind.MEMBER_PAYABLE, balance_cents__lt=0)
        .annotate(
            account_id=F("pk"),
            owed_cents=-F("balance_cents"),
            member_number=F("member__member_number"),
            display_name=F("member__display_name"),
            account_name=F("member__payout_account_name"),
            iban=F("member__payout_iban"),
            bic=F("member__payout_bic"),
            account_number=F("member__payout_account_number"),
            reason=Case(
                When(WITHOUT_BANK_DETAILS, then=Value(Unpayable.NO_BANK_DETAILS)),
                When(untraceable_member(), then=Value(Unpayable.UNTRACEABLE)),
                When(balance_cents__gt=-minimum, then=Value(Unpayable.BELOW_MINIMUM)),
                default=Value(""),
                output_field=CharField(),
            ),
        )
        # Always true of a payable account, and after the annotations it makes the member an
        # inner join: PostgreSQL can then walk members by number and stop at a page's 50 rows.
        .filter(member__isnull=False)
        .values(
            "account_id",
            "member_id",
            "member_number",
            "display_name",
            "account_name",
            "iban",
            "bic",
            "account_number",
            "owed_cents",
            "reason",
        )
        .order_by("member_number")
    )


def payable_members(*, minimum_cents: int | None = None) -> QuerySet:
    """The members the next payout batch pays, and how much: a balance at or above the minimum
    and bank details to pay it into. `payout_batch_create` pays exactly these rows."""
    return member_balances(minimum_cents=minimum_cents).filter(reason="")


def unpayable_members(*, minimum_cents: int | None = None) -> QuerySet:
    """Members the trust owes money but the next batch cannot pay, each with its `reason`."""
    return member_balances(minimum_cents=minimum_cents).exclude(reason="")


OWED = Q(kind=Account.Kind.MEMBER_PAYABLE, balance_cents__lt=0)


def _payout_totals_aggregates(minimum_cents: int | None) -> dict:
    """The aggregates `payout_totals` reads, each filtered to the owed accounts (so that they can
    share a pass over every account with other figures): everyone owed, then each reason the next
    batch cannot pay (the order of `member_balances`: no bank details, untraceable, below the
    minimum)."""
    minimum = settings.TRUST_MINIMUM_PAYOUT_CENTS if minimum_cents is None else minimum_cents
    reasons = {
        "everyone": Q(),
        Unpayable.NO_BANK_DETAILS: WITHOUT_BANK_DETAILS,
        Unpayable.UNTRACEABLE: ~WITHOUT_BANK_DETAILS & untraceable_member(),
        Unpayable.BELOW_MINIMUM: ~WITHOUT_BANK_DETAILS
        & ~untraceable_member()
        & Q(balance_cents__gt=-minimum),
    }
    aggregates = {}
    for reason, condition in reasons.items():
        aggregates[f"{reason}__members"] = Count("pk", filter=OWED & condition)
        aggregates[f"{reason}__cents"] = Sum("balance_cents", filter=OWED & condition)
    return aggregates


def _payout_totals_of(row: dict) -> dict:
    # Owed is a credit balance: negated to a positive amount.
    totals = {
        reason: {"members": row[f"{reason}__members"] or 0, "cents": -(row[f"{reason}__cents"] or 0)}
        for reason in ("everyone", Unpayable.NO_BANK_DETAILS, Unpayable.UNTRACEABLE, Unpayable.BELOW_MINIMUM)
    }
    everyone = totals.pop("everyone")
    payable = {
        key: everyone[key] - sum(figures[key] for figures in totals.values()) for key in ("members", "cents")
    }
    return {"payable": payable, **totals}


def payout_totals(*, minimum_cents: int | None = None) -> dict:
    """How many members the next batch pays and how much, and the same for each reason it
    cannot pay the others (the reasons of `member_balances`, no bank details first). One pass
    over the owed accounts and their members, each reason a filtered aggregate."""
    owed = Account.objects.filter(OWED).order_by()
    return _payout_totals_of(owed.aggregate(**_payout_totals_aggregates(minimum_cents)))


def payout_batches() -> QuerySet:
    """Payout batches, newest first, as plain rows with who created each."""
    return PayoutBatch.objects.order_by("-created_at", "-pk").values(
        "pk",
        "created_at",
        "created_by__username",
        "execution_date",
        "minimum_cents",
        "currency",
        "total_cents",
        "item_count",
        "state",
        "sent_on",
        "settled_on",
    )


def payout_batch_items(batch: PayoutBatch) -> QuerySet:
    """A batch's payments as plain rows, by member number."""
    return (
        PayoutItem.objects.filter(batch=batch)
        .order_by("member__member_number")
        .values(
            "member_id",
            "member__member_number",
            "member__display_name",
            "account_name",
            "iban",
            "account_number",
            "bic",
            "amount_cents",
            "returned_on",
            "return_reason",
        )
    )


# The overview shows this many rows of each list; the full lists have their own pages.
OVERVIEW_ROWS = 10


def operations_overview(*, at=None) -> dict:
    """What needs the trust administrator now: lease requests waiting, periods open or closing,
    the last closed period's result, settlements with peer trusts that disagree, whether the
    whole ledger balances, what the trust owes
    members (the largest balances first) and their pension plan, members owed money the next
    batch cannot pay (and why), takedown notices past half their time or overdue, and leases
    whose tokens are suspended for one."""

    at = at or timezone.now()
    # One pass over every account (and its member): the books' total (`ledger.books_total`),
    # the pension plan's balance and the payout totals, instead of a pass for each.
    figures = Account.objects.order_by().aggregate(
        books_cents=Sum("balance_cents"),
        pension_cents=Sum("balance_cents", filter=Q(kind=Account.Kind.PENSION_PAYABLE)),
        **_payout_totals_aggregates(None),
    )
    totals = _payout_totals_of(figures)
    trial_balance = figures["books_cents"] or 0
    pension_owed = -(figures["pension_cents"] or 0)
    owed = member_balances()
    half_time_takedowns = takedowns_past_half_time(at=at)
    # Largest balances first, ordered by the kept balance itself (owed is its negation), so the
    # owed-accounts index gives the first rows without sorting every member's account.
    largest_first = ("balance_cents", "member_number")
    # Missing bank details first: those the administrator can do something about.
    # (The reasons' own conditions, not `reason`: a filter on the CASE could not use the index.)
    unpayable = list(owed.filter(WITHOUT_BANK_DETAILS).order_by(*largest_first)[:OVERVIEW_ROWS])
    below_minimum = owed.filter(balance_cents__gt=-settings.TRUST_MINIMUM_PAYOUT_CENTS).exclude(
        WITHOUT_BANK_DETAILS
    )
    unpayable += below_minimum.order_by(*largest_first)[: OVERVIEW_ROWS - len(unpayable)]
    return {
        "currency": settings.TRUST_CURRENCY,
        "lease_requests": Lease.objects.requested().count(),
        "open_periods": list(Period.objects.filter(status=Period.Status.OPEN).order_by("start")),
        # A failed close is listed with those closing: it waits for an administrator's retry.
        "closing_periods": list(
            Period.objects.filter(status__in=[Period.Status.CLOSING, Period.Status.FAILED]).order_by("start")
        ),
        "last_closed": Period.objects.closed().order_by("-end", "-pk").first(),
        # Settlements with peer trusts whose two sides disagree: shown until resolved.
        "settlements_disagreed": Settlement.objects.filter(state=Settlement.State.DISAGREED).count(),
        "trial_balance_cents": trial_balance,
        "ledger_is_balanced": trial_balance == 0,
        "owed_cents": sum(figures["cents"] for figures in totals.values()),
        "members_owed_count": sum(figures["members"] for figures in totals.values()),
        "members_owed": list(owed.order_by(*largest_first)[:OVERVIEW_ROWS]),
        "payout_totals": totals,
        "minimum_payout_cents": settings.TRUST_MINIMUM_PAYOUT_CENTS,
        "members_at_minimum": totals["payable"]["members"],
        "pension_owed_cents": pension_owed,
        "cannot_be_paid": unpayable,
        "cannot_be_paid_count": (
            totals[Unpayable.NO_BANK_DETAILS]["members"] + totals[Unpayable.BELOW_MINIMUM]["members"]
        ),
        "takedowns_past_half_time": list(half_time_takedowns[:OVERVIEW_ROWS]),
        "takedowns_past_half_time_count": half_time_takedowns.count(),
        "takedowns_overdue_count": takedowns_overdue(at=at).count(),
        "leases_tokens_suspended": Lease.objects.filter(tokens_suspended_at__isnull=False).count(),
        "takedown_deadline_days": settings.TAKEDOWN_DEADLINE_DAYS,
    }


def period_lease_revenues(period: Period) -> QuerySet[LeaseRevenue]:
    """How each lease's revenue in a closed period was split, with its studio and dataset."""
    return (
        LeaseRevenue.objects.filter(period=period)
        .select_related("lease__studio", "lease__version__dataset")
        .order_by("lease_id")
    )


# --- Member pages: earnings per period, where they came from, payouts, statements ------------


def member_paid_cents(member: Member) -> int:
    """Everything the trust has paid the member so far (a payment the bank returned was not)."""
    paid = PayoutItem.objects.filter(member=member, returned_on__isnull=True)
    return paid.aggregate(total=Sum("amount_cents"))["total"] or 0


def member_payouts(member: Member) -> QuerySet:
    """Every payment the trust made to the member, newest first, as plain rows: the batch, when
    it was made and paid, the amount, and only the last four characters of the account it went
    to (the account snapshotted in the batch, so a later change of bank does not rewrite it);
    and where the payment stands: the batch's state and dates, and the day and reason the bank
    returned it, if it did."""
    return (
        PayoutItem.objects.filter(member=member)
        .annotate(
            created_at=F("batch__created_at"),
            execution_date=F("batch__execution_date"),
            currency=F("batch__currency"),
            account_ends=Right(Coalesce(NullIf("iban", Value("")), "account_number"), 4),
            batch_state=F("batch__state"),
            sent_on=F("batch__sent_on"),
            settled_on=F("batch__settled_on"),
        )
        .values(
            "batch_id",
            "amount_cents",
            "created_at",
            "execution_date",
            "currency",
            "account_ends",
            "batch_state",
            "sent_on",
            "settled_on",
            "returned_on",
            "return_reason",
        )
        .order_by("-batch__created_at", "-batch_id")
    )


def member_statement_periods(member: Member) -> QuerySet[Period]:
    """The closed periods that are the member's business, oldest first: those they earned in,
    and those that ended after they were enrolled (a statement of zeros)."""

    return (
        Period.objects.closed()
        .filter(Q(earnings__member=member) | Q(end__gt=member.created_at))
        .distinct()
        .order_by("start", "pk")
    )


def member_statement_rows(member: Member) -> QuerySet:
    """The member's statement periods as rows, newest first, each with the member's figures in
    it (zeros where they earned nothing): `member_net_cents`, `member_pension_cents`, and from
    the statement lines the lease revenue attributed to them (`member_revenue_cents`) and the
    trust's admin fee on it (`member_admin_fee_cents`); the period's own fields are the whole
    trust's. Each period's net and pension are its figures in `member_earnings`; the Statements
    page and the home's latest periods (`member_earnings_by_period`) read these rows, in one
    statement the database sorts and pages."""
    earned = MemberEarning.objects.filter(member=member, period=OuterRef("pk"))
    lines = MemberEarningLine.objects.filter(earning__member=member, earning__period=OuterRef("pk"))
    # Adjustments priced in the period (corrections of earlier ones) count in it, as on the statement.
    adjusted = MemberAdjustmentLine.objects.filter(member=member, adjustment__period=OuterRef("pk"))

    def with_adjustments(rows, field: str):
        return _subquery_sum(rows, field) + _subquery_sum(adjusted, field)

    return (
        Period.objects.filter(status=Period.Status.CLOSED)
        .filter(Q(Exists(earned)) | Q(end__gt=member.created_at))
        .annotate(
            period=F("pk"),
            member_net_cents=with_adjustments(earned, "net_cents"),
            member_pension_cents=with_adjustments(earned, "pension_cents"),
            member_admin_fee_cents=with_adjustments(lines, "admin_fee_cents"),
            member_revenue_cents=with_adjustments(lines, "revenue_cents"),
        )
        .values(
            "period",
            "start",
            "end",
            "member_net_cents",
            "member_pension_cents",
            "member_admin_fee_cents",
            "member_revenue_cents",
        )
        .order_by("-start", "-pk")
    )


def member_statement_totals(rows: QuerySet) -> dict:
    """`total_net_cents`, `total_pension_cents`, `total_admin_fee_cents` and
    `total_revenue_cents` over `member_statement_rows`, in one aggregate."""
    fields = ("net_cents", "pension_cents", "admin_fee_cents", "revenue_cents")
    totals = rows.order_by().aggregate(**{f"total_{field}": Sum(f"member_{field}") for field in fields})
    return {key: value or 0 for key, value in totals.items()}


def member_earnings_by_period(member: Member, *, latest: int | None = None) -> list[dict]:
    """Net, pension, the lease revenue attributed to the member and the trust's fee on it, for
    each of the member's statement periods (zeros where they earned nothing), oldest first: the
    rows of `member_statement_rows` (the same figures as the Statements page and
    `member_earnings`), with their `label` and `last_day`. `latest` keeps only the newest that
    many, read in one query whatever the length of the history."""
    rows = member_statement_rows(member)
    if latest is not None:
        rows = rows[:latest]
    return [
        {
            "period": row["period"],
            "start": row["start"],
            "end": row["end"],
            "last_day": period_last_day(row["start"], row["end"]),
            "label": period_label(row["start"], row["end"]),
            "net_cents": row["member_net_cents"],
            "pension_cents": row["member_pension_cents"],
            "admin_fee_cents": row["member_admin_fee_cents"],
            "revenue_cents": row["member_revenue_cents"],
        }
        for row in reversed(list(rows))
    ]


def member_earnings_breakdown(member: Member) -> dict:
    """The member's net earnings in closed periods by studio, and by the uses the lease
    permitted. A lease licenses its uses together, so a lease's earnings count once, under the
    combination of uses it permitted (in the order of `Use`). Each list adds up to
    `total_net_cents`, the same total as `member_earnings`. One query, summed in the database
    per studio and list of uses (a handful of rows, whatever the length of the history)."""

    rows = (
        _closed_earnings(member)
        .values_list("lease__studio__name", "lease__permitted_uses")
        .annotate(leases=Count("lease", distinct=True), net=Sum("net_cents"), pension=Sum("pension_cents"))
        .order_by()
    )
    by_studio: dict[str, dict] = {}
    by_uses: dict[tuple, dict] = {}
    # A lease has one studio and one list of uses: its row's lease count adds up without repeats.
    for studio, uses, leases, net, pension in rows:
        combination = tuple(in_use_order(uses or []))
        for groups, key, fields in (
            (by_studio, studio, {"studio": studio}),
            (by_uses, combination, {"uses": list(combination)}),
        ):
            group = groups.setdefault(key, {**fields, "net_cents": 0, "pension_cents": 0, "leases": 0})
            group["net_cents"] += net
            group["pension_cents"] += pension
            group["leases"] += leases

    def ordered(groups: dict) -> list[dict]:
        return sorted(groups.values(), key=lambda group: -group["net_cents"])

    return {
        "currency": settings.TRUST_CURRENCY,
        "total_net_cents": sum(group["net_cents"] for group in by_studio.values()),
        "total_pension_cents": sum(group["pension_cents"] for group in by_studio.values()),
        "by_studio": ordered(by_studio),
        "by_uses": ordered(by_uses),
    }


USE_LABELS = dict(MemberEarningLine.Use.choices)
USE_RANK = {use: index for index, use in enumerate(MemberEarningLine.Use.values)}
# Earnings posted before statements were itemised by use have one line of this kind.
NOT_ITEMISED = "all uses (not itemised)"


def _statement_lines(earnings: list[MemberEarning]) -> dict[int, list[dict]]:
    """The use lines of each earning (one query for them all), in the order of the uses."""
    lines: dict[int, list[dict]] = defaultdict(list)
    for row in MemberEarningLine.objects.filter(earning__in=[e.pk for e in earnings]).values(
        "earning_id", "use", "revenue_cents", "admin_fee_cents", "pension_cents", "net_cents"
    ):
        lines[row["earning_id"]].append(
            {
                "use": row["use"],
                "label": USE_LABELS.get(row["use"], row["use"]),
                "revenue_cents": row["revenue_cents"],
                "admin_fee_cents": row["admin_fee_cents"],
                # Gross is before the trust fee, everywhere: the revenue attributed to the member.
                "gross_cents": row["revenue_cents"],
                "after_fee_cents": row["pension_cents"] + row["net_cents"],
                "pension_cents": row["pension_cents"],
                "net_cents": row["net_cents"],
            }
        )
    for rows in lines.values():
        rows.sort(key=lambda line: USE_RANK.get(line["use"], len(USE_RANK)))
    return lines


STATEMENT_TOTALS = (
    "revenue_cents",
    "admin_fee_cents",
    "gross_cents",
    "after_fee_cents",
    "pension_cents",
    "net_cents",
)


def member_statement_adjustments(member: Member, period: Period) -> list[dict]:
    """The member's adjustments priced in `period` (payouts.corrections: corrections of closed
    periods), in the shape of `member_statement`'s rows: one per lease and corrected period,
    `kind` STATEMENT_ADJUSTMENT, `refers_to_period` the corrected period's label, a line per
    use, signed (a credit is negative). Two queries, none more per row."""
    found = corrections.member_adjustments(member, period)
    if not found:
        return []
    leases = {
        row["pk"]: row
        for row in Lease.objects.filter(pk__in={a["lease"] for a in found}).values(
            "pk", "studio__name", "version__dataset__title", "version__number"
        )
    }
    rows: dict[tuple, dict] = {}
    for adjustment in found:
        lease = leases[adjustment["lease"]]
        row = rows.setdefault(
            (adjustment["lease"], adjustment["original_period"]),
            {
                "kind": STATEMENT_ADJUSTMENT,
                "refers_to_period": period_label(adjustment["original_start"], adjustment["original_end"]),
                "lease": adjustment["lease"],
                "studio": lease["studio__name"],
                "dataset": lease["version__dataset__title"] or "",
                "version": lease["version__number"],
                "lines": [],
            },
        )
        row["lines"].append(
            {
                "use": adjustment["use"],
                "label": USE_LABELS.get(adjustment["use"], adjustment["use"]),
                "revenue_cents": adjustment["revenue_cents"],
                "admin_fee_cents": adjustment["admin_fee_cents"],
                "gross_cents": adjustment["revenue_cents"],
                "after_fee_cents": adjustment["pension_cents"] + adjustment["net_cents"],
                "pension_cents": adjustment["pension_cents"],
                "net_cents": adjustment["net_cents"],
            }
        )
    for row in rows.values():
        row.update({key: sum(line[key] for line in row["lines"]) for key in STATEMENT_TOTALS})
    return list(rows.values())


def member_statement(member: Member, period_id: int) -> dict:
    """The member's statement for one of their statement periods: who they are, the period and
    its rates, and their earnings lease by lease and, within a lease, use by use: the lease
    revenue attributed to them (`revenue_cents`, which is their gross: before the trust fee),
    the trust's fee on it (`admin_fee_cents`), what is left after it (`after_fee_cents`), the
    pension credit and their net. Each row has a `kind` (earning, or adjustment for a
    correction of an earlier period). Lines add up to their lease, leases to the totals, and
    the totals are the period's figures in `member_earnings`. NotFound for a period that is
    not closed or not the member's business."""

    period = member_statement_periods(member).filter(pk=period_id).first()
    if period is None:
        raise NotFound("no statement for this period", code="statement_not_found")
    earnings = list(
        MemberEarning.objects.filter(member=member, period=period)
        .select_related("lease__studio", "lease__version__dataset")
        .order_by("lease_id")
    )
    lines = _statement_lines(earnings)
    rows = member_statement_adjustments(member, period)
    for earning in earnings:
        mine = lines.get(earning.pk) or [
            {
                "use": None,
                "label": NOT_ITEMISED,
                "revenue_cents": None,
                "admin_fee_cents": None,
                "gross_cents": None,
                # MemberEarning.gross_cents is the share after the trust fee (pension + net).
                "after_fee_cents": earning.gross_cents,
                "pension_cents": earning.pension_cents,
                "net_cents": earning.net_cents,
            }
        ]
        rows.append(
            {
                "kind": STATEMENT_EARNING,
                "refers_to_period": None,
                "lease": earning.lease_id,
                "studio": earning.lease.studio.name,
                "dataset": earning.lease.version.dataset.title if earning.lease.version_id else "",
                "version": earning.lease.version.number if earning.lease.version_id else None,
                "lines": mine,
                "revenue_cents": sum(line["revenue_cents"] or 0 for line in mine),
                "admin_fee_cents": sum(line["admin_fee_cents"] or 0 for line in mine),
                "gross_cents": sum(line["revenue_cents"] or 0 for line in mine),
                "after_fee_cents": earning.gross_cents,
                "pension_cents": earning.pension_cents,
                "net_cents": earning.net_cents,
            }
        )
    return {
        "period": period.pk,
        "label": period_label(period.start, period.end),
        "start": period.start,
        "end": period.end,
        "first_day": timezone.localtime(period.start).date(),
        "last_day": period_last_day(period.start, period.end),
        "admin_fee_bps": period.admin_fee_bps,
        "pension_bps": period.pension_bps,
        "member_name": member.display_name,
        "member_number": member.member_number,
        "currency": settings.TRUST_CURRENCY,
        "trust_name": settings.TRUST_NAME,
        "rows": rows,
        **{key: sum(row[key] for row in rows) for key in STATEMENT_TOTALS},
    }
