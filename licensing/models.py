from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from trust.models import Asset, Dataset, DatasetVersion
from trust.tokens import TokenQuerySet, TokenState


class Studio(models.Model):
    """A studio this trust leases to: its own (staff sign in here), or a peer trust's studio
    whose federated lease has a part here (`home_peer`: "studio S of trust H", no staff here)."""

    name = models.CharField(max_length=200)
    # Staff belong to this group; guardian grants it object permissions on the studio's leases.
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="studio")
    home_peer = models.ForeignKey(
        "federation.Peer", on_delete=models.PROTECT, null=True, blank=True, related_name="studios"
    )
    # The studio's id at its home trust (for a peer's studio only).
    home_studio_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(home_peer__isnull=True), name="local_studio_name_unique"
            ),
            models.UniqueConstraint(fields=["home_peer", "home_studio_id"], name="peer_studio_once"),
            models.CheckConstraint(
                name="peer_studio_has_home_id",
                condition=Q(home_peer__isnull=True, home_studio_id__isnull=True)
                | Q(home_peer__isnull=False, home_studio_id__isnull=False),
            ),
        ]

    def __str__(self):
        if self.home_peer_id:
            return f"{self.name} (studio of {self.home_peer.name})"
        return self.name


class StudioStaff(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="studio_staff"
    )
    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="staff")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user} at {self.studio}"


def default_acknowledge_days() -> int:
    return settings.TAKEDOWN_ACKNOWLEDGE_DAYS


def default_attest_days() -> int:
    return settings.TAKEDOWN_DEADLINE_DAYS


class LeaseTerms(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="terms")
    title = models.CharField(max_length=300)
    permitted_uses = models.JSONField(help_text='list of uses, e.g. ["training"]')
    duration_days = models.PositiveIntegerField()
    flat_fee_cents = models.BigIntegerField(default=0)
    price_per_download_cents = models.BigIntegerField(default=0)
    price_per_training_run_cents = models.BigIntegerField(default=0)
    price_per_generated_second_cents = models.BigIntegerField(default=0)
    download_cap = models.PositiveIntegerField(null=True, blank=True, help_text="empty: no cap")
    # The terms' quota per use and lease, {use: quantity} (README: Quotas by consent category).
    use_caps = models.JSONField(
        default=dict, db_default={}, blank=True, help_text='e.g. {"replica_active": 600}'
    )
    # Days from a takedown notice the studio has to acknowledge it and to attest deletion.
    takedown_acknowledge_days = models.PositiveIntegerField(default=default_acknowledge_days)
    takedown_attest_days = models.PositiveIntegerField(default=default_attest_days)
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    # Days the studio has to pay the invoice these terms' leases appear on; empty: the trust's
    # default (INVOICE_PAYMENT_DAYS).
    payment_days = models.PositiveIntegerField(null=True, blank=True)
    # The negotiators' premiums (payouts/premiums.py): a fee once per (studio, production title),
    # and basis points of the costs a digital double saves the studio, as it reports them. Column
    # defaults too, so writers that list their columns need not name them.
    production_fee_cents = models.BigIntegerField(default=0, db_default=0)
    substitution_premium_bps = models.PositiveIntegerField(default=0, db_default=0)
    # The peer trusts whose studios see these terms in their catalogue (FEDERATION.md).
    shared_with = models.ManyToManyField("federation.Peer", blank=True, related_name="shared_terms")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "lease terms"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(flat_fee_cents__gte=0)
                & Q(price_per_download_cents__gte=0)
                & Q(price_per_training_run_cents__gte=0)
                & Q(price_per_generated_second_cents__gte=0),
                name="terms_prices_not_negative",
            ),
            models.CheckConstraint(condition=Q(duration_days__gte=1), name="terms_duration_positive"),
            models.CheckConstraint(
                condition=Q(takedown_acknowledge_days__gte=1)
                & Q(takedown_attest_days__gte=F("takedown_acknowledge_days")),
                name="terms_takedown_windows_ordered",
            ),
            models.CheckConstraint(
                condition=Q(production_fee_cents__gte=0) & Q(substitution_premium_bps__lte=10_000),
                name="terms_premiums_in_range",
            ),
        ]

    def __str__(self):
        return self.title


