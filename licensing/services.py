"""Every write of the licensing app: studios, terms, the lease lifecycle, tokens, the download
gateway, usage reports and takedowns. Each writes its audit event in the same transaction."""

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from guardian.shortcuts import assign_perm

from federation import signed_calls
from federation.models import Peer
from trust import audit
from trust.consent import LICENSABLE_USE_VALUES, permits_generation, permits_training
from trust.db import prepared_cursor
from trust.errors import BadGateway, Conflict, Forbidden, Invalid, ServiceUnavailable
from trust.models import Asset, AssetContributor, Consent, DatasetVersionItem
from trust.selectors import latest_version, licensable_assets
from trust.services import require_trust_admin, user_create

from . import corrections, deadlines, federated, hooks, partitions, quotas
from .models import (
    InboundLeasePart,
    Lease,
    LeaseAsset,
    LeaseDownloadCount,
    LeasePart,
    LeaseTerms,
    LeaseToken,
    PeerCatalogue,
    PeerOffer,
    PullWindow,
    Studio,
    StudioStaff,
    Takedown,
    TrainedModel,
    UsageCorrection,
    UsageEvent,
    UsageEventKey,
)
from .selectors import (
    active_leases_holding,
    downloadable_asset,
    effective_end,
    ended_leases_retaining,
    first_use_after_withdrawal,
    require_live,
    require_studio_staff,
    withdrawal_takedowns,
)
from .tokens import FederatedAccess, lease_of_token, pull_window_key, usage_allowed_by_token

# The most any price or fee of lease terms may be, in cents: a unit price times the largest
# quantity one usage event may carry still fits a 64-bit column (10^10 x 10^8 < 2^63). The API
# and the terms form show this limit with this message; terms_create enforces it.
PRICE_MAX_CENTS = 10**10
PRICE_LIMIT_MESSAGE = (
    f"A price or fee may be at most {PRICE_MAX_CENTS // 100:,}.{PRICE_MAX_CENTS % 100:02d} "
    f"({PRICE_MAX_CENTS:,} cents)."
)
# A substitution premium is at most the whole saving (10000 basis points).
BPS_MAX = 10_000
# The most days lease terms may give a studio to pay an invoice (the API, the terms form and the
# admin all write terms through terms_create, which refuses more).
PAYMENT_DAYS_MAX = 365
# The longest production title a lease may name (Lease.production).
PRODUCTION_MAX = 200
# Usage may be reported a little ahead of our clock.
CLOCK_SKEW = timedelta(minutes=5)


def production_title(text: str) -> str:
    """A production title as stored: trimmed, inner runs of spaces made one. The production fee
    compares titles without case on top of this (payouts/premiums.py)."""
    return " ".join((text or "").split())


@transaction.atomic
def studio_create(*, actor, name: str) -> Studio:
    require_trust_admin(actor)
    if Studio.objects.filter(name=name, home_peer__isnull=True).exists():
        raise Conflict(f"studio {name!r} exists", code="studio_name_taken")
    group = Group.objects.create(name=f"studio:{uuid.uuid4()}")
    studio = Studio.objects.create(name=name, group=group)
    audit.record(actor=actor, action="studio.enrolled", subject=studio, data={"name": name})
    return studio


@transaction.atomic
def studio_add_staff(*, actor, studio: Studio, username: str, password: str, email: str = "") -> StudioStaff:
    require_trust_admin(actor)
    user = user_create(username=username, password=password, email=email)
    user.groups.add(studio.group)
    staff = StudioStaff.objects.create(user=user, studio=studio)
    audit.record(actor=actor, action="studio.staff_added", subject=studio, data={"username": username})
    return staff


@transaction.atomic
def studio_enrol(
    *, actor, name: str, staff_username: str, staff_password: str, staff_email: str = ""
) -> StudioStaff:
    """A new studio with its first staff login, both or neither: a taken name, a taken
    username or a weak password leaves nothing written. Each step is audited by its service."""
    studio = studio_create(actor=actor, name=name)
    return studio_add_staff(
        actor=actor, studio=studio, username=staff_username, password=staff_password, email=staff_email
    )


def _validate_terms(*, permitted_uses, currency: str, prices: dict, duration_days: int) -> list[str]:
    if not isinstance(permitted_uses, list | tuple) or not permitted_uses:
        raise Invalid("permitted_uses must list at least one use", code="bad_uses")
    unknown = [u for u in permitted_uses if u not in LICENSABLE_USE_VALUES]
    if unknown:
        raise Invalid(
            f"uses not licensable: {', '.join(map(str, unknown))}; choose from "
            f"{', '.join(LICENSABLE_USE_VALUES)}",
            code="bad_uses",
        )
    if currency != settings.TRUST_CURRENCY:
        raise Invalid(f"this trust works in {settings.TRUST_CURRENCY} only", code="bad_currency")
    for field, value in prices.items():
        if value < 0:
            raise Invalid(f"{field} must not be negative", code="bad_price")
        if value > PRICE_MAX_CENTS:
            raise Invalid(PRICE_LIMIT_MESSAGE, code="price_too_high")
    if duration_days < 1:
        raise Invalid("duration_days must be at least 1", code="bad_duration")
    return sorted(set(permitted_uses))


