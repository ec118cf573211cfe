"""The administrator's dataset pages' lists (trust/lists.py). A dataset's page shows two asset
lists, its draft and the candidates to add, each under its own prefix."""

import django_filters
from django.utils import timezone

from ..lists import SearchFilter
from ..models import LICENSABLE_USES, Asset, Dataset
from ..selectors import licensable_assets

ASSET_SEARCH = ["title", "contributors__member__display_name", "contributors__member__member_number"]


class DatasetFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["title", "slug", "description"], label="Search datasets")
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("title", "title"),
            ("slug", "slug"),
            ("draft_count", "draft"),
            ("latest_number", "version"),
            ("created_at", "created"),
        ],
        empty_label="Slug",
    )

    class Meta:
        model = Dataset
        fields = []


def _asset_sort(label: str):
    return django_filters.OrderingFilter(
        label=label,
        fields=[("title", "title"), ("kind", "kind"), ("created_at", "added")],
        empty_label="Title",
    )


class DraftAssetFilter(django_filters.FilterSet):
    q = SearchFilter(fields=ASSET_SEARCH, label="Search the draft")
    sort = _asset_sort("Sort the draft by")

    class Meta:
        model = Asset
        fields = []

    def filter_queryset(self, queryset):
        # A search over contributors joins one row per match: keep each asset once.
        return super().filter_queryset(queryset).distinct()


class CandidateAssetFilter(django_filters.FilterSet):
    """Which available assets to offer for adding: by title or contributor, kind, and consent
    for one use now."""

    q = SearchFilter(fields=ASSET_SEARCH, label="Search available assets")
    kind = django_filters.ChoiceFilter(label="Kind", choices=Asset.Kind.choices, empty_label="Any kind")
    use = django_filters.ChoiceFilter(
        label="Licensable now for",
        choices=[(use.value, use.label) for use in LICENSABLE_USES],
        empty_label="Any consent",
        method="filter_use",
    )
    sort = _asset_sort("Sort available assets by")

    class Meta:
        model = Asset
        fields = []

    def filter_use(self, queryset, name, value):
        return licensable_assets(assets=queryset, uses=[value], at=timezone.now())

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).distinct()