class LeaseQuerySet(models.QuerySet):
    """The status sets the trust talks about, each named once."""

    def requested(self):
        return self.filter(status=Lease.Status.REQUESTED)

    def active(self):
        return self.filter(status=Lease.Status.ACTIVE)

    def approved(self):
        """Leases that were ever approved: active now, or since expired or revoked."""
        return self.filter(status__in=Lease.APPROVED_STATUSES)

    def closed(self):
        """Leases that are over: rejected, cancelled, revoked or expired."""
        return self.filter(status__in=Lease.CLOSED_STATUSES)

    def live(self, *, at=None):
        """Active leases whose end has not come at `at` (the expiry job may not have run yet)."""
        return self.active().filter(ends_at__gt=at or timezone.now())


class Lease(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested"
        ACTIVE = "active"
        REJECTED = "rejected"
        EXPIRED = "expired"
        REVOKED = "revoked"
        # The studio withdrew its own request before the trust decided it.
        CANCELLED = "cancelled"
        # A federated lease at its home trust: the home part is approved, other parts are not yet.
        AWAITING_PARTS = "awaiting_parts", "Awaiting other trusts"

    APPROVED_STATUSES = (Status.ACTIVE, Status.EXPIRED, Status.REVOKED)
    CLOSED_STATUSES = (Status.REJECTED, Status.CANCELLED, Status.REVOKED, Status.EXPIRED)

    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="leases")
    terms = models.ForeignKey(LeaseTerms, on_delete=models.PROTECT, related_name="leases")
    purpose = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    # For a cancelled request: the studio user who cancelled it, and when.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="leases"
    )
    # Uses and prices are copied from the terms at approval: later edits never reprice a lease.
    permitted_uses = models.JSONField(default=list)
    flat_fee_cents = models.BigIntegerField(default=0)
    price_per_download_cents = models.BigIntegerField(default=0)
    price_per_training_run_cents = models.BigIntegerField(default=0)
    price_per_generated_second_cents = models.BigIntegerField(default=0)
    download_cap = models.PositiveIntegerField(null=True, blank=True)
    use_caps = models.JSONField(default=dict, db_default={}, blank=True)
    # Whether any quota may apply to this lease (its terms' caps, or a capped grant of a
    # contributor): set at approval and by every capped grant, so the gateway asks the quotas
    # only for leases that have one.
    quota_applies = models.BooleanField(default=False, db_default=False)
    takedown_acknowledge_days = models.PositiveIntegerField(default=default_acknowledge_days)
    takedown_attest_days = models.PositiveIntegerField(default=default_attest_days)
    currency = models.CharField(max_length=3, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set by the deadline job when a takedown notice on this lease (at this trust: for a part of a
    # peer's lease, this trust's part) passed its attestation deadline: every token of the lease,
    # `lt_` and `ft_`, is refused here (423 `tokens_suspended`) until the studio attests.
    tokens_suspended_at = models.DateTimeField(null=True, blank=True)
    # Assets of the pinned version licensable at approval: the flat fee and training runs
    # are shared equally among these.
    approval_assets = models.ManyToManyField(Asset, related_name="approved_in_leases", blank=True)
    # The production the studio names when it requests the lease; the production fee is charged
    # once per (studio, production title), compared without case or extra spaces.
    production = models.CharField(max_length=200, blank=True, default="", db_default="")
    production_fee_cents = models.BigIntegerField(default=0, db_default=0)
    substitution_premium_bps = models.PositiveIntegerField(default=0, db_default=0)

    objects = LeaseQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["status", "ends_at"])]

    def __str__(self):
        return f"lease {self.pk}: {self.studio} / {self.terms}"

    def unit_price(self, kind: str) -> int:
        return {
            UsageEvent.Kind.DOWNLOAD: self.price_per_download_cents,
            UsageEvent.Kind.TRAINING_RUN: self.price_per_training_run_cents,
            UsageEvent.Kind.GENERATED_SECOND: self.price_per_generated_second_cents,
        }.get(kind, 0)  # a substitution saving is priced in basis points, not per unit


