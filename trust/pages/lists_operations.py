"""The filters, search and sort of the administrator's member and audit-log lists
(trust/lists.py)."""

from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.apps import apps
from django.utils import timezone

from ..lists import SearchFilter


class DateInput(forms.DateInput):
    input_type = "date"


class MemberFilter(django_filters.FilterSet):
    q = SearchFilter(
        fields=["member_number", "display_name", "user__username", "user__email"], label="Search members"
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
