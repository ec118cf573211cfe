"""Reads of the licensing app."""

import json
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from federation.models import Peer
from trust.consent import FIRST_OPT_IN, Use, active_grants, current_texts, is_first_opt_in, standing_refusals
from trust.errors import Conflict, Forbidden, Gone, NotFound
from trust.models import (
    Asset,
    AssetContributor,
    Consent,
    DatasetItem,
    DatasetVersion,
    DatasetVersionItem,
    Member,
)
from trust.selectors import (
    consent_changes,
    consent_coverage,
    is_trust_admin,
    latest_versions,
    licensable_assets,
)

from .models import (
    Lease,
    LeaseAsset,
    LeaseDownloadCount,
    LeasePart,
    LeaseTerms,
    LeaseToken,
    PeerOffer,
    Studio,
    StudioStaff,
    Takedown,
    TrainedModel,
    UsageEvent,
)


def studio_of(user) -> Studio | None:
    if not (user and user.is_authenticated):
        return None
    staff = getattr(user, "studio_staff", None)
    return staff.studio if staff else None


def require_studio_staff(actor, studio: Studio | None = None) -> Studio:
    """The actor's studio; refused (403) for anyone else, and (404) when `studio` is another's."""
    own = studio_of(actor)
    if own is None:
        raise Forbidden("only studio staff may do this", code="studio_only")
    if studio is not None and own.pk != studio.pk:
        raise NotFound("no such lease", code="lease_not_found")
    return own


def studio_documents_visible_to(user, documents: QuerySet) -> QuerySet:
    """Of `documents` (rows with a `studio`: invoices, credit notes), every one for an
    administrator, the studio's own for its staff, none for anyone else."""
    if is_trust_admin(user):
        return documents
    studio = studio_of(user)
    return documents.filter(studio=studio) if studio is not None else documents.none()


def leases_visible_to(user) -> QuerySet[Lease]:
    """Administrators see every lease; studio staff see their studio's (guardian object
    permissions granted to the studio's group); everyone else nothing."""
    if is_trust_admin(user):
        return Lease.objects.all()
    if studio_of(user) is None:
        return Lease.objects.none()
    return get_objects_for_user(user, "licensing.view_lease", klass=Lease, accept_global_perms=False)


def lease_for(*, user, lease_id) -> Lease:
    lease = (
        leases_visible_to(user)
        .select_related("studio__home_peer", "terms", "version__dataset")
        .prefetch_related(PARTS_PREFETCH)
        .filter(pk=lease_id)
        .first()
    )
    if lease is None:
        raise NotFound("no such lease", code="lease_not_found")
    return lease


PARTS_PREFETCH = Prefetch("parts", queryset=LeasePart.objects.select_related("peer"))


def lease_parts(lease: Lease) -> list[dict]:
    """A federated lease's parts as its home trust knows them, this trust's first, then by trust:
    who decides each, under which terms, and where it stands. Empty for a local lease (reads
    `lease.parts`, prefetched by list views with PARTS_PREFETCH)."""
    rows = []
    for part in lease.parts.all():
        if part.peer_id is None:
            trust, name, terms, title = (
                settings.TRUST_SLUG,
                settings.TRUST_NAME,
                lease.terms_id,
                lease.terms.title,
            )
        else:
            trust, name = part.peer.slug, part.peer.name
            terms, title = part.remote_terms_id, part.offer.get("title", "")
        rows.append(
            {
                "home": part.peer_id is None,
                "trust": trust,
                "trust_name": name,
                "terms": terms,
                "title": title,
                "status": part.status,
                "licensable_at_approval": part.licensable_at_approval,
                "starts_at": part.starts_at,
                "ends_at": part.ends_at,
                "decided_at": part.decided_at,
                "reason": part.reason,
                "forwarded_at": part.forwarded_at,
                "unavailable_since": part.unavailable_since,
                "unavailable_reason": part.unavailable_reason,
            }
        )
    return sorted(rows, key=lambda row: (not row["home"], row["trust"]))


def catalogue_terms() -> QuerySet[LeaseTerms]:
    return LeaseTerms.objects.filter(active=True).select_related("dataset").order_by("title", "pk")


def dataset_summary(dataset) -> dict:
    version = dataset.versions.order_by("-number").first()
    if version is None:
        return {
            "id": dataset.pk,
            "slug": dataset.slug,
            "title": dataset.title,
            "latest_version": None,
            "asset_count": 0,
            "kinds": {},
        }
    kinds = dict(version.assets.values_list("kind").annotate(n=Count("pk")).order_by("kind"))
    return {
        "id": dataset.pk,
        "slug": dataset.slug,
        "title": dataset.title,
        "latest_version": version.number,
        "asset_count": sum(kinds.values()),
        "kinds": kinds,
    }


def effective_end(lease: Lease) -> datetime | None:
    """When the lease stops giving access: its end, or its revocation if sooner."""
    if lease.revoked_at and (lease.ends_at is None or lease.revoked_at < lease.ends_at):
        return lease.revoked_at
    return lease.ends_at


def require_live(lease: Lease, *, at: datetime | None = None) -> None:
    """Raise Gone for a revoked or ended lease, and a 409 for one not yet approved."""
    at = at or timezone.now()
    if lease.status == Lease.Status.REVOKED:
        raise Gone("this lease was revoked", code="lease_revoked")
    if lease.status == Lease.Status.EXPIRED or (lease.ends_at and at >= lease.ends_at):
        raise Gone("this lease has expired", code="lease_expired")
    if lease.status != Lease.Status.ACTIVE:
        raise Conflict(f"this lease is {lease.status}, not active", code="lease_not_active")


def lease_is_live(lease: Lease, *, at: datetime | None = None) -> bool:
    """`require_live` as a yes/no for pages: whether the lease gives access (and tokens) now."""
    try:
        require_live(lease, at=at)
    except (Gone, Conflict):
        return False
    return True


def lease_licensable_assets(lease: Lease, *, at: datetime | None = None) -> QuerySet[Asset]:
    """Assets of the pinned version that may be used, now, for every use the lease permits."""
    at = at or timezone.now()
    return licensable_assets(
        assets=Asset.objects.filter(version_items__version_id=lease.version_id),
        uses=lease.permitted_uses,
        at=at,
    )


