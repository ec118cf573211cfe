"""Portal lists: one way to search, filter, sort, paginate and export a list.

A page declares a django-filter `FilterSet` (its search filter named `q`, its `OrderingFilter`
named `sort`), hands it a queryset, and renders `listing` with the shared includes
(`portal/_list_controls.html`, `portal/_pager.html`, the `sort_header` tag). The same filtered
queryset feeds the CSV export, so a download holds the whole list the page pages through.

Two lists on one page each take a `prefix` ("waiting", "closed"): their parameters are then
`waiting-q`, `waiting-sort`, `waiting-page`, so one list's search, sort and page never move the
other, and each keeps the other's parameters in its links."""

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import django_filters
from django.core.exceptions import FieldError
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from .csv_export import csv_response, safe_cell

__all__ = [
    "Listing",
    "SearchFilter",
    "csv_response",
    "filtered_rows",
    "portal_list",
    "safe_cell",
    "wants_csv",
]

PAGE_SIZE = 50


def wants_csv(request, prefix: str = "") -> bool:
    """True when the request asks for the CSV of the list with this prefix (none: the page's only list)."""
    return request.GET.get("format") == "csv" and request.GET.get("list", "") == prefix


class SearchFilter(django_filters.CharFilter):
    """A search box over several columns: rows where any of `fields` contains the text."""

    def __init__(
        self, *, fields: Sequence[str], label: str = "Search", count_by_table: bool = False, **kwargs
    ):
        """`count_by_table`: count the matches table by table (see `count`), for a list whose
        tables are large (members and their logins); a few thousand rows count quicker joined."""
        super().__init__(label=label, **kwargs)
        self.search_fields = list(fields)
        self.count_by_table = count_by_table

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        value = (value or "").strip()
        if not value:
            return qs
        match = Q()
        for field in self.search_fields:
            match |= Q(**{f"{field}__icontains": value})
        return qs.filter(match)

    def count(self, searched: QuerySet, value: str) -> int:
        """How many rows `searched` (a queryset this filter searched for `value`) holds. Across
        the columns of two joined tables the OR can only be checked on every row of their join;
        the rows are then counted among the ids each table matches on its own (its trigram
        indexes), UNIONed. The page itself keeps the OR: walking the sort's index to a page's
        first 50 matches is quicker than gathering every match."""
        tables: dict[str, Q] = {}
        for field in self.search_fields:
            table = field.rpartition("__")[0]
            tables[table] = tables.get(table, Q()) | Q(**{f"{field}__icontains": value})
        if len(tables) == 1 or not self.count_by_table:
            return searched.count()
        base = searched.model._base_manager
        try:
            matches = [base.filter(match).order_by().values("pk") for match in tables.values()]
        except FieldError:  # a field the list annotates, not a column: the plain count
            return searched.count()
        return searched.filter(pk__in=matches[0].union(*matches[1:])).count()


