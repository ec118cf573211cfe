"""The administrator's trust pages: curate assets into datasets and freeze numbered versions,
find and enrol members, and read the audit log with its chain's verification. They call the
same services and selectors as the API."""

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from .. import audit, selectors, services
from ..consent import LICENSABLE_USES
from ..lists import csv_response, portal_list, wants_csv
from ..models import Asset, Dataset
from ..portal import admin_required, run_service_with_messages
from .forms_operations import ConsentTextForm, DatasetForm, MemberEnrolForm
from .lists_operations import AuditFilter, CandidateAssetFilter, DatasetFilter, DraftAssetFilter, MemberFilter


@admin_required
def datasets(request):
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dataset = run_service_with_messages(
            request,
            lambda: services.dataset_create(actor=request.user, **form.cleaned_data),
            success="Dataset created: add assets to its draft, then freeze a version.",
        )
        if dataset is not None:
            return redirect("operations-dataset", dataset_id=dataset.pk)
    listing = portal_list(request, selectors.datasets_overview(), DatasetFilter)
    return render(request, "trust/operations/datasets.html", {"form": form, "listing": listing})


def _coverage(dataset: Dataset, latest, at) -> list[dict]:
    """Per licensable use: how many draft assets, and how many of the latest version's, may be
    used for it now."""
    draft = selectors.consent_coverage(assets=Asset.objects.filter(dataset_items__dataset=dataset), at=at)
    frozen = (
        selectors.consent_coverage(assets=Asset.objects.filter(version_items__version=latest), at=at)
        if latest
        else {}
    )
    return [{"use": use.value, "draft": draft[use], "version": frozen.get(use)} for use in LICENSABLE_USES]