def first_use_after_withdrawal(lease: Lease, uses: Sequence[tuple]) -> int | None:
    """Of `uses`, (index, asset id, when) triples, the smallest index of one dated when its asset
    was no longer licensable for the lease because a contributor had withdrawn consent (and not
    granted it again), or None. Set-based: one query when no contributor of the named assets has
    withdrawn anything relevant by then (the usual case), three otherwise, for any batch size."""
    if not uses:
        return None
    until = max(when for _, _, when in uses)
    withdrawn = consent_changes(
        asset_ids={asset for _, asset, _ in uses},
        uses=lease.permitted_uses,
        until=until,
        withdrawals_only=True,
    )
    first_withdrawal: dict = {}
    for asset, when in withdrawn:
        first_withdrawal[asset] = min(when, first_withdrawal.get(asset, when))
    suspects = [
        (i, asset, when)
        for i, asset, when in uses
        if asset in first_withdrawal and first_withdrawal[asset] <= when
    ]
    if not suspects:
        return None
    # Licensability only changes when a relevant consent does: ask the one rule at each such time
    # since the first withdrawal, in one query, and judge each use by the last change before it.
    assets = {asset for _, asset, _ in suspects}
    changes = consent_changes(
        asset_ids=assets,
        uses=lease.permitted_uses,
        since=min(first_withdrawal[asset] for asset in assets),
        until=until,
    )
    times = sorted({when for _, when in changes})
    at_each = [
        lease_licensable_assets(lease, at=when)
        .filter(pk__in=assets)
        .annotate(change=Value(n, output_field=IntegerField()))
        .values_list("pk", "change")
        .order_by()  # SQLite takes no ORDER BY inside a UNION's parts
        for n, when in enumerate(times)
    ]
    licensable = set(at_each[0].union(*at_each[1:], all=True))
    for i, asset, when in sorted(suspects):
        if (asset, bisect_right(times, when) - 1) not in licensable:
            return i
    return None


def lease_licensable_now(lease: Lease) -> QuerySet[Asset]:
    """The assets `lease_licensable_assets` answers for now, read from the precomputed set
    (`LeaseAsset`, kept equal to the rule in the transaction of every change): an index scan."""
    return Asset.objects.filter(lease_assets__lease_id=lease.pk)


def manifest_rows(lease: Lease):
    """(id, kind, title, content_type, sha256, size) of the assets the lease may use now, in id
    order, as plain tuples: the manifest streams these."""
    return (
        lease_licensable_now(lease)
        .order_by("pk")
        .values_list("pk", "kind", "title", "content_type", "sha256", "size")
    )


def manifest_entries(
    lease: Lease,
    *,
    assets_base: str,
    chunk_size: int = 2000,
    trust: str | None = None,
    only: Collection[str] | None = None,
) -> Iterator[str]:
    """Each manifest entry as its JSON text (id, kind, title, content_type, sha256, size,
    download_url: `assets_base` + id + `/download/`, and `trust` when given: a federated lease's
    manifest names the trust holding each asset), in id order, read through a server-side
    cursor `chunk_size` rows at a time; with `only` (a vendor's token's asset ids), just those.
    On PostgreSQL the database writes the JSON, so the worker only passes text along; elsewhere
    each row is encoded here."""
    rows = manifest_rows(lease)
    if only is not None:
        rows = rows.filter(pk__in=list(only))
    if connection.vendor != "postgresql":
        for pk, kind, title, content_type, sha, size in rows.iterator(chunk_size=chunk_size):
            entry = {"id": str(pk), "kind": kind, "title": title, "content_type": content_type}
            entry |= {"sha256": sha, "size": size, "download_url": f"{assets_base}{pk}/download/"}
            if trust is not None:
                entry["trust"] = trust
            yield json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        return
    entry = Func(
        *(Value("id"), "pk", Value("kind"), "kind", Value("title"), "title"),
        *(Value("content_type"), "content_type", Value("sha256"), "sha256", Value("size"), "size"),
        *((Value("trust"), Value(trust)) if trust is not None else ()),
        Value("download_url"),
        Concat(Value(assets_base), Cast("pk", TextField()), Value("/download/"), output_field=TextField()),
        function="json_build_object",
        output_field=TextField(),
    )
    licensable = lease_licensable_now(lease)
    if only is not None:
        licensable = licensable.filter(pk__in=list(only))
    texts = licensable.order_by("pk").values_list(Cast(entry, TextField()), flat=True)
    yield from texts.iterator(chunk_size=chunk_size)


def downloadable_asset(lease: Lease, asset_id) -> Asset:
    """The asset a download of `asset_id` under `lease` serves (key, title, media type), in one
    indexed lookup of the licensable set; refused with 403 when the lease's version holds it but
    the members' consent does not cover it now, and 404 when the version does not hold it."""
    # Written out, not compiled per request: this runs on every download.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT asset.object_key, asset.title, asset.content_type FROM {LeaseAsset._meta.db_table} "
            f"licensable JOIN {Asset._meta.db_table} asset ON asset.id = licensable.asset_id "
            "WHERE licensable.lease_id = %s AND licensable.asset_id = %s",
            [lease.pk, Asset._meta.pk.get_db_prep_value(asset_id, connection)],
        )
        row = cursor.fetchone()
    if row is not None:
        return Asset(pk=asset_id, object_key=row[0], title=row[1], content_type=row[2])
    if DatasetVersionItem.objects.filter(version_id=lease.version_id, asset_id=asset_id).exists():
        raise Forbidden("the members have not consented to this use of this asset", code="not_licensable")
    raise NotFound("no such asset in this lease", code="asset_not_found")


def usage_summary(lease: Lease) -> dict:
    rows = (
        UsageEvent.objects.filter(lease=lease)
        .values("kind")
        .annotate(events=Count("pk"), quantity=Sum("quantity"))
    )
    return {row["kind"]: {"events": row["events"], "quantity": row["quantity"]} for row in rows}


