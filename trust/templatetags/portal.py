"""The one place the portal writes things: days, moments, periods, counts, money, statuses and
ids. Templates use these filters and tags (`{% load portal %}`); Python that writes the same
things for people (statements, chart labels) imports the plain functions from here, so a page,
a CSV header and a PDF never disagree.

- `{{ value|day }}`       3 Mar 2026
- `{{ value|moment }}`    3 Mar 2026, 14:05 UTC
- `{% period_range p %}`  1–31 Mar 2026 (inclusive: a period stored as [start, end) ends the
                          day before `end`); also a filter, `{{ p|period_range }}`
- `{{ n|count }}`         12,345
- `{{ cents|money }}`     123.45
- `{% status_badge s %}`  a badge reading "Active", "Deletion attested" (one capitalisation)
- `{{ lease|ref }}`       Lease #3; `{{ lease_id|ref:"Lease" }}` for an id alone
"""

from datetime import date, datetime, timedelta

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html

from trust import consent

register = template.Library()

# Empty values print as this, so a missing date never reads as a broken page.
NOTHING = ""


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


@register.filter
def day(value) -> str:
    """A calendar day: 3 Mar 2026. A datetime is read in the trust's time zone first."""
    if value in (None, ""):
        return NOTHING
    if isinstance(value, datetime):
        value = _local(value).date()
    return f"{value.day} {value:%b %Y}"


@register.filter
def moment(value) -> str:
    """A point in time: 3 Mar 2026, 14:05 UTC (the trust's time zone, named)."""
    if value in (None, ""):
        return NOTHING
    if not isinstance(value, datetime):
        return day(value)
    local = _local(value)
    zone = local.tzname() or settings.TIME_ZONE
    return f"{local.day} {local:%b %Y, %H:%M} {zone}"


def period_last_day(start: datetime, end: datetime) -> date:
    """The last calendar day a period covers: its end is exclusive."""
    end = _local(end)
    return (end - timedelta(microseconds=1)).date() if end > start else end.date()


def period_first_day(start: datetime) -> date:
    return _local(start).date()


def period_label(start: datetime, end: datetime) -> str:
    """A period as its inclusive range of days, as short as stays unambiguous:
    "1–31 Mar 2026", "3 Mar – 17 Apr 2026", "3 Dec 2025 – 17 Jan 2026"."""
    first, last = period_first_day(start), period_last_day(start, end)
    if first == last:
        return day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{day(first)} – {day(last)}"


def _period_bounds(period) -> tuple[datetime, datetime]:
    if isinstance(period, dict):
        return period["start"], period["end"]
    return period.start, period.end


@register.simple_tag(name="period_range")
def period_range_tag(period) -> str:
    """`{% period_range period %}` for a Period or a dict with `start` and `end`."""
    if not period:
        return NOTHING
    return period_label(*_period_bounds(period))


@register.filter(name="period_range")
def period_range_filter(period) -> str:
    return period_range_tag(period)


@register.filter
def count(value) -> str:
    """12345 -> "12,345"; whole numbers only (money goes through `money`)."""
    if value in (None, ""):
        return NOTHING
    return f"{int(value):,}"


@register.filter
def money(cents) -> str:
    """12345 -> "123.45": integer arithmetic, never a float near money."""
    if cents is None or cents == "":
        return NOTHING
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}"


def status_label(status) -> str:
    """deletion_attested -> "Deletion attested": one capitalisation for every status."""
    text = str(status).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:].lower()


@register.simple_tag
def status_badge(status, label=None) -> str:
    """A status as a badge: its colour from the status, its text "Active", "Deletion attested".
    `label` replaces the text where the model names a status better ("Waiting for upload")."""
    if status in (None, ""):
        return NOTHING
    text = status_label(label if label else status)
    css = str(status).replace(" ", "-").lower()
    return format_html('<span class="badge {}">{}</span>', css, text)


@register.filter
def ref(value, kind: str = "") -> str:
    """An object's reference as people say it: Lease #3, Period #12, Batch #4. Given a bare id,
    name its kind: `{{ row.lease_id|ref:"Lease" }}`."""
    if value in (None, ""):
        return NOTHING
    if kind:
        return f"{kind} #{value}"
    meta = getattr(value, "_meta", None)
    if meta is None:
        return f"#{value}"
    name = str(meta.verbose_name)
    if name.lower().startswith("payout "):  # PayoutBatch reads as "Batch #4"
        name = name[len("payout ") :]
    return f"{name[:1].upper()}{name[1:]} #{value.pk}"


@register.simple_tag
def currency() -> str:
    return settings.TRUST_CURRENCY


@register.filter
def percent_bps(bps) -> str:
    """1000 -> "10.00%"."""
    whole, part = divmod(int(bps), 100)
    return f"{whole}.{part:02d}%"


@register.filter
def use_label(use: str) -> str:
    return consent.use_label(use)


@register.filter
def kind_label(kind: str) -> str:
    return str(kind).replace("_", " ")


@register.simple_tag
def page_link(listing, number) -> str:
    """The link to page `number` of a `listing`, keeping its filters and sort."""
    return listing.querystring(page=number)


@register.simple_tag
def sort_header(listing, field: str, label: str):
    """A sortable column header: a link that sorts by `field`, then reverses on a second click,
    with `aria-sort` telling assistive technology the current order."""
    current = listing.sort
    if current == field:
        state, target = "ascending", f"-{field}"
    elif current == f"-{field}":
        state, target = "descending", field
    else:
        state, target = "", field
    aria = format_html(' aria-sort="{}"', state) if state else ""
    arrow = {"ascending": " ▲", "descending": " ▼"}.get(state, "")
    return format_html(
        '<th scope="col"{}><a class="sort" href="{}">{}<span aria-hidden="true">{}</span></a></th>',
        aria,
        listing.querystring(sort=target, page=None),
        label,
        arrow,
    )