class LeaseTokenQuerySet(TokenQuerySet):
    def live(self, *, at=None):
        """Tokens that open their lease at `at`: neither revoked nor expired, on a live lease."""
        at = at or timezone.now()
        return super().live(at=at).filter(lease__in=Lease.objects.live(at=at))


class LeaseToken(models.Model):
    """An `lt_` token that lets a studio's machines pull one lease's data."""

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    # A federated lease's token (`ft_`, a Biscuit signed by this trust) is kept by its revocation
    # id only: what every trust of the lease refuses once it is revoked. Never the token itself.
    revocation_id = models.CharField(max_length=200, null=True, blank=True, unique=True)

    objects = LeaseTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} (lease {self.lease_id})"

    @property
    def state(self) -> TokenState:
        """Now; asks the one rule in licensing.tokens (which needs this module loaded first)."""
        from .tokens import lease_token_state

        return lease_token_state(self)


class DerivedToken(models.Model):
    """A vendor's token derived from one of a federated lease's `ft_` tokens: a Biscuit with an
    appended block naming the vendor and narrowing assets, uses or life (`federation.biscuits
    .derive`). Like its parent it is kept by its revocation id only (its last block's), never the
    token itself. `parent` is the minted token it descends from, however many derivations lie
    between (`parent_revocation_id` names the token it was derived from). A row is made when
    studio staff derive here, or when a token derived offline is first seen in use at this trust
    (`created_by` empty). Revoking the parent, or any token between, refuses it too: the Biscuit
    carries every ancestor's revocation id."""

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="derived_tokens")
    parent = models.ForeignKey(LeaseToken, on_delete=models.PROTECT, related_name="derived_tokens")
    parent_revocation_id = models.CharField(max_length=200)
    vendor = models.CharField(max_length=200)
    revocation_id = models.CharField(max_length=200, unique=True)
    # Null: every asset (or use) the parent allows.
    assets = models.JSONField(null=True, blank=True)
    uses = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.vendor}'s token (lease {self.lease_id})"


class UsageEvent(models.Model):
    class Kind(models.TextChoices):
        DOWNLOAD = "download"
        TRAINING_RUN = "training_run"
        GENERATED_SECOND = "generated_second"
        # The costs a digital double saved the studio, in cents (held in `quantity`).
        SUBSTITUTION_SAVING = "substitution_saving"

    class Source(models.TextChoices):
        GATEWAY = "gateway"
        REPORT = "report"
        # Reported by the studio at the lease's home trust and forwarded here (FEDERATION.md).
        FEDERATED = "federated"

    # No index of its own: (lease, occurred_at) serves every lookup by lease.
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="usage_events", db_index=False)
    # Reported keys are each recorded once per lease (UsageEventKey); the gateway's are random.
    event_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    quantity = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    token = models.ForeignKey(LeaseToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The vendor a derived token names (a sub-licence): empty for the studio's own use. A column
    # default too, so writers that list their columns need not name it.
    vendor = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta:
        ordering = ["occurred_at", "id"]
        # On PostgreSQL the table is partitioned by month of occurred_at (migration 0004,
        # licensing/partitions.py): its primary key is (id, occurred_at), and BRIN indexes the
        # time, which grows with the insert order. SQLite keeps a plain table.
        indexes = [
            # A lease's events in time, carrying what a close sums: a batch reads its lease
            # range of a period from this index alone (payouts.metering.meter_lease_range).
            models.Index(
                fields=["lease", "occurred_at"],
                include=["kind", "asset", "quantity"],
                name="usage_event_lease_time",
            ),
            BrinIndex(fields=["occurred_at"], name="usage_event_occurred_brin"),
            # "Who used my data" asks which vendors used a page of leases: only vendors' rows.
            models.Index(fields=["lease", "vendor"], condition=~Q(vendor=""), name="usage_event_vendor"),
        ]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="usage_quantity_positive")]

    def __str__(self):
        return f"{self.kind} x{self.quantity} on lease {self.lease_id}"