def downloads_left(lease: Lease) -> int | None:
    """How many more downloads the lease's cap allows (None: no cap). The gateway refuses a
    download at 0; the studio's lease page shows this number."""
    if lease.download_cap is None:
        return None
    used = LeaseDownloadCount.objects.filter(lease_id=lease.pk).values_list("used", flat=True).first()
    if used is None:  # no capped download yet: the gateway starts counting from the events
        used = UsageEvent.objects.filter(lease=lease, kind=UsageEvent.Kind.DOWNLOAD).count()
    return max(lease.download_cap - used, 0)


def tokens_of(lease: Lease) -> QuerySet[LeaseToken]:
    return lease.tokens.order_by("-created_at")


def takedowns_for(lease: Lease) -> QuerySet[Takedown]:
    return lease.takedowns.select_related("asset", "peer").order_by("-issued_at")


def takedowns_visible_to(user) -> QuerySet[Takedown]:
    return Takedown.objects.filter(lease__in=leases_visible_to(user))


def transparency_leases() -> QuerySet[Lease]:
    """The leases the public register lists: every approved one, newest start first."""
    return Lease.objects.approved().select_related("studio", "version__dataset").order_by("-starts_at", "-pk")


def transparency_entries(leases) -> list[dict]:
    """The register's rows for `leases` (one page of `transparency_leases()`): which studio
    leased which dataset version, for which uses, when, and how many members' data it held at
    approval. Members are named only if they opted in to being listed. Two queries for the
    whole page, whatever its size."""
    leases = list(leases)
    counts, listed = _members_of_leases([lease.pk for lease in leases])
    return [
        {
            "lease": lease.pk,
            "studio": lease.studio.name,
            "dataset": lease.version.dataset.slug,
            "dataset_title": lease.version.dataset.title,
            "version": lease.version.number,
            "manifest_sha256": lease.version.manifest_sha256,
            "uses": lease.permitted_uses,
            "purpose": lease.purpose,
            "status": lease.status,
            "starts_at": lease.starts_at,
            "ends_at": lease.ends_at,
            "revoked_at": lease.revoked_at,
            "member_count": counts.get(lease.pk, 0),
            "listed_members": listed.get(lease.pk, []),
        }
        for lease in leases
    ]


def _members_of_leases(ids) -> tuple[dict[int, int], dict[int, list[str]]]:
    """For each of the leases `ids`: how many members' data it held at approval, and the names
    of those who opted in to being listed publicly (no one else is ever named). Two queries."""
    counts = dict(
        Lease.objects.filter(pk__in=ids)
        .annotate(members=Count("approval_assets__contributors__member", distinct=True))
        .values_list("pk", "members")
    )
    listed: dict[int, list[str]] = {}
    named = (
        AssetContributor.objects.filter(asset__approved_in_leases__in=ids, member__listed_publicly=True)
        .values_list("asset__approved_in_leases", "member__display_name")
        .distinct()
        .order_by("asset__approved_in_leases", "member__display_name")
    )
    for lease_id, name in named:
        listed.setdefault(lease_id, []).append(name)
    return counts, listed


# --- The model register ---------------------------------------------------------------------------

DATASET_VERSIONS_PREFETCH = Prefetch(
    "dataset_versions",
    queryset=DatasetVersion.objects.select_related("dataset").order_by("dataset", "number"),
)


def lease_models(lease: Lease) -> QuerySet[TrainedModel]:
    """The models declared on a lease, newest first."""
    return (
        TrainedModel.objects.filter(lease=lease)
        .prefetch_related(DATASET_VERSIONS_PREFETCH)
        .order_by("-declared_at", "-pk")
    )


def register_models() -> QuerySet[TrainedModel]:
    """The models the public register lists: every declared one, newest first."""
    return (
        TrainedModel.objects.filter(lease__status__in=Lease.APPROVED_STATUSES)
        .select_related("lease__studio")
        .prefetch_related(DATASET_VERSIONS_PREFETCH)
        .order_by("-declared_at", "-pk")
    )


def register_model_entries(models, *, with_members: bool = True) -> list[dict]:
    """The public register's rows for `models` (a page of `register_models()`): which studio
    trained which model, for what, when, on which dataset versions, under which lease, and (with
    `with_members`) how many members' data that lease held, naming only those who opted in.
    Four queries a page; two without the members."""
    models = list(models)
    counts, listed = _members_of_leases({m.lease_id for m in models}) if with_members and models else ({}, {})
    return [
        {
            "id": model.pk,
            "name": model.name,
            "version": model.version,
            "purpose": model.purpose,
            "studio": model.lease.studio.name,
            "lease": model.lease_id,
            "training_started_on": model.training_started_on,
            "training_ended_on": model.training_ended_on,
            "declared_at": model.declared_at,
            "datasets": [
                {
                    "dataset": version.dataset.slug,
                    "title": version.dataset.title,
                    "version": version.number,
                    "manifest_sha256": version.manifest_sha256,
                }
                for version in model.dataset_versions.all()
            ],
            "member_count": counts.get(model.lease_id, 0),
            "listed_members": listed.get(model.lease_id, []),
        }
        for model in models
    ]


def models_trained_on(asset_ids, *, before=None) -> QuerySet[TrainedModel]:
    """Models declared on approved leases whose pinned version holds any of `asset_ids` (the
    same reach as "who used my data"), and with `before`, only those whose training had
    started by then: what a member withdrawing consent is told was already trained."""
    holding = DatasetVersionItem.objects.filter(version=OuterRef("lease__version"), asset_id__in=asset_ids)
    models = TrainedModel.objects.filter(lease__status__in=Lease.APPROVED_STATUSES).filter(Exists(holding))
    if before is not None:
        models = models.filter(training_started_on__lte=timezone.localdate(before))
    return models.select_related("lease__studio", "lease__version__dataset").order_by(
        "-training_started_on", "-pk"
    )


def member_models(member: Member) -> QuerySet[TrainedModel]:
    """The models trained under leases that included any of the member's assets."""
    return models_trained_on(AssetContributor.objects.filter(member=member).values("asset_id"))


def active_leases_holding(asset_ids) -> QuerySet[Lease]:
    return Lease.objects.active().filter(version__items__asset_id__in=list(asset_ids)).distinct()


