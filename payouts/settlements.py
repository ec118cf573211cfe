"""Settling federated leases between trusts (FEDERATION.md, "Metering and money across trusts").

For each period window of a lease's home trust and each remote part of a federated lease active
in it, the home trust owes the part's trust the part's revenue: the part's downloads and
generated seconds at the part's unit prices, and the part's shares of the flat fee and training
runs (`payouts.federated`). Both trusts compute it from their own records:

- the home trust (`settle_with_peer`, after its close): generated seconds from the usage it
  forwarded and the part accepted, shares from its close's charges, downloads from the part's
  own meter (asked with a signed call: the part's trust meters them, nobody else can);
- the part's trust (`settlement_received`): everything from its own meter, plus the shares the
  home trust states, which it records (PartShare) for its own close to pay its members.

Each keeps both sets of figures. Equal to the cent on every component: agreed at both; else
disagreed at both, shown to both administrators and never netted. Each trust posts its own
figure to its ledger once (receivable from the studio, payable to the peer at home; receivable
from the peer, the proxy studio's receivable settled, at the part). Set-based throughout: a
fixed number of queries per peer and window, whatever the number of leases."""

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from federation import signed_calls
from federation.models import Peer
from licensing import federated as licensing_federated
from licensing.models import ForwardedUsage, InboundLeasePart, Lease, LeasePart, UsageEvent
from trust import audit
from trust.errors import Invalid, NotFound

from . import federated, ledger
from .metering import LeaseCharges
from .models import LedgerTransaction, PartShare, Period, PeriodCharge, Settlement

log = logging.getLogger(__name__)

INBOUND_SETTLEMENTS = "/api/v1/federation/inbound/settlements/"
INBOUND_DOWNLOADS = "/api/v1/federation/inbound/settlements/downloads/?period={start}/{end}"
COMPONENTS = Settlement.COMPONENTS
COMPONENT_LABELS = {
    "downloads_cents": "downloads",
    "generated_cents": "generated seconds",
    "flat_fee_share_cents": "flat fee share",
    "training_share_cents": "training share",
    "total_cents": "total",
}
SHARE_USES = {
    PartShare.Use.FLAT_FEE: "flat_fee_share_cents",
    PartShare.Use.TRAINING_RUN: "training_share_cents",
}


