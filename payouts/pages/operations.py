"""The administrator's pages for money: what needs attention, rates, accounting periods, and
payouts (who the next batch pays, batches and their bank files).
They call the same services and selectors as the payouts API."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from trust.errors import DomainError
from trust.lists import csv_response, filtered_rows, portal_list, wants_csv
from trust.portal import admin_required, run_service_with_messages
from trust.templatetags.portal import day, money, ref

from .. import payout_batches as batch_states
from .. import payout_files, selectors, services, settlements
from ..models import PayoutBatch, Period
from ..statements import amount
from . import invoices as invoice_pages
from . import reconciliation as reconciliation_pages
from . import unclaimed as unclaimed_pages
from .forms_operations import PayoutBatchDayForm, PayoutBatchForm, PayoutReturnForm, PeriodForm, RatesForm
from .lists import PeriodFilter
from .lists_operations import MemberBalanceFilter, PayoutBatchFilter, PayoutItemFilter

# The payouts page shows the latest batches; the batch history pages through all of them.
BATCHES_SHOWN = 5


@admin_required
def home(request):
    context = {"overview": selectors.operations_overview(), "now": timezone.now()}
    return render(request, "payouts/operations/home.html", context)


@admin_required
def rates(request):
    in_force = services.rates_in_force()
    form = RatesForm(request.POST or None, in_force=in_force)
    if request.method == "POST" and form.is_valid():
        done = run_service_with_messages(
            request,
            lambda: services.rates_set(actor=request.user, **form.cleaned_data),
            success="The new rates are in force from now on; periods closed from now use them.",
        )
        if done is not None:
            return redirect("operations-rates")
    context = {"admin_fee_bps": in_force[0], "pension_bps": in_force[1], "history": selectors.rate_history()}
    return render(request, "payouts/operations/rates.html", {"form": form, **context})


def _next_period_dates() -> dict:
    """A suggestion for the form: the month after the latest period (or this month)."""
    latest = Period.objects.order_by("-end").first()
    start = latest.end.date() if latest else timezone.now().date().replace(day=1)
    return {"start": start, "end": (start + timedelta(days=32)).replace(day=1)}


@admin_required
def periods(request):
    form = PeriodForm(request.POST or None, initial=_next_period_dates())
    if request.method == "POST" and form.is_valid():
        period = run_service_with_messages(
            request,
            lambda: services.period_create(actor=request.user, **form.bounds()),
            success="Period created.",
        )
        if period is not None:
            return redirect("operations-period", period_id=period.pk)
    rows = Period.objects.order_by("-start", "-pk")
    if wants_csv(request):
        return csv_response(
            "guildtrust-periods.csv",
            PERIOD_CSV_HEADER,
            _period_csv(filtered_rows(request, rows, PeriodFilter)),
        )
    return render(
        request,
        "payouts/operations/periods.html",
        {"form": form, "listing": portal_list(request, rows, PeriodFilter)},
    )


PERIOD_CSV_HEADER = [
    "period",
    "from",
    "until",
    "status",
    "revenue",
    "admin fee",
    "pension",
    "net to members",
    "leases",
    "closed",
]


def _period_csv(periods):
    for period in periods.iterator(chunk_size=2000):
        closed = period.status == Period.Status.CLOSED
        yield [
            period.pk,
            period.start.isoformat(),
            period.end.isoformat(),
            period.status,
            *(
                amount(cents) if closed else ""
                for cents in (
                    period.revenue_cents,
                    period.admin_fee_cents,
                    period.pension_cents,
                    period.net_cents,
                )
            ),
            period.leases_total if closed else "",
            period.closed_at.isoformat() if period.closed_at else "",
        ]


@admin_required
def period_detail(request, period_id):
    period = get_object_or_404(Period, pk=period_id)
    context = {"period": period, "now": timezone.now()}
    if period.status == Period.Status.OPEN:
        context["accrued"] = selectors.period_accrued_revenue(period, at=context["now"])
    if period.status == Period.Status.CLOSED:
        context["revenues"] = selectors.period_lease_revenues(period)
        context["books"] = selectors.period_books_check(period)
    return render(request, "payouts/operations/period.html", context)


@admin_required
@require_POST
def period_close(request, period_id):
    period = get_object_or_404(Period, pk=period_id)
    run_service_with_messages(
        request,
        lambda: services.period_request_close(actor=request.user, period=period),
        success="Closing started: each lease's revenue is being distributed to its members.",
    )
    return redirect("operations-period", period_id=period.pk)


def _balance_rows(balances):
    for row in balances.iterator(chunk_size=2000):
        yield [
            row["member_number"],
            row["display_name"],
            amount(row["owed_cents"]),
            settings.TRUST_CURRENCY,
            row["reason"] or "payable",
            row["iban"][-4:],
        ]


@admin_required
def payouts(request):
    """Who the next batch pays and who it cannot (and why), the latest batches, and the way to
    create the next one."""
    if wants_csv(request):
        return csv_response(
            "guildtrust-member-balances.csv",
            ["member_number", "name", "owed", "currency", "status", "iban_ends"],
            _balance_rows(filtered_rows(request, selectors.member_balances(), MemberBalanceFilter)),
        )
    totals = selectors.payout_totals()
    # The totals count everyone owed already: the unfiltered list is not counted again.
    everyone_owed = sum(figures["members"] for figures in totals.values())
    listing = portal_list(
        request, selectors.member_balances(), MemberBalanceFilter, unfiltered_total=everyone_owed
    )
    context = {
        "listing": listing,
        "totals": totals,
        "minimum_cents": settings.TRUST_MINIMUM_PAYOUT_CENTS,
        "batches": list(selectors.payout_batches()[:BATCHES_SHOWN]),
        "batch_count": PayoutBatch.objects.count(),
    }
    return render(request, "payouts/operations/payouts.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def payout_batch_new(request):
    """GET: what the batch would pay (members, total, who carries forward) and its date;
    POST: create it through `payout_batch_create`."""
    form = PayoutBatchForm(
        request.POST or None, initial={"execution_date": timezone.localdate() + timedelta(days=1)}
    )
    if request.method == "POST" and form.is_valid():
        batch = run_service_with_messages(
            request,
            lambda: services.payout_batch_create(
                actor=request.user, execution_date=form.cleaned_data["execution_date"]
            ),
            success=lambda batch: (
                f"{ref(batch)} created: {batch.item_count} payment{pluralize(batch.item_count)}, "
                f"{money(batch.total_cents)} {batch.currency}. Download its files for the bank."
            ),
        )
        if batch is not None:
            return redirect("operations-payout-batch", batch_id=batch.pk)
    context = {
        "form": form,
        "totals": selectors.payout_totals(),
        "minimum_cents": settings.TRUST_MINIMUM_PAYOUT_CENTS,
    }
    return render(request, "payouts/operations/payout_batch_new.html", context)


@admin_required
def payout_batches(request):
    listing = portal_list(request, selectors.payout_batches(), PayoutBatchFilter)
    return render(request, "payouts/operations/payout_batches.html", {"listing": listing})


@admin_required
def payout_batch_detail(request, batch_id):
    batch = get_object_or_404(PayoutBatch.objects.select_related("created_by"), pk=batch_id)
    listing = portal_list(request, selectors.payout_batch_items(batch), PayoutItemFilter)
    context = {
        "batch": batch,
        "listing": listing,
        "day_form": PayoutBatchDayForm(initial={"day": timezone.localdate()}),
    }
    return render(request, "payouts/operations/payout_batch.html", context)


@admin_required
@require_POST
def payout_batch_sent(request, batch_id):
    """The batch's file went to the bank: `payout_batch_mark_sent`, like the API."""
    form = PayoutBatchDayForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the day the file went to the bank.")
    else:
        run_service_with_messages(
            request,
            lambda: batch_states.payout_batch_mark_sent(
                actor=request.user, batch_id=batch_id, sent_on=form.cleaned_data["day"]
            ),
            success=lambda batch: f"{ref(batch)} marked sent to the bank on {day(batch.sent_on)}.",
        )
    return redirect("operations-payout-batch", batch_id=batch_id)


