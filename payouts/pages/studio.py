"""Studio staff's charges page: what the studio owes, lease by lease and closed period. The same
rows as GET /api/v1/charges/ (which groups them by period)."""

from django.db.models import Count, Sum
from django.shortcuts import render
from django.urls import path

from licensing.selectors import studio_of
from trust.lists import csv_response, filtered_rows, portal_list, wants_csv
from trust.portal import studio_required
from trust.templatetags.portal import period_label

from ..selectors import studio_charge_lines
from ..statements import amount
from . import invoices as invoice_pages
from . import reconciliation as reconciliation_pages
from .lists import StudioChargeFilter

CSV_HEADER = [
    "period",
    "from",
    "until",
    "lease",
    "terms",
    "dataset",
    "flat fee",
    "usage",
    "total",
    "currency",
]


def _csv(lines):
    for line in lines.iterator(chunk_size=2000):
        yield [
            period_label(line["start"], line["end"]),
            line["start"].isoformat(),
            line["end"].isoformat(),
            line["lease_id"],
            line["terms"],
            line["dataset"],
            amount(line["flat_fee_cents"]),
            amount(line["usage_cents"]),
            amount(line["total_cents"]),
            line["currency"],
        ]


@studio_required
def charges(request):
    studio = studio_of(request.user)
    lines = studio_charge_lines(studio)
    if wants_csv(request):
        return csv_response(
            "guildtrust-charges.csv", CSV_HEADER, _csv(filtered_rows(request, lines, StudioChargeFilter))
        )
    listing = portal_list(request, lines, StudioChargeFilter)
    for line in listing.rows:
        line["label"] = period_label(line["start"], line["end"])
    everything = lines.order_by().aggregate(
        total_cents=Sum("revenue_cents"), periods=Count("period_id", distinct=True)
    )
    latest = lines.values("period_id").order_by("-period__start")[:1]
    latest_cents = lines.filter(period_id__in=latest).order_by().aggregate(t=Sum("revenue_cents"))["t"]
    shown = filtered_rows(request, lines, StudioChargeFilter).order_by()
    currencies = set(lines.order_by().values_list("lease__currency", flat=True).distinct()[:2])
    return render(
        request,
        "payouts/studio/charges.html",
        {
            "studio": studio,
            "listing": listing,
            "total_cents": everything["total_cents"] or 0,
            "periods": everything["periods"],
            "latest_cents": latest_cents or 0,
            "filtered_total_cents": (shown.aggregate(t=Sum("revenue_cents"))["t"] or 0)
            if listing.filtered
            else None,
            # One currency per trust; should that ever not hold, no total is summed across them.
            "currency": currencies.pop() if len(currencies) == 1 else None,
        },
    )


urlpatterns = [
    path("charges/", charges, name="studio-charges"),
    *invoice_pages.studio_urls,
    *reconciliation_pages.studio_urls,
]