@transaction.atomic
def terms_create(
    *,
    actor,
    dataset,
    title: str,
    permitted_uses,
    duration_days: int,
    flat_fee_cents: int = 0,
    price_per_download_cents: int = 0,
    price_per_training_run_cents: int = 0,
    price_per_generated_second_cents: int = 0,
    download_cap: int | None = None,
    use_caps: dict | None = None,
    takedown_acknowledge_days: int | None = None,
    takedown_attest_days: int | None = None,
    currency: str | None = None,
    active: bool = True,
    payment_days: int | None = None,
    production_fee_cents: int = 0,
    substitution_premium_bps: int = 0,
) -> LeaseTerms:
    """Lease terms an administrator offers in the catalogue. The takedown days default to the
    trust's settings; a studio never gets less time to attest than to acknowledge. `payment_days`:
    the days a studio has to pay the invoices these terms' leases appear on (empty:
    INVOICE_PAYMENT_DAYS). The negotiators' premiums: `production_fee_cents` once per (studio,
    production title), `substitution_premium_bps` of each saving the studio reports (0 to 10000)."""
    require_trust_admin(actor)
    windows = {
        "takedown_acknowledge_days": takedown_acknowledge_days or settings.TAKEDOWN_ACKNOWLEDGE_DAYS,
        "takedown_attest_days": takedown_attest_days or settings.TAKEDOWN_DEADLINE_DAYS,
    }
    if windows["takedown_attest_days"] < windows["takedown_acknowledge_days"]:
        raise Invalid(
            "the days to attest deletion cannot be fewer than the days to acknowledge",
            code="takedown_windows_out_of_order",
        )
    if payment_days is not None and not 0 <= payment_days <= PAYMENT_DAYS_MAX:
        raise Invalid(f"payment_days must be between 0 and {PAYMENT_DAYS_MAX}", code="bad_payment_days")
    currency = currency or settings.TRUST_CURRENCY
    prices = {
        "flat_fee_cents": flat_fee_cents,
        "price_per_download_cents": price_per_download_cents,
        "price_per_training_run_cents": price_per_training_run_cents,
        "price_per_generated_second_cents": price_per_generated_second_cents,
        "production_fee_cents": production_fee_cents,
    }
    if not 0 <= substitution_premium_bps <= BPS_MAX:
        raise Invalid(
            f"substitution_premium_bps must be between 0 and {BPS_MAX} basis points", code="bad_premium"
        )
    uses = _validate_terms(
        permitted_uses=permitted_uses, currency=currency, prices=prices, duration_days=duration_days
    )
    use_caps = quotas.checked_terms_caps(use_caps or {}, permitted_uses=uses)
    terms = LeaseTerms.objects.create(
        dataset=dataset,
        title=title,
        permitted_uses=uses,
        duration_days=duration_days,
        download_cap=download_cap,
        use_caps=use_caps,
        currency=currency,
        active=active,
        **windows,
        payment_days=payment_days,
        substitution_premium_bps=substitution_premium_bps,
        **prices,
    )
    audit.record(
        actor=actor,
        action="terms.created",
        subject=terms,
        data={
            "dataset": dataset.slug,
            "uses": uses,
            "duration_days": duration_days,
            "download_cap": download_cap,
            "use_caps": use_caps,
            "currency": currency,
            **windows,
            **prices,
            "substitution_premium_bps": substitution_premium_bps,
        },
    )
    return terms


@transaction.atomic
def terms_share(*, actor, terms: LeaseTerms, peers) -> LeaseTerms:
    """Choose the peer trusts whose studios see these terms. Only peers our administrator added
    (asking peers are not trusted yet); the set replaces the previous one."""
    require_trust_admin(actor)
    peers = list(peers)
    untrusted = [peer.slug for peer in peers if peer.added_by_us_at is None]
    if untrusted:
        raise Invalid(
            f"add these peers before sharing with them: {', '.join(untrusted)}", code="peer_not_added"
        )
    terms.shared_with.set(peers)
    audit.record(
        actor=actor, action="terms.shared", subject=terms, data={"peers": sorted(p.slug for p in peers)}
    )
    return terms


OFFERS_PATH = "/api/v1/federation/inbound/offers/"


def peer_offers_refresh(*, peer: Peer) -> int:
    """Fetch the offers a live peer shares with us and replace what we keep of them. A peer that
    does not answer keeps its last offers, marked with the error (shown as stale)."""
    now = timezone.now()
    catalogue, _ = PeerCatalogue.objects.get_or_create(peer=peer)
    try:
        answer = signed_calls.peer_call(peer, "GET", OFFERS_PATH)
        offers = answer["offers"]
        rows = [
            PeerOffer(
                peer=peer,
                terms_id=int(offer["terms"]),
                title=str(offer["title"])[:300],
                currency=str(offer["currency"])[:3],
                offer=offer,
                fetched_at=now,
            )
            for offer in offers
        ]
    except (BadGateway, KeyError, TypeError, ValueError) as error:
        detail = error.detail if isinstance(error, BadGateway) else f"malformed offers: {error!r}"
        PeerCatalogue.objects.filter(pk=catalogue.pk).update(attempted_at=now, error=detail)
        raise BadGateway(detail, code="peer_unreachable") from error
    with transaction.atomic():
        PeerOffer.objects.filter(peer=peer).delete()
        PeerOffer.objects.bulk_create(rows)
        PeerCatalogue.objects.filter(pk=catalogue.pk).update(attempted_at=now, fetched_at=now, error="")
    return len(rows)


@transaction.atomic
def terms_set_active(*, actor, terms: LeaseTerms, active: bool) -> LeaseTerms:
    require_trust_admin(actor)
    terms.active = active
    terms.save(update_fields=["active"])
    audit.record(actor=actor, action="terms.activated" if active else "terms.deactivated", subject=terms)
    return terms


@transaction.atomic
def lease_request(*, actor, terms: LeaseTerms, purpose: str, production: str = "") -> Lease:
    """A studio asks to lease a dataset under active terms, naming the production it is for
    (required when the terms carry a production fee: the fee is charged once per production)."""
    studio = require_studio_staff(actor)
    if not terms.active:
        raise Conflict("these terms are no longer offered", code="terms_inactive")
    if not purpose.strip():
        raise Invalid("say what the data is for", code="purpose_required")
    production = production_title(production)
    if len(production) > PRODUCTION_MAX:
        raise Invalid(f"a production title has at most {PRODUCTION_MAX} characters", code="bad_production")
    if terms.production_fee_cents and not production:
        raise Invalid(
            "these terms carry a production fee: name the production the data is for",
            code="production_required",
        )
    lease = Lease.objects.create(
        studio=studio, terms=terms, purpose=purpose.strip(), production=production, requested_by=actor
    )
    for perm in ("view_lease", "change_lease"):
        assign_perm(f"licensing.{perm}", studio.group, lease)
    audit.record(
        actor=actor,
        action="lease.requested",
        subject=lease,
        data={"studio": studio.name, "terms": terms.pk, "purpose": lease.purpose, "production": production},
    )
    return lease


def _locked(lease: Lease) -> Lease:
    return Lease.objects.select_for_update().select_related("terms", "studio").get(pk=lease.pk)


def _plan_for_the_real_size_of(version) -> None:
    """A version loaded in bulk moments ago can hold more rows than PostgreSQL's statistics say
    the whole table holds (autovacuum has not analyzed it yet), and the rule's plan for "nearly
    empty" tables then takes minutes instead of a second. Refresh the statistics of the tables
    the rule reads when they are that stale; a cheap check otherwise."""
    if connection.vendor != "postgresql":
        return
    items = DatasetVersionItem._meta.db_table
    held = DatasetVersionItem.objects.filter(version_id=version.pk).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [items])
        (estimated,) = cursor.fetchone()
        if estimated < held:
            for model in (Asset, AssetContributor, DatasetVersionItem, Consent):
                cursor.execute(f"ANALYZE {model._meta.db_table}")