@admin_required
@require_POST
def payout_batch_settled(request, batch_id):
    """The bank paid the batch: `payout_batch_mark_settled` posts it out of payouts in transit."""
    form = PayoutBatchDayForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the day the bank paid the batch.")
    else:
        run_service_with_messages(
            request,
            lambda: batch_states.payout_batch_mark_settled(
                actor=request.user, batch_id=batch_id, settled_on=form.cleaned_data["day"]
            ),
            success=lambda batch: f"{ref(batch)} marked settled on {day(batch.settled_on)}.",
        )
    return redirect("operations-payout-batch", batch_id=batch_id)


@admin_required
@require_POST
def payout_return(request, batch_id):
    """A payment the bank returned: `payout_item_return` puts it back in the member's balance."""
    form = PayoutReturnForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the bank returned the payment.")
    else:
        run_service_with_messages(
            request,
            lambda: batch_states.payout_item_return(
                actor=request.user,
                batch_id=batch_id,
                member_id=form.cleaned_data["member"],
                reason=form.cleaned_data["reason"],
            ),
            success=lambda item: (
                f"The payment of {money(item.amount_cents)} to {item.member.member_number} is marked "
                "returned: the amount is back in the member's balance."
            ),
        )
    return redirect("operations-payout-batch", batch_id=batch_id)


