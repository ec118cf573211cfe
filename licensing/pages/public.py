"""The public transparency register: the same rows as GET /api/v1/transparency/leases/."""

import django_filters
from django.shortcuts import render
from django.urls import path

from trust.lists import SearchFilter, csv_response, portal_list, wants_csv
from trust.selectors import consent_statistics

from ..models import Lease
from ..selectors import register_model_entries, register_models, transparency_entries, transparency_leases

CSV_CHUNK = 1000
# The newest declared models the page shows; the API pages through them all.
MODELS_SHOWN = 20


class RegisterFilter(django_filters.FilterSet):
    q = SearchFilter(
        fields=["studio__name", "version__dataset__title", "version__dataset__slug", "purpose"],
        label="Search studios, datasets and purposes",
    )
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[(s.value, s.label) for s in Lease.APPROVED_STATUSES],
        empty_label="Any status",
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("studio__name", "studio"),
            ("version__dataset__title", "dataset"),
            ("status", "status"),
            ("starts_at", "from"),
            ("ends_at", "until"),
        ],
        empty_label="Newest first",
    )

    class Meta:
        model = Lease
        fields = []


def _csv_rows(leases):
    """The whole filtered register, read a chunk of leases at a time (two queries a chunk)."""
    ids = list(leases.values_list("pk", flat=True))
    for start in range(0, len(ids), CSV_CHUNK):
        chunk = ids[start : start + CSV_CHUNK]
        order = {pk: index for index, pk in enumerate(chunk)}
        rows = sorted(transparency_leases().filter(pk__in=chunk), key=lambda lease: order[lease.pk])
        for entry in transparency_entries(rows):
            yield [
                entry["lease"],
                entry["studio"],
                entry["dataset"],
                entry["version"],
                " ".join(entry["uses"]),
                entry["purpose"],
                entry["status"],
                entry["starts_at"].isoformat() if entry["starts_at"] else "",
                entry["ends_at"].isoformat() if entry["ends_at"] else "",
                entry["revoked_at"].isoformat() if entry["revoked_at"] else "",
                entry["member_count"],
                "; ".join(entry["listed_members"]),
            ]


def register(request):
    if wants_csv(request):
        leases = RegisterFilter(request.GET, queryset=transparency_leases()).qs
        header = [
            "lease",
            "studio",
            "dataset",
            "version",
            "uses",
            "purpose",
            "status",
            "from",
            "until",
            "revoked",
            "members",
            "named members",
        ]
        return csv_response("guildtrust-transparency-register.csv", header, _csv_rows(leases))
    listing = portal_list(request, transparency_leases(), RegisterFilter)
    return render(
        request,
        "licensing/public/transparency.html",
        {
            "listing": listing,
            "leases": transparency_entries(listing.rows),
            "consent_statistics": consent_statistics(),
            "models": register_model_entries(register_models()[:MODELS_SHOWN]),
            "models_total": register_models().count(),
        },
    )


urlpatterns = [path("", register, name="transparency")]
