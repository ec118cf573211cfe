"""The administrator's dataset pages: curate assets into datasets and freeze numbered
versions. They call the same services and selectors as the datasets API."""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..consent import LICENSABLE_USES
from ..models import Asset, Dataset
from ..portal import admin_required, perform
from .forms_operations import AssetFilterForm, DatasetForm

# More candidates than this on one page are not curated by eye: the filters narrow them.
CANDIDATES_SHOWN = 200


@admin_required
def datasets(request):
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dataset = perform(
            request,
            lambda: services.dataset_create(actor=request.user, **form.cleaned_data),
            success="Dataset created: add assets to its draft, then freeze a version.",
        )
        if dataset is not None:
            return redirect("operations-dataset", dataset_id=dataset.pk)
    return render(
        request, "trust/operations/datasets.html", {"form": form, "datasets": selectors.datasets_overview()}
    )


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
    draft = list(selectors.dataset_draft_assets(dataset))
    filter_form = AssetFilterForm(request.GET or None)
    candidates = selectors.assets_addable_to(dataset, **filter_form.filters(), at=now)
    context = {
        "dataset": dataset,
        "draft": draft,
        "versions": versions,
        "latest": latest,
        "coverage": _coverage(dataset, latest, now),
        "filter_form": filter_form,
        "filters": filter_form.filters(),
        "candidates": candidates[:CANDIDATES_SHOWN],
        "candidate_count": candidates.count(),
        "candidates_shown": CANDIDATES_SHOWN,
    }
    return render(request, "trust/operations/dataset.html", context)


@admin_required
@require_POST
def dataset_freeze(request, dataset_id):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    perform(
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
        perform(
            request,
            lambda: services.dataset_add_assets(actor=request.user, dataset=dataset, asset_ids=asset_ids),
            success=lambda added: (
                f"{added} asset{pluralize(added)} added to the draft; freeze a version to offer them."
            ),
        )
    # Back to the same filtered list, so the next batch can be picked from it.
    kept = {key: request.POST[key] for key in ("kind", "use") if request.POST.get(key)}
    url = reverse("operations-dataset", kwargs={"dataset_id": dataset.pk})
    return redirect(f"{url}?{urlencode(kept)}#add-assets" if kept else f"{url}#add-assets")


urlpatterns = [
    path("datasets/", datasets, name="operations-datasets"),
    path("datasets/<id:dataset_id>/", dataset_detail, name="operations-dataset"),
    path("datasets/<id:dataset_id>/freeze/", dataset_freeze, name="operations-dataset-freeze"),
    path("datasets/<id:dataset_id>/assets/", dataset_add_assets, name="operations-dataset-assets"),
]