class LeaseAsset(models.Model):
    """An asset of an active lease's pinned version that the lease may use now: the trust's one
    licensability rule (`trust.selectors.licensable_assets`), precomputed so a download is an
    indexed lookup and a manifest an index scan. Filled from the rule's queryset, set-based, when
    a lease is approved and whenever the rule's inputs change (a consent granted or withdrawn, an
    asset verified: `trust.signals.licensability_changed`), in the same transaction as the
    change, so a withdrawal is in force the moment it commits. `licensing.services
    .lease_assets_refresh` is the only writer."""

    # No foreign-key triggers: a derived table, filled 100k rows at a time from rows that are
    # never deleted (leases and assets are kept forever), and refilled from the rule.
    lease = models.ForeignKey(
        Lease, on_delete=models.DO_NOTHING, db_constraint=False, related_name="licensable_now"
    )
    asset = models.ForeignKey(
        Asset, on_delete=models.DO_NOTHING, db_constraint=False, related_name="lease_assets"
    )

    class Meta:
        constraints = [
            # Also the index of every read: (lease, asset) for a download, a lease's range for a manifest.
            models.UniqueConstraint(fields=["lease", "asset"], name="lease_asset_once"),
        ]

    def __str__(self):
        return f"{self.asset_id} licensable in lease {self.lease_id}"


class LeaseDownloadCount(models.Model):
    """How many downloads the gateway recorded for a lease with a cap: taken by a conditional
    UPDATE in the download's own transaction (so a cap of N lets exactly N through however many
    ask at once) without locking the lease row. Created at a lease's first capped download from
    the events already recorded."""

    lease = models.OneToOneField(Lease, on_delete=models.CASCADE, primary_key=True, related_name="+")
    used = models.PositiveBigIntegerField()

    def __str__(self):
        return f"{self.used} downloads on lease {self.lease_id}"


class UsageQuota(models.Model):
    """How much of a capped use has been taken (README: Quotas by consent category): one row per
    member cap (member, use, the grant's asset or none, per lease or per year) or per terms cap
    (lease, use), named by `key`. Taken by a conditional upsert in the usage's own transaction
    (`licensing.quotas`), so a cap of N lets exactly N through however many ask at once. Counts
    the use made while a capped grant was in force, from its first capped use on; `cap` is the
    cap in force at the last take."""

    key = models.CharField(max_length=120, unique=True)
    lease = models.ForeignKey(Lease, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    member = models.ForeignKey(
        "trust.Member", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    use = models.CharField(max_length=32)
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    cap = models.PositiveBigIntegerField()
    used = models.PositiveBigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["member", "use"], name="usage_quota_member_use")]
        constraints = [
            models.CheckConstraint(condition=Q(used__lte=F("cap")), name="usage_quota_within_cap"),
            models.CheckConstraint(
                condition=Q(lease__isnull=False) | Q(member__isnull=False, year__isnull=False),
                name="usage_quota_per_lease_or_member_year",
            ),
        ]

    def __str__(self):
        return f"{self.used} of {self.cap} {self.use} ({self.key})"


class PullWindow(models.Model):
    """When a token (`token_key`) last had a download of an asset recorded: within
    PULL_WINDOW_SECONDS of `opened_at` the gateway hands the same token a fresh URL for that asset
    without recording (or billing, or counting against the cap) another download. A token's key
    is `lt:<its id>` for an `lt_` token and `ft:<revocation id>` for an `ft_` token, which has
    no LeaseToken row at a peer trust (its revocation id is the one name every trust knows it by)."""

    # Keyed by the token, which names its lease; written only by the gateway's statement.
    token_key = models.CharField(max_length=200)
    asset = models.ForeignKey(
        Asset, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    opened_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index of the gateway's one lookup per download.
            models.UniqueConstraint(fields=["token_key", "asset"], name="pull_window_once_per_token_asset")
        ]

    def __str__(self):
        return f"{self.token_key} pulled {self.asset_id} at {self.opened_at}"


