"""Corrections of closed periods, priced in a later period's close (issue 13 item 2).

A usage correction (licensing.corrections) of an event whose period was already closing or
closed when it was recorded is an adjustment: the close of the next period (one starting at or
after the original period's end) claims it (CorrectionCharge, once), prices it at the unit price
its original was charged in its own period, and splits it by the same rule as the close
(`split.split_lease`) at the original period's rates, into the members who hold the assets now.
A credit (usage lowered) is split by its magnitude and posted negated: so a correction of a
whole charge gives back to the cent what the close took (floor + largest remainder on the
magnitude, the same floors). It reduces the studio's receivable on a credit note (its own
gapless series, `<SLUG>-CN-<year>-<000001>`) and the members' payable, pension and the trust's
fee in proportion. A charge (a correction undone by a correction of it) is posted like the
close's revenue and billed as an `adjustment` line of the period's invoice. The original
period's figures and invoice never change; members' statements show each adjustment as its
own line naming the original period (`member_adjustments`)."""

from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Sum

from licensing.models import Lease, UsageCorrection, UsageEvent
from trust import audit
from trust.selectors import contributor_rows
from trust.templatetags.portal import period_label

from . import ledger, split
from .models import (
    Adjustment,
    CorrectionCharge,
    CreditNote,
    CreditNoteCounter,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    MemberAdjustmentLine,
    MemberEarningLine,
    Period,
    PeriodCharge,
)

USE_LABELS = dict(MemberEarningLine.Use.choices)


def credit_note_number(year: int, sequence: int) -> str:
    """GUILDTRUST-CN-2026-000001: the trust's prefix, CN, the year and the year's sequence."""
    return f"{settings.TRUST_SLUG.upper()}-CN-{year}-{sequence:06d}"


def _claim(period: Period, at: datetime) -> int:
    """Claim, in one INSERT ... SELECT, every adjustment recorded by `at` whose original period
    is closed and ended by the time this one starts, not claimed by any close yet: priced at
    the unit price its original was charged in its period (the lease's price as a fallback)."""
    corrections, charges = UsageCorrection._meta.db_table, CorrectionCharge._meta.db_table
    periods, metered = Period._meta.db_table, PeriodCharge._meta.db_table
    leases = Lease._meta.db_table
    kinds = UsageEvent.Kind
    price = f"""COALESCE(
        (SELECT MAX(pc.unit_price_cents) FROM {metered} pc
         WHERE pc.period_id = o.id AND pc.lease_id = c.lease_id AND pc.use = c.kind
           AND (pc.asset_id = c.asset_id OR (pc.asset_id IS NULL AND c.kind NOT IN (%s, %s)))),
        CASE c.kind WHEN %s THEN l.price_per_download_cents WHEN %s THEN l.price_per_training_run_cents
                    WHEN %s THEN l.price_per_generated_second_cents ELSE 0 END)"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {charges} (period_id, correction_id, lease_id, original_period_id, use, asset_id,
                                       quantity, unit_price_cents, amount_cents)
            SELECT %s, id, lease_id, original_id, kind, asset_id, quantity, price, quantity * price FROM (
                SELECT c.id, c.lease_id, o.id AS original_id, c.kind,
                       CASE WHEN c.kind IN (%s, %s) THEN c.asset_id END AS asset_id, c.quantity,
                       {price} AS price
                FROM {corrections} c
                JOIN {periods} o ON o.start <= c.original_occurred_at AND c.original_occurred_at < o."end"
                JOIN {leases} l ON l.id = c.lease_id
                WHERE NOT c.in_place AND c.recorded_at <= %s AND o.status = %s AND o."end" <= %s
                  AND NOT EXISTS (SELECT 1 FROM {charges} x WHERE x.correction_id = c.id)
            ) AS claimed WHERE true ON CONFLICT (correction_id) DO NOTHING""",
            [
                period.pk,
                kinds.DOWNLOAD,
                kinds.GENERATED_SECOND,
                kinds.DOWNLOAD,
                kinds.GENERATED_SECOND,
                kinds.DOWNLOAD,
                kinds.TRAINING_RUN,
                kinds.GENERATED_SECOND,
                at,
                Period.Status.CLOSED,
                period.start,
            ],
        )
        return cursor.rowcount


