"""The studio pages' lists: what each one searches, filters and sorts by (trust/lists.py)."""

import django_filters
from django.db.models import Exists, OuterRef, Subquery, TextField
from django.db.models.functions import Cast

from trust.consent import LICENSABLE_USES
from trust.lists import SearchFilter
from trust.models import Asset, DatasetVersion, DatasetVersionItem

from ..models import Lease, LeaseTerms, PeerOffer


def _kind_choices():
    return [(kind.value, kind.value.replace("_", " ").capitalize()) for kind in Asset.Kind]


class CatalogueFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["title", "dataset__title", "dataset__slug"], label="Search titles and datasets")
    use = django_filters.ChoiceFilter(
        label="Permitted use",
        choices=[(use.value, use.label) for use in LICENSABLE_USES],
        empty_label="Any use",
        method="filter_use",
    )
    kind = django_filters.ChoiceFilter(
        label="Asset kind", choices=_kind_choices(), empty_label="Any kind", method="filter_kind"
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[("title", "title"), ("flat_fee_cents", "price"), ("created_at", "newest")],
        field_labels={"title": "Title", "flat_fee_cents": "Flat fee", "created_at": "Oldest first"},
        empty_label="Title",
    )

    class Meta:
        model = LeaseTerms
        fields = []

    def filter_use(self, queryset, name, value):
        # The uses are a JSON list: match the quoted name in its text, on PostgreSQL and SQLite alike.
        return queryset.annotate(uses_text=Cast("permitted_uses", TextField())).filter(
            uses_text__contains=f'"{value}"'
        )

    def filter_kind(self, queryset, name, value):
        """Terms whose dataset's latest frozen version holds an asset of this kind."""
        latest = (
            DatasetVersion.objects.filter(dataset=OuterRef(OuterRef("dataset")))
            .order_by("-number")
            .values("number")[:1]
        )
        holds = DatasetVersionItem.objects.filter(
            version__dataset=OuterRef("dataset"), version__number=Subquery(latest), asset__kind=value
        )
        return queryset.filter(Exists(holds))


class PeerOfferFilter(django_filters.FilterSet):
    """The catalogue's search and filters (same parameters as CatalogueFilter), over the offers
    peers shared, as they described them."""

    q = SearchFilter(fields=["title", "offer__dataset__title", "offer__dataset__slug"], label="Search")
    use = django_filters.CharFilter(method="filter_use")
    kind = django_filters.CharFilter(method="filter_kind")

    class Meta:
        model = PeerOffer
        fields = []

    def filter_use(self, queryset, name, value):
        return queryset.annotate(uses_text=Cast("offer__permitted_uses", TextField())).filter(
            uses_text__contains=f'"{value}"'
        )

    def filter_kind(self, queryset, name, value):
        return queryset.filter(offer__dataset__kinds__has_key=value)


class StudioLeaseFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["terms__title", "terms__dataset__title", "purpose"], label="Search leases")
    status = django_filters.ChoiceFilter(
        label="Status", choices=Lease.Status.choices, empty_label="Any status"
    )
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=[
            ("pk", "lease"),
            ("terms__title", "terms"),
            ("status", "status"),
            ("requested_at", "requested"),
            ("starts_at", "starts"),
            ("ends_at", "ends"),
            ("open_takedowns", "takedowns"),
        ],
        empty_label="Newest request",
    )

    class Meta:
        model = Lease
        fields = []