def retention_cutoff(at: datetime) -> datetime:
    """Leases that ended after this may still hold what they downloaded (TAKEDOWN_RETENTION_DAYS)."""
    return at - timedelta(days=settings.TAKEDOWN_RETENTION_DAYS)


def ended_leases_retaining(asset_ids, *, at: datetime) -> dict[int, set]:
    """Leases that ended (expired, or revoked) within the retention before `at` and downloaded
    any of `asset_ids`, as lease id -> the downloaded asset ids: one grouped query over the
    usage of those leases only."""
    cutoff = retention_cutoff(at)
    ended = Lease.objects.filter(
        Q(status=Lease.Status.EXPIRED, ends_at__gte=cutoff)
        | Q(status=Lease.Status.REVOKED, revoked_at__gte=cutoff)
    )
    rows = (
        UsageEvent.objects.filter(
            lease_id__in=ended.values("pk"), kind=UsageEvent.Kind.DOWNLOAD, asset_id__in=list(asset_ids)
        )
        .values_list("lease_id", "asset_id")
        .distinct()
    )
    downloaded: dict[int, set] = {}
    for lease_id, asset_id in rows:
        downloaded.setdefault(lease_id, set()).add(asset_id)
    return downloaded


# --- Administrator pages: leases and terms ---------------------------------------------------


def lease_list_totals() -> dict[str, int]:
    """How many leases the administrator's three lists hold before any search (requests
    waiting, active, closed), in one statement rather than a count per list and per figure."""
    return Lease.objects.aggregate(
        waiting=Count("pk", filter=Q(status=Lease.Status.REQUESTED)),
        active=Count("pk", filter=Q(status=Lease.Status.ACTIVE)),
        closed=Count("pk", filter=Q(status__in=Lease.CLOSED_STATUSES)),
    )


def lease_requests_waiting() -> QuerySet[Lease]:
    """Lease requests no administrator has decided yet, oldest first: the queue to work."""
    return (
        Lease.objects.requested()
        .select_related("studio__home_peer", "terms__dataset", "requested_by")
        .order_by("requested_at", "pk")
    )


def leases_awaiting_parts() -> QuerySet[Lease]:
    """Federated leases this trust approved its part of, waiting for another trust's decision,
    oldest request first, with their parts."""
    return (
        Lease.objects.filter(status=Lease.Status.AWAITING_PARTS)
        .select_related("studio", "terms")
        .prefetch_related(PARTS_PREFETCH)
        .order_by("requested_at", "pk")
    )


def _uses_key(uses: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(uses)))


def approval_coverages(terms: Iterable[LeaseTerms], *, at: datetime | None = None) -> dict[int, dict]:
    """`approval_coverage` of each of `terms` (by pk), in one grouped statement: the latest
    version of each of their datasets with its asset count and, for each use any of them permits
    and each terms' uses together, how many of its assets the trust's one licensability rule
    allows. A page of lease requests asks once, not once per request."""

    at = at or timezone.now()
    terms = list({row.pk: row for row in terms}.values())
    if not terms:
        return {}
    versions = latest_versions(row.dataset_id for row in terms)
    # Each question asked once whatever the number of terms: every single use, and every terms'
    # uses together (the same question when it permits one use).
    questions = {_uses_key([use]) for row in terms for use in row.permitted_uses}
    questions |= {_uses_key(row.permitted_uses) for row in terms}
    column = {question: f"licensable_{n}" for n, question in enumerate(sorted(questions))}
    in_versions = Asset.objects.filter(version_items__version__in=versions)
    counted = versions.annotate(
        total=Count("items"),
        **{
            column[question]: Count(
                "items",
                filter=Q(
                    items__asset__in=licensable_assets(assets=in_versions, uses=question, at=at).values("pk")
                ),
            )
            for question in questions
        },
    )
    by_dataset = {version.dataset_id: version for version in counted}
    coverages = {}
    for row in terms:
        version = by_dataset.get(row.dataset_id)
        if version is None:
            coverages[row.pk] = {"version": None, "total": 0, "licensable": 0, "per_use": []}
            continue
        coverages[row.pk] = {
            "version": version,
            "total": version.total,
            "licensable": getattr(version, column[_uses_key(row.permitted_uses)]),
            "per_use": [(use, getattr(version, column[_uses_key([use])])) for use in row.permitted_uses],
        }
    return coverages


def approval_coverage(terms: LeaseTerms, *, at: datetime | None = None) -> dict:
    """What approving a request under `terms` now would pin: the dataset's latest version, how
    many of its assets are licensable for every permitted use out of the version's total, and
    the count per permitted use. Asks the trust's one licensability rule."""
    return approval_coverages([terms], at=at)[terms.pk]


# What the administrator's active and closed lease tables and their CSV show of a lease, as
# plain rows (not model instances with their studio, terms and version: a page of 50 is a third
# of the time): its own columns, then these of its related rows.
LEASE_ROW_COLUMNS = [
    "pk",
    "purpose",
    "status",
    "permitted_uses",
    "requested_at",
    "starts_at",
    "ends_at",
    "decision_reason",
    "tokens_suspended_at",
    "version_id",
]
LEASE_ROW_RELATED = {
    "studio_name": F("studio__name"),
    "terms_title": F("terms__title"),
    "terms_dataset_title": F("terms__dataset__title"),
    "terms_dataset_slug": F("terms__dataset__slug"),
    "version_number": F("version__number"),
    "version_dataset_title": F("version__dataset__title"),
    "version_dataset_slug": F("version__dataset__slug"),
}


def lease_rows(leases: QuerySet[Lease], *annotations: str) -> QuerySet:
    """`leases` as the lease tables' plain rows, with these of their annotations."""
    return leases.values(*LEASE_ROW_COLUMNS, *annotations, **LEASE_ROW_RELATED)


def leases_active_with_takedowns() -> QuerySet:
    """Active leases, soonest end first, as plain rows (`lease_rows`), each with
    `open_takedowns`: notices the studio has not yet closed by attesting deletion (and
    `overdue_takedowns`, those past a deadline)."""
    active = Lease.objects.active().annotate(**_lease_takedown_counts()).order_by("ends_at", "pk")
    return lease_rows(active, "open_takedowns", "overdue_takedowns")


