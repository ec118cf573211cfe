"""The shared portal-list mechanism: search, sort, pages, CSV, and formula-safe cells."""

import csv
import io

import django_filters
import pytest
from django.template import Context, Template
from django.test import RequestFactory

from tests import factories
from trust.csv_export import csv_text, safe_cell
from trust.lists import SearchFilter, csv_response, portal_list, wants_csv
from trust.models import Member


class MemberFilter(django_filters.FilterSet):
    q = SearchFilter(fields=["member_number", "display_name"])
    sort = django_filters.OrderingFilter(fields=(("member_number", "number"), ("display_name", "name")))

    class Meta:
        model = Member
        fields = []


@pytest.fixture
def members(db):
    names = ["Alex", "Bea", "Cyd", "Dee", "Eli"]
    return [
        factories.MemberFactory(member_number=f"M-{n:05d}", display_name=f"{names[n % 5]} {n}")
        for n in range(1, 13)
    ]


def listing_for(query: str, per_page: int = 5):
    request = RequestFactory().get("/list/" + query)
    return portal_list(request, Member.objects.order_by("member_number"), MemberFilter, per_page=per_page)


def test_search_matches_any_listed_column(members):
    by_name = listing_for("?q=bea")
    assert [m.display_name for m in by_name.rows] == ["Bea 1", "Bea 6", "Bea 11"]
    assert by_name.total == 3 and by_name.filtered
    assert [m.member_number for m in listing_for("?q=M-00012").rows] == ["M-00012"]


class MemberAndLoginFilter(django_filters.FilterSet):
    q = SearchFilter(
        fields=["member_number", "display_name", "user__username", "user__email"], count_by_table=True
    )
    bank = django_filters.CharFilter(method="by_bank")

    class Meta:
        model = Member
        fields = []

    def by_bank(self, queryset, name, value):
        return queryset.filter(payout_iban=value)


def test_a_search_across_two_tables_counts_a_row_matching_both_once(members):
    members[0].user.username, members[0].user.email = "stagehand", "bea@example.org"
    members[0].user.save()
    Member.objects.filter(pk=members[5].pk).update(payout_iban="DE89370400440532013000")

    def listing(query):
        request = RequestFactory().get("/list/" + query)
        return portal_list(
            request, Member.objects.order_by("member_number"), MemberAndLoginFilter, per_page=2
        )

    # Bea 1 matches by name and by email.
    by_name = listing("?q=bea")
    assert by_name.total == 3 and [m.display_name for m in by_name.rows] == ["Bea 1", "Bea 6"]
    assert [m.member_number for m in listing("?q=stageh").rows] == ["M-00001"]
    assert listing("?q=bea&bank=DE89370400440532013000").total == 1  # the other filters count too


def test_a_known_total_is_used_only_while_nothing_filters_the_list(members, django_assert_num_queries):
    def listing(query):
        request = RequestFactory().get("/list/" + query)
        queryset = Member.objects.order_by("member_number")
        return portal_list(request, queryset, MemberFilter, per_page=5, unfiltered_total=12)

    with django_assert_num_queries(1):  # the page's rows, not a count
        unfiltered = listing("?sort=-number&page=2")
        assert unfiltered.total == 12 and len(unfiltered.rows) == 5
    assert listing("?q=bea").total == 3


def test_sort_orders_and_reverses(members):
    descending = listing_for("?sort=-number")
    assert descending.rows[0].member_number == "M-00012"
    assert listing_for("?sort=name").rows[0].display_name.startswith("Alex")


def test_pages_keep_filters_and_a_page_past_the_end_shows_the_last(members):
    first = listing_for("?sort=-number")
    assert first.total == 12 and first.page.paginator.num_pages == 3
    assert first.querystring(page=2) == "?sort=-number&page=2"
    last = listing_for("?sort=-number&page=99")
    assert last.page.number == 3 and [m.member_number for m in last.rows] == ["M-00002", "M-00001"]
    assert [number for number, _ in first.page_links()] == [1, 2, 3]


def test_a_bad_filter_value_is_ignored_not_a_server_error(members):
    listing = listing_for("?sort=nonsense&q=alex")
    assert listing.total == 2  # the search still applies, the unknown sort does not
    assert listing.filterset.form.errors


def test_csv_link_keeps_the_filters_and_asks_for_the_whole_list(members):
    listing = listing_for("?q=bea&page=2")
    assert listing.csv_url == "?q=bea&format=csv"
    assert wants_csv(RequestFactory().get("/list/?format=csv"))
    assert not wants_csv(RequestFactory().get("/list/"))


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-12.50", "42", "0.05", "Alex", "", None])
def test_numbers_and_plain_text_stay_as_they_are(value):
    assert safe_cell(value) == ("" if value is None else value)


def test_csv_response_streams_every_row_neutralised():
    response = csv_response("people.csv", ["name", "owed"], iter([["=cmd()", "-1.00"], ["Bea", "2.50"]]))
    assert response["Content-Disposition"] == 'attachment; filename="people.csv"'
    text = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(text))) == [["name", "owed"], ["'=cmd()", "-1.00"], ["Bea", "2.50"]]
    assert text == csv_text(["name", "owed"], [["=cmd()", "-1.00"], ["Bea", "2.50"]])


def test_templates_render_search_sort_headers_and_pager(members):
    listing = listing_for("?sort=number&page=2")
    html = Template(
        "{% load portal %}"
        "{% include 'portal/_list_controls.html' with search_label='Search members' csv=True %}"
        "<table><tr>{% sort_header listing 'number' 'Number' %}{% sort_header listing 'name' 'Name' %}"
        "</tr></table>{% include 'portal/_pager.html' %}"
    ).render(Context({"listing": listing}))
    assert "Search members" in html
    assert 'aria-sort="ascending"' in html and "?sort=-number" in html  # a second click reverses
    assert "?sort=name" in html
    assert "Showing 6–10 of 12" in html
    assert 'aria-current="page"' in html and ">2</a>" in html
    assert 'href="?sort=number&amp;format=csv"' in html
