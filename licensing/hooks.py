"""Hooks that apps further down the line register, so licensing never imports them.

payouts registers a usage guard that refuses usage dated inside a closed period."""

from collections.abc import Callable, Sequence
from datetime import datetime

UsageGuard = Callable[[Sequence[datetime]], None]
_usage_guards: list[UsageGuard] = []


def register_usage_guard(guard: UsageGuard) -> None:
    if guard not in _usage_guards:
        _usage_guards.append(guard)


def check_usage_allowed(occurred: Sequence[datetime]) -> None:
    """Each guard raises a DomainError to refuse usage dated at any of `occurred`. Called
    inside the transaction that records the usage, so a guard may take row locks."""
    if not occurred:
        return
    for guard in _usage_guards:
        guard(occurred)