def price_adjustments(period: Period, *, at: datetime) -> list[Adjustment]:
    """Price the adjustments a closing period claims and post them: called by the close's final
    step under the period's lock, before its invoices are issued (a charge is a line of them).
    Set-based: a fixed number of queries whatever the number of corrections, leases, members."""
    if not _claim(period, at):
        return []
    rows = (
        CorrectionCharge.objects.filter(period=period)
        .values("lease_id", "original_period_id", "use", "asset_id", "unit_price_cents")
        .annotate(quantity=Sum("quantity"), amount=Sum("amount_cents"))
        .order_by("lease_id", "original_period_id", "use", "asset_id")
    )
    # (lease, original period, is_credit) -> [(use, asset or None, magnitude, quantity, unit price)]
    groups: dict[tuple[int, int, bool], list[tuple]] = defaultdict(list)
    for row in rows:
        if row["amount"]:
            asset = str(row["asset_id"]) if row["asset_id"] is not None else None
            groups[(row["lease_id"], row["original_period_id"], row["amount"] < 0)].append(
                (row["use"], asset, abs(row["amount"]), abs(row["quantity"]), row["unit_price_cents"])
            )
    if not groups:
        return []
    lease_ids = sorted({lease_id for lease_id, _, _ in groups})
    originals = {p.pk: p for p in Period.objects.filter(pk__in={original for _, original, _ in groups})}
    studios = dict(Lease.objects.filter(pk__in=lease_ids).values_list("pk", "studio_id"))
    shared: dict[int, list[str]] = {lease_id: [] for lease_id in lease_ids}
    through = Lease.approval_assets.through.objects.filter(lease_id__in=lease_ids)
    for lease_id, asset_id in through.values_list("lease_id", "asset_id"):
        shared[lease_id].append(str(asset_id))
    named = {asset for charges in groups.values() for _, asset, *_ in charges if asset}
    rows = list(contributor_rows(through.values("asset_id")))
    missing = named - {str(asset_id) for asset_id, *_ in rows}
    if missing:
        rows += contributor_rows(missing)
    counted = split.counted_rows(rows)
    held = split.checker(
        split.holders_from_rows(
            (str(asset_id), (number, member_id), share) for asset_id, member_id, number, share in counted
        )
    )
    ledger.ensure_member_accounts_of_assets(through.values("asset_id"))
    if missing:
        ledger.ensure_member_accounts_of_assets(list(missing))
    ledger.ensure_studio_accounts(set(studios.values()))
    accounts = ledger.member_account_ids({member_id for _, member_id, _, _ in counted})
    receivables = ledger.studio_account_ids(set(studios.values()))
    fee_account = ledger.trust_fee_revenue().pk
    use_order = MemberEarningLine.Use.values

    postings, adjustments, member_lines = [], [], []
    for (lease_id, original_id, is_credit), charges in sorted(groups.items()):
        original = originals[original_id]
        result = split.split_lease(
            flat_fee_cents=0,
            charges=[(use, asset, amount) for use, asset, amount, _, _ in charges],
            shared_assets=shared[lease_id],
            held=held,
            admin_fee_bps=original.admin_fee_bps,
            pension_bps=original.pension_bps,
            use_order=use_order,
        )
        sign = -1 if is_credit else 1
        lines = [
            (receivables[studios[lease_id]], sign * result.revenue_cents),
            (fee_account, -sign * result.admin_fee_cents),
        ]
        for member in result.members:
            payable, pension = accounts[member.key[1]]
            lines += [(payable, -sign * member.net_cents), (pension, -sign * member.pension_cents)]
            member_lines.append(
                (
                    len(adjustments),
                    member.key[1],
                    [(use, *(sign * cents for cents in amounts)) for use, *amounts in member.lines],
                )
            )
        kind = "credit" if is_credit else "charge"
        postings.append(
            (
                f"period:{period.pk}:adjustment:{original_id}:lease:{lease_id}:{kind}",
                f"Correction of lease {lease_id}'s usage in {original}, priced in {period}"[:300],
                lines,
            )
        )
        adjustments.append(
            Adjustment(
                period=period,
                original_period_id=original_id,
                lease_id=lease_id,
                is_credit=is_credit,
                revenue_cents=sign * result.revenue_cents,
                admin_fee_cents=sign * result.admin_fee_cents,
                pension_cents=sign * result.pension_cents,
                net_cents=sign * result.net_cents,
            )
        )
    # Posted with their period: a ledger transaction is never updated afterwards (append-only).
    transactions = ledger.post_new_many(postings, period=period)
    for adjustment, txn in zip(adjustments, transactions, strict=True):
        adjustment.transaction = txn
    notes = _issue_credit_notes(period, adjustments, groups, studios, originals, at)
    Adjustment.objects.bulk_create(adjustments)
    MemberAdjustmentLine.objects.bulk_create(
        [
            MemberAdjustmentLine(
                adjustment=adjustments[index],
                member_id=member_id,
                use=use,
                revenue_cents=revenue,
                admin_fee_cents=fee,
                pension_cents=pension,
                net_cents=net,
            )
            for index, member_id, lines in member_lines
            for use, revenue, fee, pension, net in lines
        ],
        batch_size=5000,
    )
    audit.record(
        actor=None,
        action="corrections.priced",
        subject=period,
        data={
            "adjustments": len(adjustments),
            "credited_cents": -sum(a.revenue_cents for a in adjustments if a.is_credit),
            "charged_cents": sum(a.revenue_cents for a in adjustments if not a.is_credit),
            "credit_notes": [note.number for note in notes],
        },
    )
    return adjustments


