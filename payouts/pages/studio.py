"""Studio staff's charges page: what the studio owes per closed period, lease by lease. The same
selector as GET /api/v1/charges/."""

from django.shortcuts import render
from django.urls import path

from licensing.selectors import studio_of
from trust.portal import studio_required

from ..selectors import studio_charges


@studio_required
def charges(request):
    studio = studio_of(request.user)
    periods = studio_charges(studio)
    currencies = {period["currency"] for period in periods}
    return render(
        request,
        "payouts/studio/charges.html",
        {
            "studio": studio,
            "periods": periods,
            "total_cents": sum(period["total_cents"] for period in periods),
            # One currency per trust; should that ever not hold, no total is summed across them.
            "currency": currencies.pop() if len(currencies) == 1 else None,
        },
    )


urlpatterns = [path("charges/", charges, name="studio-charges")]
