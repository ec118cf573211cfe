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
from django.views.decorators.http import require_http_methods, require_POST

from trust.errors import NotFound
from trust.lists import csv_response, filtered_rows, portal_list, wants_csv
from trust.portal import admin_required, run_service_with_messages
from trust.templatetags.portal import ref

from .. import selectors, services
from ..models import Lease, LeaseTerms, Studio, Takedown, UsageEvent
from .forms_operations import ReasonForm, StaffForm, StudioEnrolForm, TermsForm, TermsShareForm
from .lists_operations import (
    ActiveLeaseFilter,
    ClosedLeaseFilter,
    StudioFilter,
    TermsFilter,
    WaitingLeaseFilter,
)

# A studio's page shows its latest leases; the leases page has them all.
STUDIO_LEASES_SHOWN = 20


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


LEASE_LISTS = {
    "waiting": WaitingLeaseFilter,
    "active": ActiveLeaseFilter,
    "closed": ClosedLeaseFilter,
}

LEASE_CSV_HEADER = [
    "lease",
    "studio",
    "terms",
    "dataset",
    "version",
    "purpose",
    "status",
    "requested",
    "starts",
    "ends",
    "closed",
    "reason",
    "open takedowns",
]


def _lease_csv(rows):
    """CSV lines of `selectors.lease_rows` rows (closed and open takedowns where the list has them)."""

    def moment(value):
        return value.isoformat() if value else ""

    for row in rows.iterator(chunk_size=2000):
        pinned = row["version_id"] is not None
        yield [
            row["pk"],
            row["studio_name"],
            row["terms_title"],
            row["version_dataset_slug"] if pinned else row["terms_dataset_slug"],
            row["version_number"] if pinned else "",
            row["purpose"],
            row["status"],
            moment(row["requested_at"]),
            moment(row["starts_at"]),
            moment(row["ends_at"]),
            moment(row.get("closed_at")),
            row["decision_reason"],
            row.get("open_takedowns", ""),
        ]