class UsageEventKey(models.Model):
    """Each reported `event_key` once per lease: what makes a usage report idempotent. Kept
    beside UsageEvent rather than as its unique constraint because usage_event is partitioned by
    month on PostgreSQL, where a unique constraint must include the partition key
    (occurred_at), and a key re-sent with another time is still the same event."""

    # Written only beside its usage event, whose own foreign key checks the lease: a second
    # check per row would cost the ingest a trigger call per event. The unique index serves lookups.
    lease = models.ForeignKey(
        Lease, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    event_key = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lease", "event_key"], name="reported_event_key_once_per_lease")
        ]

    def __str__(self):
        return f"{self.event_key} on lease {self.lease_id}"


class TakedownQuerySet(models.QuerySet):
    def open(self):
        """Notices the studio has not closed yet by attesting deletion."""
        return self.filter(status__in=Takedown.OPEN_STATUSES)


class Takedown(models.Model):
    """A consent withdrawal reaching an active lease: the studio acknowledges, then attests
    it deleted the asset.

    A notice issued at a part's trust of a federated lease is relayed to the lease's home trust,
    where the studio is: there it is recorded against the lease with `peer` (the trust that
    issued it), that trust's notice id and asset, and the studio acknowledges and attests it
    like its own trust's notices; each step is told back to the issuing trust."""

    class Status(models.TextChoices):
        ISSUED = "issued"
        ACKNOWLEDGED = "acknowledged"
        DELETION_ATTESTED = "deletion_attested"

    OPEN_STATUSES = (Status.ISSUED, Status.ACKNOWLEDGED)

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="takedowns")
    # Empty for a notice relayed from a peer: the asset is that trust's (remote_asset_id).
    asset = models.ForeignKey(
        Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="takedowns"
    )
    withdrawal_id = models.BigIntegerField(
        null=True, blank=True, help_text="the trust.Consent withdrawal that caused it (this trust's notices)"
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(default=timezone.now)
    # From the issue time and the lease's takedown days (a relayed notice: its trust's deadlines).
    acknowledge_due_at = models.DateTimeField()
    attest_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attested_at = models.DateTimeField(null=True, blank=True)
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attestation = models.TextField(blank=True)
    # A notice relayed from the trust that issued it (at the lease's home trust).
    peer = models.ForeignKey(
        "federation.Peer", on_delete=models.PROTECT, null=True, blank=True, related_name="relayed_takedowns"
    )
    remote_takedown_id = models.BigIntegerField(
        null=True, blank=True, help_text="the notice's id at its trust"
    )
    remote_asset_id = models.UUIDField(null=True, blank=True, help_text="the asset's id at its trust")
    remote_asset_kind = models.CharField(max_length=32, choices=Asset.Kind.choices, blank=True)
    # The last status the other trust acknowledged: at the issuing trust, what the home trust
    # holds (empty: not relayed yet); at the home trust, what the issuing trust holds.
    relayed_status = models.CharField(max_length=24, choices=Status.choices, blank=True)
    relayed_at = models.DateTimeField(null=True, blank=True)

    objects = TakedownQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            # A second withdrawal while one notice is still open adds nothing new to do.
            models.UniqueConstraint(
                fields=["lease", "asset"],
                condition=~Q(status="deletion_attested"),
                name="one_open_takedown_per_lease_asset",
            ),
            # A notice relayed twice (a retry, the beat's resend) is recorded once.
            models.UniqueConstraint(
                fields=["peer", "remote_takedown_id"],
                condition=Q(peer__isnull=False),
                name="relayed_takedown_once",
            ),
            models.CheckConstraint(
                name="takedown_deadlines_in_order",
                condition=Q(acknowledge_due_at__gte=F("issued_at"))
                & Q(attest_due_at__gte=F("acknowledge_due_at")),
            ),
            models.CheckConstraint(
                name="takedown_names_its_asset",
                condition=Q(peer__isnull=True, asset__isnull=False, withdrawal_id__isnull=False)
                | Q(
                    peer__isnull=False,
                    asset__isnull=True,
                    remote_asset_id__isnull=False,
                    remote_takedown_id__isnull=False,
                ),
            ),
        ]

        indexes = [
            # The deadline job's scan: open notices by attestation deadline.
            models.Index(
                fields=["attest_due_at"],
                condition=Q(status__in=["issued", "acknowledged"]),
                name="open_takedown_attest_due",
            )
        ]

    def __str__(self):
        return f"takedown of {self.asset_ref} on lease {self.lease_id}"

    # What "who used my data" calls each notice's state (item 9 of issue 12); overdue wins.
    MEMBER_STATES = {
        Status.ISSUED: "notified",
        Status.ACKNOWLEDGED: "acknowledged",
        Status.DELETION_ATTESTED: "attested",
    }

    @classmethod
    def member_state(cls, *, status: str, acknowledge_due_at, attest_due_at, at) -> str:
        """notified, acknowledged, attested, or overdue (a step past its deadline at `at`)."""
        overdue = status != cls.Status.DELETION_ATTESTED and (
            at >= attest_due_at or (status == cls.Status.ISSUED and at >= acknowledge_due_at)
        )
        return "overdue" if overdue else cls.MEMBER_STATES[status]

    def overdue(self, at=None) -> str:
        """In words, the step the studio let pass its deadline at `at` (empty: none)."""
        at = at or timezone.now()
        if self.status == self.Status.DELETION_ATTESTED:
            return ""
        if at >= self.attest_due_at:
            return "deletion attestation overdue"
        if self.status == self.Status.ISSUED and at >= self.acknowledge_due_at:
            return "acknowledgement overdue"
        return ""

    @property
    def asset_ref(self):
        """The asset's id at the trust that holds it."""
        return self.asset_id or self.remote_asset_id

    @property
    def asset_kind(self) -> str:
        return self.remote_asset_kind if self.peer_id else self.asset.kind

    @property
    def trust_slug(self) -> str:
        """The trust that holds the asset and issued the notice."""
        return self.peer.slug if self.peer_id else settings.TRUST_SLUG

    @property
    def trust_name(self) -> str:
        return self.peer.name if self.peer_id else settings.TRUST_NAME


