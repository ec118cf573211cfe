"""The filters, search and sort of the administrator's member, audit-log and dataset lists
(trust/lists.py). A dataset's page shows two asset lists, its draft and the candidates to add,
each under its own prefix."""

from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.apps import apps
from django.utils import timezone

from ..consent import LICENSABLE_USES
from ..lists import SearchFilter
from ..models import Asset, Dataset
from ..selectors import licensable_assets


class DateInput(forms.DateInput):
    input_type = "date"


class MemberFilter(django_filters.FilterSet):
    q = SearchFilter(
        fields=["member_number", "display_name", "user__username", "user__email"],
        label="Search members",
        count_by_table=True,
    )
    bank = django_filters.ChoiceFilter(
        label="Bank details",
        choices=[("yes", "Given"), ("no", "Missing")],
        empty_label="Any",
        method="by_bank_details",
    )
    sort = django_filters.OrderingFilter(
        fields=(("member_number", "number"), ("display_name", "name"), ("created_at", "enrolled")),
        label="Sort by",
    )

    def by_bank_details(self, queryset, name, value):
        return queryset.filter(has_bank_details=value == "yes")


def subject_type_choices() -> list[tuple[str, str]]:
    """Every model of the trust's own apps, as the audit log names its subjects."""
    labels = [
        model._meta.label_lower
        for app in ("trust", "licensing", "payouts")
        for model in apps.get_app_config(app).get_models()
    ]
    return [(label, label) for label in sorted(labels)]


class AuditFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["action", "subject_id", "actor_label"], label="Search the log")
    action = django_filters.CharFilter(
        lookup_expr="startswith",
        label="Action",
        help_text="The start of an action, e.g. lease. or lease.approved",
    )
    subject_type = django_filters.ChoiceFilter(
        label="Subject", empty_label="Any subject", choices=subject_type_choices
    )
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="icontains", label="Actor")
    since = django_filters.DateFilter(label="From", widget=DateInput, method="from_day")
    until = django_filters.DateFilter(label="To", widget=DateInput, method="to_day")
    sort = django_filters.OrderingFilter(fields=(("seq", "seq"),), label="Sort by")

    # Whole days as a range of times, so the filter can use the index on created_at.
    def from_day(self, queryset, name, value):
        return queryset.filter(created_at__gte=_midnight(value))

    def to_day(self, queryset, name, value):
        return queryset.filter(created_at__lt=_midnight(value + timedelta(days=1)))


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


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
