"""Reads of the trust app. The one rule of licensability lives here."""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from .consent import DEFAULT_LANGUAGE, FIRST_OPT_IN, LICENSABLE_USES, Use, active_grants, current_texts
from .errors import NotFound
from .models import (
    Asset,
    AssetContributor,
    AuditEvent,
    Authority,
    Consent,
    ConsentAuthority,
    ConsentText,
    Dataset,
    DatasetVersion,
    DatasetVersionItem,
    EstateRepresentative,
    Member,
)


def is_trust_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def member_of(user) -> Member | None:
    if not (user and user.is_authenticated):
        return None
    return Member.objects.filter(user_id=user.pk).first()


def authority_in_force(member: Member) -> ConsentAuthority | None:
    """Who holds a late member's consent authority now (the newest row), or None while the
    member is alive (no death recorded: they decide themself)."""
    return ConsentAuthority.objects.filter(member=member).order_by("-since", "-id").first()


def estate_representative_of(member: Member) -> dict:
    """Whom the member named to decide after their death: {user, username, named_at}, all None
    when they named no one."""
    named = EstateRepresentative.objects.filter(member=member).select_related("user").first()
    if named is None:
        return {"user_id": None, "username": None, "named_at": None}
    return {"user_id": named.user_id, "username": named.user.get_username(), "named_at": named.named_at}


def deciding_authority(*, user, member: Member) -> str | None:
    """In whose right `user` may decide on `member`'s consent now: `member` for the living member
    themself; after a recorded death `estate_representative` for the user the authority names,
    or `union` for an administrator while the union holds it; None for anyone else (the late
    member's own login included)."""
    if not (user and user.is_authenticated):
        return None
    authority = authority_in_force(member)
    if authority is None:
        return Authority.MEMBER if member.user_id == user.pk else None
    if authority.kind == Authority.UNION:
        return Authority.UNION if is_trust_admin(user) else None
    return Authority.ESTATE_REPRESENTATIVE if authority.user_id == user.pk else None


def members_in_authority_of(user) -> QuerySet[Member]:
    """The late members whose consent `user` decides now: as the estate representative the
    newest authority row names, or, for an administrator, those the union holds. One query."""
    if not (user and user.is_authenticated):
        return Member.objects.none()
    newest = ConsentAuthority.objects.filter(member=OuterRef("pk")).order_by("-since", "-id")
    members = Member.objects.annotate(
        authority_kind=Subquery(newest.values("kind")[:1]),
        authority_user=Subquery(newest.values("user")[:1]),
    )
    holds = Q(authority_kind=Authority.ESTATE_REPRESENTATIVE, authority_user=user.pk)
    if is_trust_admin(user):
        holds |= Q(authority_kind=Authority.UNION)
    return members.filter(holds).select_related("death", "user").order_by("member_number")


def licensable_assets(
    *,
    assets: QuerySet[Asset],
    uses: Iterable[str],
    at: datetime,
    as_if_withdrawn: int | None = None,
    as_if_in_force: int | None = None,
) -> QuerySet[Asset]:
    """Assets that are available, whose every named contributor has accepted their share, and
    whose every contributor, at `at`, holds an active `capture` grant and an active grant for
    each of `uses` (on the asset or on all their assets). Manifest, gateway and distribution all
    ask this one question; a withdrawal's preview asks it "what if" one grant were withdrawn or
    still in force (see `active_grants`)."""
    contributors = AssetContributor.objects.filter(asset=OuterRef("pk"))
    not_accepted = contributors.exclude(status=AssetContributor.Status.ACCEPTED)
    # A destroyed asset is never available again; `destroyed_at` is checked too, so no status
    # change could ever bring one back.
    qs = assets.available().filter(Exists(contributors), ~Exists(not_accepted), destroyed_at__isnull=True)
    for use in sorted({FIRST_OPT_IN, *uses}):
        grants = active_grants(use=use, at=at, as_if_withdrawn=as_if_withdrawn, as_if_in_force=as_if_in_force)
        covering_grant = grants.filter(
            Q(asset__isnull=True) | Q(asset=OuterRef("asset")), member=OuterRef("member")
        )
        uncovered = AssetContributor.objects.filter(asset=OuterRef("pk")).exclude(Exists(covering_grant))
        qs = qs.filter(~Exists(uncovered))
    return qs


