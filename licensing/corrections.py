"""Corrections of recorded usage: compensating events that reference the event they correct,
never rewrites (issue 13 item 2).

A correction names the event it corrects (`corrects`: a usage event of the same lease, or an
earlier correction of one) and a signed quantity: a correction of a usage event is negative; a
correction of a correction has the opposite sign of the one it corrects (it undoes some of it).
Every event of a chain keeps its net quantity (its own plus its corrections' nets) between
zero and its own quantity, so no original ever nets below zero.

Where the money goes depends on the original's period when the correction is recorded: still
open (or not created yet), the correction is metered with it (`in_place`); otherwise it is an
adjustment that the close of a later period prices (payouts.corrections), and the closed
period's figures never change.

Refused, nothing written: an unknown event or another lease's event (the same 422, so no lease
learns another's keys), a wrong sign, a correction that would take a net below zero, a
download the gateway metered when the studio corrects it (the trust's own meter: only an
administrator corrects it), and any event of a federated lease (its parts' trusts meter and
settle their own usage: correct it there)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from trust import audit
from trust.errors import Conflict, Forbidden, Invalid
from trust.services import require_trust_admin

from . import hooks
from .models import Lease, LeasePart, UsageCorrection, UsageEvent, UsageEventKey

REASON_CHARS = 500


@dataclass
class _Node:
    """An event of a correction chain: its own quantity, what it corrects, and its net."""

    quantity: int
    parent: str | None
    net: int = 0
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Original:
    key: str
    kind: str
    asset_id: object
    quantity: int
    occurred_at: datetime
    source: str


def _in_range(node: _Node) -> bool:
    return min(0, node.quantity) <= node.net <= max(0, node.quantity)


def _originals(lease: Lease, keys: set[str]) -> dict[str, _Original]:
    """The lease's usage events with these keys (one query: the lease's index, then the keys)."""
    if not keys:
        return {}
    rows = UsageEvent.objects.filter(lease=lease, event_key__in=keys).values_list(
        "event_key", "kind", "asset_id", "quantity", "occurred_at", "source"
    )
    return {row[0]: _Original(*row) for row in rows}


def _lock_chains(lease: Lease, original_keys: set[str]) -> None:
    """Hold the chains' roots (their UsageEventKey rows, a plain table) FOR UPDATE, in key
    order: two corrections of one event never both pass the net check."""
    if original_keys and connection.vendor == "postgresql":
        list(
            UsageEventKey.objects.select_for_update()
            .filter(lease=lease, event_key__in=sorted(original_keys))
            .order_by("event_key")
            .values_list("pk", flat=True)
        )


def _period_open_at(moments: set[datetime]) -> dict[datetime, bool]:
    """moment -> whether usage dated then may still be recorded (its period is open or does
    not exist yet), by the usage guards payouts registers, which lock the periods FOR SHARE so
    a close waits for this transaction. One call when every period is open."""
    try:
        hooks.check_usage_allowed(sorted(moments))
        return dict.fromkeys(moments, True)
    except Conflict:
        pass
    found = {}
    for moment in moments:
        try:
            hooks.check_usage_allowed([moment])
            found[moment] = True
        except Conflict:
            found[moment] = False
    return found


@transaction.atomic
def corrections_record(
    *,
    lease: Lease,
    corrections: Sequence[Mapping],
    source: str,
    token=None,
    actor=None,
    positions: Sequence[int] | None = None,
) -> int:
    """Record `corrections` ({event_key, corrects, quantity, reason?}) of the lease's usage,
    all or nothing. A key the lease has seen (a re-sent correction) is a duplicate; returns how
    many were new. A fixed number of queries for the whole report, plus one per distinct
    original time when some original's period is closed."""
    where = [f"events[{positions[i] if positions else i}]" for i in range(len(corrections))]
    if LeasePart.objects.filter(lease=lease, peer__isnull=False).exists():
        raise Invalid(
            f"{where[0]}: usage of a federated lease is corrected at the trust that meters it",
            code="federated_not_correctable",
        )
    keys = [str(c["event_key"]) for c in corrections]
    known = set(
        UsageEventKey.objects.filter(lease=lease, event_key__in=keys).values_list("event_key", flat=True)
    )
    fresh, seen = [], set()
    for index, correction in enumerate(corrections):
        key = str(correction["event_key"])
        if key in known or key in seen:
            continue
        seen.add(key)
        fresh.append((index, correction))
    if not fresh:
        return 0
    targets = {str(c["corrects"]) for _, c in fresh}
    earlier = {
        row.event_key: row
        for row in UsageCorrection.objects.filter(lease=lease, event_key__in=targets).only(
            "event_key", "original_key"
        )
    }
    original_keys = {earlier[t].original_key for t in targets if t in earlier}
    original_keys |= {t for t in targets if t not in earlier and t not in seen}
    _lock_chains(lease, original_keys)
    originals = _originals(lease, original_keys)
    nodes: dict[str, _Node] = {key: _Node(o.quantity, None) for key, o in originals.items()}
    root_of: dict[str, str] = {key: key for key in originals}
    chain = list(
        UsageCorrection.objects.filter(lease=lease, original_key__in=list(originals)).values_list(
            "event_key", "corrects_key", "original_key", "quantity"
        )
    )
    for key, corrects, original, quantity in chain:
        nodes[key] = _Node(quantity, corrects)
        root_of[key] = original
    for key, node in nodes.items():
        if node.parent is not None:
            nodes[node.parent].children.append(key)
    _fill_nets(nodes, [key for key, node in nodes.items() if node.parent is None])

    rows = []
    for index, correction in fresh:
        key, target, quantity = (
            str(correction["event_key"]),
            str(correction["corrects"]),
            correction["quantity"],
        )
        node = nodes.get(target)
        if node is None:
            raise Invalid(
                f"{where[index]}: this lease has no recorded event {target!r} to correct",
                code="unknown_event",
            )
        original = originals[root_of[target]]
        if original.source == UsageEvent.Source.FEDERATED:
            raise Invalid(
                f"{where[index]}: usage forwarded by the lease's home trust is corrected there",
                code="federated_not_correctable",
            )
        if original.kind == UsageEvent.Kind.DOWNLOAD and source != UsageCorrection.Source.ADMIN:
            raise Forbidden(
                f"{where[index]}: downloads are metered by the trust's gateway; only an administrator "
                "corrects them",
                code="download_not_correctable",
            )
        if quantity == 0 or (quantity > 0) == (node.quantity > 0):
            wanted = "negative" if node.quantity > 0 else "positive"
            raise Invalid(
                f"{where[index]}: a correction of {target!r} must have a {wanted} quantity",
                code="correction_wrong_sign",
            )
        # The new correction's quantity moves the net of every event up its chain.
        step: str | None = target
        while step is not None:
            nodes[step].net += quantity
            if not _in_range(nodes[step]):
                raise Invalid(
                    f"{where[index]}: this correction would take the net quantity of {step!r} to "
                    f"{nodes[step].net}, outside 0 to {nodes[step].quantity}",
                    code="correction_exceeds_original",
                )
            step = nodes[step].parent
        nodes[key] = _Node(quantity, target, net=quantity)
        nodes[target].children.append(key)
        root_of[key] = root_of[target]
        rows.append((key, target, original, quantity, str(correction.get("reason") or "")[:REASON_CHARS]))

    open_at = _period_open_at({original.occurred_at for _, _, original, _, _ in rows})
    for key, target, original, _, _ in rows:
        # A saving's premium is priced on its period's sum, once (payouts.premiums): a closed
        # period's premium stands; while the period is open the correction nets into the sum.
        if original.kind == UsageEvent.Kind.SUBSTITUTION_SAVING and not open_at[original.occurred_at]:
            raise Invalid(
                f"correction {key!r}: the saving {target!r} belongs to a period already closing or "
                "closed, whose substitution premium stands",
                code="saving_period_closed",
            )
    now = timezone.now()
    UsageEventKey.objects.bulk_create([UsageEventKey(lease=lease, event_key=row[0]) for row in rows])
    created = UsageCorrection.objects.bulk_create(
        [
            UsageCorrection(
                lease=lease,
                event_key=key,
                corrects_key=target,
                original_key=original.key,
                kind=original.kind,
                asset_id=original.asset_id,
                original_occurred_at=original.occurred_at,
                quantity=quantity,
                in_place=open_at[original.occurred_at],
                recorded_at=now,
                source=source,
                token_id=token.pk if token else None,
                recorded_by=actor,
                reason=reason,
            )
            for key, target, original, quantity, reason in rows
        ]
    )
    if source == UsageCorrection.Source.ADMIN:
        for row in created:
            audit.record(
                actor=actor,
                action="usage.corrected",
                subject=lease,
                data={"event_key": row.event_key, "corrects": row.corrects_key, "quantity": row.quantity},
            )
    return len(created)


def _fill_nets(nodes: dict[str, _Node], roots: list[str]) -> None:
    """Every node's net: its quantity plus its children's nets (iterative, depth first)."""
    order, stack = [], list(roots)
    while stack:
        key = stack.pop()
        order.append(key)
        stack.extend(nodes[key].children)
    for key in reversed(order):
        node = nodes[key]
        node.net = node.quantity + sum(nodes[child].net for child in node.children)


def usage_correct(*, actor, lease: Lease, corrections: Sequence[Mapping]) -> int:
    """An administrator's corrections of a lease's usage (gateway downloads included): the
    same rules as a studio's, recorded with source `admin` and audited."""
    require_trust_admin(actor)
    return corrections_record(
        lease=lease, corrections=corrections, source=UsageCorrection.Source.ADMIN, actor=actor
    )