def leases_closed() -> QuerySet:
    """Rejected, cancelled, revoked and expired leases, most recently closed first, as plain rows
    like `leases_active_with_takedowns` (`closed_at`: the rejection or cancellation, the
    revocation, or the end), with
    `open_takedowns`: a revoked or expired lease's notices stay open until the studio attests
    deletion."""

    closed_at = Case(
        When(status=Lease.Status.REVOKED, then=F("revoked_at")),
        When(status=Lease.Status.EXPIRED, then=F("ends_at")),
        default=F("decided_at"),
    )
    closed = (
        Lease.objects.closed()
        .annotate(closed_at=closed_at, **_lease_takedown_counts())
        .order_by(F("closed_at").desc(nulls_last=True), "-pk")
    )
    return lease_rows(closed, "closed_at", "open_takedowns", "overdue_takedowns")


def terms_all() -> QuerySet[LeaseTerms]:
    """Every lease terms row, offered or not, with how many leases were requested under it."""
    return (
        LeaseTerms.objects.select_related("dataset")
        .prefetch_related("shared_with")
        .annotate(lease_count=Count("leases"))
        .order_by("-active", "dataset__title", "title", "pk")
    )


def peers_to_share_with() -> QuerySet[Peer]:
    """Peers our administrator added (asking peers are not trusted with offers yet)."""
    return Peer.objects.filter(added_by_us_at__isnull=False)


# --- Studio pages: a studio's leases and what each one's manifest holds -----------------------


def studio_leases_on_terms(studio: Studio | None, terms: LeaseTerms) -> QuerySet[Lease]:
    """The studio's leases under `terms` that still count: active (not yet past their end) or
    requested and waiting. A second request on the same terms is usually a mistake, so the
    request page warns with these before the studio sends it."""
    if studio is None:
        return Lease.objects.none()
    return (
        Lease.objects.filter(studio=studio, terms=terms)
        .filter(Q(status=Lease.Status.REQUESTED) | Q(status=Lease.Status.ACTIVE, ends_at__gt=timezone.now()))
        .order_by("requested_at", "pk")
    )


def leases_visible_with_open_takedowns(user) -> QuerySet[Lease]:
    """The leases `user` may see, newest request first, each annotated with `open_takedowns`:
    notices still waiting for the studio to acknowledge or to attest deletion."""
    return (
        leases_visible_to(user)
        .select_related("terms__dataset", "version__dataset")
        .annotate(open_takedowns=_open_takedowns_count(), overdue_takedowns=_overdue_takedowns_count())
        .order_by("-requested_at", "-pk")
    )


def lease_manifest_summary(lease: Lease, *, at: datetime | None = None) -> dict | None:
    """What the lease's manifest lists now: the pinned version and its hash, and per asset kind
    how many of the version's assets are licensable now (the manifest's own rule) out of how
    many the version holds. None for a lease that was never approved."""
    if lease.version_id is None:
        return None
    in_version = dict(lease.version.assets.values_list("kind").annotate(n=Count("pk")).order_by("kind"))
    licensable = dict(
        lease_licensable_assets(lease, at=at).values_list("kind").annotate(n=Count("pk")).order_by("kind")
    )
    return {
        "version": lease.version.number,
        "manifest_sha256": lease.version.manifest_sha256,
        "kinds": [
            {"kind": kind, "licensable": licensable.get(kind, 0), "total": total}
            for kind, total in in_version.items()
        ],
        "licensable": sum(licensable.values()),
        "total": sum(in_version.values()),
    }


# --- Member pages: my assets, my consent, what a withdrawal reaches ---------------------------


def member_asset_overview(member: Member, *, at: datetime | None = None) -> list[dict]:
    """Every asset the member contributes to, oldest first, with their share; the datasets
    holding it (in the working set and/or which frozen versions); the active leases whose
    pinned version holds it and whether each may use it now; and the uses it is licensable
    for now (the trust's one rule, which also asks every co-contributor's consent). For an asset
    the member registered, `contributors` lists everyone named with their share and whether they
    accepted; for any asset, `awaiting` counts the named contributors who have not (yet)."""

    at = at or timezone.now()
    contributions = list(
        AssetContributor.objects.accepted()
        .filter(member=member)
        .select_related("asset")
        .order_by("asset__created_at", "asset_id")
    )
    asset_ids = [row.asset_id for row in contributions]
    datasets: dict = {asset_id: {} for asset_id in asset_ids}

    def entry(asset_id, dataset) -> dict:
        return datasets[asset_id].setdefault(
            dataset.pk, {"dataset": dataset, "in_working_set": False, "versions": []}
        )

    for item in DatasetItem.objects.filter(asset_id__in=asset_ids).select_related("dataset"):
        entry(item.asset_id, item.dataset)["in_working_set"] = True
    version_items = DatasetVersionItem.objects.filter(asset_id__in=asset_ids)
    for item in version_items.select_related("version__dataset").order_by("version__number"):
        entry(item.asset_id, item.version.dataset)["versions"].append(item.version.number)
    leases: dict = {asset_id: [] for asset_id in asset_ids}
    holding = active_leases_holding(asset_ids).select_related("studio", "version__dataset")
    for lease in holding.order_by("ends_at", "pk"):
        held = set(lease.version.items.filter(asset_id__in=asset_ids).values_list("asset_id", flat=True))
        usable = set(lease_licensable_assets(lease, at=at).filter(pk__in=held).values_list("pk", flat=True))
        for asset_id in held:
            leases[asset_id].append({"lease": lease, "usable_now": asset_id in usable})
    named: dict = {asset_id: [] for asset_id in asset_ids}
    for named_row in (
        AssetContributor.objects.filter(asset_id__in=asset_ids)
        .select_related("member")
        .order_by("member__member_number")
    ):
        named[named_row.asset_id].append(named_row)
    overview = []
    for row in contributions:
        coverage = consent_coverage(assets=Asset.objects.filter(pk=row.asset_id), at=at)
        owned = row.asset.created_by_id == member.user_id
        overview.append(
            {
                "asset": row.asset,
                "share": row.share,
                "contributors": named[row.asset_id] if owned else None,
                "awaiting": sum(
                    1 for c in named[row.asset_id] if c.status != AssetContributor.Status.ACCEPTED
                ),
                "datasets": sorted(datasets[row.asset_id].values(), key=lambda d: d["dataset"].title),
                "active_leases": leases[row.asset_id],
                "licensable_uses": [use for use, count in coverage.items() if count],
            }
        )
    return overview


