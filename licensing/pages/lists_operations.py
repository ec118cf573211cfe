"""The administrator's lease and studio pages' lists: what each one searches, filters and sorts
by (trust/lists.py). The lease page shows three lists at once, each under its own prefix."""

import django_filters

from trust.lists import SearchFilter

from ..models import Lease, LeaseTerms

LEASE_SEARCH = ["studio__name", "terms__title", "terms__dataset__title", "terms__dataset__slug", "purpose"]


class WaitingLeaseFilter(django_filters.FilterSet):
    q = SearchFilter(fields=LEASE_SEARCH, label="Search requests")
    sort = django_filters.OrderingFilter(
        label="Sort requests by",
        fields=[("requested_at", "requested"), ("studio__name", "studio"), ("terms__title", "terms")],
        empty_label="Oldest first",
    )

    class Meta:
        model = Lease
        fields = []


class ActiveLeaseFilter(django_filters.FilterSet):
    q = SearchFilter(fields=LEASE_SEARCH, label="Search active leases")
    sort = django_filters.OrderingFilter(
        label="Sort active leases by",
        fields=[
            ("pk", "lease"),
            ("studio__name", "studio"),
            ("version__dataset__title", "dataset"),
            ("starts_at", "starts"),
            ("ends_at", "until"),
            ("open_takedowns", "takedowns"),
        ],
        empty_label="Soonest end",
    )

    class Meta:
        model = Lease
        fields = []


class ClosedLeaseFilter(django_filters.FilterSet):
    q = SearchFilter(fields=[*LEASE_SEARCH, "decision_reason"], label="Search closed leases")
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[
            (status.value, status.label)
            for status in (
                Lease.Status.EXPIRED,
                Lease.Status.REVOKED,
                Lease.Status.REJECTED,
                Lease.Status.CANCELLED,
            )
        ],
        empty_label="Any status",
    )
    sort = django_filters.OrderingFilter(
        label="Sort closed leases by",
        fields=[
            ("pk", "lease"),
            ("studio__name", "studio"),
            ("terms__dataset__title", "dataset"),
            ("status", "status"),
            ("closed_at", "closed"),
            ("open_takedowns", "takedowns"),
        ],
        empty_label="Most recently closed",
    )

    class Meta:
        model = Lease
        fields = []


class TermsFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["title", "dataset__title", "dataset__slug"], label="Search terms and datasets")
    offered = django_filters.ChoiceFilter(
        label="In the catalogue",
        choices=[("yes", "Offered"), ("no", "Withdrawn")],
        empty_label="Offered or not",
        method="filter_offered",
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("title", "title"),
            ("duration_days", "duration"),
            ("flat_fee_cents", "fee"),
            ("lease_count", "leases"),
            ("active", "offered"),
        ],
        empty_label="Offered first",
    )

    class Meta:
        model = LeaseTerms
        fields = []

    def filter_offered(self, queryset, name, value):
        return queryset.filter(active=value == "yes")


class StudioFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["name", "staff__user__username"], label="Search studios")
    sort = django_filters.OrderingFilter(
        fields=(("name", "name"), ("created_at", "enrolled"), ("active_leases", "active")), label="Sort by"
    )