@admin_required
def leases(request):
    """Three lists on one page (requests waiting, active, closed), each with its own search,
    sort, pages and CSV under its prefix."""
    sources = {
        "waiting": selectors.lease_requests_waiting(),
        "active": selectors.leases_active_with_takedowns(),
        "closed": selectors.leases_closed(),
    }
    for prefix, filterset in LEASE_LISTS.items():
        if wants_csv(request, prefix):
            rows = filtered_rows(request, sources[prefix], filterset, prefix=prefix)
            if prefix == "waiting":  # the requests' cards need instances; their CSV, rows
                rows = selectors.lease_rows(rows)
            return csv_response(f"guildtrust-leases-{prefix}.csv", LEASE_CSV_HEADER, _lease_csv(rows))
    totals = selectors.lease_list_totals()
    listings = {
        prefix: portal_list(
            request, sources[prefix], filterset, prefix=prefix, unfiltered_total=totals[prefix]
        )
        for prefix, filterset in LEASE_LISTS.items()
    }
    now = timezone.now()
    requests = list(listings["waiting"].rows)
    # One grouped statement for every terms among the page's requests, not a count per request.
    coverages = selectors.approval_coverages([lease.terms for lease in requests], at=now)
    waiting = []
    for lease in requests:
        lease.just_requested = now - lease.requested_at < timedelta(minutes=1)
        waiting.append((lease, coverages[lease.terms_id]))
    return render(
        request,
        "licensing/operations/leases.html",
        {
            "waiting": waiting,
            "waiting_list": listings["waiting"],
            "active_list": listings["active"],
            "closed_list": listings["closed"],
            # Few at a time (each waits on a peer's decision): one short table, at most 50 shown.
            "awaiting": [
                (lease, selectors.lease_parts(lease)) for lease in selectors.leases_awaiting_parts()[:50]
            ],
            "waiting_count": totals["waiting"],
            "active_count": totals["active"],
            "open_takedowns": Takedown.objects.open().count(),
            "now": now,
        },
    )


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
        # Savings only where the lease (or its terms, before approval) carries a premium.
        if kind != UsageEvent.Kind.SUBSTITUTION_SAVING
        or (lease.substitution_premium_bps or lease.terms.substitution_premium_bps)
    ]
    context = {
        "lease": lease,
        "parts": (parts := selectors.lease_parts(lease)),
        "forwarded": selectors.forwarded_usage_summary(lease) if parts else {},
        "terms": lease.terms,
        # Uses and prices are copied onto the lease at approval; before that, the terms' own.
        "priced": lease if lease.version_id else lease.terms,
        "usage": usage,
        "tokens": list(selectors.tokens_of(lease)),
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


def _next(request) -> str:
    """The page a confirmation was opened from, carried through to its form."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@admin_required
@require_http_methods(["GET", "POST"])
def lease_approve(request, lease_id):
    """GET: what approving would pin (the version, how many of its assets, until when); POST:
    approve."""
    lease = _lease(request, lease_id)
    if request.method == "POST":
        run_service_with_messages(
            request,
            lambda: services.lease_approve(actor=request.user, lease=lease),
            success=f"{ref(lease)} for {lease.studio} approved: it is active now.",
        )
        return _back(request, reverse("operations-leases"))
    now = timezone.now()
    context = {
        "lease": lease,
        "coverage": selectors.approval_coverage(lease.terms, at=now),
        "ends_at": now + timedelta(days=lease.terms.duration_days),
        "next": _next(request),
    }
    return render(request, "licensing/operations/lease_approve.html", context)


def _decide_with_reason(request, lease_id, service, *, verb: str, outcome: str):
    """Reject or revoke: both need a reason the studio will read."""
    lease = _lease(request, lease_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Give the studio a reason before you {verb} {ref(lease)}.")
    else:
        run_service_with_messages(
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
@require_http_methods(["GET", "POST"])
def lease_revoke(request, lease_id):
    """GET: what revoking would stop (the tokens that work now, the lease's remaining time) and
    the reason form; POST: revoke."""
    if request.method == "POST":
        return _decide_with_reason(
            request,
            lease_id,
            services.lease_revoke,
            verb="revoke",
            outcome="revoked: its tokens stopped working at once.",
        )
    lease = _lease(request, lease_id)
    context = {
        "lease": lease,
        "now": timezone.now(),
        "working_tokens": lease.tokens.live().count(),
        "open_takedowns": Takedown.objects.open().filter(lease=lease).count(),
        "next": _next(request),
    }
    return render(request, "licensing/operations/lease_revoke.html", context)


@admin_required
def terms(request):
    form = TermsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = run_service_with_messages(
            request,
            lambda: services.terms_create(actor=request.user, **form.service_arguments()),
            success=f"Terms “{form.cleaned_data['title']}” created and offered in the catalogue.",
        )
        if created is not None:
            return redirect(f"{reverse('operations-terms')}#terms-{created.pk}")
    return render(
        request,
        "licensing/operations/terms.html",
        {"listing": portal_list(request, selectors.terms_all(), TermsFilter), "form": form},
    )


def _set_active(request, terms_id, *, active: bool):
    row = get_object_or_404(LeaseTerms, pk=terms_id)
    run_service_with_messages(
        request,
        lambda: services.terms_set_active(actor=request.user, terms=row, active=active),
        success=f"Terms “{row.title}” "
        + ("offered in the catalogue again." if active else "withdrawn from the catalogue."),
    )
    return redirect(f"{reverse('operations-terms')}#terms-{row.pk}")


@admin_required
@require_http_methods(["GET", "POST"])
def terms_share(request, terms_id):
    row = get_object_or_404(LeaseTerms.objects.select_related("dataset"), pk=terms_id)
    form = TermsShareForm(request.POST or None, initial={"peers": list(row.shared_with.all())})
    if request.method == "POST" and form.is_valid():
        shared = run_service_with_messages(
            request,
            lambda: services.terms_share(actor=request.user, terms=row, peers=form.cleaned_data["peers"]),
            success=f"Sharing of “{row.title}” saved.",
        )
        if shared is not None:
            return redirect(f"{reverse('operations-terms')}#terms-{row.pk}")
    return render(request, "licensing/operations/terms_share.html", {"terms": row, "form": form})


@admin_required
@require_POST
def terms_activate(request, terms_id):
    return _set_active(request, terms_id, active=True)


@admin_required
@require_POST
def terms_deactivate(request, terms_id):
    return _set_active(request, terms_id, active=False)


@admin_required
def studios(request):
    """Studios, searchable by name or a staff login, each with its staff and lease counts
    (the search can match several staff of one studio: distinct rows)."""
    listing = portal_list(request, selectors.studios_overview().order_by("name").distinct(), StudioFilter)
    if wants_csv(request):
        rows = (
            [
                row["name"],
                row["created_at"].date().isoformat(),
                row["staff_count"],
                row["active_leases"],
                row["waiting_leases"],
            ]
            for row in listing.page.paginator.object_list.iterator(chunk_size=2000)
        )
        return csv_response(
            "guildtrust-studios.csv", ["name", "enrolled", "staff", "active_leases", "waiting_requests"], rows
        )
    return render(request, "licensing/operations/studios.html", {"listing": listing})


@admin_required
@require_http_methods(["GET", "POST"])
def studio_enrol(request):
    form = StudioEnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        staff = run_service_with_messages(
            request,
            lambda: services.studio_enrol(actor=request.user, **form.cleaned_data),
            success=lambda staff: (
                f"{staff.studio.name} enrolled: {staff.user.get_username()} can sign in to the studio portal."
            ),
        )
        if staff is not None:
            return redirect("operations-studio", studio_id=staff.studio_id)
    return render(request, "licensing/operations/studio_enrol.html", {"form": form})


@admin_required
@require_http_methods(["GET", "POST"])
def studio_detail(request, studio_id):
    """A studio's staff and leases, and the form to add a staff login."""
    studio = get_object_or_404(Studio, pk=studio_id)
    form = StaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        staff = run_service_with_messages(
            request,
            lambda: services.studio_add_staff(
                actor=request.user,
                studio=studio,
                username=data["staff_username"],
                password=data["staff_password"],
                email=data["staff_email"],
            ),
            success=lambda staff: f"{staff.user.get_username()} can now sign in for {studio.name}.",
        )
        if staff is not None:
            return redirect("operations-studio", studio_id=studio.pk)
    context = {
        "studio": studio,
        "staff": list(selectors.studio_staff(studio)),
        "leases": list(
            Lease.objects.filter(studio=studio)
            .select_related("terms__dataset")
            .order_by("-requested_at")[:STUDIO_LEASES_SHOWN]
        ),
        "form": form,
    }
    return render(request, "licensing/operations/studio.html", context)


urlpatterns = [
    path("studios/", studios, name="operations-studios"),
    path("studios/enrol/", studio_enrol, name="operations-studio-enrol"),
    path("studios/<id:studio_id>/", studio_detail, name="operations-studio"),
    path("leases/", leases, name="operations-leases"),
    path("leases/<id:lease_id>/", lease_detail, name="operations-lease"),
    path("leases/<id:lease_id>/approve/", lease_approve, name="operations-lease-approve"),
    path("leases/<id:lease_id>/reject/", lease_reject, name="operations-lease-reject"),
    path("leases/<id:lease_id>/revoke/", lease_revoke, name="operations-lease-revoke"),
    path("terms/", terms, name="operations-terms"),
    path("terms/<id:terms_id>/share/", terms_share, name="operations-terms-share"),
    path("terms/<id:terms_id>/activate/", terms_activate, name="operations-terms-activate"),
    path("terms/<id:terms_id>/deactivate/", terms_deactivate, name="operations-terms-deactivate"),
]
