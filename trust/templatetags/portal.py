"""Filters the portal's templates share: money in cents, rates in basis points, use names."""

from django import template
from django.conf import settings
from django.utils.html import format_html

from trust import consent

register = template.Library()


@register.filter
def money(cents) -> str:
    """12345 -> "123.45": integer arithmetic, never a float near money."""
    if cents is None or cents == "":
        return ""
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}"


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


@register.filter
def count(number) -> str:
    """12345 -> "12,345": counts with thousands separators."""
    if number is None or number == "":
        return ""
    return f"{int(number):,}"


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