@transaction.atomic
def lease_approve(*, actor, lease: Lease) -> Lease:
    """Pin the dataset's latest version, copy the terms, and start the clock. Refused when
    nothing in that version may be used for the permitted uses."""
    require_trust_admin(actor)
    lease = _locked(lease)
    if lease.status != Lease.Status.REQUESTED:
        raise Conflict(
            f"this lease is {lease.status}; only a requested lease can be approved",
            code="lease_not_requested",
        )
    terms = lease.terms
    version = latest_version(terms.dataset)
    if version is None:
        raise Conflict("the dataset has no frozen version to lease", code="no_version")
    _plan_for_the_real_size_of(version)
    now = timezone.now()
    lease.status = Lease.Status.ACTIVE
    lease.version = version
    lease.permitted_uses = list(terms.permitted_uses)
    lease.flat_fee_cents = terms.flat_fee_cents
    lease.price_per_download_cents = terms.price_per_download_cents
    lease.price_per_training_run_cents = terms.price_per_training_run_cents
    lease.price_per_generated_second_cents = terms.price_per_generated_second_cents
    lease.download_cap = terms.download_cap
    lease.use_caps = dict(terms.use_caps or {})
    lease.takedown_acknowledge_days = terms.takedown_acknowledge_days
    lease.takedown_attest_days = terms.takedown_attest_days
    lease.currency = terms.currency
    lease.production_fee_cents = terms.production_fee_cents
    lease.substitution_premium_bps = terms.substitution_premium_bps
    # Not yet split across a federated lease's parts (payouts/federated.py splits the flat fee
    # and training runs only): a federated lease, at home or as a part, carries no premiums.
    if (lease.production_fee_cents or lease.substitution_premium_bps) and (
        LeasePart.objects.filter(lease_id=lease.pk, peer__isnull=False).exists()
        or InboundLeasePart.objects.filter(lease_id=lease.pk).exists()
    ):
        lease.production_fee_cents = lease.substitution_premium_bps = 0
    if InboundLeasePart.objects.filter(lease_id=lease.pk).exists():
        # A part of a peer's federated lease: the flat fee and training runs are the whole lease's,
        # charged by its home trust under the home terms and split across parts by licensable
        # assets (FEDERATION.md); this trust is told its share (payouts.PartShare) and meters that.
        lease.flat_fee_cents = lease.price_per_training_run_cents = 0
    lease.decided_by, lease.decided_at = actor, now
    lease.starts_at, lease.ends_at = now, now + timedelta(days=terms.duration_days)
    lease.save()
    # The licensable set, filled from the rule in one statement; the assets licensable at approval
    # (the flat fee's and training runs' sharing) are a copy of it, in another.
    lease_assets_refresh(leases=Lease.objects.filter(pk=lease.pk), at=now)
    if quotas.lease_has_quota(lease):
        Lease.objects.filter(pk=lease.pk).update(quota_applies=True)
        lease.quota_applies = True
    licensable = LeaseAsset.objects.filter(lease=lease).count()
    if not licensable:
        raise Conflict(
            "no asset of this version is consented for the permitted uses", code="nothing_licensable"
        )
    approval = Lease.approval_assets.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {approval} (lease_id, asset_id) "
            f"SELECT lease_id, asset_id FROM {LeaseAsset._meta.db_table} WHERE lease_id = %s",
            [lease.pk],
        )
    audit.record(
        actor=actor,
        action="lease.approved",
        subject=lease,
        data={
            "version": version.number,
            "dataset": terms.dataset.slug,
            "manifest_sha256": version.manifest_sha256,
            "licensable_assets": licensable,
            "ends_at": lease.ends_at,
        },
    )
    hooks.lease_changed(lease, "approved")
    return lease


@transaction.atomic
def lease_reject(*, actor, lease: Lease, reason: str = "") -> Lease:
    require_trust_admin(actor)
    lease = _locked(lease)
    if lease.status != Lease.Status.REQUESTED:
        raise Conflict(
            f"this lease is {lease.status}; only a requested lease can be rejected",
            code="lease_not_requested",
        )
    lease.status = Lease.Status.REJECTED
    lease.decided_by, lease.decided_at, lease.decision_reason = actor, timezone.now(), reason
    lease.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit.record(actor=actor, action="lease.rejected", subject=lease, data={"reason": reason})
    hooks.lease_changed(lease, "rejected")
    return lease


@transaction.atomic
def lease_cancel(*, actor, lease: Lease) -> Lease:
    """The requesting studio withdraws its own request while the trust has not decided it.
    Another studio's lease is not found; an administrator cannot cancel for a studio; a lease
    already decided is a conflict. Nothing is pinned or charged."""
    require_studio_staff(actor, lease.studio)
    lease = _locked(lease)
    if lease.status != Lease.Status.REQUESTED:
        raise Conflict(
            f"this lease is {lease.status}; only a requested lease can be cancelled",
            code="lease_not_requested",
        )
    lease.status = Lease.Status.CANCELLED
    lease.decided_by, lease.decided_at = actor, timezone.now()
    lease.save(update_fields=["status", "decided_by", "decided_at"])
    audit.record(actor=actor, action="lease.cancelled", subject=lease, data={"studio": lease.studio.name})
    hooks.lease_changed(lease, "cancelled")
    return lease


@transaction.atomic
def lease_revoke(*, actor, lease: Lease, reason: str = "") -> Lease:
    """End an active lease now: every token stops working at once."""
    require_trust_admin(actor)
    lease = _locked(lease)
    if lease.status != Lease.Status.ACTIVE:
        raise Conflict(
            f"this lease is {lease.status}; only an active lease can be revoked", code="lease_not_active"
        )
    lease.status = Lease.Status.REVOKED
    lease.revoked_at = timezone.now()
    lease.decision_reason = reason
    lease.save(update_fields=["status", "revoked_at", "decision_reason"])
    audit.record(actor=actor, action="lease.revoked", subject=lease, data={"reason": reason})
    hooks.lease_changed(lease, "revoked")
    return lease