def member_consent_matrix(member: Member, *, at: datetime | None = None) -> dict:
    """The member's consent as a grid: one row per use in the order of `Use` (capture, the
    first opt-in, first), with the text in force for it; one cell for all their assets, then
    one per asset (and the same cells as `cards`, one per scope). A cell holds its own active
    grant (or None), its own standing refusal (or None), its latest withdrawal when neither
    followed it, for an asset whether the all-assets
    grant covers it or the all-assets refusal reaches it, whether the member's capture grant
    covers its scope (without it no other grant applies), and `reconfirm`: the newer text
    version a grant made under an older one may be re-confirmed under. A cell with neither a
    grant nor a refusal is "not asked yet". `licensable` lists, per asset, the uses it may be
    licensed for now (the trust's one rule: every co-contributor's consent counts too)."""

    at = at or timezone.now()
    assets = list(
        Asset.objects.filter(
            pk__in=AssetContributor.objects.accepted().filter(member=member).values("asset_id")
        ).order_by("created_at", "id")
    )
    texts = current_texts(at=at)
    active = {}
    for use in Use:
        grants = active_grants(use=use, at=at).filter(member=member).select_related("text")
        for grant in grants.order_by("created_at", "pk"):
            active[(use.value, grant.asset_id)] = grant
    refused = {
        (refusal.use, refusal.asset_id): refusal
        for refusal in standing_refusals(at=at).filter(member=member).order_by("created_at", "pk")
    }
    # The latest withdrawal per scope: a scope with no grant or refusal since says "withdrawn",
    # not "not asked yet".
    withdrawn = {
        (withdrawal.use, withdrawal.asset_id): withdrawal
        for withdrawal in Consent.objects.filter(
            member=member, state=Consent.State.WITHDRAWN, created_at__lte=at
        ).order_by("created_at", "pk")
    }
    capture_for_all = (FIRST_OPT_IN.value, None) in active

    def cell(use, asset):
        key = (use.value, asset.pk if asset else None)
        grant = active.get(key)
        current = texts.get(use.value)
        outdated = grant is not None and current is not None and grant.text.version < current.version
        everything = active.get((use.value, None))
        return {
            "asset": asset,
            "grant": grant,
            "refusal": refused.get(key) if grant is None else None,
            "withdrawal": (withdrawn.get(key) or (asset and withdrawn.get((use.value, None))))
            if grant is None and key not in refused
            else None,
            "covered_by_all": asset is not None and everything is not None,
            "refused_for_all": asset is not None and (use.value, None) in refused,
            "captured": capture_for_all or (asset is not None and (FIRST_OPT_IN.value, asset.pk) in active),
            "reconfirm": current if outdated else None,
        }

    rows = []
    for use in Use:
        current = texts.get(use.value)
        rows.append(
            {
                "use": use.value,
                "label": use.label,
                "text": current.text if current else "",
                "text_version": current.version if current else None,
                "first_opt_in": is_first_opt_in(use),
                "cells": [cell(use, None)] + [cell(use, asset) for asset in assets],
            }
        )
    licensable = {}
    for asset in assets:
        coverage = consent_coverage(assets=Asset.objects.filter(pk=asset.pk), at=at)
        licensable[asset.pk] = [use for use, count in coverage.items() if count]
    # The same cells the other way round, one card per scope (all assets, then each asset), for
    # a phone, where a grid of uses by assets does not fit.
    cards = [
        {"asset": scope["asset"], "uses": [{**row, "cell": row["cells"][index]} for row in rows]}
        for index, scope in enumerate(rows[0]["cells"])
    ]
    return {"assets": assets, "rows": rows, "cards": cards, "licensable": licensable}


def _grant_scope(grant) -> QuerySet[Asset]:
    """The member's assets a grant covers: one asset, or all of them."""
    mine = AssetContributor.objects.accepted().filter(member_id=grant.member_id)
    scope = Asset.objects.filter(pk__in=mine.values("asset_id"))
    if grant.asset_id:
        scope = scope.filter(pk=grant.asset_id)
    return scope


def withdrawal_takedowns(grant, *, at: datetime | None = None) -> dict[int, list]:
    """The takedown notices withdrawing `grant` at `at` calls for, as lease id -> asset ids
    (sorted): for every active lease holding an asset in the grant's scope, the held assets the
    lease may use for its uses with the grant in force and may not once it is withdrawn (the
    trust's one licensability rule, asked both ways), less those with a notice still open on
    that lease. A lease that ended within the retention (`ended_leases_retaining`) is asked the
    same for the assets it downloaded. The member's withdraw page previews exactly this; the
    service issues exactly this. Asked the same way before and after the withdrawal is recorded."""

    at = at or timezone.now()
    asset_ids = list(_grant_scope(grant).values_list("pk", flat=True))
    due: dict[int, list] = {}
    retained = ended_leases_retaining(asset_ids, at=at)
    leases = Lease.objects.filter(
        Q(pk__in=active_leases_holding(asset_ids).values("pk")) | Q(pk__in=list(retained))
    ).order_by("pk")
    for lease_id, version_id, uses in leases.values_list("pk", "version_id", "permitted_uses"):
        held = Asset.objects.filter(
            version_items__version_id=version_id, pk__in=retained.get(lease_id, asset_ids)
        )
        before = set(
            licensable_assets(assets=held, uses=uses, at=at, as_if_in_force=grant.pk).values_list(
                "pk", flat=True
            )
        )
        after = set(
            licensable_assets(assets=held, uses=uses, at=at, as_if_withdrawn=grant.pk).values_list(
                "pk", flat=True
            )
        )
        noticed = set(
            Takedown.objects.open()
            .filter(lease_id=lease_id, asset_id__in=before)
            .values_list("asset_id", flat=True)
        )
        losing = sorted(before - after - noticed, key=str)
        if losing:
            due[lease_id] = losing
    return due


