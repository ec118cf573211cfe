"""Quotas by consent category (README: Quotas by consent category): a member's grant may cap a
use per lease or per year, and lease terms may cap a use per lease. Usage is taken from each
cap's counter (`UsageQuota`) by one conditional upsert in the usage's own transaction, so a cap
of N lets exactly N through however many reports ask at once; what would go over is refused
(409 `quota_exceeded`) with nothing written.

Which usage counts against which use (a usage event names a kind, not a use):
- `training_run` counts against `training`;
- `generated_second` counts against every generation use the lease permits (replica_active,
  replica_passive, voice_synthesis, crowd_generation): the event does not say which one it was
  made under, so each cap a member set on any of them holds;
- `download` counts against no use (the terms' download cap meters it); the gateway refuses a
  download once the caps on the asset are used up for every kind of use the lease permits,
  since nothing the lease may do with it is left.
A member's cap applies to the usage of an asset they contribute to (a grant on one asset: that
asset only); an asset-less training run used every asset licensable at approval, so it counts
against the training caps of all their contributors. The binding cap is the smallest: each cap
is taken separately, and the first that would go over refuses."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from trust.consent import GENERATION_USES, TRAINING_USE, CapPer, cap_unit
from trust.errors import Conflict, Invalid
from trust.models import Asset, AssetContributor, Consent

from .models import Lease, UsageEvent, UsageQuota

# Counters taken per statement: 8 parameters each stays under every database's limit.
TAKE_BATCH = 500


def uses_counted(kind: str, permitted_uses: Sequence[str]) -> list[str]:
    """The consent uses a usage event of `kind` counts against on a lease permitting these uses."""
    if kind == UsageEvent.Kind.TRAINING_RUN:
        return [TRAINING_USE.value] if TRAINING_USE in permitted_uses else []
    if kind == UsageEvent.Kind.GENERATED_SECOND:
        return sorted(use for use in permitted_uses if use in GENERATION_USES)
    return []


def checked_terms_caps(use_caps: dict, *, permitted_uses) -> dict:
    """Terms' caps as {use: quantity}: each on a use the terms permit, a whole quantity from 1."""
    if not isinstance(use_caps, dict):
        raise Invalid("use_caps maps a permitted use to a quantity", code="bad_cap")
    for use, quantity in use_caps.items():
        if use not in permitted_uses:
            raise Invalid(f"use_caps: {use!r} is not a use these terms permit", code="bad_cap")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 10**12:
            raise Invalid(f"use_caps: the cap of {use} must be a whole number from 1", code="bad_cap")
    return dict(sorted(use_caps.items()))


def utc_year(moment: datetime) -> int:
    """The calendar year a per-year cap counts `moment` in: the year in UTC."""
    return moment.astimezone(UTC).year


def terms_key(lease_id: int, use: str) -> str:
    return f"l{lease_id}:{use}"


def member_key(*, member_id: int, use: str, asset_id, per: str, lease_id: int, year: int) -> str:
    scope = asset_id or "*"
    return f"m{member_id}:{use}:{scope}:" + (f"l{lease_id}" if per == CapPer.LEASE else f"y{year}")


def _active_capped_grants(uses):
    """Capped grants of `uses` in force now: granted, neither withdrawn nor re-confirmed."""
    withdrawn = Consent.objects.filter(supersedes=OuterRef("pk"))
    reconfirmed = Consent.objects.filter(reconfirms=OuterRef("pk"))
    return (
        Consent.objects.filter(state=Consent.State.GRANTED, use__in=list(uses), cap_quantity__isnull=False)
        .exclude(Exists(withdrawn))
        .exclude(Exists(reconfirmed))
    )


