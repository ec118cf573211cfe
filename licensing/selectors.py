"""Reads of the licensing app."""

from datetime import datetime

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from trust.errors import Conflict, Gone, NotFound
from trust.models import Asset, Member
from trust.selectors import is_trust_admin, licensable_assets

from .models import Lease, LeaseTerms, LeaseToken, Studio, Takedown, UsageEvent

# Which lease use lets a studio report each usage kind.
GENERATION_USES = {"replica_active", "replica_passive", "voice_synthesis", "crowd_generation"}


def studio_of(user) -> Studio | None:
    if not (user and user.is_authenticated):
        return None
    staff = getattr(user, "studio_staff", None)
    return staff.studio if staff else None


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
        .select_related("studio", "terms", "version__dataset")
        .filter(pk=lease_id)
        .first()
    )
    if lease is None:
        raise NotFound("no such lease", code="lease_not_found")
    return lease


def catalog() -> QuerySet[LeaseTerms]:
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


def lease_licensable_assets(lease: Lease, *, at: datetime | None = None) -> QuerySet[Asset]:
    """Assets of the pinned version that may be used, now, for every use the lease permits."""
    at = at or timezone.now()
    return licensable_assets(
        assets=Asset.objects.filter(version_items__version_id=lease.version_id),
        uses=lease.permitted_uses,
        at=at,
    )


def manifest_rows(lease: Lease, *, at: datetime | None = None):
    """(id, kind, sha256, size) of the licensable assets, as plain tuples: fast for 100k rows."""
    return lease_licensable_assets(lease, at=at).order_by("pk").values_list("pk", "kind", "sha256", "size")


def usage_summary(lease: Lease) -> dict:
    rows = (
        UsageEvent.objects.filter(lease=lease)
        .values("kind")
        .annotate(events=Count("pk"), quantity=Sum("quantity"))
    )
    return {row["kind"]: {"events": row["events"], "quantity": row["quantity"]} for row in rows}


def tokens_of(lease: Lease) -> QuerySet[LeaseToken]:
    return lease.tokens.order_by("-created_at")


def takedowns_for(lease: Lease) -> QuerySet[Takedown]:
    return lease.takedowns.select_related("asset").order_by("-issued_at")


def takedowns_visible_to(user) -> QuerySet[Takedown]:
    return Takedown.objects.filter(lease__in=leases_visible_to(user))


def leases_including_member(member: Member) -> QuerySet[Lease]:
    """Every approved lease whose pinned version holds any asset the member contributes to."""
    return (
        Lease.objects.filter(
            version__items__asset__contributors__member=member,
            status__in=[Lease.Status.ACTIVE, Lease.Status.EXPIRED, Lease.Status.REVOKED],
        )
        .distinct()
        .select_related("studio", "terms", "version__dataset")
    )


def transparency_register() -> list[dict]:
    """Which studio leased which dataset version, for which uses, when, how many members.
    Members are named only if they opted in to being listed."""
    leases = (
        Lease.objects.filter(status__in=[Lease.Status.ACTIVE, Lease.Status.EXPIRED, Lease.Status.REVOKED])
        .select_related("studio", "version__dataset")
        .order_by("-starts_at", "-pk")
    )
    register = []
    for lease in leases:
        members = Member.objects.filter(contributions__asset__in=lease.approval_assets.all()).distinct()
        register.append(
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
                "member_count": members.count(),
                "listed_members": [m.display_name for m in members.filter(listed_publicly=True)],
            }
        )
    return register


def active_leases_holding(asset_ids) -> QuerySet[Lease]:
    return Lease.objects.filter(
        status=Lease.Status.ACTIVE, version__items__asset_id__in=list(asset_ids)
    ).distinct()