class PeerCatalogue(models.Model):
    """How fresh a peer's shared offers are here: the last fetch that worked, the last attempt,
    and why it failed. Offers older than FEDERATION_OFFERS_STALE_SECONDS are labelled stale."""

    peer = models.OneToOneField("federation.Peer", on_delete=models.CASCADE, related_name="catalogue")
    fetched_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self):
        return f"offers of {self.peer}"


class PeerOffer(models.Model):
    """One of a peer's lease terms shared with this trust, as the peer last described it: the
    same fields as a local catalogue entry (`offer`), priced in the peer's currency."""

    peer = models.ForeignKey("federation.Peer", on_delete=models.CASCADE, related_name="offers")
    terms_id = models.BigIntegerField(help_text="the terms' id at the peer")
    title = models.CharField(max_length=300)
    currency = models.CharField(max_length=3)
    offer = models.JSONField()
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["title", "peer_id", "terms_id"]
        constraints = [models.UniqueConstraint(fields=["peer", "terms_id"], name="peer_offer_unique")]

    def __str__(self):
        return f"{self.title} ({self.peer.slug})"


class LeasePart(models.Model):
    """One part of a federated lease, kept at the lease's home trust: the home part itself (`peer`
    empty: the Lease row is that part, this row holds its decision) or a part at a peer trust,
    under that peer's shared terms. The part's state lives here, for every part alike, so one
    table answers "where does each part stand" and the lease's own status is derived from it
    (`licensing.federated.lease_status_from_parts`)."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        APPROVED = "approved"
        REJECTED = "rejected"
        REVOKED = "revoked"
        EXPIRED = "expired"
        CANCELLED = "cancelled"

    # A part only moves forward: a message arriving late never undoes a later one.
    ENDED_STATUSES = (Status.REJECTED, Status.REVOKED, Status.EXPIRED, Status.CANCELLED)

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="parts")
    peer = models.ForeignKey(
        "federation.Peer", on_delete=models.PROTECT, null=True, blank=True, related_name="lease_parts"
    )
    remote_terms_id = models.BigIntegerField(null=True, blank=True, help_text="the terms' id at the peer")
    remote_lease_id = models.BigIntegerField(
        null=True, blank=True, help_text="the part's lease id at the peer"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    licensable_at_approval = models.PositiveIntegerField(null=True, blank=True)
    # The peer's offer as the studio saw it when requesting (prices in the lease's currency).
    offer = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    forwarded_at = models.DateTimeField(null=True, blank=True)
    # The part's own unit prices, as its trust reported them at approval (its lease's copy of its
    # terms): what the home trust's settlement charges its metered usage at. Empty until then.
    price_per_download_cents = models.BigIntegerField(null=True, blank=True)
    price_per_generated_second_cents = models.BigIntegerField(null=True, blank=True)
    # Since when the part's trust has not answered for its manifest (empty: it answered last).
    unavailable_since = models.DateTimeField(null=True, blank=True)
    unavailable_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lease_id", "peer_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "peer"], name="one_part_per_trust"),
            models.UniqueConstraint(
                fields=["lease"], condition=Q(peer__isnull=True), name="one_home_part_per_lease"
            ),
            models.CheckConstraint(
                name="remote_part_names_terms",
                condition=Q(peer__isnull=True) | Q(remote_terms_id__isnull=False),
            ),
        ]
        indexes = [models.Index(fields=["status", "forwarded_at"])]

    def __str__(self):
        return f"part of lease {self.lease_id} at {self.peer.slug if self.peer_id else 'home'}"


class InboundLeasePart(models.Model):
    """At a part's trust: the local Lease that is a part of a peer's federated lease, keyed by
    (home peer, the lease's id there) so a forwarded part sent twice is recorded once.
    `reported_status` is the last part status the home trust acknowledged: a lease whose status
    says otherwise still has a report to send."""

    peer = models.ForeignKey("federation.Peer", on_delete=models.PROTECT, related_name="inbound_parts")
    home_lease_id = models.BigIntegerField()
    lease = models.OneToOneField(Lease, on_delete=models.PROTECT, related_name="inbound_part")
    reported_status = models.CharField(max_length=16, choices=LeasePart.Status.choices, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["peer", "home_lease_id"], name="inbound_part_once_per_home_lease")
        ]

    def __str__(self):
        return f"lease {self.lease_id}: part of {self.peer.slug} lease {self.home_lease_id}"


class ForwardedUsage(models.Model):
    """At a federated lease's home trust: a usage event the studio reported naming an asset of a
    remote part (its `trust`), kept here only to be forwarded to that trust, which meters it
    (FEDERATION.md, "Metering and money across trusts"). Never a UsageEvent: the home close
    never pays home members for another trust's asset. `forwarded_at` set: the part's trust
    recorded it (or had it already); `refused_reason` set: refused there for good, never resent."""

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="forwarded_usage")
    peer = models.ForeignKey("federation.Peer", on_delete=models.PROTECT, related_name="+")
    event_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=UsageEvent.Kind.choices)
    # An asset at the peer: no row here to point at.
    asset_id = models.UUIDField()
    quantity = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    forwarded_at = models.DateTimeField(null=True, blank=True)
    refused_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "event_key"], name="forwarded_event_key_once_per_lease"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="forwarded_quantity_positive"),
        ]
        indexes = [
            # What is still to send: few rows, found without scanning the sent ones.
            models.Index(
                fields=["lease", "peer"],
                condition=Q(forwarded_at__isnull=True, refused_reason=""),
                name="forwarded_usage_unsent",
            ),
            models.Index(fields=["peer", "occurred_at"], name="forwarded_usage_by_time"),
        ]

    def __str__(self):
        return f"{self.kind} x{self.quantity} on lease {self.lease_id} for {self.peer_id}"


class FederatedRevocation(models.Model):
    """A revoked `ft_` token's revocation id. At the issuing (home) trust `issuer` is empty and the
    row's id is the cursor peers pull from; at a part's trust `issuer` is the home peer that told
    us (pushed or pulled). Every trust's gateway refuses a token any of whose ids is listed."""

    issuer = models.ForeignKey(
        "federation.Peer", on_delete=models.PROTECT, null=True, blank=True, related_name="revocations"
    )
    revocation_id = models.CharField(max_length=200)
    # The lease's id at the issuing trust: home tells each peer only its own leases' revocations.
    home_lease_id = models.BigIntegerField()
    revoked_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "revocation_id"],
                condition=Q(issuer__isnull=False),
                name="revocation_once_per_issuer",
            ),
            models.UniqueConstraint(
                fields=["revocation_id"], condition=Q(issuer__isnull=True), name="own_revocation_once"
            ),
        ]
        indexes = [models.Index(fields=["revocation_id"], name="revocation_id_lookup")]

    def __str__(self):
        return f"revoked {self.revocation_id[:12]}... of lease {self.home_lease_id}"