# The decisions that can change what `licensable_assets` answers: a refusal is not one of them.
MOVES_THE_RULE = [Consent.State.GRANTED, Consent.State.WITHDRAWN]


def consent_changes(
    *,
    asset_ids: Iterable,
    uses: Iterable[str],
    until: datetime,
    since: datetime | None = None,
    withdrawals_only: bool = False,
) -> list[tuple]:
    """(asset id, when) of every consent record that can change whether one of `asset_ids` is
    licensable for `uses`: grants and withdrawals (only withdrawals with `withdrawals_only`) for
    `capture` or one of `uses`, by a contributor of the asset, on it or on all their assets,
    made between `since` and `until` inclusive. One query for any number of assets: between two
    such times `licensable_assets` gives the same answer for the asset."""
    relevant = Q(use__in=sorted({FIRST_OPT_IN, *uses}), created_at__lte=until) & (
        Q(asset__isnull=True) | Q(asset_id=F("member__contributions__asset_id"))
    )
    if since is not None:
        relevant &= Q(created_at__gte=since)
    # Only grants and withdrawals move the rule; a refusal never does.
    relevant &= Q(state=Consent.State.WITHDRAWN) if withdrawals_only else Q(state__in=MOVES_THE_RULE)
    # One filter() call, so both conditions on the contributions name the same joined row.
    ids = list(asset_ids)
    if connection.vendor == "postgresql":
        # One array parameter rather than one per asset: a usage report names up to thousands
        # of assets, and binding each (an IN list Django builds and psycopg splits) cost more
        # than running the query.
        ids = RawSQL("SELECT unnest(%s::uuid[])", [[str(asset) for asset in ids]])
    rows = Consent.objects.filter(relevant, member__contributions__asset_id__in=ids)
    return list(rows.values_list("member__contributions__asset_id", "created_at").distinct())


def consent_coverage(*, assets: QuerySet[Asset], at: datetime) -> dict[str, int]:
    """For each licensable use, how many of `assets` may be used for it at `at`: what a studio
    would get, and what an administrator approving a lease would pin."""
    return {use: licensable_assets(assets=assets, uses=[use], at=at).count() for use in LICENSABLE_USES}


def is_licensable(*, asset: Asset, uses: Iterable[str], at: datetime) -> bool:
    return licensable_assets(assets=Asset.objects.filter(pk=asset.pk), uses=uses, at=at).exists()


def assets_visible_to(user) -> QuerySet[Asset]:
    """Administrators see every asset; a member sees the assets they contribute to with their
    share accepted (a registrant's own always is). A request to accept a share shows its asset
    through `contributions_of`."""
    if is_trust_admin(user):
        return Asset.objects.all()
    member = member_of(user)
    if member is None:
        return Asset.objects.none()
    mine = AssetContributor.objects.accepted().filter(member=member)
    return Asset.objects.filter(pk__in=mine.values("asset_id"))


def asset_of_member(*, member: Member, asset_id) -> Asset:
    """One of `member`'s accepted assets (for a decision an authority makes on their behalf)."""
    mine = AssetContributor.objects.accepted().filter(member=member, asset_id=asset_id)
    asset = Asset.objects.filter(pk__in=mine.values("asset_id")).first()
    if asset is None:
        raise NotFound("no such asset", code="asset_not_found")
    return asset


def asset_for(*, user, asset_id) -> Asset:
    asset = assets_visible_to(user).filter(pk=asset_id).first()
    if asset is None:
        raise NotFound("no such asset", code="asset_not_found")
    return asset


def consents_of(member: Member) -> QuerySet[Consent]:
    """Every decision of the member (grants, refusals, withdrawals), with its text."""
    return Consent.objects.filter(member=member).select_related(
        "asset", "withdrawal", "reconfirmation", "text"
    )


