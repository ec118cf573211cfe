"""The portal's one way to write days, moments, periods, counts, statuses and ids."""

from datetime import UTC, date, datetime

import pytest
from django.template import Context, Template

from licensing.models import Lease
from trust.templatetags.portal import count, day, moment, period_label, ref, status_badge, status_label


def render(source: str, **context) -> str:
    return Template("{% load portal %}" + source).render(Context(context))


def test_a_day_is_written_day_month_year():
    assert day(date(2026, 3, 3)) == "3 Mar 2026"
    assert day(datetime(2026, 3, 3, 23, 59, tzinfo=UTC)) == "3 Mar 2026"
    assert day(None) == ""


def test_a_moment_names_its_time_zone():
    assert moment(datetime(2026, 3, 3, 14, 5, tzinfo=UTC)) == "3 Mar 2026, 14:05 UTC"
    assert moment(None) == ""


def test_a_period_shows_its_last_day_not_its_exclusive_end():
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    assert period_label(start, end) == "1–31 Mar 2026"
    assert render("{% period_range p %}|{{ p|period_range }}", p={"start": start, "end": end}) == (
        "1–31 Mar 2026|1–31 Mar 2026"
    )
    assert period_label(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)) == "3 Mar 2026"


def test_counts_have_thousands_separators():
    assert count(1234567) == "1,234,567"
    assert count(0) == "0"
    assert render("{{ n|count }}", n=12000) == "12,000"


@pytest.mark.parametrize(
    ("status", "text"),
    [("active", "Active"), ("deletion_attested", "Deletion attested"), ("REVOKED", "Revoked")],
)
def test_statuses_have_one_capitalisation(status, text):
    assert status_label(status) == text
    assert status_badge(status) == f'<span class="badge {status.lower()}">{text}</span>'


def test_a_status_badge_escapes_and_may_carry_the_models_label():
    html = render("{% status_badge s 'Waiting for upload' %}", s="pending")
    assert html == '<span class="badge pending">Waiting for upload</span>'
    assert "<script>" not in render("{% status_badge s %}", s="<script>")


def test_ids_are_written_as_kind_and_number():
    assert ref(Lease(pk=3)) == "Lease #3"
    assert ref(12, "Period") == "Period #12"
    assert render('{{ id|ref:"Batch" }}', id=4) == "Batch #4"