def leases_expire_due(*, now: datetime | None = None) -> int:
    """Mark active leases past their end as expired. Safe to run any number of times."""
    now = now or timezone.now()
    expired = 0
    for lease_id in Lease.objects.active().filter(ends_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            if Lease.objects.filter(pk=lease_id, status=Lease.Status.ACTIVE).update(
                status=Lease.Status.EXPIRED
            ):
                lease = Lease.objects.get(pk=lease_id)
                audit.record(actor=None, action="lease.expired", subject=lease)
                hooks.lease_changed(lease, "expired")
                expired += 1
    return expired


def lease_assets_refresh(
    *, leases: QuerySet[Lease] | None = None, assets: QuerySet | None = None, at: datetime | None = None
) -> None:
    """Make the precomputed licensable set (`LeaseAsset`) answer what the trust's one rule,
    `licensable_assets`, answers now: for `leases` (default: the active leases whose pinned
    version holds any of `assets`), over `assets` when given (a queryset of asset ids) or their
    whole version. Set-based: per group of leases sharing a version and uses, one DELETE of what
    the rule no longer allows and one INSERT ... SELECT of what it allows, whatever the rule says.
    Runs inside the caller's transaction, after taking the audit head's lock: every change of
    the rule's inputs is an audited write, so the refresh sees each one committed before it, and
    two refreshes never interleave (no write skew between two members' consents to one asset)."""
    audit.serialise_with_audited_writes()
    at = at or timezone.now()
    if leases is None:
        leases = Lease.objects.active().filter(version__items__asset_id__in=assets)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for pk, version_id, uses in leases.values_list("pk", "version_id", "permitted_uses").distinct():
        groups[(version_id, tuple(sorted(uses)))].append(pk)
    for (version_id, uses), lease_ids in groups.items():
        held = Asset.objects.filter(version_items__version_id=version_id)
        rows = LeaseAsset.objects.filter(lease_id__in=lease_ids)
        if assets is not None:
            held, rows = held.filter(pk__in=assets), rows.filter(asset_id__in=assets)
        allowed = licensable_assets(assets=held, uses=uses, at=at).values("pk")
        rows.exclude(asset_id__in=allowed).delete()
        sql, params = allowed.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LeaseAsset._meta.db_table} (lease_id, asset_id) "
                f"SELECT lease.id, allowed.* FROM {Lease._meta.db_table} lease, ({sql}) allowed "
                f"WHERE lease.id IN ({', '.join(['%s'] * len(lease_ids))}) "
                "ON CONFLICT (lease_id, asset_id) DO NOTHING",
                [*params, *lease_ids],
            )


def vendor_of(token) -> str:
    """Who used a lease through `token`: the vendor a derived `ft_` token names (it names itself
    at derivation, registered here or not), or "" for the studio's own token."""
    return (getattr(token, "vendor", None) or "")[:200]


def _take_download(lease: Lease) -> None:
    """Count one download against the lease's cap, or refuse (409) when the cap is reached.
    Called last in the download's transaction: the counter row stays locked only until commit,
    and the lease row is never locked, so downloads of a lease do not queue behind each other."""
    cap, counter = lease.download_cap, LeaseDownloadCount._meta.db_table
    take = f"UPDATE {counter} SET used = used + 1 WHERE lease_id = %s AND used < %s RETURNING used"
    row = None
    with connection.cursor() as cursor:
        if cap > 0:
            cursor.execute(take, [lease.pk, cap])
            row = cursor.fetchone()
        if row is None and cap > 0:
            if not LeaseDownloadCount.objects.filter(lease_id=lease.pk).exists():
                # The lease's first capped download: count from the events recorded so far (this
                # one included). A concurrent first download waits on the key, then takes one more.
                cursor.execute(
                    f"INSERT INTO {counter} (lease_id, used) SELECT %s, count(*) FROM "
                    f"{UsageEvent._meta.db_table} WHERE lease_id = %s AND kind = %s "
                    "ON CONFLICT (lease_id) DO NOTHING RETURNING used",
                    [lease.pk, lease.pk, UsageEvent.Kind.DOWNLOAD],
                )
                row = cursor.fetchone()
            if row is None:
                # Take again: the counter may have been committed by a concurrent first download
                # after our first UPDATE found nothing (then it is there now), or the cap is reached.
                cursor.execute(take, [lease.pk, cap])
                row = cursor.fetchone()
    if row is None or row[0] > cap:
        raise Conflict(f"the lease's cap of {cap} downloads is reached", code="download_cap_reached")


def _record_download(*, lease: Lease, asset: Asset, token: LeaseToken, at: datetime) -> None:
    """One `download` usage event, as `UsageEvent` defines it, in one statement written out (the
    gateway's hot path; the ORM would compile the same INSERT on every request)."""
    fields = [
        "lease",
        "event_key",
        "kind",
        "asset",
        "quantity",
        "occurred_at",
        "recorded_at",
        "source",
        "token",
        "vendor",
    ]
    values = [lease.pk, f"gateway:{uuid.uuid4()}", UsageEvent.Kind.DOWNLOAD, asset.pk, 1, at, at]
    values += [UsageEvent.Source.GATEWAY, token.pk, vendor_of(token)]
    meta = UsageEvent._meta
    columns = [meta.get_field(name) for name in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {meta.db_table} ({', '.join(c.column for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})",
            [c.get_db_prep_save(v, connection) for c, v in zip(columns, values, strict=True)],
        )


def _pull_window_since(at: datetime) -> datetime | None:
    """The earliest billed download that still covers a download at `at`; None: no window."""
    seconds = settings.PULL_WINDOW_SECONDS
    return at - timedelta(seconds=seconds) if seconds > 0 else None


def _pull_window_claim(*, token_key: str, asset_id, at: datetime) -> bool:
    """Open the token's pull window on the asset at `at` unless one is open: True when this
    download is the billed one, False when it is a refresh inside the window. In the caller's
    transaction, so a refusal after it (the cap) leaves no window open."""
    since = _pull_window_since(at)
    if since is None:
        return True
    moment = partial(PullWindow._meta.get_field("opened_at").get_db_prep_value, connection=connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PullWindow._meta.db_table} AS pulled (token_key, asset_id, opened_at) "
            "VALUES (%s, %s, %s) ON CONFLICT (token_key, asset_id) DO UPDATE SET opened_at = "
            "EXCLUDED.opened_at WHERE pulled.opened_at <= %s RETURNING 1",
            [token_key, Asset._meta.pk.get_db_prep_value(asset_id, connection), moment(at), moment(since)],
        )
        return cursor.fetchone() is not None


# Rows deleted per statement when pruning, so no statement holds many row locks for long.
PULL_WINDOW_PRUNE_BATCH = 10_000


def pull_windows_prune(*, now: datetime | None = None) -> int:
    """Delete the pull windows that have ended (all of them with the window off); returns how
    many. A download after its window is billed whether its row is there or not, so this only
    keeps the table to the windows still open. In batches; safe to run at any time, twice."""
    since = _pull_window_since(now or timezone.now()) or (now or timezone.now())
    table, deleted = PullWindow._meta.db_table, 0
    moment = PullWindow._meta.get_field("opened_at").get_db_prep_value(since, connection)
    with connection.cursor() as cursor:
        while True:
            # No index on opened_at: it would cost every billed download an insert; an hourly
            # scan costs less.
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE opened_at <= %s LIMIT %s)",
                [moment, PULL_WINDOW_PRUNE_BATCH],
            )
            deleted += cursor.rowcount
            if cursor.rowcount < PULL_WINDOW_PRUNE_BATCH:
                return deleted


