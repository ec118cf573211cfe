"""Retention and verified destruction.

An asset is due for destruction when a contributor's capture consent (the first opt-in: the
trust may hold the data) was withdrawn and no capture grant covers the asset any more, or when
the retention period an administrator set for its kind has passed since it was registered;
and no hold keeps it: licensing registers one for assets whose takedown notices still have an
attestation window open (trust never imports licensing; `register_destruction_hold`).

`destroy_due` runs in three steps, each safe to repeat after a crash:
1. claim, in one transaction: the due assets become `destroying` (never licensable again; the
   precomputed lease sets are refreshed through `licensability_changed` in the same
   transaction), each with an `AssetDestruction` row saying why;
2. purge, per asset: every version and delete marker of its final and staging keys and every
   multipart upload left open under them are removed, then the store is asked again (listing,
   HEAD, open uploads);
3. certify, per asset, only if the store answered "gone" for everything: the asset becomes
   `destroyed` (its object key cleared; hash, kind, size, title and contributors kept), the
   certificate is filled in and an `asset.destroyed` audit event written. An asset the store
   still answers for stays `destroying` and is purged again on the next run.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from . import audit
from .consent import FIRST_OPT_IN, active_grants
from .errors import Invalid
from .models import Asset, AssetContributor, AssetDestruction, Consent, RetentionPeriod
from .selectors import is_trust_admin, members_in_authority_of
from .services import require_trust_admin
from .signals import licensability_changed
from .storage import get_object_store

log = structlog.get_logger(__name__)

CAPTURE_WITHDRAWN = AssetDestruction.Reason.CAPTURE_WITHDRAWN
RETENTION_ENDED = AssetDestruction.Reason.RETENTION_ENDED
# Retention is set in whole days, from one day to a century.
RETENTION_DAYS_MAX = 36_500
# Assets claimed per transaction: a bounded lock and a bounded licensable-set refresh.
CLAIM_BATCH = 500

# A hold answers, for an instant, the ids of assets that must not be destroyed yet (a queryset
# of `asset_id` or `pk` values). Apps further down the line register theirs.
DestructionHold = Callable[[datetime], QuerySet]
_holds: list[DestructionHold] = []


def register_destruction_hold(hold: DestructionHold) -> None:
    if hold not in _holds:
        _holds.append(hold)


def _covering(consents: QuerySet) -> QuerySet:
    """`consents` of the contributor row outside, on its asset or on all their assets."""
    return consents.filter(Q(asset__isnull=True) | Q(asset=OuterRef("asset")), member=OuterRef("member"))


def capture_lost(*, at: datetime) -> Exists:
    """True for an asset one of whose (not declining) contributors withdrew a capture grant
    covering it by `at` and holds no active capture grant covering it at `at`."""
    withdrawals = Consent.objects.filter(use=FIRST_OPT_IN, state=Consent.State.WITHDRAWN, created_at__lte=at)
    contributors = AssetContributor.objects.filter(asset=OuterRef("pk")).exclude(
        status=AssetContributor.Status.DECLINED
    )
    lost = contributors.filter(Exists(_covering(withdrawals))).exclude(
        Exists(_covering(active_grants(use=FIRST_OPT_IN, at=at)))
    )
    return Exists(lost)


def retention_ended(*, at: datetime) -> Q:
    """Assets registered at least their kind's retention period before `at` (one condition per
    kind with a period: a handful)."""
    ended = Q(pk__in=[])
    for kind, days in RetentionPeriod.objects.values_list("kind", "days"):
        ended |= Q(kind=kind, created_at__lte=at - timedelta(days=days))
    return ended


def held(*, at: datetime) -> Q:
    kept = Q(pk__in=[])
    for hold in _holds:
        kept |= Q(pk__in=hold(at))
    return kept


def assets_due_for_destruction(*, at: datetime | None = None) -> QuerySet[Asset]:
    """Assets to claim for destruction at `at` (default now), annotated with `capture_lost`:
    the retention periods read, then one query, whatever the number of assets."""
    at = at or timezone.now()
    lost = capture_lost(at=at)
    return (
        Asset.objects.exclude(status__in=[Asset.Status.DESTROYING, Asset.Status.DESTROYED])
        .annotate(capture_lost=lost)
        .filter(Q(capture_lost=True) | retention_ended(at=at))
        .exclude(held(at=at))
    )


def retention_periods() -> dict[str, int | None]:
    """Every asset kind with its retention in days, None where none is set."""
    periods = dict(RetentionPeriod.objects.values_list("kind", "days"))
    return {kind: periods.get(kind) for kind in Asset.Kind.values}


def _per_kind(assets: QuerySet[Asset]) -> dict[str, int]:
    counts = dict(assets.order_by().values_list("kind").annotate(n=Count("pk")))
    return {kind: counts.get(kind, 0) for kind in Asset.Kind.values}


def assets_held_per_kind() -> dict[str, int]:
    """Every asset kind with how many of its assets the trust holds (not yet destroyed): one query."""
    return _per_kind(Asset.objects.exclude(status=Asset.Status.DESTROYED))


def assets_due_per_kind(*, at: datetime | None = None) -> dict[str, int]:
    """Every asset kind with how many of its assets are due for destruction at `at` (default
    now): the retention periods read, then one query."""
    return _per_kind(assets_due_for_destruction(at=at))


def destructions_latest(*, limit: int) -> QuerySet[AssetDestruction]:
    """The latest destructions, begun or done, newest first (the administrator's page)."""
    return AssetDestruction.objects.select_related("asset").order_by("-started_at", "-pk")[:limit]


@transaction.atomic
def retention_set(*, actor, periods: dict[str, int | None]) -> dict[str, int | None]:
    """Set the retention of the kinds named (days from registration, or None to hold assets of
    that kind until capture consent is withdrawn); kinds not named keep theirs. Administrators
    only; one audit event with the settings before and after. Assets it makes due are
    destroyed by the next run of `destroy_due`."""
    require_trust_admin(actor)
    unknown = sorted(set(periods) - set(Asset.Kind.values))
    if unknown:
        raise Invalid(f"unknown asset kind: {', '.join(unknown)}", code="unknown_asset_kind")
    for kind, days in periods.items():
        if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
            raise Invalid(f"{kind}: days must be a whole number or null", code="bad_retention")
        if days is not None and not 1 <= days <= RETENTION_DAYS_MAX:
            raise Invalid(f"{kind}: days must be between 1 and {RETENTION_DAYS_MAX}", code="bad_retention")
    before = retention_periods()
    now = timezone.now()
    for kind, days in periods.items():
        if days is None:
            RetentionPeriod.objects.filter(kind=kind).delete()
        else:
            RetentionPeriod.objects.update_or_create(
                kind=kind, defaults={"days": days, "updated_at": now, "updated_by": actor}
            )
    after = retention_periods()
    if after != before:
        head = RetentionPeriod.objects.order_by("-updated_at").first()
        audit.record(
            actor=actor,
            action="retention.set",
            subject=head or actor,
            data={"before": before, "after": after},
        )
    return after


def _latest_capture_withdrawals(asset_ids: list, at: datetime) -> dict:
    """asset id -> the newest capture withdrawal covering it by one of its contributors: two
    queries for a batch of assets."""
    newest: dict = {}
    contributions = AssetContributor.objects.filter(asset_id__in=asset_ids).values_list(
        "asset_id", "member_id"
    )
    members_of: dict = {}
    for asset_id, member_id in contributions:
        members_of.setdefault(member_id, []).append(asset_id)
    withdrawals = Consent.objects.filter(
        member_id__in=list(members_of), use=FIRST_OPT_IN, state=Consent.State.WITHDRAWN, created_at__lte=at
    ).values_list("pk", "member_id", "asset_id")
    for pk, member_id, asset_id in withdrawals.order_by("created_at", "pk"):
        for covered in members_of.get(member_id, []):
            if asset_id is None or asset_id == covered:
                newest[covered] = pk
    return newest


def destruction_claim(*, at: datetime | None = None, limit: int = CLAIM_BATCH) -> list:
    """Step 1: claim up to `limit` due assets in one transaction (see the module docstring).
    Returns the ids claimed."""
    at = at or timezone.now()
    with transaction.atomic():
        # Every consent change is an audited write: holding the audit head, the selection sees
        # each one committed before it, and none lands between selection and claim.
        audit.serialise_with_audited_writes()
        due = list(
            assets_due_for_destruction(at=at).order_by("pk").values_list("pk", "kind", "capture_lost")[:limit]
        )
        if not due:
            return []
        ids = [pk for pk, _, _ in due]
        withdrawals = _latest_capture_withdrawals([pk for pk, _, lost in due if lost], at)
        retention = dict(RetentionPeriod.objects.values_list("kind", "days"))
        Asset.objects.filter(pk__in=ids).update(status=Asset.Status.DESTROYING)
        AssetDestruction.objects.bulk_create(
            AssetDestruction(
                asset_id=pk,
                reason=CAPTURE_WITHDRAWN if lost else RETENTION_ENDED,
                withdrawal_id=withdrawals.get(pk) if lost else None,
                retention_days=None if lost else retention.get(kind),
                started_at=at,
            )
            for pk, kind, lost in due
        )
        # Out of every lease's licensable set in this transaction: no download after it commits.
        licensability_changed.send(sender=Asset, assets=Asset.objects.filter(pk__in=ids).values("pk"))
        for destruction in AssetDestruction.objects.filter(asset_id__in=ids).order_by("asset_id"):
            audit.record(
                actor=None,
                action="asset.destruction_started",
                subject=destruction.asset,
                data={"reason": destruction.reason, "withdrawal": destruction.withdrawal_id},
            )
    return ids


def asset_purge_and_certify(*, asset_id) -> bool:
    """Steps 2 and 3 for one claimed asset. True when it is destroyed (now or before)."""
    asset = Asset.objects.get(pk=asset_id)
    if asset.status == Asset.Status.DESTROYED:
        return True
    if asset.status != Asset.Status.DESTROYING:
        return False
    store = get_object_store()
    keys = [key for key in (asset.object_key, asset.staging_key) if key]
    upload_ids = [asset.upload_id] if asset.upload_id else []
    report = store.purge(keys, upload_ids=upload_ids)
    check = store.check_absent(keys, upload_ids=upload_ids)
    checked_at = timezone.now()
    if not check.all_gone:
        log.warning("asset still stored after purge", asset=str(asset.pk), answers=check.answers)
        return False
    with transaction.atomic():
        claimed = Asset.objects.filter(pk=asset.pk, status=Asset.Status.DESTROYING).update(
            status=Asset.Status.DESTROYED, destroyed_at=checked_at, object_key=None, upload_id=""
        )
        if not claimed:
            return True
        destruction = AssetDestruction.objects.get(asset_id=asset.pk)
        destruction.destroyed_at = checked_at
        destruction.removed = report.as_dict()
        destruction.verification = {"checked_at": checked_at.isoformat(), "answers": check.answers}
        destruction.save(update_fields=["destroyed_at", "removed", "verification"])
        audit.record(
            actor=None,
            action="asset.destroyed",
            subject=asset,
            data={
                "destruction": destruction.pk,
                "reason": destruction.reason,
                "sha256": asset.sha256,
                "kind": asset.kind,
                "removed": destruction.removed,
                "verification": destruction.verification,
            },
        )
    return True


def destroy_due(*, at: datetime | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Claim every due asset, then purge and certify every claimed one (those left by an earlier
    run included). Returns {claimed, destroyed, unconfirmed}. Safe to run twice or after a crash."""
    claimed = 0
    while batch := destruction_claim(at=at):
        claimed += len(batch)
    pending = list(
        Asset.objects.filter(status=Asset.Status.DESTROYING).order_by("pk").values_list("pk", flat=True)
    )
    destroyed = 0
    for done, asset_id in enumerate(pending, start=1):
        destroyed += asset_purge_and_certify(asset_id=asset_id)
        if progress:
            progress(done, len(pending))
    return {"claimed": claimed, "destroyed": destroyed, "unconfirmed": len(pending) - destroyed}


def destructions_visible_to(user) -> QuerySet[AssetDestruction]:
    """Completed destructions: every one for an administrator; for a member those of the assets
    they contribute to (accepted or pending shares), and for an estate representative those of
    the late member they act for; none for anyone else."""
    done = AssetDestruction.objects.filter(destroyed_at__isnull=False).select_related("asset", "withdrawal")
    if is_trust_admin(user):
        return done
    if not (user and user.is_authenticated):
        return done.none()
    # The member's own, and those of the late members whose authority the user holds.
    members = Q(member__user_id=user.pk) | Q(member__in=members_in_authority_of(user).values("pk"))
    return done.filter(_contributed_by(members))


def destructions_of(member) -> QuerySet[AssetDestruction]:
    """A member's assets' destructions, begun or done, newest first (their page)."""
    rows = AssetDestruction.objects.select_related("asset", "withdrawal")
    return rows.filter(_contributed_by(Q(member=member))).order_by("-started_at", "-pk")


def _contributed_by(members: Q) -> Exists:
    contributions = AssetContributor.objects.filter(members, asset=OuterRef("asset"))
    return Exists(contributions.exclude(status=AssetContributor.Status.DECLINED))