def _demands(lease: Lease, rows: Sequence[tuple]) -> dict[str, dict]:
    """What `rows` (event_key, kind, asset, quantity, occurred_at) take from each cap, as
    {key: {counter columns, "cap", "quantity", "per", "events": [(row index, quantity)]}}. Two
    queries when a capped grant may apply (the grants, the contributions they cover), none for a
    lease whose terms cap nothing and whose contributors capped nothing."""
    uses = {use for _, kind, *_ in rows for use in uses_counted(kind, lease.permitted_uses)}
    demands: dict[str, dict] = {}

    def add(key, index, quantity, **counter):
        demand = demands.setdefault(key, {**counter, "quantity": 0, "events": []})
        demand["quantity"] += quantity
        demand["events"].append((index, quantity))

    for index, (_, kind, _, quantity, _) in enumerate(rows):
        if quantity <= 0:
            continue  # a correction gives nothing back: a cap counts what was used
        for use in uses_counted(kind, lease.permitted_uses):
            if use in (lease.use_caps or {}):
                cap = int(lease.use_caps[use])
                add(
                    terms_key(lease.pk, use),
                    index,
                    quantity,
                    lease_id=lease.pk,
                    use=use,
                    cap=cap,
                    per="terms",
                )
    if not uses or not lease.quota_applies:
        return demands

    named = {asset for _, _, asset, _, _ in rows if asset}
    unnamed = any(asset is None for _, _, asset, _, _ in rows)
    approval = lease.approval_assets.through.objects.filter(lease_id=lease.pk).values("asset_id")
    contributions = AssetContributor.objects.accepted()
    scope = Q(asset_id__in=list(named)) | (Q(asset_id__in=approval) if unnamed else Q(pk__in=[]))
    contributors = contributions.filter(scope).values("member_id")
    grants = list(
        _active_capped_grants(uses)
        .filter(member_id__in=contributors)
        .values_list("member_id", "use", "asset_id", "cap_quantity", "cap_per")
    )
    if not grants:
        return demands
    capping = {member for member, *_ in grants}
    grants_of = defaultdict(list)
    for member, use, asset, cap, per in grants:
        grants_of[member].append((use, asset, cap, per))
    # Who contributes to each named asset, among the members who capped something.
    members_of = defaultdict(set)
    for asset, member in contributions.filter(asset_id__in=list(named), member_id__in=capping).values_list(
        "asset_id", "member_id"
    ):
        members_of[asset].add(member)
    if unnamed:
        # An asset-less training run: every capping contributor of the approval assets, with
        # the grant scopes (one asset, or all) that some approval asset falls under.
        covered = defaultdict(set)
        for asset, member in contributions.filter(asset_id__in=approval, member_id__in=capping).values_list(
            "asset_id", "member_id"
        ):
            covered[member].add(asset)

    for index, (_, kind, asset, quantity, occurred_at) in enumerate(rows):
        counted = uses_counted(kind, lease.permitted_uses) if quantity > 0 else []
        if asset is not None:
            pairs = [(member, g) for member in members_of[asset] for g in grants_of[member]]
            pairs = [(m, g) for m, g in pairs if g[1] is None or g[1] == asset]
        else:
            pairs = [
                (member, g)
                for member, assets in covered.items()
                for g in grants_of[member]
                if g[1] is None or g[1] in assets
            ]
        year = utc_year(occurred_at)
        for member, (use, grant_asset, cap, per) in pairs:
            if use not in counted:
                continue
            key = member_key(
                member_id=member,
                use=use,
                asset_id=grant_asset,
                per=per,
                lease_id=lease.pk,
                year=year,
            )
            add(
                key,
                index,
                quantity,
                lease_id=lease.pk if per == CapPer.LEASE else None,
                member_id=member,
                asset_id=grant_asset,
                use=use,
                year=year if per == CapPer.YEAR else None,
                cap=cap,
                per=per,
            )
    return demands


def take_usage_quotas(lease: Lease, events: Sequence, rows: Sequence[tuple], positions=None) -> None:
    """Take what the new usage `rows` (event_key, kind, asset, quantity, occurred_at; the
    report's first occurrence of each key) use from every cap that applies, or refuse the whole
    report (409 `quota_exceeded`) naming the first event over a cap. Call it in the report's
    transaction, after duplicates are known: a refusal rolls everything back. One upsert per
    500 caps touched; nothing at all when no cap applies."""
    if not rows:
        return
    demands = _demands(lease, rows)
    if not demands:
        return
    keys = sorted(demands)  # one order for every taker: two reports never deadlock on counters
    over = [key for key in keys if demands[key]["quantity"] > demands[key]["cap"]]
    taken: set[str] = set()
    if not over:
        for start in range(0, len(keys), TAKE_BATCH):
            taken |= _take([(key, demands[key]) for key in keys[start : start + TAKE_BATCH]])
        over = [key for key in keys if key not in taken]
    if over:
        _refuse(lease, events, rows, positions, over[0], demands[over[0]])