def consent_for_receipt(*, user, consent_id) -> Consent:
    """A decision whose receipt `user` may read: their own, or any for an administrator; anyone
    else's is not found."""
    from .receipts import decisions_with_receipt_data

    rows = decisions_with_receipt_data()
    if not is_trust_admin(user):
        member = member_of(user)
        # A late member's authority reads the receipts of the member it decides for.
        mine = Q(member=member) if member else Q(pk__in=[])
        rows = rows.filter(mine | Q(member__in=members_in_authority_of(user)))
    consent = rows.filter(pk=consent_id).first()
    if consent is None:
        raise NotFound("no such consent", code="consent_not_found")
    return consent


def consent_texts(*, use: str | None = None, language: str | None = None) -> QuerySet[ConsentText]:
    """Every published version of every use's consent text, in use order then version."""
    rows = ConsentText.objects.all()
    if use:
        rows = rows.filter(use=use)
    if language:
        rows = rows.filter(language=language)
    return rows.order_by("use", "language", "version")


def consent_text_overview(*, at: datetime | None = None) -> list[dict]:
    """For the administrator's consent texts page, per use in display order: every version in
    the default language, newest first, the one in force, and how many grants in force were made
    under an older version (members who are offered to re-confirm). One query per use."""
    at = at or timezone.now()
    in_force = current_texts(at=at)
    versions: dict[str, list] = {}
    for text in ConsentText.objects.filter(language=DEFAULT_LANGUAGE).order_by("-version"):
        versions.setdefault(text.use, []).append(text)
    rows = []
    for use in Use:
        current = in_force.get(use.value)
        older = (
            active_grants(use=use.value, at=at).filter(
                text__language=DEFAULT_LANGUAGE, text__version__lt=current.version
            )
            if current
            else Consent.objects.none()
        )
        rows.append(
            {
                "use": use.value,
                "label": use.label,
                "current": current,
                "versions": versions.get(use.value, []),
                "to_reconfirm": older.count(),
            }
        )
    return rows


def consent_statistics() -> list[dict]:
    """For the transparency page, per use in display order: members granting it now, refusals
    recorded and withdrawals recorded. One aggregate query; a refusal is counted as a refusal,
    never as a grant."""
    active_now = Q(state=Consent.State.GRANTED, withdrawal__isnull=True, reconfirmation__isnull=True)
    counts = {
        row["use"]: row
        for row in Consent.objects.values("use").annotate(
            granting=Count("member", filter=active_now, distinct=True),
            refusals=Count("pk", filter=Q(state=Consent.State.REFUSED)),
            withdrawals=Count("pk", filter=Q(state=Consent.State.WITHDRAWN)),
        )
    }
    empty = {"granting": 0, "refusals": 0, "withdrawals": 0}
    return [{"use": use.value, "label": use.label, **{**empty, **counts.get(use.value, {})}} for use in Use]


def consent_history(*, member: Member):
    return consents_of(member).order_by("created_at", "id")


def latest_version(dataset: Dataset) -> DatasetVersion | None:
    return dataset.versions.order_by("-number").first()


def latest_versions(dataset_ids: Iterable[int]) -> QuerySet[DatasetVersion]:
    """`latest_version` of each of these datasets that has one, in one query."""
    latest = DatasetVersion.objects.filter(dataset=OuterRef("dataset")).order_by("-number").values("pk")[:1]
    return DatasetVersion.objects.filter(dataset__in=set(dataset_ids), pk=Subquery(latest)).order_by()


def contributor_rows(asset_ids: Iterable | QuerySet) -> QuerySet:
    """(asset id, member id, member number, share, status) of every contributor of the given
    assets (ids, or a queryset of `asset_id` values to use as a subquery), in one query. Every
    named contributor is listed, so shares sum to 1; the money rule counts only the accepted."""
    if not isinstance(asset_ids, QuerySet):
        asset_ids = list(asset_ids)
    return AssetContributor.objects.filter(asset_id__in=asset_ids).values_list(
        "asset_id", "member_id", "member__member_number", "share", "status"
    )


