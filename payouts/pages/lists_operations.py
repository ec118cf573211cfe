"""The filters, search and sort of the administrator's payouts lists (trust/lists.py)."""

import django_filters

from trust.lists import SearchFilter

from ..selectors import Unpayable

STATUS_CHOICES = [
    ("payable", "Paid by the next batch"),
    (Unpayable.NO_BANK_DETAILS, "No bank details"),
    (Unpayable.UNTRACEABLE, "Untraceable"),
    (Unpayable.BELOW_MINIMUM, "Below the minimum"),
]


class MemberBalanceFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["member__member_number", "member__display_name"], label="Search members")
    status = django_filters.ChoiceFilter(
        label="Status", choices=STATUS_CHOICES, empty_label="Everyone owed", method="by_status"
    )
    sort = django_filters.OrderingFilter(
        fields=(("member_number", "member"), ("display_name", "name"), ("owed_cents", "owed")),
        label="Sort by",
    )

    def by_status(self, queryset, name, value):
        return queryset.filter(reason="" if value == "payable" else value)


class PayoutBatchFilter(django_filters.FilterSet):
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("total_cents", "total"), ("item_count", "payments")),
        label="Sort by",
    )


class PayoutItemFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["member__member_number", "account_name"], label="Search payments")
    sort = django_filters.OrderingFilter(
        fields=(("member__member_number", "member"), ("amount_cents", "amount")), label="Sort by"
    )