def _lock_counter(year: int) -> CreditNoteCounter:
    CreditNoteCounter.objects.bulk_create([CreditNoteCounter(year=year)], ignore_conflicts=True)
    return CreditNoteCounter.objects.select_for_update().get(year=year)


def _issue_credit_notes(period, adjustments, groups, studios, originals, at) -> list[CreditNote]:
    """One credit note per studio with credits in this close, numbered from the year's counter
    (locked here, in the close's transaction: gapless), one line per lease, original period,
    use and unit price, referencing the original period's invoice."""
    credits = [a for a in adjustments if a.is_credit]
    if not credits:
        return []
    invoiced = dict(
        ((studio_id, period_id), pk)
        for pk, studio_id, period_id in Invoice.objects.filter(
            period_id__in=list(originals), studio_id__in=set(studios.values())
        ).values_list("pk", "studio_id", "period_id")
    )
    by_studio: dict[int, list[Adjustment]] = defaultdict(list)
    for adjustment in credits:
        by_studio[studios[adjustment.lease_id]].append(adjustment)
    counter = _lock_counter(at.year)
    notes, lines = [], []
    for studio_id, studio_credits in sorted(by_studio.items()):
        counter.last_sequence += 1
        note = CreditNote(
            number=credit_note_number(at.year, counter.last_sequence),
            year=at.year,
            sequence=counter.last_sequence,
            studio_id=studio_id,
            period=period,
            issued_at=at,
            currency=settings.TRUST_CURRENCY,
            total_cents=-sum(a.revenue_cents for a in studio_credits),
        )
        notes.append(note)
        for adjustment in studio_credits:
            adjustment.credit_note = note
            summed: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
            for use, _, amount, quantity, price in groups[
                (adjustment.lease_id, adjustment.original_period_id, True)
            ]:
                summed[(use, price)][0] += quantity
                summed[(use, price)][1] += amount
            original = originals[adjustment.original_period_id]
            label = period_label(original.start, original.end)
            for (use, price), (quantity, amount) in sorted(summed.items()):
                lines.append(
                    CreditNoteLine(
                        credit_note=note,
                        lease_id=adjustment.lease_id,
                        original_period=original,
                        original_invoice_id=invoiced.get((studio_id, original.pk)),
                        use=use,
                        description=f"{USE_LABELS.get(use, use)} of {label}, corrected",
                        quantity=quantity,
                        unit_price_cents=price,
                        amount_cents=amount,
                    )
                )
    counter.save(update_fields=["last_sequence"])
    CreditNote.objects.bulk_create(notes)
    CreditNoteLine.objects.bulk_create(lines, batch_size=5000)
    return notes


