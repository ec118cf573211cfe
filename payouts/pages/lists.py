"""The money pages' lists: what each one searches, filters and sorts by (trust/lists.py)."""

import django_filters

from licensing.models import Lease
from trust.lists import SearchFilter
from trust.templatetags.portal import period_label

from ..models import LeaseRevenue, Period


def closed_period_choices() -> list[tuple[int, str]]:
    """Every closed period, newest first, by its name: a filter's choices, read when the form is."""
    return [
        (pk, period_label(start, end))
        for pk, start, end in Period.objects.filter(status=Period.Status.CLOSED)
        .order_by("-start")
        .values_list("pk", "start", "end")
    ]


class StudioChargeFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["lease__terms__title", "dataset", "dataset_title"], label="Search charges")
    period = django_filters.ChoiceFilter(
        field_name="period_id",
        label="Period",
        choices=closed_period_choices,
        empty_label="Any period",
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("start", "period"),
            ("lease_id", "lease"),
            ("dataset_title", "dataset"),
            ("flat_fee_cents", "flat_fee"),
            ("usage_cents", "usage"),
            ("total_cents", "total"),
        ],
        empty_label="Newest period",
    )

    class Meta:
        model = LeaseRevenue
        fields = []


class PeriodFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        label="Status", choices=Period.Status.choices, empty_label="Any status"
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("start", "start"),
            ("status", "status"),
            ("revenue_cents", "revenue"),
            ("net_cents", "net"),
            ("leases_total", "leases"),
        ],
        empty_label="Newest first",
    )

    class Meta:
        model = Period
        fields = []


class MemberLeaseFilter(django_filters.FilterSet):
    q = SearchFilter(
        fields=["studio__name", "version__dataset__slug", "version__dataset__title", "purpose"],
        label="Search studios and datasets",
    )
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")],
        empty_label="Any status",
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("studio__name", "studio"),
            ("dataset_title", "dataset"),
            ("status", "status"),
            ("starts_at", "starts"),
            ("net_cents", "net"),
            ("downloads_of_my_assets", "downloads"),
        ],
        empty_label="Newest first",
    )

    class Meta:
        model = Lease
        fields = []


class StatementFilter(django_filters.FilterSet):
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("start", "period"),
            ("member_net_cents", "net"),
            ("member_pension_cents", "pension"),
            ("member_admin_fee_cents", "admin_fee"),
            ("member_revenue_cents", "revenue"),
        ],
        empty_label="Newest first",
    )

    class Meta:
        model = Period
        fields = []
