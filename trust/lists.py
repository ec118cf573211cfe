"""Portal lists: one way to search, filter, sort, paginate and export a list.

A page declares a django-filter `FilterSet` (its search filter named `q`, its `OrderingFilter`
named `sort`), hands it a queryset, and renders `listing` with the shared includes
(`portal/_list_controls.html`, `portal/_pager.html`, the `sort_header` tag). The same filtered
queryset feeds the CSV export, so a download holds the whole list the page pages through."""

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import django_filters
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from .csv_export import csv_response, safe_cell

__all__ = ["Listing", "SearchFilter", "csv_response", "portal_list", "safe_cell", "wants_csv"]

PAGE_SIZE = 50


def wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


class SearchFilter(django_filters.CharFilter):
    """A search box over several columns: rows where any of `fields` contains the text."""

    def __init__(self, *, fields: Sequence[str], label: str = "Search", **kwargs):
        super().__init__(label=label, **kwargs)
        self.search_fields = list(fields)

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        value = (value or "").strip()
        if not value:
            return qs
        match = Q()
        for field in self.search_fields:
            match |= Q(**{f"{field}__icontains": value})
        return qs.filter(match)


@dataclass
class Listing:
    """One page of a filtered, sorted list, and what its controls need to link elsewhere."""

    filterset: django_filters.FilterSet
    page: Page
    params: dict[str, str]

    @property
    def rows(self) -> list:
        return self.page.object_list

    @property
    def total(self) -> int:
        return self.page.paginator.count

    @property
    def sort(self) -> str:
        return self.params.get("sort", "")

    @property
    def filtered(self) -> bool:
        return any(value for key, value in self.params.items() if key not in ("sort", "page"))

    def querystring(self, **changes) -> str:
        """The current filters and sort with `changes` applied (None removes a key), as `?...`."""
        params = {**self.params, **{key: value for key, value in changes.items()}}
        kept = {key: value for key, value in params.items() if value not in (None, "")}
        return "?" + urlencode(kept) if kept else "?"

    @property
    def csv_url(self) -> str:
        return self.querystring(page=None, format="csv")

    def page_links(self) -> list[tuple[int | None, str]]:
        """(number, link) for the pager; None stands for an elided run of pages."""
        numbers = self.page.paginator.get_elided_page_range(self.page.number, on_each_side=1, on_ends=1)
        return [
            (number, self.querystring(page=number)) if isinstance(number, int) else (None, "")
            for number in numbers
        ]


def filtered_queryset(request, queryset: QuerySet, filterset_class) -> tuple[QuerySet, object]:
    """The queryset with the request's filters and sort applied; bad filter values are ignored
    (the form shows their errors) rather than failing the page."""
    filterset = filterset_class(request.GET or None, queryset=queryset, request=request)
    if filterset.is_bound and not filterset.is_valid():
        # Apply only the filters whose values parsed; the form shows errors for the rest.
        qs = queryset
        for name, value in filterset.form.cleaned_data.items():
            qs = filterset.filters[name].filter(qs, value)
        return qs, filterset
    return filterset.qs, filterset


def portal_list(request, queryset: QuerySet, filterset_class, *, per_page: int = PAGE_SIZE) -> Listing:
    """A page of the filtered, sorted list. A page number past the end shows the last page."""
    qs, filterset = filtered_queryset(request, queryset, filterset_class)
    page = Paginator(qs, per_page).get_page(request.GET.get("page"))
    params = {key: value for key, value in request.GET.items() if key != "format"}
    return Listing(filterset=filterset, page=page, params=params)