def invoice_lines(period: Period) -> dict[int, list[dict]]:
    """studio id -> the invoice lines of the charges among this period's adjustments (corrections
    of closed periods undone): one per lease, original period, use and unit price, for
    `invoices.issue_for_period`, which bills them with the period's own lines. A studio already
    invoiced for the period is left out, as there (closing again bills nothing). One query."""
    rows = (
        CorrectionCharge.objects.filter(period=period)
        .exclude(lease__studio__invoices__period=period)
        .values(
            "lease_id",
            "lease__studio_id",
            "original_period_id",
            "original_period__start",
            "original_period__end",
            "use",
            "asset_id",
            "unit_price_cents",
        )
        .annotate(quantity=Sum("quantity"), amount=Sum("amount_cents"))
        .order_by("lease_id", "original_period_id", "use", "unit_price_cents")
    )
    summed: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row["amount"] > 0:
            key = (
                row["lease__studio_id"],
                row["lease_id"],
                row["original_period__start"],
                row["original_period__end"],
                row["use"],
                row["unit_price_cents"],
            )
            summed[key][0] += row["quantity"]
            summed[key][1] += row["amount"]
    lines: dict[int, list[dict]] = defaultdict(list)
    for (studio_id, lease_id, start, end, use, price), (quantity, amount) in summed.items():
        lines[studio_id].append(
            {
                "lease_id": lease_id,
                "use": InvoiceLine.Use.ADJUSTMENT,
                "description": f"{USE_LABELS.get(use, use)} of {period_label(start, end)}: correction undone",
                "quantity": quantity,
                "unit_price_cents": price,
                "amount_cents": amount,
            }
        )
    return lines


# Reads for statements (the "recon" helper's statements use these) -------------------------------


def member_adjustments(member, period: Period) -> list[dict]:
    """A member's adjustment lines priced in `period`, one per lease, use and original period:
    {lease, use, original_period, original_start, original_end, revenue_cents, admin_fee_cents,
    pension_cents, net_cents}, signed (a credit is negative). One query."""
    rows = (
        MemberAdjustmentLine.objects.filter(member=member, adjustment__period=period)
        .values(
            "adjustment__lease_id",
            "use",
            "adjustment__original_period_id",
            "adjustment__original_period__start",
            "adjustment__original_period__end",
        )
        .annotate(
            revenue=Sum("revenue_cents"),
            fee=Sum("admin_fee_cents"),
            pension=Sum("pension_cents"),
            net=Sum("net_cents"),
        )
        .order_by("adjustment__lease_id", "adjustment__original_period__start", "use")
    )
    return [
        {
            "lease": row["adjustment__lease_id"],
            "use": row["use"],
            "original_period": row["adjustment__original_period_id"],
            "original_start": row["adjustment__original_period__start"],
            "original_end": row["adjustment__original_period__end"],
            "revenue_cents": row["revenue"],
            "admin_fee_cents": row["fee"],
            "pension_cents": row["pension"],
            "net_cents": row["net"],
        }
        for row in rows
    ]


def studio_credit_notes(studio):
    """A studio's credit notes, newest first, with their period and lines prefetched."""
    return (
        CreditNote.objects.filter(studio=studio)
        .select_related("studio", "period")
        .prefetch_related("lines")
        .order_by("-year", "-sequence")
    )


def credit_notes_visible_to(user):
    """Every credit note for an administrator, the studio's own for its staff, none otherwise."""
    from licensing.selectors import studio_documents_visible_to

    return studio_documents_visible_to(
        user, CreditNote.objects.select_related("studio", "period").order_by("-year", "-sequence")
    )


def period_adjustment_totals(period: Period) -> dict:
    """The adjustments priced in a period, totalled: revenue, fee, pension and net (signed)."""
    totals = period.adjustments.aggregate(
        revenue=Sum("revenue_cents"),
        fee=Sum("admin_fee_cents"),
        pension=Sum("pension_cents"),
        net=Sum("net_cents"),
    )
    return {name: int(value or 0) for name, value in totals.items()}