def _in_url(moment: datetime) -> str:
    """An ISO date-time a query string carries as is (UTC, `Z`: no `+` to be read as a space)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def window_text(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()}/{end.isoformat()}"


def parse_window(text: str) -> tuple[datetime, datetime]:
    """`START/END` (ISO dates or date-times, UTC unless they say otherwise): 422 otherwise."""
    from django.utils.dateparse import parse_date, parse_datetime

    def moment(value: str) -> datetime | None:
        value = value.strip().replace(" ", "+")
        try:
            parsed = parse_datetime(value)
            if parsed is None and (day := parse_date(value)) is not None:
                parsed = datetime(day.year, day.month, day.day)
        except ValueError:
            return None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC)
        return parsed

    start_text, _, end_text = (text or "").partition("/")
    start, end = moment(start_text), moment(end_text)
    if start is None or end is None or end <= start:
        raise Invalid("period is START/END, two ISO dates or date-times, END after START", code="bad_period")
    return start, end


# --- At the home trust ---------------------------------------------------------------------------


def _parts_in(start: datetime, end: datetime, peer_id: int | None = None):
    """Remote parts, approved at their trust, of federated leases of this trust active at some
    time in the window."""
    parts = LeasePart.objects.filter(
        peer__isnull=False,
        licensable_at_approval__isnull=False,
        lease__starts_at__lt=end,
        lease__ends_at__gt=start,
    ).filter(Q(lease__revoked_at__isnull=True) | Q(lease__revoked_at__gt=start))
    return parts.filter(peer_id=peer_id) if peer_id is not None else parts


def peers_to_settle(*, period_id: int) -> list[int]:
    """The live peers holding a part of a federated lease active in a closed period."""
    period = Period.objects.filter(pk=period_id, status=Period.Status.CLOSED).first()
    if period is None:
        return []
    live = Peer.objects.live().values("pk")
    return sorted(
        set(_parts_in(period.start, period.end).filter(peer__in=live).values_list("peer_id", flat=True))
    )


def _part_price(row: Mapping, use: str) -> int:
    """The part's unit price as its trust reported it at approval, else its offer's."""
    reported = row[f"price_per_{use}_cents"]
    if reported is not None:
        return reported
    return int((row["offer"] or {}).get(f"price_per_{use}_cents") or 0)


def home_statements(period: Period, peer: Peer) -> dict[int, dict]:
    """lease id -> this trust's figures for the peer's part of each federated lease active in the
    period, except downloads (the part's meter): generated seconds forwarded and accepted there,
    at the part's price; the part's shares of the flat fee and training runs the close charged.
    Four queries."""
    parts = list(
        _parts_in(period.start, period.end, peer.pk).values(
            "lease_id", "price_per_download_cents", "price_per_generated_second_cents", "offer"
        )
    )
    lease_ids = [row["lease_id"] for row in parts]
    licensable: dict[int, dict[str, int | None]] = defaultdict(dict)
    for lease_id, slug, count in LeasePart.objects.filter(lease_id__in=lease_ids).values_list(
        "lease_id", "peer__slug", "licensable_at_approval"
    ):
        licensable[lease_id][slug or settings.TRUST_SLUG] = count
    flat: dict[int, int] = defaultdict(int)
    training: dict[int, int] = defaultdict(int)
    for lease_id, use, quantity, price in PeriodCharge.objects.filter(
        period=period, lease_id__in=lease_ids, asset__isnull=True
    ).values_list("lease_id", "use", "quantity", "unit_price_cents"):
        (flat if use == federated.FLAT_FEE else training)[lease_id] += quantity * price
    generated = dict(
        ForwardedUsage.objects.filter(
            lease_id__in=lease_ids,
            peer=peer,
            kind=UsageEvent.Kind.GENERATED_SECOND,
            forwarded_at__isnull=False,
            refused_reason="",
            occurred_at__gte=period.start,
            occurred_at__lt=period.end,
        )
        .values("lease_id")
        .annotate(quantity=Sum("quantity"))
        .values_list("lease_id", "quantity")
    )
    statements = {}
    for row in parts:
        lease_id = row["lease_id"]
        owed = LeaseCharges(flat[lease_id], (("training_run", None, training[lease_id]),))
        shares = federated.part_shares(owed, licensable[lease_id], home=settings.TRUST_SLUG)[peer.slug]
        statements[lease_id] = {
            "generated_cents": generated.get(lease_id, 0) * _part_price(row, "generated_second"),
            "flat_fee_share_cents": shares.flat_fee_cents,
            "training_share_cents": shares.training_cents,
            "download_price_cents": _part_price(row, "download"),
        }
    return statements


def _state(ours: Mapping, theirs: Mapping) -> str:
    if any(theirs.get(name) is None for name in (*COMPONENTS, "total_cents")):
        return Settlement.State.AWAITING_PEER
    same = all(ours[name] == theirs[name] for name in (*COMPONENTS, "total_cents"))
    return Settlement.State.AGREED if same else Settlement.State.DISAGREED


def _save(rows: list[Settlement]) -> None:
    """Insert or update settlements by (window, peer, lease), in one statement."""
    Settlement.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["period_start", "period_end", "peer", "lease"],
        update_fields=[
            "home_lease_id",
            *COMPONENTS,
            "total_cents",
            *(f"peer_{name}" for name in (*COMPONENTS, "total_cents")),
            "peer_figures_at",
            "state",
            "computed_at",
        ],
    )


def _post(settlements: Sequence[Settlement], *, debit_of, credit_of) -> None:
    """Post each decided settlement's own total once (key per window, peer and lease): debit
    `debit_of(s)`, credit `credit_of(s)` (account ids). Three statements for any number."""
    decided = [s for s in settlements if s.state != Settlement.State.AWAITING_PEER and s.total_cents]
    keys = {
        s.pk: f"settlement:{s.role}:{s.peer_id}:{s.lease_id}:{window_text(s.period_start, s.period_end)}"
        for s in decided
    }
    posted = set(LedgerTransaction.objects.filter(key__in=keys.values()).values_list("key", flat=True))
    new = [s for s in decided if keys[s.pk] not in posted]
    transactions = ledger.post_new_many(
        [
            (
                keys[s.pk],
                f"Settlement of lease {s.home_lease_id} with {s.peer.slug} for "
                f"{s.period_start:%Y-%m-%d} – {s.period_end:%Y-%m-%d}",
                [(debit_of(s), s.total_cents), (credit_of(s), -s.total_cents)],
            )
            for s in new
        ]
    )
    for settlement, txn in zip(new, transactions, strict=True):
        settlement.transaction = txn
    Settlement.objects.bulk_update(new, ["transaction"])


def settle_with_peer(*, period_id: int, peer_id: int) -> list[Settlement]:
    """The home trust settles a closed period with one peer: its statements recorded (awaiting
    the peer) before any call, usage still unsent forwarded first (nothing is left out), the
    part's download counts asked, every statement sent with the shares, and the peer's figures
    stored and compared. A peer that does not answer raises BadGateway: the rows stay awaiting
    and the beat job calls this again. Idempotent: the same figures, one ledger posting each."""
    period = Period.objects.get(pk=period_id)
    if period.status != Period.Status.CLOSED:
        return []
    peer = Peer.objects.get(pk=peer_id)
    for part_id in (
        _parts_in(period.start, period.end, peer.pk)
        .filter(
            lease__forwarded_usage__peer_id=peer.pk,
            lease__forwarded_usage__forwarded_at__isnull=True,
            lease__forwarded_usage__refused_reason="",
        )
        .distinct()
        .values_list("pk", flat=True)
    ):
        licensing_federated.usage_forward(part_id=part_id)
    statements = home_statements(period, peer)
    if not statements:
        return []
    now = timezone.now()
    existing = {
        s.lease_id: s
        for s in Settlement.objects.filter(
            period_start=period.start, period_end=period.end, peer=peer, lease_id__in=list(statements)
        )
    }

    def row(lease_id: int, downloads_cents: int | None) -> Settlement:
        figures = statements[lease_id]
        before = existing.get(lease_id)
        settlement = Settlement(
            period_start=period.start,
            period_end=period.end,
            peer=peer,
            role=Settlement.Role.HOME,
            lease_id=lease_id,
            home_lease_id=lease_id,
            downloads_cents=downloads_cents,
            generated_cents=figures["generated_cents"],
            flat_fee_share_cents=figures["flat_fee_share_cents"],
            training_share_cents=figures["training_share_cents"],
            computed_at=now,
        )
        if downloads_cents is not None:
            settlement.total_cents = downloads_cents + sum(figures[name] for name in COMPONENTS[1:])
        for name in (*COMPONENTS, "total_cents"):
            setattr(settlement, f"peer_{name}", getattr(before, f"peer_{name}") if before else None)
        settlement.peer_figures_at = before.peer_figures_at if before else None
        settlement.state = _state(settlement.figures(), settlement.figures(theirs=True))
        return settlement

    with transaction.atomic():
        _save(
            [
                row(lease_id, existing[lease_id].downloads_cents if lease_id in existing else None)
                for lease_id in statements
            ]
        )
    counted = signed_calls.peer_call(
        peer, "GET", INBOUND_DOWNLOADS.format(start=_in_url(period.start), end=_in_url(period.end))
    )
    downloads = {int(r["home_lease_id"]): int(r["quantity"]) for r in counted.get("downloads") or []}
    rows = {
        lease_id: row(lease_id, downloads.get(lease_id, 0) * statements[lease_id]["download_price_cents"])
        for lease_id in statements
    }
    payload = {
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "statements": [
            {"home_lease_id": lease_id, **{name: getattr(s, name) for name in (*COMPONENTS, "total_cents")}}
            for lease_id, s in rows.items()
        ],
    }
    with transaction.atomic():
        _save(list(rows.values()))
    answer = signed_calls.peer_call(peer, "POST", INBOUND_SETTLEMENTS, payload)
    return settlement_answer_received(period=period, peer=peer, answer=answer)


def settlement_answer_received(*, period: Period, peer: Peer, answer: Mapping) -> list[Settlement]:
    """The part's trust answered its own figures: stored beside ours, compared, and our own
    total posted (the studio's receivable debited, the peer's payable credited) once."""
    theirs = {int(r["home_lease_id"]): r for r in answer.get("statements") or [] if isinstance(r, dict)}
    now = timezone.now()
    with transaction.atomic():
        settlements = list(
            Settlement.objects.select_for_update()
            .select_related("peer", "lease")
            .filter(period_start=period.start, period_end=period.end, peer=peer, role=Settlement.Role.HOME)
            .order_by("pk")
        )
        for settlement in settlements:
            figures = theirs.get(settlement.lease_id)
            if figures is None:
                continue
            for name in (*COMPONENTS, "total_cents"):
                value = figures.get(name)
                setattr(settlement, f"peer_{name}", int(value) if isinstance(value, int) else None)
            settlement.peer_figures_at = now
            settlement.state = _state(settlement.figures(), settlement.figures(theirs=True))
        Settlement.objects.bulk_update(
            settlements,
            [*(f"peer_{name}" for name in (*COMPONENTS, "total_cents")), "peer_figures_at", "state"],
        )
        ledger.ensure_studio_accounts({s.lease.studio_id for s in settlements})
        receivables = ledger.studio_account_ids({s.lease.studio_id for s in settlements})
        payable = ledger.peer_payable(peer).pk
        _post(settlements, debit_of=lambda s: receivables[s.lease.studio_id], credit_of=lambda s: payable)
        _audit_disagreements(settlements, peer)
    return settlements


def _audit_disagreements(settlements: Sequence[Settlement], peer: Peer) -> None:
    disagreed = [s.home_lease_id for s in settlements if s.state == Settlement.State.DISAGREED]
    if disagreed:
        first = settlements[0]
        audit.record(
            actor=None,
            action="settlement.disagreed",
            subject=first,
            data={
                "trust": peer.slug,
                "window": window_text(first.period_start, first.period_end),
                "leases": disagreed,
            },
        )


# --- At a part's trust ---------------------------------------------------------------------------


def _inbound_leases(peer: Peer, home_lease_ids) -> dict[int, Lease]:
    """home lease id -> this trust's lease of the peer's part, for ids the peer holds here."""
    return {
        inbound.home_lease_id: inbound.lease
        for inbound in InboundLeasePart.objects.filter(
            peer=peer, home_lease_id__in=list(home_lease_ids)
        ).select_related("lease")
    }


def downloads_for_peer(*, peer: Peer, start: datetime, end: datetime) -> list[dict]:
    """At a part's trust: downloads of the home `peer`'s parts here in the window, by home lease
    id, from this trust's own meter (its gateway's events). One query."""
    rows = (
        UsageEvent.objects.filter(
            lease__inbound_part__peer=peer,
            kind=UsageEvent.Kind.DOWNLOAD,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .values("lease__inbound_part__home_lease_id")
        .annotate(quantity=Sum("quantity"))
        .order_by("lease__inbound_part__home_lease_id")
    )
    return [
        {"home_lease_id": r["lease__inbound_part__home_lease_id"], "quantity": r["quantity"]} for r in rows
    ]


def own_part_figures(leases: Mapping[int, Lease], start: datetime, end: datetime) -> dict[int, dict]:
    """At a part's trust: home lease id -> this trust's figures of its part from its own meters:
    downloads and generated seconds in the window at its lease's prices, and the shares it
    recorded for the window. Two queries."""
    by_lease = {lease.pk: home_id for home_id, lease in leases.items()}
    figures = {home_id: dict.fromkeys(COMPONENTS, 0) for home_id in leases}
    for lease_id, kind, quantity in (
        UsageEvent.objects.filter(
            lease_id__in=list(by_lease),
            kind__in=(UsageEvent.Kind.DOWNLOAD, UsageEvent.Kind.GENERATED_SECOND),
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .values("lease_id", "kind")
        .annotate(quantity=Sum("quantity"))
        .values_list("lease_id", "kind", "quantity")
    ):
        home_id = by_lease[lease_id]
        lease = leases[home_id]
        if kind == UsageEvent.Kind.DOWNLOAD:
            figures[home_id]["downloads_cents"] += quantity * lease.price_per_download_cents
        else:
            figures[home_id]["generated_cents"] += quantity * lease.price_per_generated_second_cents
    for lease_id, use, cents in PartShare.objects.filter(
        lease_id__in=list(by_lease), window_start=start, window_end=end
    ).values_list("lease_id", "use", "cents"):
        figures[by_lease[lease_id]][SHARE_USES[use]] += cents
    for row in figures.values():
        row["total_cents"] = sum(row[name] for name in COMPONENTS)
    return figures


def settlement_received(
    *, peer: Peer, start: datetime, end: datetime, statements: Sequence[Mapping]
) -> list[dict]:
    """At a part's trust: the home `peer`'s statements for its parts here in a window. Records
    the shares it states (once per window and lease: a resend adds nothing), computes this
    trust's own figures from its own meters, stores both and compares them, posts its own total
    once (receivable from the peer; the proxy studio's receivable, which this trust's close
    debited, credited) and answers its own figures. 404 naming a lease with no part here."""
    wanted = {int(s["home_lease_id"]): s for s in statements}
    leases = _inbound_leases(peer, wanted)
    unknown = sorted(set(wanted) - set(leases))
    if unknown:
        raise NotFound(f"no part of {peer.slug}'s leases {unknown} here", code="part_not_found")
    now = timezone.now()
    with transaction.atomic():
        PartShare.objects.bulk_create(
            [
                PartShare(
                    lease=leases[home_id],
                    use=use,
                    cents=int(wanted[home_id][field]),
                    window_start=start,
                    window_end=end,
                    received_at=now,
                )
                for home_id in wanted
                for use, field in SHARE_USES.items()
            ],
            ignore_conflicts=True,
        )
        ours = own_part_figures(leases, start, end)
        rows = []
        for home_id, lease in leases.items():
            theirs = {name: wanted[home_id].get(name) for name in (*COMPONENTS, "total_cents")}
            settlement = Settlement(
                period_start=start,
                period_end=end,
                peer=peer,
                role=Settlement.Role.PART,
                lease=lease,
                home_lease_id=home_id,
                computed_at=now,
                peer_figures_at=now,
                **ours[home_id],
                **{f"peer_{name}": value for name, value in theirs.items()},
            )
            settlement.state = _state(settlement.figures(), settlement.figures(theirs=True))
            rows.append(settlement)
        _save(rows)
        settlements = list(
            Settlement.objects.select_for_update()
            .select_related("peer", "lease")
            .filter(period_start=start, period_end=end, peer=peer, lease__in=list(leases.values()))
            .order_by("pk")
        )
        studios = {s.lease.studio_id for s in settlements}
        ledger.ensure_studio_accounts(studios)
        receivables = ledger.studio_account_ids(studios)
        owed_by_peer = ledger.peer_receivable(peer).pk
        _post(
            settlements, debit_of=lambda s: owed_by_peer, credit_of=lambda s: receivables[s.lease.studio_id]
        )
        _audit_disagreements(settlements, peer)
    return [{"home_lease_id": home_id, **figures} for home_id, figures in ours.items()]


# --- Reading them ----------------------------------------------------------------------------------


def windows() -> list[tuple[datetime, datetime]]:
    """The period windows settled here, latest first."""
    return list(
        Settlement.objects.order_by("-period_start", "-period_end")
        .values_list("period_start", "period_end")
        .distinct()
    )


def latest_window() -> tuple[datetime, datetime] | None:
    row = (
        Settlement.objects.order_by("-period_start", "-period_end")
        .values_list("period_start", "period_end")
        .first()
    )
    return row


def settlement_rows(start: datetime, end: datetime) -> list[dict]:
    """The settlements of a window, each as the API and the page show it: per peer and lease,
    both sides' figures, the state, and which way the money is owed. One query."""
    rows = []
    for s in (
        Settlement.objects.filter(period_start=start, period_end=end)
        .select_related("peer")
        .order_by("peer__slug", "home_lease_id")
    ):
        owed = s.total_cents if s.total_cents is not None else s.peer_total_cents
        direction = f"owed to {s.peer.slug}" if s.role == Settlement.Role.HOME else f"owed by {s.peer.slug}"
        rows.append(
            {
                "id": s.pk,
                "period_start": s.period_start,
                "period_end": s.period_end,
                "peer": s.peer.slug,
                "peer_name": s.peer.name,
                "role": s.role,
                "lease": s.lease_id,
                "home_lease_id": s.home_lease_id,
                "ours": s.figures(),
                "theirs": s.figures(theirs=True),
                "state": s.state,
                "direction": direction,
                "owed_cents": owed,
                "disagreeing": [
                    name
                    for name in (*COMPONENTS, "total_cents")
                    if s.state == Settlement.State.DISAGREED
                    and getattr(s, name) != getattr(s, f"peer_{name}")
                ],
                "disagreeing_labels": [
                    COMPONENT_LABELS[name]
                    for name in (*COMPONENTS, "total_cents")
                    if s.state == Settlement.State.DISAGREED
                    and getattr(s, name) != getattr(s, f"peer_{name}")
                ],
                "computed_at": s.computed_at,
                "peer_figures_at": s.peer_figures_at,
            }
        )
    return rows


