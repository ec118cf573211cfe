"""Hooks that apps further down the line register, so licensing never imports them.

payouts registers a usage guard that refuses usage dated inside a closed period; the federated
leases (licensing.federated) register a lease-change hook that tells the other trusts of a
federated lease what this trust decided."""

from collections.abc import Callable, Sequence
from datetime import datetime

UsageGuard = Callable[[Sequence[datetime]], None]
_usage_guards: list[UsageGuard] = []
# Per guard, the same rule as one SQL query for a single moment (PostgreSQL), or None.
_usage_guard_sql: dict[UsageGuard, str | None] = {}


def register_usage_guard(guard: UsageGuard, *, sql: str | None = None) -> None:
    """`guard` refuses usage by raising. `sql`, when given, is its rule for one moment as a
    query the gateway folds into its one statement: it selects one boolean per row it reads,
    true where usage at the moment `%(at)s` is refused, and may lock those rows (FOR SHARE) as
    the guard does. The gateway calls `guard` itself whenever the query refuses, for its error."""
    if guard not in _usage_guards:
        _usage_guards.append(guard)
    _usage_guard_sql[guard] = sql


def usage_guard_queries() -> list[str] | None:
    """Every guard's query for one moment, or None when some guard has none (then the caller
    must call `check_usage_allowed`)."""
    queries = [_usage_guard_sql.get(guard) for guard in _usage_guards]
    return None if None in queries else queries


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


# Called inside the transaction that issued takedown notices or moved them on (acknowledged,
# attested), with the notices as saved. The federated leases relay them between the trust that
# issued a notice and the lease's home trust, where the studio is.
TakedownHook = Callable[[Sequence[object]], None]
_takedown_hooks: list[TakedownHook] = []


def register_takedown_hook(hook: TakedownHook) -> None:
    if hook not in _takedown_hooks:
        _takedown_hooks.append(hook)


def takedowns_changed(takedowns: Sequence[object]) -> None:
    if not takedowns:
        return
    for hook in _takedown_hooks:
        hook(takedowns)
