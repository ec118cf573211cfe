"""Filters the portal's templates share: money in cents, rates in basis points, use names."""

from django import template
from django.conf import settings

from trust.models import Use

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
    try:
        return Use(use).label
    except ValueError:
        return use


@register.filter
def kind_label(kind: str) -> str:
    return str(kind).replace("_", " ")