class RevocationCursor(models.Model):
    """How far this trust has pulled a home peer's revocation list (its last row id there)."""

    peer = models.OneToOneField("federation.Peer", on_delete=models.CASCADE, related_name="revocation_cursor")
    last_seen = models.BigIntegerField(default=0)
    pulled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.peer_id} at {self.last_seen}"


class TrainedModel(models.Model):
    """A model a studio declares it trained under a lease: what the public register, the members
    whose data it used, and a member withdrawing consent are shown. Declared by studio staff;
    its dataset versions are the lease's own (`licensing.services.trained_model_declare`)."""

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="trained_models")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100)
    purpose = models.TextField()
    dataset_versions = models.ManyToManyField(DatasetVersion, related_name="trained_models")
    training_started_on = models.DateField()
    # Empty while training goes on.
    training_ended_on = models.DateField(null=True, blank=True)
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    declared_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-declared_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "name", "version"], name="model_version_once_per_lease"),
            models.CheckConstraint(
                condition=Q(training_ended_on__isnull=True)
                | Q(training_ended_on__gte=models.F("training_started_on")),
                name="model_training_ends_after_it_starts",
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.version} (lease {self.lease_id})"


class UsageCorrection(models.Model):
    """A compensating event: it corrects a recorded usage event (or an earlier correction,
    `corrects_key`) by a signed quantity, and never rewrites it. `original_key` names the usage
    event at the root of the chain; the kind, asset and time are the original's. `in_place`:
    the original's period was still open when the correction was recorded, so its close meters
    the two together; otherwise the correction is an adjustment, priced by the close of a later
    period (payouts.corrections) while the closed period's figures never change."""

    class Source(models.TextChoices):
        REPORT = "report"  # the studio, with the lease token
        ADMIN = "admin"  # a trust administrator

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="usage_corrections")
    # The correction's own key, taken in UsageEventKey like a reported event's: re-sent, it is
    # counted once.
    event_key = models.CharField(max_length=200)
    corrects_key = models.CharField(max_length=200)
    original_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=UsageEvent.Kind.choices)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    original_occurred_at = models.DateTimeField()
    quantity = models.BigIntegerField()
    in_place = models.BooleanField()
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    token = models.ForeignKey(LeaseToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "event_key"], name="one_correction_per_key_and_lease"),
            models.CheckConstraint(condition=~Q(quantity=0), name="correction_not_zero"),
        ]
        indexes = [
            models.Index(fields=["lease", "original_key"], name="correction_by_original"),
            # A close finds the adjustments still to price, and metering the in-place ones, by time.
            models.Index(fields=["original_occurred_at"], name="correction_by_original_time"),
        ]

    def __str__(self):
        return (
            f"correction {self.event_key} of {self.corrects_key} on lease {self.lease_id}: {self.quantity:+d}"
        )