def _download(content, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin_required
def payout_batch_csv(request, batch_id):
    batch = get_object_or_404(PayoutBatch, pk=batch_id)
    return _download(
        payout_files.batch_csv(batch), content_type="text/csv", filename=f"guildtrust-payouts-{batch.pk}.csv"
    )


@admin_required
def payout_batch_pain001(request, batch_id):
    batch = get_object_or_404(PayoutBatch, pk=batch_id)
    try:
        content = payout_files.batch_pain001(batch)
    except DomainError as error:
        messages.error(request, error.detail)
        return redirect("operations-payout-batch", batch_id=batch.pk)
    return _download(
        content, content_type="application/xml", filename=f"guildtrust-payouts-{batch.pk}.pain001.xml"
    )


@admin_required
def federation_settlements(request):
    """Settlements with peer trusts for one period window (the latest, or `?period=START/END`),
    disagreements first and marked: the administrators of both trusts see the same figures."""
    windows = settlements.windows()
    chosen = request.GET.get("period")
    window = None
    if chosen:
        try:
            window = settlements.parse_window(chosen)
        except DomainError as error:
            messages.error(request, error.detail)
    window = window or (windows[0] if windows else None)
    rows = settlements.settlement_rows(*window) if window else []
    rows.sort(key=lambda row: (row["state"] != "disagreed", row["peer"], row["home_lease_id"]))
    context = {
        "rows": rows,
        "window": window,
        "windows": [(settlements.window_text(*w), w) for w in windows],
        "chosen": settlements.window_text(*window) if window else "",
        "disagreed": sum(1 for row in rows if row["state"] == "disagreed"),
    }
    return render(request, "payouts/operations/federation_settlements.html", context)


urlpatterns = [
    path("", home, name="operations-home"),
    path("federation/settlements/", federation_settlements, name="operations-federation-settlements"),
    path("rates/", rates, name="operations-rates"),
    path("periods/", periods, name="operations-periods"),
    path("periods/<id:period_id>/", period_detail, name="operations-period"),
    path("periods/<id:period_id>/close/", period_close, name="operations-period-close"),
    path("payouts/", payouts, name="operations-payouts"),
    *invoice_pages.operations_urls,
    *unclaimed_pages.operations_urls,
    path("payouts/batches/", payout_batches, name="operations-payout-batches"),
    path("payouts/batches/new/", payout_batch_new, name="operations-payout-batch-new"),
    path("payouts/batches/<id:batch_id>/", payout_batch_detail, name="operations-payout-batch"),
    path("payouts/batches/<id:batch_id>/csv/", payout_batch_csv, name="operations-payout-batch-csv"),
    path(
        "payouts/batches/<id:batch_id>/pain001/", payout_batch_pain001, name="operations-payout-batch-pain001"
    ),
    path("payouts/batches/<id:batch_id>/sent/", payout_batch_sent, name="operations-payout-batch-sent"),
    path(
        "payouts/batches/<id:batch_id>/settled/", payout_batch_settled, name="operations-payout-batch-settled"
    ),
    path("payouts/batches/<id:batch_id>/returns/", payout_return, name="operations-payout-batch-return"),
    *reconciliation_pages.operations_urls,
]
