"""One pagination for every API list: `?page=2&page_size=100` answers
`{count, next, previous, results}`. Pages hold 50 rows unless asked otherwise, at most 500; a
larger or malformed `page_size` is a 400 `bad_page_size` (never silently clamped, so a client
learns the limit), a page past the end a 404 `page_not_found`."""

from django.core.paginator import InvalidPage
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import APIView

from trust.errors import Invalid, NotFound

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class BadPageSize(Invalid):
    status = 400
    code = "bad_page_size"


class PagePagination(PageNumberPagination):
    page_size = PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise BadPageSize(f"page_size must be a whole number from 1 to {self.max_page_size}")
        return size

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        number = request.query_params.get(self.page_query_param) or 1
        try:
            self.page = paginator.page(number)
        except InvalidPage as error:
            raise NotFound(f"no page {number}: {error}", code="page_not_found") from error
        return list(self.page)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Rows per page, {PAGE_SIZE} unless given, at most {MAX_PAGE_SIZE} (more is a 400)."
                )
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class PagedAPIView(APIView):
    """An APIView whose GET answers one page of a list; the schema shows the paginated shape."""

    pagination_class = PagePagination

    def paged(self, rows, serializer_class, *, prepare=None):
        """One page of `rows` (a queryset or a list), serialised; `prepare(page_rows)` adds what
        only the shown rows need (summaries, counts) in a query or two for the whole page."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, self.request, view=self)
        if prepare is not None:
            page = prepare(page)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)