def withdrawal_reach(consent, *, at: datetime | None = None) -> dict:
    """What withdrawing the grant `consent` would reach: the member's assets in its scope; the
    member's other active grants of the same use that keep covering some of them; and every
    active lease holding any of them (`active_leases_holding`) or ended within the retention
    having downloaded any (`ended_leases_retaining`, `ended`), each with the assets it holds,
    whether it relies on the use (capture underlies every use), and the held assets that get
    takedown notices (`withdrawal_takedowns`, what the service will issue)."""

    at = at or timezone.now()
    assets = {asset.pk: asset for asset in _grant_scope(consent).order_by("created_at", "id")}
    others = (
        active_grants(use=consent.use, at=at)
        .filter(member_id=consent.member_id)
        .exclude(pk=consent.pk)
        .select_related("asset")
    )
    still_covered_by = [grant for grant in others if grant.asset_id is None or grant.asset_id in assets]
    if any(grant.asset_id is None for grant in still_covered_by):
        covered = set(assets)
    else:
        covered = {grant.asset_id for grant in still_covered_by}
    due = withdrawal_takedowns(consent, at=at)
    underlies_every_use = is_first_opt_in(consent.use)
    leases = []
    # Active leases holding the assets, then those that ended within the retention and
    # downloaded some of them (`withdrawal_takedowns` asks both).
    retained = ended_leases_retaining(list(assets), at=at)
    holding = Lease.objects.filter(
        Q(pk__in=active_leases_holding(assets).values("pk")) | Q(pk__in=list(retained))
    ).select_related("studio", "version__dataset")
    for lease in holding.order_by("ends_at", "pk"):
        held = set(lease.version.items.filter(asset_id__in=list(assets)).values_list("asset_id", flat=True))
        if lease.pk in retained:
            held &= retained[lease.pk]
        losing = set(due.get(lease.pk, []))
        leases.append(
            {
                "lease": lease,
                "ended": lease.pk in retained,
                "assets": [asset for asset_id, asset in assets.items() if asset_id in held],
                "relies_on_use": underlies_every_use or consent.use in lease.permitted_uses,
                "losing": [asset for asset_id, asset in assets.items() if asset_id in losing],
            }
        )
    return {
        "assets": list(assets.values()),
        "still_covered_by": still_covered_by,
        "leaving": [asset for asset_id, asset in assets.items() if asset_id not in covered],
        "leases": leases,
        "underlies_every_use": underlies_every_use,
    }


def takedowns_from_withdrawal(withdrawal) -> QuerySet[Takedown]:
    """The takedown notices a consent withdrawal issued, with their leases' studios."""
    return (
        Takedown.objects.filter(withdrawal_id=withdrawal.pk)
        .select_related("lease__studio", "asset")
        .order_by("lease_id", "asset_id")
    )


def takedown_deadline() -> timedelta:
    """How long a studio has, from the notice, to attest deletion of a withdrawn asset."""
    return timedelta(days=settings.TAKEDOWN_DEADLINE_DAYS)


def takedowns_past_half_time(*, at: datetime | None = None) -> QuerySet[Takedown]:
    """Open takedown notices more than half way from their issue to their attestation deadline
    (each notice's own, from its lease's terms), overdue ones included, the oldest first, each
    with its `due_at` (the attestation deadline) and the lease's studio: the ones an
    administrator should chase."""
    at = at or timezone.now()
    now = Value(at, output_field=DateTimeField())
    # Half way: no more time left before the deadline than has passed since the issue (a
    # comparison of two time differences, which PostgreSQL and SQLite both compute).
    left = ExpressionWrapper(F("attest_due_at") - now, output_field=DurationField())
    passed = ExpressionWrapper(now - F("issued_at"), output_field=DurationField())
    return (
        Takedown.objects.open()
        .annotate(due_at=F("attest_due_at"), time_left=left, time_passed=passed)
        .filter(time_left__lte=F("time_passed"))
        .select_related("lease__studio", "asset", "peer")
        .order_by("issued_at", "pk")
    )


def _open_takedowns_count():
    """Per lease, the notices `Takedown.objects.open()` counts."""
    return Count("takedowns", filter=Q(takedowns__status__in=Takedown.OPEN_STATUSES))


def overdue_takedowns_q(at: datetime, prefix: str = "") -> Q:
    """Open notices a step of which is past its deadline at `at` (`Takedown.overdue` in SQL):
    attestation due, or still unacknowledged past the acknowledgement deadline."""
    return Q(**{f"{prefix}status__in": Takedown.OPEN_STATUSES}) & (
        Q(**{f"{prefix}attest_due_at__lte": at})
        | Q(**{f"{prefix}status": Takedown.Status.ISSUED, f"{prefix}acknowledge_due_at__lte": at})
    )


def _overdue_takedowns_count(at: datetime | None = None):
    """Per lease, its open notices past a deadline at `at` (default now)."""
    return Count("takedowns", filter=overdue_takedowns_q(at or timezone.now(), "takedowns__"))


def _takedowns_counted(takedowns: QuerySet[Takedown]) -> Coalesce:
    """Per lease (the outer row), how many of `takedowns`: a subquery, not a join grouped by
    lease, so a count of the leases (a list's pager) neither joins nor groups."""
    per_lease = takedowns.filter(lease=OuterRef("pk")).order_by().values("lease").annotate(n=Count("pk"))
    return Coalesce(Subquery(per_lease.values("n")), 0)


def _lease_takedown_counts(at: datetime | None = None) -> dict:
    """`open_takedowns` and `overdue_takedowns` (see the two counts above) as subqueries."""
    return {
        "open_takedowns": _takedowns_counted(Takedown.objects.open()),
        "overdue_takedowns": _takedowns_counted(
            Takedown.objects.filter(overdue_takedowns_q(at or timezone.now()))
        ),
    }


def takedowns_overdue(*, at: datetime | None = None) -> QuerySet[Takedown]:
    """Open notices past a deadline at `at`, the most overdue first, with the lease's studio."""
    return (
        Takedown.objects.filter(overdue_takedowns_q(at or timezone.now()))
        .select_related("lease__studio", "asset", "peer")
        .order_by("attest_due_at", "pk")
    )