def contributions_of(member: Member, *, status: str | None = None) -> QuerySet[AssetContributor]:
    """The member's shares of assets, newest first, with the asset and who registered it:
    pending ones are the requests they may accept or decline."""
    rows = AssetContributor.objects.filter(member=member)
    if status:
        rows = rows.filter(status=status)
    return rows.select_related("asset", "asset__created_by__member").order_by("-asset__created_at", "-pk")


def contribution_for(*, user, contribution_id) -> AssetContributor:
    """One of the user's own shares; anyone else's is not found."""
    member = member_of(user)
    row = contributions_of(member).filter(pk=contribution_id).first() if member else None
    if row is None:
        raise NotFound("no such contributor request", code="contribution_not_found")
    return row


def datasets_overview() -> QuerySet[Dataset]:
    """Every dataset with `draft_count` (assets in its working set, what the next freeze
    snapshots) and `latest_number` (its latest frozen version, None before the first)."""

    return Dataset.objects.annotate(
        draft_count=Count("items", distinct=True), latest_number=Max("versions__number")
    ).order_by("slug")


def dataset_draft_assets(dataset: Dataset) -> QuerySet[Asset]:
    """The assets of a dataset's working set, with their contributors."""
    return (
        Asset.objects.filter(dataset_items__dataset=dataset)
        .prefetch_related("contributors__member")
        .order_by("title", "pk")
    )


def dataset_versions(dataset: Dataset) -> QuerySet[DatasetVersion]:
    """A dataset's frozen versions, newest first, each with `asset_count`."""

    return dataset.versions.annotate(asset_count=Count("items")).order_by("-number")


def assets_addable_to(
    dataset: Dataset, *, kind: str | None = None, use: str | None = None, at: datetime | None = None
) -> QuerySet[Asset]:
    """Available assets not yet in the dataset's working set: optionally of one kind, and
    optionally licensable at `at` (default now) for one use."""

    qs = Asset.objects.available().exclude(dataset_items__dataset=dataset)
    if kind:
        qs = qs.filter(kind=kind)
    if use:
        qs = licensable_assets(assets=qs, uses=[use], at=at or timezone.now())
    return qs.prefetch_related("contributors__member").order_by("title", "pk")


def dataset_freeze_preview(dataset: Dataset) -> dict:
    """What freezing the draft now would make, for the confirmation page: the next version
    number, how many assets it would hold, how many are new or dropped since the latest
    version, and whether anything changed at all (`dataset_freeze` refuses when not)."""
    latest = latest_version(dataset)
    draft = dataset.items.all()
    frozen = latest.items.all() if latest else DatasetVersionItem.objects.none()
    added = draft.exclude(asset_id__in=frozen.values("asset_id")).count()
    dropped = frozen.exclude(asset_id__in=draft.values("asset_id")).count() if latest else 0
    return {
        "number": (latest.number if latest else 0) + 1,
        "latest": latest,
        "asset_count": draft.count(),
        "added": added,
        "dropped": dropped,
        "unchanged": latest is not None and added == 0 and dropped == 0,
    }


def member_by_number(member_number: str) -> Member | None:
    """The member with this number (surrounding spaces ignored, as typed into a form), or None."""
    return Member.objects.filter(member_number=member_number.strip()).first()


def members_overview() -> QuerySet:
    """Every member as plain rows for the administrator's list: number, name, login, email,
    whether they are listed publicly, whether the trust can pay them (bank details), when
    they were enrolled, and how many assets they contribute to, shares accepted (one subquery,
    not a row each)."""
    assets = (
        AssetContributor.objects.accepted()
        .filter(member=OuterRef("pk"))
        .values("member")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Member.objects.annotate(
        asset_count=Coalesce(Subquery(assets), 0),
        has_bank_details=~Q(payout_iban="", payout_account_number=""),
    ).values(
        "pk",
        "member_number",
        "display_name",
        "user__username",
        "user__email",
        "listed_publicly",
        "has_bank_details",
        "created_at",
        "asset_count",
    )


def audit_events() -> QuerySet[AuditEvent]:
    """The audit log, newest first, as plain rows (the page filters and pages through it)."""
    return AuditEvent.objects.order_by("-seq").values(
        "seq", "created_at", "actor_label", "action", "subject_type", "subject_id", "data"
    )