def _download_in_one_statement(
    *, lease: Lease, token: LeaseToken, asset_id, at: datetime
) -> tuple[Asset, bool] | None:
    """The download's checks and writes as one statement (PostgreSQL), so it is atomic without a
    transaction of its own and costs one round trip: the licensable asset (`LeaseAsset`), the
    token's pull window on it, every usage guard's rows locked FOR SHARE as the guard itself
    locks them, the cap's conditional UPDATE of the counter, the window opened, and the
    `download` event, as `UsageEvent` defines it. Returns (asset, True) when the event was
    recorded, (asset, False) for a refresh inside the token's pull window (licensable still,
    nothing recorded or counted); None when anything refused it (not licensable, a guard, the
    cap, a counter not yet created) or when the guards have no query: nothing was written, and
    the caller takes the transactional path, which raises the exact refusal.

    Two first downloads of one asset with one token at the same instant: the window's unique
    key lets one record its event; the other gives back the cap it took (a second statement,
    only then) and is served as a refresh by the transactional path."""
    guards = hooks.usage_guard_queries()
    if connection.vendor != "postgresql" or guards is None:
        return None
    capped = lease.download_cap is not None
    since = _pull_window_since(at)
    events, licensable, assets = (
        UsageEvent._meta.db_table,
        LeaseAsset._meta.db_table,
        Asset._meta.db_table,
    )
    counter, windows = LeaseDownloadCount._meta.db_table, PullWindow._meta.db_table
    guard_ctes = "".join(f"guard{n}(refused) AS MATERIALIZED ({sql}), " for n, sql in enumerate(guards))
    refused = " OR ".join(f"EXISTS (SELECT 1 FROM guard{n} WHERE refused)" for n in range(len(guards)))
    allowed = f"EXISTS (SELECT 1 FROM asset) AND NOT ({refused or 'false'})"
    billed = f"{allowed} AND NOT EXISTS (SELECT 1 FROM fresh)"
    sql = f"""
        WITH asset AS MATERIALIZED (
            SELECT a.object_key, a.title, a.content_type FROM {licensable} la
            JOIN {assets} a ON a.id = la.asset_id WHERE la.lease_id = %(lease)s AND la.asset_id = %(asset)s
        ), fresh AS MATERIALIZED (
            SELECT 1 FROM {windows} WHERE %(windowed)s AND token_key = %(token_key)s
            AND asset_id = %(asset)s AND opened_at > %(since)s
        ), {guard_ctes}taken AS (
            UPDATE {counter} SET used = used + 1
            WHERE %(capped)s AND lease_id = %(lease)s AND used < %(cap)s AND {billed}
            RETURNING used
        ), opened AS (
            INSERT INTO {windows} AS pulled (token_key, asset_id, opened_at)
            SELECT %(token_key)s, %(asset)s, %(at)s
            WHERE %(windowed)s AND {billed} AND (NOT %(capped)s OR EXISTS (SELECT 1 FROM taken))
            ON CONFLICT (token_key, asset_id) DO UPDATE SET opened_at = EXCLUDED.opened_at
            WHERE pulled.opened_at <= %(since)s
            RETURNING 1
        ), recorded AS (
            INSERT INTO {events} (lease_id, event_key, kind, asset_id, quantity, occurred_at,
                recorded_at, source, token_id, vendor)
            SELECT %(lease)s, %(key)s, %(kind)s, %(asset)s, 1, %(at)s, %(at)s, %(source)s, %(token)s,
                %(vendor)s
            WHERE {billed} AND (NOT %(capped)s OR EXISTS (SELECT 1 FROM taken))
            AND (NOT %(windowed)s OR EXISTS (SELECT 1 FROM opened))
            RETURNING 1
        )
        SELECT object_key, title, content_type, EXISTS (SELECT 1 FROM recorded),
            EXISTS (SELECT 1 FROM fresh), EXISTS (SELECT 1 FROM taken)
        FROM asset
    """
    params = {
        "lease": lease.pk,
        "asset": Asset._meta.pk.get_db_prep_value(asset_id, connection),
        "capped": capped,
        "cap": lease.download_cap if capped else 0,
        "windowed": since is not None,
        "since": since or at,
        "token_key": pull_window_key(token),
        "key": f"gateway:{uuid.uuid4()}",
        "kind": UsageEvent.Kind.DOWNLOAD,
        "source": UsageEvent.Source.GATEWAY,
        "at": at,
        "token": token.pk,
        "vendor": vendor_of(token),
    }
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        object_key, title, content_type, recorded, fresh, taken = row
        if taken and not recorded:
            # Another download of this asset with this token opened the window between our
            # snapshot and our insert, and was billed: give back the cap we took for nothing.
            cursor.execute(f"UPDATE {counter} SET used = used - 1 WHERE lease_id = %s", [lease.pk])
    if not (recorded or fresh):
        return None
    return Asset(pk=asset_id, object_key=object_key, title=title, content_type=content_type), recorded


def gateway_download(*, token: LeaseToken, lease_id, asset_id) -> str:
    """Authorise one download: consent re-checked now, the cap enforced, one `download` event
    recorded (none for a refresh: the same token's download of the same asset again within
    PULL_WINDOW_SECONDS of the one billed, which also takes nothing from the cap), then a
    presigned URL that lives at most DOWNLOAD_URL_SECONDS and never past the token's expiry. The
    URL answers with the asset's media type and a filename made from its title. Nothing is
    recorded for a refused download, nor while the object store is unreachable.

    Two database round trips in the common case: the token with its lease (authentication), then
    one statement that checks and records (`_download_in_one_statement`). Anything it refuses is
    done again on the transactional path below, which raises the refusal."""
    from trust.storage import download_filename, get_object_store

    lease = lease_of_token(token=token, lease_id=lease_id)
    now = timezone.now()
    require_live(lease, at=now)
    store = get_object_store()
    # Presigning is local computation: the store must have answered (a HEAD, or one within the
    # last STORAGE_REACHABLE_SECONDS in this process), so a download it cannot serve now is
    # refused with 503 and never recorded or billed. The object itself was verified at upload.
    try:
        store.require_reachable(believe_recent=True)
    except ServiceUnavailable:
        downloadable_asset(lease, asset_id)  # a refused asset is refused first, as always
        raise
    if lease.quota_applies:  # one more query, only for a lease some quota applies to
        quotas.refuse_download_over_quota(lease=lease, asset_id=asset_id, at=now)
    served = _download_in_one_statement(lease=lease, token=token, asset_id=asset_id, at=now)
    if served is not None:
        asset = served[0]
    else:
        asset = downloadable_asset(lease, asset_id)
        with transaction.atomic():
            if _pull_window_claim(token_key=pull_window_key(token), asset_id=asset_id, at=now):
                hooks.check_usage_allowed([now])
                _record_download(lease=lease, asset=asset, token=token, at=now)
                if lease.download_cap is not None:
                    _take_download(lease)
    # Committed: the event exists before the redirect leaves, whatever happens to this worker next.
    seconds = min(settings.DOWNLOAD_URL_SECONDS, int((token.expires_at - now).total_seconds()))
    return store.presigned_get(
        asset.object_key,
        expires_in=max(seconds, 1),
        filename=download_filename(
            title=asset.title, content_type=asset.content_type, fallback=str(asset.pk)
        ),
        content_type=asset.content_type,
    )


