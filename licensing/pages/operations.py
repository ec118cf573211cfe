"""The administrator's lease pages: the queue of lease requests with the consent coverage an
approval would pin, active and closed leases, one lease in full, and the lease terms offered.

Every decision calls the same service as the API (`lease_approve`, `lease_reject`,
`lease_revoke`, `terms_create`, `terms_set_active`); coverage is asked of the trust's one
licensability rule through `approval_coverage`."""

from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from trust.errors import NotFound
from trust.portal import admin_required, perform
from trust.templatetags.portal import ref

from .. import selectors, services
from ..models import Lease, LeaseTerms, UsageEvent
from .forms_operations import ReasonForm, TermsForm

# The closed-leases table shows the most recent ones; the rest stay in the Django admin and API.
CLOSED_SHOWN = 50


def _lease(request, lease_id) -> Lease:
    try:
        return selectors.lease_for(user=request.user, lease_id=lease_id)
    except NotFound as error:
        raise Http404(error.detail) from error


def _back(request, default: str):
    """Where a decision form came from (the list or the lease page), if it is one of ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@admin_required
def leases(request):
    now = timezone.now()
    coverage_by_terms: dict[int, dict] = {}
    waiting = []
    for lease in selectors.lease_requests_waiting():
        if lease.terms_id not in coverage_by_terms:
            coverage_by_terms[lease.terms_id] = selectors.approval_coverage(lease.terms, at=now)
        lease.just_requested = now - lease.requested_at < timedelta(minutes=1)
        waiting.append((lease, coverage_by_terms[lease.terms_id]))
    active = list(selectors.leases_active_with_takedowns())
    closed = selectors.leases_closed()
    return render(
        request,
        "licensing/operations/leases.html",
        {
            "waiting": waiting,
            "active": active,
            "open_takedowns": selectors.takedowns_open().count(),
            "closed": list(closed[:CLOSED_SHOWN]),
            "closed_count": closed.count(),
            "now": now,
        },
    )


def _token_status(token, lease: Lease, now) -> str:
    """How a token reads to an administrator; a token of an ended lease opens nothing."""
    if token.revoked_at:
        return "revoked"
    if lease.status != Lease.Status.ACTIVE:
        return "lease ended"
    return "expired" if token.expires_at <= now else "active"


@admin_required
def lease_detail(request, lease_id):
    lease = _lease(request, lease_id)
    now = timezone.now()
    summary = selectors.usage_summary(lease)
    usage = [
        {
            "kind": kind,
            "events": summary.get(kind, {}).get("events", 0),
            "quantity": summary.get(kind, {}).get("quantity", 0),
            "unit_price": lease.unit_price(kind),
        }
        for kind in UsageEvent.Kind
    ]
    tokens = [
        {"token": token, "status": _token_status(token, lease, now)} for token in selectors.tokens_of(lease)
    ]
    context = {
        "lease": lease,
        "terms": lease.terms,
        # Uses and prices are copied onto the lease at approval; before that, the terms' own.
        "priced": lease if lease.version_id else lease.terms,
        "usage": usage,
        "tokens": tokens,
        "takedowns": list(selectors.takedowns_for(lease)),
        "now": now,
    }
    if lease.status == Lease.Status.REQUESTED:
        context["coverage"] = selectors.approval_coverage(lease.terms, at=now)
    elif lease.version_id:
        context["approval_assets"] = lease.approval_assets.count()
        context["version_assets"] = lease.version.items.count()
        if lease.status == Lease.Status.ACTIVE:
            context["licensable_now"] = selectors.lease_licensable_assets(lease, at=now).count()
    return render(request, "licensing/operations/lease.html", context)


@admin_required
@require_POST
def lease_approve(request, lease_id):
    lease = _lease(request, lease_id)
    perform(
        request,
        lambda: services.lease_approve(actor=request.user, lease=lease),
        success=f"{ref(lease)} for {lease.studio} approved: it is active now.",
    )
    return _back(request, reverse("operations-leases"))


def _decide_with_reason(request, lease_id, service, *, verb: str, outcome: str):
    """Reject or revoke: both need a reason the studio will read."""
    lease = _lease(request, lease_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Give the studio a reason before you {verb} {ref(lease)}.")
    else:
        perform(
            request,
            lambda: service(actor=request.user, lease=lease, reason=form.cleaned_data["reason"]),
            success=f"{ref(lease)} for {lease.studio} {outcome}",
        )
    return _back(request, reverse("operations-leases"))


@admin_required
@require_POST
def lease_reject(request, lease_id):
    return _decide_with_reason(
        request,
        lease_id,
        services.lease_reject,
        verb="reject",
        outcome="rejected; the studio sees your reason.",
    )


@admin_required
@require_POST
def lease_revoke(request, lease_id):
    return _decide_with_reason(
        request,
        lease_id,
        services.lease_revoke,
        verb="revoke",
        outcome="revoked: its tokens stopped working at once.",
    )


@admin_required
def terms(request):
    form = TermsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = perform(
            request,
            lambda: services.terms_create(actor=request.user, **form.service_arguments()),
            success=f"Terms “{form.cleaned_data['title']}” created and offered in the catalogue.",
        )
        if created is not None:
            return redirect(f"{reverse('operations-terms')}#terms-{created.pk}")
    return render(
        request,
        "licensing/operations/terms.html",
        {"terms_rows": list(selectors.terms_all()), "form": form},
    )


def _set_active(request, terms_id, *, active: bool):
    row = get_object_or_404(LeaseTerms, pk=terms_id)
    perform(
        request,
        lambda: services.terms_set_active(actor=request.user, terms=row, active=active),
        success=f"Terms “{row.title}” "
        + ("offered in the catalogue again." if active else "withdrawn from the catalogue."),
    )
    return redirect(f"{reverse('operations-terms')}#terms-{row.pk}")


@admin_required
@require_POST
def terms_activate(request, terms_id):
    return _set_active(request, terms_id, active=True)


@admin_required
@require_POST
def terms_deactivate(request, terms_id):
    return _set_active(request, terms_id, active=False)


urlpatterns = [
    path("leases/", leases, name="operations-leases"),
    path("leases/<id:lease_id>/", lease_detail, name="operations-lease"),
    path("leases/<id:lease_id>/approve/", lease_approve, name="operations-lease-approve"),
    path("leases/<id:lease_id>/reject/", lease_reject, name="operations-lease-reject"),
    path("leases/<id:lease_id>/revoke/", lease_revoke, name="operations-lease-revoke"),
    path("terms/", terms, name="operations-terms"),
    path("terms/<id:terms_id>/activate/", terms_activate, name="operations-terms-activate"),
    path("terms/<id:terms_id>/deactivate/", terms_deactivate, name="operations-terms-deactivate"),
]
