"""The administrator's pages for money: what needs attention, rates, and accounting periods.
They call the same services and selectors as the payouts API."""

from datetime import timedelta

from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from trust.portal import admin_required, perform

from .. import selectors, services
from ..models import Period
from .forms_operations import PeriodForm, RatesForm


@admin_required
def home(request):
    context = {"overview": selectors.operations_overview(), "now": timezone.now()}
    return render(request, "payouts/operations/home.html", context)


@admin_required
def rates(request):
    in_force = services.rates_in_force()
    form = RatesForm(request.POST or None, in_force=in_force)
    if request.method == "POST" and form.is_valid():
        done = perform(
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
        period = perform(
            request,
            lambda: services.period_create(actor=request.user, **form.bounds()),
            success="Period created.",
        )
        if period is not None:
            return redirect("operations-period", period_id=period.pk)
    return render(request, "payouts/operations/periods.html", {"form": form, "periods": Period.objects.all()})


@admin_required
def period_detail(request, period_id):
    period = get_object_or_404(Period, pk=period_id)
    context = {"period": period, "now": timezone.now()}
    if period.status == Period.Status.CLOSED:
        context["revenues"] = selectors.period_lease_revenues(period)
        context["books"] = selectors.period_books_check(period)
    return render(request, "payouts/operations/period.html", context)


@admin_required
@require_POST
def period_close(request, period_id):
    period = get_object_or_404(Period, pk=period_id)
    perform(
        request,
        lambda: services.period_request_close(actor=request.user, period=period),
        success="Closing started: each lease's revenue is being distributed to its members.",
    )
    return redirect("operations-period", period_id=period.pk)


urlpatterns = [
    path("", home, name="operations-home"),
    path("rates/", rates, name="operations-rates"),
    path("periods/", periods, name="operations-periods"),
    path("periods/<id:period_id>/", period_detail, name="operations-period"),
    path("periods/<id:period_id>/close/", period_close, name="operations-period-close"),
]