# The most events one usage report may carry (POST /usage/ takes 10,000 in one request).
USAGE_EVENTS_MAX = 10_000


def _checked_usage(
    lease: Lease, events: Sequence[Mapping], now: datetime, positions: Sequence[int] | None = None
) -> list[tuple]:
    """The report's events as rows (event_key, kind, asset, quantity, occurred_at), first
    occurrence of each key, after the lease's rules; the first event that breaks one refuses
    the report, naming its index (its place in the whole report: `positions`, when these are
    some of its events). One query (which of the named assets the version holds)."""
    named = set()
    for event in events:
        asset = event.get("asset")
        if asset:
            named.add(asset if isinstance(asset, uuid.UUID) else uuid.UUID(str(asset)))
    in_version = set(
        DatasetVersionItem.objects.filter(version_id=lease.version_id, asset_id__in=named).values_list(
            "asset_id", flat=True
        )
        if named
        else ()
    )
    may_train = permits_training(lease.permitted_uses)
    may_generate = permits_generation(lease.permitted_uses)
    starts, end, latest = lease.starts_at, effective_end(lease), now + CLOCK_SKEW
    generation = UsageEvent.Kind.GENERATED_SECOND.value
    # The kinds this lease takes, so that one set lookup passes an event; another kind is
    # refused by `_refuse_usage_kind` with its reason.
    allowed = {UsageEvent.Kind.TRAINING_RUN.value} if may_train else set()
    if may_generate:
        allowed.add(generation)
    if lease.substitution_premium_bps:
        allowed.add(UsageEvent.Kind.SUBSTITUTION_SAVING.value)
    rows, seen = [], set()
    for index, event in enumerate(events):
        kind, asset, occurred_at = event["kind"], event.get("asset"), event["occurred_at"]
        if kind not in allowed:
            _refuse_usage_kind(kind, f"events[{positions[index] if positions else index}]")
        if asset:
            if asset.__class__ is not uuid.UUID:
                asset = uuid.UUID(str(asset))
            if asset not in in_version:
                where = f"events[{positions[index] if positions else index}]"
                raise Invalid(f"{where}: asset {asset} is not in this lease", code="asset_not_in_lease")
        elif kind == generation:
            where = f"events[{positions[index] if positions else index}]"
            raise Invalid(f"{where}: generated seconds must name the asset used", code="asset_required")
        if occurred_at < starts or (end and occurred_at >= end) or occurred_at > latest:
            where = f"events[{positions[index] if positions else index}]"
            raise Invalid(f"{where}: occurred_at lies outside the lease's active time", code="outside_lease")
        key = event["event_key"]
        if key not in seen:
            seen.add(key)
            rows.append((key, kind, asset or None, event["quantity"], occurred_at))
    return rows


def _refuse_usage_kind(kind: str, where: str) -> None:
    """Refuse usage of a `kind` the lease does not take, with the reason (a kind that is none of
    UsageEvent's is the serializer's to refuse)."""
    if kind == UsageEvent.Kind.DOWNLOAD:
        raise Invalid(
            f"{where}: downloads are metered by the gateway, not reported", code="download_not_reportable"
        )
    if kind == UsageEvent.Kind.TRAINING_RUN:
        raise Forbidden(f"{where}: this lease does not permit training", code="use_not_permitted")
    if kind == UsageEvent.Kind.GENERATED_SECOND:
        raise Forbidden(f"{where}: this lease does not permit generation", code="use_not_permitted")
    if kind == UsageEvent.Kind.SUBSTITUTION_SAVING:
        raise Invalid(
            f"{where}: this lease's terms carry no substitution premium", code="no_substitution_premium"
        )


def _refuse_usage_after_withdrawal(
    lease: Lease, events: Sequence[Mapping], rows: list[tuple], positions: Sequence[int] | None = None
) -> None:
    named = [(i, row[2], row[4]) for i, row in enumerate(rows) if row[2] is not None]
    refused = first_use_after_withdrawal(lease, named)
    if refused is not None:
        key = rows[refused][0]
        index = next(i for i, event in enumerate(events) if event["event_key"] == key)
        index = positions[index] if positions else index
        raise Conflict(
            f"events[{index}]: a member withdrew consent for asset {rows[refused][2]} before this usage",
            code="consent_withdrawn",
        )


# Reported usage is written with binary COPY: PostgreSQL parses no text, psycopg builds each row in C.
_USAGE_COPY = (
    f"COPY {UsageEvent._meta.db_table} (lease_id, event_key, kind, asset_id, quantity, occurred_at, "
    "recorded_at, source, token_id, vendor) FROM STDIN (FORMAT BINARY)"
)
_USAGE_COPY_TYPES = [
    "int8",
    "text",
    "text",
    "uuid",
    "int8",
    "timestamptz",
    "timestamptz",
    "text",
    "int8",
    "text",
]