@dataclass
class Listing:
    """One page of a filtered, sorted list, and what its controls need to link elsewhere."""

    filterset: django_filters.FilterSet
    page: Page
    params: dict[str, str]
    prefix: str = ""

    def key(self, name: str) -> str:
        """The query parameter of this list's `name` (`sort` -> `closed-sort` with a prefix)."""
        return f"{self.prefix}-{name}" if self.prefix else name

    def _own(self, key: str) -> bool:
        return key.startswith(f"{self.prefix}-") if self.prefix else True

    @property
    def rows(self) -> list:
        return self.page.object_list

    @property
    def total(self) -> int:
        return self.page.paginator.count

    @property
    def sort(self) -> str:
        return self.params.get(self.key("sort"), "")

    @property
    def filtered(self) -> bool:
        ignored = (self.key("sort"), self.key("page"))
        return any(value for key, value in self.params.items() if self._own(key) and key not in ignored)

    def _encode(self, params: dict) -> str:
        kept = {key: value for key, value in params.items() if value not in (None, "")}
        return "?" + urlencode(kept) if kept else "?"

    def querystring(self, **changes) -> str:
        """The current filters and sort with `changes` to this list's parameters applied (None
        removes one), as `?...`; other lists' parameters on the page are kept."""
        return self._encode({**self.params, **{self.key(name): value for name, value in changes.items()}})

    @property
    def csv_url(self) -> str:
        params = {key: value for key, value in self.params.items() if self._own(key)}
        params.pop(self.key("page"), None)
        return self._encode({**params, "format": "csv", "list": self.prefix})

    @property
    def clear_url(self) -> str:
        """This list without its search and filters (its sort and other lists' parameters kept)."""
        sort = self.key("sort")
        kept = {key: value for key, value in self.params.items() if not self._own(key) or key == sort}
        return self._encode(kept)

    @property
    def other_params(self) -> list[tuple[str, str]]:
        """Other lists' parameters, for hidden fields so this list's form does not drop them."""
        return [(key, value) for key, value in self.params.items() if not self._own(key) and value]

    def page_links(self) -> list[tuple[int | None, str]]:
        """(number, link) for the pager; None stands for an elided run of pages."""
        numbers = self.page.paginator.get_elided_page_range(self.page.number, on_each_side=1, on_ends=1)
        return [
            (number, self.querystring(page=number)) if isinstance(number, int) else (None, "")
            for number in numbers
        ]


def filtered_queryset(
    request, queryset: QuerySet, filterset_class, *, prefix: str = ""
) -> tuple[QuerySet, object]:
    """The queryset with the request's filters and sort applied; bad filter values are ignored
    (the form shows their errors) rather than failing the page."""
    filterset = filterset_class(
        request.GET or None, queryset=queryset, request=request, prefix=prefix or None
    )
    sort = filterset.form.fields.get("sort")
    if sort is not None and sort.choices and sort.choices[0][0] == "":
        sort.choices = [("", "Default order"), *sort.choices[1:]]
    if filterset.is_bound and not filterset.is_valid():
        # Apply only the filters whose values parsed; the form shows errors for the rest.
        qs = queryset
        for name, value in filterset.form.cleaned_data.items():
            qs = filterset.filters[name].filter(qs, value)
        return qs, filterset
    return filterset.qs, filterset


def portal_list(
    request,
    queryset: QuerySet,
    filterset_class,
    *,
    per_page: int = PAGE_SIZE,
    prefix: str = "",
    unfiltered_total: int | None = None,
) -> Listing:
    """A page of the filtered, sorted list. A page number past the end shows the last page.
    `unfiltered_total`: the whole list's length when the page has it already (from an aggregate
    it shows anyway), used while nothing filters the list instead of counting every row again."""
    qs, filterset = filtered_queryset(request, queryset, filterset_class, prefix=prefix)
    page_key = f"{prefix}-page" if prefix else "page"
    params = {key: value for key, value in request.GET.items() if key not in ("format", "list")}
    paginator = Paginator(qs, per_page)
    unfiltered = Listing(filterset=filterset, page=None, params=params, prefix=prefix)
    search = filterset.filters.get("q")
    searched_for = (getattr(filterset.form, "cleaned_data", None) or {}).get("q", "").strip()
    # `count` is a cached_property of the paginator: once set, the paginator never counts.
    if unfiltered_total is not None and not unfiltered.filtered:
        paginator.count = unfiltered_total
    elif isinstance(search, SearchFilter) and searched_for:
        paginator.count = search.count(qs, searched_for)
    page = paginator.get_page(request.GET.get(page_key))
    return Listing(filterset=filterset, page=page, params=params, prefix=prefix)


def filtered_rows(request, queryset: QuerySet, filterset_class, *, prefix: str = "") -> QuerySet:
    """The whole filtered, sorted list (for its CSV), with the same filters as the page."""
    return filtered_queryset(request, queryset, filterset_class, prefix=prefix)[0]
