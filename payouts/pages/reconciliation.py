"""Reconciliation pages: the administrator's period reconciliation and the entries behind any
account's balance; studio staff's statement of account. Both read `payouts.reconciliation`, like
GET /api/v1/reconciliation/, /api/v1/ledger/accounts/{id}/entries/ and /api/v1/studio/statement/."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.urls import path

from licensing.selectors import studio_of
from trust.portal import admin_required, studio_required

from .. import reconciliation
from ..models import Account, Period

ENTRIES_PER_PAGE = 50


def _chosen_period(request):
    """The period named by `?period=ID`, else the latest closed one (else the latest of all)."""
    periods = Period.objects.order_by("-start", "-pk")
    wanted = request.GET.get("period", "")
    if wanted.isdigit():
        return get_object_or_404(Period, pk=int(wanted))
    return periods.filter(status=Period.Status.CLOSED).first() or periods.first()


@admin_required
def operations_reconciliation(request):
    period = _chosen_period(request)
    context = {
        "period": period,
        "periods": Period.objects.order_by("-start", "-pk").values("pk", "start", "end", "status")[:60],
        "figures": reconciliation.period_reconciliation(period) if period is not None else None,
        "kinds": reconciliation.accounts_by_kind(),
        "trust_accounts": reconciliation.trust_own_accounts(),
    }
    return render(request, "payouts/reconciliation/period.html", context)


@admin_required
def operations_account_entries(request, account_id):
    account = get_object_or_404(Account, pk=account_id)
    page = Paginator(reconciliation.account_entries(account), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"account": account, "page": page, "totals": reconciliation.account_entries_total(account)}
    return render(request, "payouts/reconciliation/account.html", context)


@studio_required
def studio_statement(request):
    statement = reconciliation.studio_statement_of_account(studio_of(request.user))
    return render(request, "payouts/reconciliation/studio_statement.html", {"statement": statement})


operations_urls = [
    path("reconciliation/", operations_reconciliation, name="operations-reconciliation"),
    path("ledger/accounts/<id:account_id>/", operations_account_entries, name="operations-account"),
]
studio_urls = [path("statement/", studio_statement, name="studio-statement")]