def _event_keys_taken(cursor, lease_id: int, keys: list[str]) -> set[str] | None:
    """Take the lease's distinct `keys` in UsageEventKey: the set of those newly taken, or None
    when every one was. A report sent for the first time (the usual case) is copied in; a key
    taken before (a report sent again) makes the copy fail, and the keys are then taken with
    ON CONFLICT DO NOTHING, which costs about twice as much per key. A key a concurrent report
    holds waits for it either way. Keys go in sorted: two reports sharing keys take them in
    the same order (no deadlock), and the index is written left to right."""
    keys = sorted(keys)
    table = UsageEventKey._meta.db_table
    try:
        copying = f"COPY {table} (lease_id, event_key) FROM STDIN (FORMAT BINARY)"
        with transaction.atomic(), connection.wrap_database_errors, cursor.copy(copying) as copy:
            copy.set_types(["int8", "text"])
            for key in keys:
                copy.write_row((lease_id, key))
        return None
    except IntegrityError:
        cursor.execute(
            f"INSERT INTO {table} (lease_id, event_key) SELECT %s, unnest(%s::text[]) "
            "ON CONFLICT (lease_id, event_key) DO NOTHING RETURNING event_key",
            [lease_id, keys],
        )
        return {row[0] for row in cursor.fetchall()}


def _insert_reported_usage(
    *, lease: Lease, token, rows: list[tuple], now: datetime, source: str = UsageEvent.Source.REPORT
) -> int:
    """Insert the rows whose key the lease has not seen; returns how many were new. A key taken
    by a concurrent report waits for it, then counts as a duplicate: never recorded twice.
    `token` is the reporting token, or None for usage forwarded by the lease's home trust."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            fresh = _event_keys_taken(cursor, lease.pk, [row[0] for row in rows])
            lease_id, token_id, vendor = lease.pk, (token.pk if token else None), vendor_of(token)
            with connection.wrap_database_errors, cursor.copy(_USAGE_COPY) as copy:
                copy.set_types(_USAGE_COPY_TYPES)
                for key, kind, asset, quantity, occurred_at in rows:
                    if fresh is None or key in fresh:
                        copy.write_row(
                            (lease_id, key, kind, asset, quantity, occurred_at, now, source, token_id, vendor)
                        )
        return len(rows) if fresh is None else len(fresh)
    fresh = take_new_event_keys(lease, rows, key_of=lambda row: row[0])
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                lease=lease,
                event_key=key,
                kind=kind,
                asset_id=asset,
                quantity=quantity,
                occurred_at=occurred_at,
                recorded_at=now,
                source=source,
                token_id=token.pk if token else None,
                vendor=vendor_of(token),
            )
            for key, kind, asset, quantity, occurred_at in fresh
        ],
        batch_size=500,
    )
    return len(fresh)


def take_new_event_keys(lease: Lease, rows: list[tuple], *, key_of) -> list[tuple]:
    """On the embedded default (SQLite holds one writer at a time): the rows whose event key the
    lease has not seen, their keys taken in UsageEventKey (a key is one event per lease, reported
    here or forwarded to another trust). PostgreSQL does the same in the insert's own statement."""
    known = set(
        UsageEventKey.objects.filter(lease=lease, event_key__in=[key_of(row) for row in rows]).values_list(
            "event_key", flat=True
        )
    )
    fresh = [row for row in rows if key_of(row) not in known]
    UsageEventKey.objects.bulk_create([UsageEventKey(lease=lease, event_key=key_of(row)) for row in fresh])
    return fresh


def usage_report(*, token: LeaseToken, lease_id, events: Sequence[Mapping]) -> tuple[int, int]:
    """Record reported usage, all or nothing. A repeated `event_key` (in this report or an
    earlier one) is counted once. Returns (accepted, duplicates).

    Refused, with nothing written: an event the lease's terms or version do not cover, dated
    outside the lease's live window (usage from the window is still taken after the lease
    ended), in a period that is closing, or naming an asset at a time when a contributor's
    withdrawal had taken it out of the lease (409 consent_withdrawn). Set-based: a constant
    number of queries for any number of events, one multi-row insert.

    On a federated lease, an event naming another trust of the lease (`trust`) is checked here
    for its part and kept to be forwarded to that trust (`federated.forwarded_usage_split`)."""
    lease = lease_of_token(token=token, lease_id=lease_id)
    now = timezone.now()
    original_events = events
    # Usage may be reported after a revocation or the end, for the time the lease was live.
    if lease.status not in Lease.APPROVED_STATUSES:
        raise Conflict("this lease was never active", code="lease_not_active")
    if len(events) > USAGE_EVENTS_MAX:
        raise Invalid(f"a report carries at most {USAGE_EVENTS_MAX} events", code="too_many_events")
    # Corrections (`corrects`, licensing.corrections) go their own way; their places in the
    # report are kept for the errors of both kinds.
    fixes = [i for i, event in enumerate(events) if event.get("corrects")]
    if fixes:
        plain = [i for i, event in enumerate(events) if not event.get("corrects")]
        events = [events[i] for i in plain]
    home, positions, forwarded = federated.forwarded_usage_split(lease, events, now)
    if fixes:
        positions = [plain[p] for p in positions] if positions is not None else plain
    rows = _checked_usage(lease, home, now, positions)
    if isinstance(token, FederatedAccess):
        # A vendor's token: its own narrower assets and uses, the other trusts' events included.
        usage_allowed_by_token(token, rows + [row[1:] for row in forwarded])
    with transaction.atomic():
        partitions.ensure_usage_partitions({partitions.month_of(row[4]) for row in rows})
        hooks.check_usage_allowed([row[4] for row in rows] + [row[5] for row in forwarded])
        _refuse_usage_after_withdrawal(lease, home, rows, positions)
        accepted = _insert_reported_usage(lease=lease, token=token, rows=rows, now=now) if rows else 0
        quotas.take_for_report(lease, events=home, rows=rows, accepted=accepted, now=now, positions=positions)
        accepted += federated.forwarded_usage_insert(lease=lease, rows=forwarded, now=now)
        if fixes:
            accepted += corrections.corrections_record(
                lease=lease,
                corrections=[original_events[i] for i in fixes],
                source=UsageCorrection.Source.REPORT,
                token=token,
                positions=fixes,
            )
    return accepted, len(original_events) - accepted


def usage_record_forwarded(*, lease: Lease, events: Sequence[Mapping]) -> tuple[int, int]:
    """At a part's trust: usage the lease's home trust forwarded for this trust's part, under
    `usage_report`'s own rules for the part's lease, recorded with source `federated` and
    idempotent by event key. All or nothing, like a studio's report; (accepted, duplicates)."""
    now = timezone.now()
    if lease.status not in Lease.APPROVED_STATUSES:
        raise Conflict("this part was never active here", code="lease_not_active")
    rows = _checked_usage(lease, events, now)
    with transaction.atomic():
        partitions.ensure_usage_partitions({partitions.month_of(row[4]) for row in rows})
        hooks.check_usage_allowed([row[4] for row in rows])
        _refuse_usage_after_withdrawal(lease, events, rows)
        accepted = _insert_reported_usage(
            lease=lease, token=None, rows=rows, now=now, source=UsageEvent.Source.FEDERATED
        )
        quotas.take_for_report(lease, events=events, rows=rows, accepted=accepted, now=now)
    return accepted, len(events) - accepted