def catalogue_offer(terms: LeaseTerms, *, at: datetime | None = None, dataset: dict | None = None) -> dict:
    """One offer: the terms, their dataset summary and the consent coverage approval would pin."""
    return {
        "terms": terms,
        "trust_name": settings.TRUST_NAME,
        "dataset": dataset or dataset_summary(terms.dataset),
        "coverage": approval_coverage(terms, at=at),
    }


def offer_document(terms: LeaseTerms, *, at: datetime | None = None, dataset: dict | None = None) -> dict:
    """One offer as every trust describes it, in its own catalogue and to the peers it is shared
    with: the terms with their trust, prices in the trust's currency, the dataset's summary and
    the consent coverage approving a request now would pin."""
    coverage = approval_coverage(terms, at=at)
    return {
        "trust": settings.TRUST_SLUG,
        "terms": terms.pk,
        "id": terms.pk,
        "title": terms.title,
        "permitted_uses": list(terms.permitted_uses),
        "duration_days": terms.duration_days,
        "flat_fee_cents": terms.flat_fee_cents,
        "price_per_download_cents": terms.price_per_download_cents,
        "price_per_training_run_cents": terms.price_per_training_run_cents,
        "price_per_generated_second_cents": terms.price_per_generated_second_cents,
        "production_fee_cents": terms.production_fee_cents,
        "substitution_premium_bps": terms.substitution_premium_bps,
        "download_cap": terms.download_cap,
        "use_caps": dict(terms.use_caps or {}),
        "currency": terms.currency,
        "active": terms.active,
        "created_at": terms.created_at.isoformat(),
        "dataset": dataset or dataset_summary(terms.dataset),
        "coverage": {
            "version": coverage["version"].number if coverage["version"] else None,
            "total": coverage["total"],
            "licensable": coverage["licensable"],
            "per_use": dict(coverage["per_use"]),
        },
    }


def offers_shared_with(peer: Peer) -> QuerySet[LeaseTerms]:
    return catalogue_terms().filter(shared_with=peer)


def peer_offers() -> QuerySet[PeerOffer]:
    """Offers of live peers, as last fetched; a suspended peering hides its peer's offers."""
    return PeerOffer.objects.filter(peer__in=Peer.objects.live()).select_related("peer", "peer__catalogue")


def peer_offer_is_stale(offer: PeerOffer, *, at: datetime | None = None) -> bool:
    """Older than the staleness bound, or the peer's last fetch failed: never shown as current."""
    at = at or timezone.now()
    catalogue = getattr(offer.peer, "catalogue", None)
    too_old = at - offer.fetched_at > timedelta(seconds=settings.FEDERATION_OFFERS_STALE_SECONDS)
    return too_old or bool(catalogue and catalogue.error)


def catalogue_entry(row: LeaseTerms | PeerOffer, *, at: datetime | None = None) -> dict:
    """A studio's catalogue row, local or a peer's, in one shape with `trust` and `stale`."""
    if isinstance(row, PeerOffer):
        return {
            **row.offer,
            "trust": row.peer.slug,
            "trust_name": row.peer.name,
            "stale": peer_offer_is_stale(row, at=at),
            "fetched_at": row.fetched_at,
        }
    return {
        **offer_document(row, at=at),
        "trust_name": settings.TRUST_NAME,
        "stale": False,
        "fetched_at": None,
    }


def studios_overview() -> QuerySet:
    """Every studio as plain rows for the administrator's list: name, when it was enrolled,
    how many staff logins it has and how many of its leases are active or waiting, counted
    in subqueries so a studio with many of both is still one row."""
    staff = (
        StudioStaff.objects.filter(studio=OuterRef("pk")).values("studio").annotate(n=Count("pk")).values("n")
    )
    leases = Lease.objects.filter(studio=OuterRef("pk")).values("studio")
    active = leases.filter(status=Lease.Status.ACTIVE).annotate(n=Count("pk")).values("n")
    waiting = leases.filter(status=Lease.Status.REQUESTED).annotate(n=Count("pk")).values("n")
    return Studio.objects.annotate(
        staff_count=Coalesce(Subquery(staff), 0),
        active_leases=Coalesce(Subquery(active), 0),
        waiting_leases=Coalesce(Subquery(waiting), 0),
    ).values("pk", "name", "created_at", "staff_count", "active_leases", "waiting_leases")


def studio_staff(studio: Studio) -> QuerySet:
    """A studio's staff logins, oldest first, as plain rows."""
    return (
        StudioStaff.objects.filter(studio=studio)
        .order_by("created_at", "pk")
        .values("pk", "user__username", "user__email", "user__last_login", "created_at")
    )


# How many refused forwarded events a lease page lists (the count says if there are more).
REFUSED_FORWARDED_SHOWN = 50


def forwarded_usage_summary(lease: Lease) -> dict:
    """At a federated lease's home trust: the usage its studio reported for other trusts' assets,
    per trust (sent, waiting, refused), and the latest events refused for good with the reason
    the trust gave: for the studio's lease page and the administrators'. Two queries."""
    from django.db.models import Count, Q

    from .models import ForwardedUsage

    rows = (
        ForwardedUsage.objects.filter(lease=lease)
        .values("peer__slug", "peer__name")
        .annotate(
            sent=Count("pk", filter=Q(forwarded_at__isnull=False)),
            refused=Count("pk", filter=~Q(refused_reason="")),
            waiting=Count("pk", filter=Q(forwarded_at__isnull=True, refused_reason="")),
        )
        .order_by("peer__slug")
    )
    by_trust = list(rows)
    refused = []
    if any(row["refused"] for row in by_trust):
        refused = list(
            ForwardedUsage.objects.filter(lease=lease)
            .exclude(refused_reason="")
            .order_by("-recorded_at", "-pk")
            .values("event_key", "kind", "quantity", "occurred_at", "refused_reason", "peer__slug")[
                :REFUSED_FORWARDED_SHOWN
            ]
        )
    return {"by_trust": by_trust, "refused": refused, "refused_total": sum(r["refused"] for r in by_trust)}
