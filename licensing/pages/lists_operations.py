"""The filters, search and sort of the administrator's studio list (trust/lists.py)."""

import django_filters

from trust.lists import SearchFilter


class StudioFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["name", "staff__user__username"], label="Search studios")
    sort = django_filters.OrderingFilter(
        fields=(("name", "name"), ("created_at", "enrolled"), ("active_leases", "active")), label="Sort by"
    )