@transaction.atomic
def takedowns_issue_for_withdrawal(*, withdrawal: Consent) -> list[Takedown]:
    """Issue the takedown notices `withdrawal_takedowns` names for the withdrawn grant: every
    active lease holding an asset the withdrawal touches that the lease could use and no longer
    can gets one notice (never a second while one is open), and so does every lease that ended
    within the retention and downloaded such an asset. Each notice's deadlines come from its
    lease's terms (`deadlines.takedown_deadlines`). The member's withdraw page previewed the
    same selector, so it promised exactly these."""
    grant = withdrawal.supersedes
    scope = grant.member.contributions.all()
    if grant.asset_id:
        scope = scope.filter(asset_id=grant.asset_id)
    asset_ids = list(scope.values_list("asset_id", flat=True))
    now = timezone.now()
    lease_ids = list(active_leases_holding(asset_ids).values_list("pk", flat=True))
    lease_ids += list(ended_leases_retaining(asset_ids, at=now))
    # Locked in pk order so concurrent withdrawals never deadlock, and count open notices once.
    leases = {
        lease.pk: lease
        for lease in Lease.objects.filter(pk__in=lease_ids)
        .order_by("pk")
        .select_for_update()
        .only("pk", "takedown_acknowledge_days", "takedown_attest_days")
    }
    issued = []
    for lease_id, asset_ids in withdrawal_takedowns(grant, at=now).items():
        acknowledge_due_at, attest_due_at = deadlines.takedown_deadlines(leases[lease_id], now)
        for asset_id in asset_ids:
            takedown = Takedown.objects.create(
                lease_id=lease_id,
                asset_id=asset_id,
                withdrawal_id=withdrawal.pk,
                issued_at=now,
                acknowledge_due_at=acknowledge_due_at,
                attest_due_at=attest_due_at,
            )
            audit.record(
                actor=None,
                action="takedown.issued",
                subject=takedown,
                data={
                    "lease": lease_id,
                    "asset": str(asset_id),
                    "withdrawal": withdrawal.pk,
                    "acknowledge_by": acknowledge_due_at,
                    "attest_by": attest_due_at,
                },
            )
            issued.append(takedown)
    hooks.takedowns_changed(issued)
    return issued


@transaction.atomic
def takedown_acknowledge(*, actor, takedown: Takedown) -> Takedown:
    require_studio_staff(actor, takedown.lease.studio)
    takedown = Takedown.objects.select_for_update().get(pk=takedown.pk)
    if takedown.status != Takedown.Status.ISSUED:
        raise Conflict(f"this notice is already {takedown.status}", code="takedown_not_issued")
    takedown.status = Takedown.Status.ACKNOWLEDGED
    takedown.acknowledged_at, takedown.acknowledged_by = timezone.now(), actor
    takedown.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    audit.record(actor=actor, action="takedown.acknowledged", subject=takedown)
    hooks.takedowns_changed([takedown])
    return takedown


@transaction.atomic
def takedown_attest_deletion(*, actor, takedown: Takedown, statement: str) -> Takedown:
    """The studio states it deleted the asset and everything derived that it can delete."""
    require_studio_staff(actor, takedown.lease.studio)
    takedown = Takedown.objects.select_for_update().get(pk=takedown.pk)
    if takedown.status != Takedown.Status.ACKNOWLEDGED:
        raise Conflict("acknowledge the notice before attesting deletion", code="takedown_not_acknowledged")
    if not statement.strip():
        raise Invalid("the attestation needs a statement", code="statement_required")
    takedown.status = Takedown.Status.DELETION_ATTESTED
    takedown.attested_at, takedown.attested_by = timezone.now(), actor
    takedown.attestation = statement.strip()
    takedown.save(update_fields=["status", "attested_at", "attested_by", "attestation"])
    deadlines.lease_restore_if_attested(lease_id=takedown.lease_id, actor=actor)
    audit.record(
        actor=actor,
        action="takedown.deletion_attested",
        subject=takedown,
        data={"statement": takedown.attestation},
    )
    hooks.takedowns_changed([takedown])
    return takedown


# --- The model register ---------------------------------------------------------------------------


@transaction.atomic
def trained_model_declare(
    *,
    actor,
    lease: Lease,
    name: str,
    version: str,
    purpose: str,
    dataset_versions: Sequence[tuple[str, int]],
    training_started_on,
    training_ended_on=None,
) -> TrainedModel:
    """Record a model the lease's studio says it trained under the lease: on the lease's own
    dataset version (the only one it was given), with training starting inside the lease's time
    and no date in the future. One declaration per (name, version) per lease."""
    require_studio_staff(actor, lease.studio)
    if lease.status not in Lease.APPROVED_STATUSES:
        raise Conflict(
            f"this lease is {lease.status}: no data was licensed under it", code="lease_not_approved"
        )
    pinned = (lease.version.dataset.slug, lease.version.number)
    foreign = sorted({(slug, number) for slug, number in dataset_versions} - {pinned})
    if foreign:
        named = ", ".join(f"{slug} v{number}" for slug, number in foreign)
        raise Invalid(
            f"this lease licenses {pinned[0]} v{pinned[1]} only, not {named}", code="version_not_in_lease"
        )
    today = timezone.localdate()
    starts, ends = timezone.localdate(lease.starts_at), timezone.localdate(effective_end(lease))
    if not starts <= training_started_on <= min(ends, today):
        raise Invalid(
            f"training must start between the lease's start ({starts}) and its end ({ends}), "
            "and not after today",
            code="training_outside_lease",
        )
    if training_ended_on is not None and not training_started_on <= training_ended_on <= today:
        raise Invalid(
            "training must end on or after its start, and not after today", code="training_dates_invalid"
        )
    try:
        # A savepoint, so a declaration racing an identical one is a 409, not a broken transaction.
        with transaction.atomic():
            model = TrainedModel.objects.create(
                lease=lease,
                name=name,
                version=version,
                purpose=purpose,
                training_started_on=training_started_on,
                training_ended_on=training_ended_on,
                declared_by=actor,
            )
    except IntegrityError as error:
        raise Conflict(
            f"{name} {version} is already declared on this lease", code="model_already_declared"
        ) from error
    model.dataset_versions.add(lease.version)
    audit.record(
        actor=actor,
        action="model.declared",
        subject=model,
        data={"lease": lease.pk, "name": name, "version": version, "dataset_version": lease.version_id},
    )
    return model