def take_for_report(lease: Lease, *, events, rows, accepted: int, now: datetime, positions=None) -> None:
    """The usage ingest's quota step, after its insert: the rows it recorded (`accepted` of
    `rows`; a duplicate of an earlier report was counted then) are taken from their caps.
    Nothing, not even a query, for a lease no quota applies to."""
    if not accepted or not (lease.use_caps or lease.quota_applies):
        return
    if accepted < len(rows):
        # Some keys were duplicates: the rows this report recorded are those recorded from `now`
        # on (the ORM's insert stamps its own time, a little later; an earlier report's, earlier).
        fresh = set(
            UsageEvent.objects.filter(
                lease_id=lease.pk,
                occurred_at__in={row[4] for row in rows},
                event_key__in=[row[0] for row in rows],
                recorded_at__gte=now,
            ).values_list("event_key", flat=True)
        )
        rows = [row for row in rows if row[0] in fresh]
    take_usage_quotas(lease, events, rows, positions)


def _take(batch: list[tuple[str, dict]]) -> set[str]:
    table = UsageQuota._meta.db_table
    values, params = [], []
    for key, d in batch:
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s)")
        asset = d.get("asset_id") and Asset._meta.pk.get_db_prep_value(d["asset_id"], connection)
        params += [key, d.get("lease_id"), d.get("member_id"), asset]
        params += [d["use"], d.get("year"), d["cap"], d["quantity"]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS q (key, lease_id, member_id, asset_id, use, year, cap, used) "
            f"VALUES {', '.join(values)} "
            "ON CONFLICT (key) DO UPDATE SET used = q.used + EXCLUDED.used, cap = EXCLUDED.cap "
            "WHERE q.used + EXCLUDED.used <= EXCLUDED.cap RETURNING key",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


def _refuse(lease, events, rows, positions, key, demand) -> None:
    used = UsageQuota.objects.filter(key=key).values_list("used", flat=True).first() or 0
    remaining = max(demand["cap"] - used, 0)
    # The first event of this cap's whose running total passes what was left.
    running, index = 0, demand["events"][-1][0]
    for event_index, quantity in demand["events"]:
        running += quantity
        if running > remaining:
            index = event_index
            break
    event_key = rows[index][0]
    position = next(i for i, event in enumerate(events) if event["event_key"] == event_key)
    position = positions[position] if positions else position
    unit, use = cap_unit(demand["use"]), demand["use"]
    if demand["per"] == "terms":
        whose = f"this lease's terms cap {use} at {demand['cap']} {unit}"
    else:
        asset = rows[index][2]
        whose = (
            f"a contributor of {'asset ' + str(asset) if asset else 'this lease'} caps {use} at "
            f"{demand['cap']} {unit} per {demand['per']}"
            + (f" ({demand['year']})" if demand["per"] == CapPer.YEAR else "")
        )
    raise Conflict(f"events[{position}]: {whose}; {remaining} left", code="quota_exceeded")


def refuse_download_over_quota(*, lease: Lease, asset_id, at: datetime) -> None:
    """The gateway's quota check (only for a lease with `quota_applies`): refuse (409
    `quota_exceeded`) a download of an asset whose caps are used up for every kind of use the
    lease permits (training; generation). A member's counter counts as used up only under a
    capped grant in force whose cap it has reached. One query."""
    kinds = [
        uses
        for kind in (UsageEvent.Kind.TRAINING_RUN, UsageEvent.Kind.GENERATED_SECOND)
        if (uses := uses_counted(kind, lease.permitted_uses))
    ]
    if not kinds:
        return
    uses = sorted({use for uses_of_kind in kinds for use in uses_of_kind})
    terms = [terms_key(lease.pk, use) for use in uses if use in (lease.use_caps or {})]
    exhausted = {
        row[0] for row in _exhausted_uses(lease=lease, asset_id=asset_id, uses=uses, terms=terms, at=at)
    }
    if all(exhausted & set(uses_of_kind) for uses_of_kind in kinds):
        raise Conflict(
            "the quotas on this asset are used up for every use this lease permits", code="quota_exceeded"
        )


def _exhausted_uses(*, lease: Lease, asset_id, uses: list[str], terms: list[str], at: datetime) -> list:
    """The uses among `uses` whose quota on the asset is used up for this lease at `at`: a terms
    cap of the lease at its cap, or a contributor's counter (per this lease, or per `at`'s year)
    that a capped grant in force, of the same scope and period, caps at or below its use. Written
    out once (the gateway's hot path: the ORM took longer to compile it than the database to run
    it)."""
    quota, contributor, consent = (
        UsageQuota._meta.db_table,
        AssetContributor._meta.db_table,
        Consent._meta.db_table,
    )
    marks = ", ".join(["%s"] * len(uses))
    terms_at_cap = f"(q.key IN ({', '.join(['%s'] * len(terms))}) AND q.used >= q.cap)" if terms else "1 = 0"
    sql = f"""
        SELECT DISTINCT q.use FROM {quota} q
        WHERE q.use IN ({marks}) AND ({terms_at_cap} OR (
            q.member_id IN (SELECT c.member_id FROM {contributor} c WHERE c.asset_id = %s AND c.status = %s)
            AND (q.asset_id IS NULL OR q.asset_id = %s)
            AND ((q.lease_id = %s AND q.year IS NULL) OR (q.lease_id IS NULL AND q.year = %s))
            AND EXISTS (
                SELECT 1 FROM {consent} g
                WHERE g.member_id = q.member_id AND g.use = q.use AND g.state = %s
                AND g.cap_quantity IS NOT NULL AND g.cap_quantity <= q.used
                AND g.cap_per = CASE WHEN q.lease_id IS NULL THEN %s ELSE %s END
                AND (g.asset_id = q.asset_id OR (g.asset_id IS NULL AND q.asset_id IS NULL))
                AND NOT EXISTS (SELECT 1 FROM {consent} w WHERE w.supersedes_id = g.id)
                AND NOT EXISTS (SELECT 1 FROM {consent} r WHERE r.reconfirms_id = g.id)
            )
        ))
    """
    asset = Asset._meta.pk.get_db_prep_value(asset_id, connection)
    params = [*uses, *terms, asset, AssetContributor.Status.ACCEPTED, asset, lease.pk, utc_year(at)]
    params += [Consent.State.GRANTED, CapPer.YEAR, CapPer.LEASE]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def lease_has_quota(lease: Lease) -> bool:
    """Whether any quota may apply to `lease`: its terms cap a use, or a contributor of its
    pinned version holds a capped grant of a use it permits. One query (none with terms caps)."""
    if lease.use_caps:
        return True
    contributors = AssetContributor.objects.filter(asset__version_items__version_id=lease.version_id).values(
        "member_id"
    )
    return _active_capped_grants(lease.permitted_uses).filter(member_id__in=contributors).exists()


def leases_mark_quota(*, assets) -> None:
    """A capped grant was made over `assets`: the active leases holding any of them ask the
    quotas from now on. One UPDATE."""
    Lease.objects.active().filter(quota_applies=False, version__items__asset_id__in=assets).update(
        quota_applies=True
    )


# Reads for the pages: what a studio has left on a lease, what a member has used of their caps.

# The member caps a studio's lease page lists, tightest first.
LEASE_CAPS_SHOWN = 100


def _cap_text(quantity: int, use: str, per: str | None) -> str:
    return f"{quantity:,} {cap_unit(use)}" + (f" per {per}" if per else "")


def lease_quotas(lease: Lease, *, at: datetime | None = None) -> dict:
    """The quotas on `lease` with what is left of each: the terms' caps per use, and the capped
    grants in force of the contributors of its licensable assets (never naming the member: the
    asset, or how many of the lease's assets one contributor's cap covers). Tightest first, at
    most LEASE_CAPS_SHOWN member caps. Four queries whatever the lease's size."""
    from django.db.models import CharField, Count, Min
    from django.db.models.functions import Cast
    from django.utils import timezone

    from .models import LeaseAsset

    year = utc_year(at or timezone.now())
    counted = sorted({use for kind in UsageEvent.Kind for use in uses_counted(kind, lease.permitted_uses)})
    rows = [
        {
            "key": terms_key(lease.pk, use),
            "use": use,
            "cap": int(cap),
            "per": None,
            "applies_to": "the whole lease",
        }
        for use, cap in sorted((lease.use_caps or {}).items())
        if use in counted
    ]
    terms_count = len(rows)
    in_lease = LeaseAsset.objects.filter(lease_id=lease.pk).values("asset_id")
    contributors = AssetContributor.objects.accepted().filter(asset_id__in=in_lease)
    grants = list(
        _active_capped_grants(counted)
        .filter(member_id__in=contributors.values("member_id"))
        .filter(Q(asset__isnull=True) | Q(asset_id__in=in_lease))
        .values_list("member_id", "use", "asset_id", "cap_quantity", "cap_per")
    )
    spread = {}
    if any(asset is None for _, _, asset, *_ in grants):
        spread = {
            row["member_id"]: row
            for row in contributors.filter(member_id__in={m for m, _, a, *_ in grants if a is None})
            .values("member_id")
            .annotate(assets=Count("asset_id"), first=Min(Cast("asset_id", CharField())))
        }
    # Assets by id (as in the manifest), never by title: a title may name its member.
    for member, use, asset, cap, per in grants:
        if asset is None:
            covered = spread.get(member, {"assets": 0, "first": ""})
            others = covered["assets"] - 1
            applies_to = f"asset {covered['first']}" + (
                f" and {others} more of the same contributor" if others > 0 else ""
            )
        else:
            applies_to = f"asset {asset}"
        key = member_key(member_id=member, use=use, asset_id=asset, per=per, lease_id=lease.pk, year=year)
        rows.append({"key": key, "use": use, "cap": cap, "per": per, "applies_to": applies_to})
    used = dict(UsageQuota.objects.filter(key__in=[row["key"] for row in rows]).values_list("key", "used"))
    for row in rows:
        row["used"] = used.get(row["key"], 0)
        row["left"] = max(row["cap"] - row["used"], 0)
        per = f"year ({year})" if row["per"] == CapPer.YEAR else row["per"]
        row["cap_text"] = _cap_text(row["cap"], row["use"], per)
        row["unit"] = cap_unit(row["use"])
    members = sorted(rows[terms_count:], key=lambda row: (row["left"], row["use"], row["applies_to"]))
    return {
        "terms": rows[:terms_count],
        "members": members[:LEASE_CAPS_SHOWN],
        "members_total": len(members),
        "year": year,
    }


def member_caps(member, *, at: datetime | None = None) -> list[dict]:
    """The member's capped grants in force, each with its use so far: per lease (each lease that
    used it, with its studio) or per year (this year's, and earlier years used). Two queries."""
    from django.utils import timezone

    year = utc_year(at or timezone.now())
    grants = list(
        _active_capped_grants([use for use in GENERATION_USES | {TRAINING_USE.value}])
        .filter(member=member)
        .select_related("asset")
        .order_by("use", "asset__title", "pk")
    )
    counters = list(
        UsageQuota.objects.filter(member=member)
        .values("use", "asset_id", "lease_id", "lease__studio__name", "year", "used")
        .order_by("-year", "lease_id")
    )
    rows = []
    for grant in grants:
        per_lease = grant.cap_per == CapPer.LEASE
        mine = [
            counter
            for counter in counters
            if counter["use"] == grant.use
            and counter["asset_id"] == grant.asset_id
            and (counter["lease_id"] is not None) == per_lease
        ]
        uses = []
        for counter in mine:
            label = (
                f"Lease {counter['lease_id']} ({counter['lease__studio__name']})"
                if per_lease
                else str(counter["year"])
            )
            uses.append(
                {
                    "label": label,
                    "used": counter["used"],
                    "left": max(grant.cap_quantity - counter["used"], 0),
                }
            )
        if not per_lease and not any(counter["year"] == year for counter in mine):
            uses.insert(0, {"label": str(year), "used": 0, "left": grant.cap_quantity})
        rows.append(
            {
                "grant": grant,
                "use": grant.use,
                "scope": f"“{grant.asset.title}”" if grant.asset_id else "All my assets",
                "cap_text": _cap_text(grant.cap_quantity, grant.use, grant.cap_per),
                "uses": uses,
            }
        )
    return rows