@admin_required
def dataset_detail(request, dataset_id):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    now = timezone.now()
    versions = list(selectors.dataset_versions(dataset))
    latest = versions[0] if versions else None
    draft = selectors.dataset_draft_assets(dataset)
    candidates = portal_list(
        request, selectors.assets_addable_to(dataset, at=now), CandidateAssetFilter, prefix="add"
    )
    context = {
        "dataset": dataset,
        "draft_count": draft.count(),
        "draft": portal_list(request, draft, DraftAssetFilter, prefix="draft"),
        "versions": versions,
        "latest": latest,
        "coverage": _coverage(dataset, latest, now),
        "candidates": candidates,
    }
    return render(request, "trust/operations/dataset.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def dataset_freeze(request, dataset_id):
    """GET: what the new version would hold (and whether anything changed); POST: freeze. A
    refusal (an empty or unchanged draft) is shown on the dataset's page."""
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    if request.method == "GET":
        context = {"dataset": dataset, "preview": selectors.dataset_freeze_preview(dataset)}
        return render(request, "trust/operations/dataset_freeze.html", context)
    run_service_with_messages(
        request,
        lambda: services.dataset_freeze(actor=request.user, dataset=dataset),
        success=lambda version: f"Frozen as version {version.number}: leases approved from now pin it.",
    )
    return redirect("operations-dataset", dataset_id=dataset.pk)


@admin_required
@require_POST
def dataset_add_assets(request, dataset_id):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    asset_ids = request.POST.getlist("assets")
    if not asset_ids:
        messages.error(request, "Choose at least one asset to add.")
    else:
        run_service_with_messages(
            request,
            lambda: services.dataset_add_assets(actor=request.user, dataset=dataset, asset_ids=asset_ids),
            success=lambda added: (
                f"{added} asset{pluralize(added)} added to the draft; freeze a version to offer them."
            ),
        )
    # Back to the same filtered list, so the next batch can be picked from it.
    kept = {
        key: request.POST[key]
        for key in ("add-q", "add-kind", "add-use", "add-sort", "draft-q", "draft-sort")
        if request.POST.get(key)
    }
    url = reverse("operations-dataset", kwargs={"dataset_id": dataset.pk})
    return redirect(f"{url}?{urlencode(kept)}#add-assets" if kept else f"{url}#add-assets")


MEMBER_CSV_COLUMNS = [
    "member_number",
    "name",
    "username",
    "email",
    "listed_publicly",
    "bank_details",
    "assets",
    "enrolled",
]


def _member_rows(members):
    for row in members.iterator(chunk_size=2000):
        yield [
            row["member_number"],
            row["display_name"],
            row["user__username"],
            row["user__email"],
            "yes" if row["listed_publicly"] else "no",
            "yes" if row["has_bank_details"] else "no",
            row["asset_count"],
            row["created_at"].date().isoformat(),
        ]


@admin_required
def members(request):
    listing = portal_list(request, selectors.members_overview().order_by("member_number"), MemberFilter)
    if wants_csv(request):
        return csv_response(
            "guildtrust-members.csv", MEMBER_CSV_COLUMNS, _member_rows(listing.page.paginator.object_list)
        )
    return render(request, "trust/operations/members.html", {"listing": listing})


@admin_required
@require_http_methods(["GET", "POST"])
def member_enrol(request):
    form = MemberEnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = run_service_with_messages(
            request,
            lambda: services.member_enrol(actor=request.user, **form.cleaned_data),
            success=lambda member: (
                f"{member.display_name} ({member.member_number}) enrolled: they can sign in as "
                f"{member.user.get_username()}."
            ),
        )
        if member is not None:
            url = reverse("operations-members")
            return redirect(f"{url}?{urlencode({'q': member.member_number})}")
    return render(request, "trust/operations/member_enrol.html", {"form": form})


def _audit_rows(events):
    for row in events.iterator(chunk_size=2000):
        yield [
            row["seq"],
            row["created_at"].isoformat(),
            row["actor_label"],
            row["action"],
            row["subject_type"],
            row["subject_id"],
            json.dumps(row["data"], sort_keys=True),
        ]


@admin_required
def audit_log(request):
    """The audit log, filtered, with the chain's verification result (`?verify=now` walks the
    whole chain again instead of reusing a recent result)."""
    listing = portal_list(request, selectors.audit_events(), AuditFilter)
    if wants_csv(request):
        return csv_response(
            "guildtrust-audit-log.csv",
            ["seq", "at", "actor", "action", "subject_type", "subject_id", "data"],
            _audit_rows(listing.page.paginator.object_list),
        )
    status = audit.chain_status(fresh=request.GET.get("verify") == "now")
    return render(request, "trust/operations/audit.html", {"listing": listing, "chain": status})


@admin_required
@require_http_methods(["GET", "POST"])
def consent_texts(request):
    """Every use's consent text by version, the one in force, how many grants wait for
    re-confirmation, and publishing the next version."""
    form = ConsentTextForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        published = run_service_with_messages(
            request,
            lambda: services.consent_text_publish(actor=request.user, **form.cleaned_data),
            success=lambda text: (
                f"Published version {text.version} of the {text.get_use_display()} text: "
                "members with older grants are offered to re-confirm."
            ),
        )
        if published is not None:
            return redirect("operations-consent-texts")
    return render(
        request,
        "trust/operations/consent_texts.html",
        {"form": form, "uses": selectors.consent_text_overview()},
    )


urlpatterns = [
    path("consent-texts/", consent_texts, name="operations-consent-texts"),
    path("members/", members, name="operations-members"),
    path("members/enrol/", member_enrol, name="operations-member-enrol"),
    path("audit/", audit_log, name="operations-audit"),
    path("datasets/", datasets, name="operations-datasets"),
    path("datasets/<id:dataset_id>/", dataset_detail, name="operations-dataset"),
    path("datasets/<id:dataset_id>/freeze/", dataset_freeze, name="operations-dataset-freeze"),
    path("datasets/<id:dataset_id>/assets/", dataset_add_assets, name="operations-dataset-assets"),
]