# How far back the beat job looks for closed periods whose settlements never started.
SETTLEMENT_RESEND_DAYS = 120


def awaiting() -> list[tuple[int, int]]:
    """(period id, peer id) to settle again, for the beat job: home settlements still awaiting a
    live peer, and recently closed periods with a peer to settle and no settlement with it yet
    (the close's own task never ran). One query per recent closed period (a few a year)."""
    from datetime import timedelta

    live = Peer.objects.live().values("pk")
    recent = Period.objects.closed().filter(
        closed_at__gte=timezone.now() - timedelta(days=SETTLEMENT_RESEND_DAYS)
    )
    periods = {(p.start, p.end): p.pk for p in recent}
    pairs = set()
    for start, end, peer_id in (
        Settlement.objects.filter(
            role=Settlement.Role.HOME, state=Settlement.State.AWAITING_PEER, peer__in=live
        )
        .values_list("period_start", "period_end", "peer_id")
        .distinct()
    ):
        if (start, end) in periods:
            pairs.add((periods[(start, end)], peer_id))
    for (start, end), period_id in periods.items():
        settled = Settlement.objects.filter(
            period_start=start, period_end=end, role=Settlement.Role.HOME
        ).values("peer_id")
        for peer_id in (
            _parts_in(start, end)
            .filter(peer__in=live)
            .exclude(peer_id__in=settled)
            .values_list("peer_id", flat=True)
            .distinct()
        ):
            pairs.add((period_id, peer_id))
    return sorted(pairs)
