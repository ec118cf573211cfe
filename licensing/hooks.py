"""Hooks that apps further down the line register, so licensing never imports them.

payouts registers a usage guard that refuses usage dated inside a closed period; the federated
leases (licensing.federated) register a lease-change hook that tells the other trusts of a
federated lease what this trust decided."""

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


# Called inside the transaction of a lease decision, with the lease as saved: "approved",
# "rejected", "cancelled", "revoked" or "expired". A hook may write (same transaction) and
# enqueue work after commit; it may refuse the decision by raising a DomainError.
LeaseHook = Callable[[object, str], None]
_lease_hooks: list[LeaseHook] = []


def register_lease_hook(hook: LeaseHook) -> None:
    if hook not in _lease_hooks:
        _lease_hooks.append(hook)


def lease_changed(lease, change: str) -> None:
    for hook in _lease_hooks:
        hook(lease, change)
