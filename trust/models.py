import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from .consent import CapPer, Use, notice_sha256
from .tokens import TokenQuerySet, TokenState, token_state


class Authority(models.TextChoices):
    """Who decides a member's consent: the member while alive; after their death the estate
    representative recorded for them, or, failing one, the union (the trust's administrators)."""

    MEMBER = "member", "The member"
    ESTATE_REPRESENTATIVE = "estate_representative", "The member's estate representative"
    UNION = "union", "The union, for the late member"


class Member(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member")
    member_number = models.CharField(max_length=32, unique=True)
    display_name = models.CharField(max_length=200)
    # Named on the public transparency register only if the member opted in.
    listed_publicly = models.BooleanField(default=False)
    # Where royalties are paid: a validated IBAN (and BIC where the bank needs one).
    payout_account_name = models.CharField(max_length=140, blank=True)
    payout_iban = models.CharField(max_length=34, blank=True)
    payout_bic = models.CharField(max_length=11, blank=True)
    # A bank without IBANs (US, Canada, ...): the account number, paid by BIC (non-SEPA).
    payout_account_number = models.CharField(max_length=34, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["member_number"]

    def __str__(self):
        return f"{self.display_name} ({self.member_number})"

    @property
    def payout_account(self) -> str:
        """The account royalties go to, IBAN or number: "" when none is on file."""
        return self.payout_iban or self.payout_account_number


class AssetQuerySet(models.QuerySet):
    def available(self):
        """Assets whose stored object was verified: the only ones consent can make licensable."""
        return self.filter(status=Asset.Status.AVAILABLE)


class Asset(models.Model):
    class Kind(models.TextChoices):
        FACE_SCAN = "face_scan"
        BODY_SCAN = "body_scan"
        VOICE_RECORDING = "voice_recording"
        MOTION_CAPTURE = "motion_capture"
        PERFORMANCE_FOOTAGE = "performance_footage"
        STILL_IMAGE = "still_image"
        SCRIPT = "script"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for upload"
        VERIFYING = "verifying", "Verifying upload"
        AVAILABLE = "available", "Available"
        FAILED = "failed", "Upload did not match"
        # Destruction under way: never licensable from here on (see trust.destruction).
        DESTROYING = "destroying", "Being destroyed"
        DESTROYED = "destroyed", "Destroyed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=300)
    content_type = models.CharField(max_length=200)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Opaque, never derived from names: assets/<uuid>. Empty (null) once the asset is destroyed.
    object_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Set while a multipart upload (large video) is open; cleared once its parts are joined.
    upload_id = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # When the store confirmed every copy gone (the AssetDestruction certificate says how).
    destroyed_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(Member, through="AssetContributor", related_name="assets")

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=0), name="asset_size_not_negative"),
            models.CheckConstraint(
                condition=Q(destroyed_at__isnull=True) | Q(status="destroyed", object_key__isnull=True),
                name="destroyed_asset_keeps_no_key",
            ),
        ]

    def __str__(self):
        return f"{self.title} [{self.kind}]"

    @property
    def staging_key(self) -> str:
        """Where the uploader's bytes land. Verification copies them to `object_key`, which no
        upload URL ever names, so what was verified is what is served."""
        return f"staging/{self.pk}"


class AssetContributorQuerySet(models.QuerySet):
    def accepted(self):
        """Contributions that count: the asset is the member's, for consent and for earnings."""
        return self.filter(status=AssetContributor.Status.ACCEPTED)

    def pending(self):
        return self.filter(status=AssetContributor.Status.PENDING)


class AssetContributor(models.Model):
    """A member's share of an asset. A member named by someone else (another member registering
    the asset) must accept before the asset counts for them; until every named contributor has
    accepted, the asset is not licensable. The registrant's own share, and every share the trust
    registers, are accepted when made."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for acceptance"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="contributors")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="contributions")
    share = models.DecimalField(max_digits=7, decimal_places=6)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = AssetContributorQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asset", "member"], name="one_share_per_member_per_asset"),
            models.CheckConstraint(
                condition=Q(share__gt=0) & Q(share__lte=1), name="share_between_zero_and_one"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "declined"]), name="contribution_status_known"
            ),
        ]
        indexes = [models.Index(fields=["member", "status"], name="contribution_member_status")]

    def __str__(self):
        return f"{self.member} {self.share} of {self.asset_id} ({self.status})"


class ConsentText(models.Model):
    """One published version of the text a member agrees to for a use, in one language. A row
    is never changed once made: a grant points at the version the member was shown, so
    publishing a new version never changes what an old grant means."""

    use = models.CharField(max_length=32, choices=Use.choices)
    language = models.CharField(max_length=16, default="en")
    version = models.PositiveIntegerField()
    # The trust's consent terms in force when this text was published (TRUST_CONSENT_TERMS_VERSION);
    # hashed with the text, as every grant's hash has been since the first.
    terms_version = models.CharField(max_length=32)
    effective_at = models.DateTimeField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["use", "language", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["use", "language", "version"], name="one_text_per_use_language_version"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="consent_text_version_from_one"),
        ]

    def __str__(self):
        return f"{self.use} v{self.version} ({self.language})"

    def save(self, *args, **kwargs):
        self.sha256 = notice_sha256(terms_version=self.terms_version, text=self.text)
        super().save(*args, **kwargs)


class Consent(models.Model):
    """Append-only: a grant, the withdrawal of one (`supersedes` names the grant), or a refusal.
    A grant may re-confirm an older grant under a newer text (`reconfirms`): from that instant
    the new grant is the one in force and the old one is not."""

    class State(models.TextChoices):
        GRANTED = "granted"
        WITHDRAWN = "withdrawn"
        REFUSED = "refused"

    class Channel(models.TextChoices):
        """How the decision reached the trust (the receipt's `method`)."""

        WEB = "web", "Web page"
        API = "api", "API"
        SCRIPT = "script", "Command or script"
        UNRECORDED = "unrecorded", "Not recorded (decided before channels were recorded)"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="consents")
    # Empty asset: the grant covers all of the member's assets, present and future.
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, null=True, blank=True, related_name="consents")
    use = models.CharField(max_length=32, choices=Use.choices)
    state = models.CharField(max_length=16, choices=State.choices)
    # The exact text the member was shown; `terms_version` and `consent_text_sha256` repeat its
    # identity on the row itself, so the row alone proves what was shown.
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="consents")
    terms_version = models.CharField(max_length=32)
    consent_text_sha256 = models.CharField(max_length=64)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="withdrawal"
    )
    reconfirms = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reconfirmation"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.UNRECORDED)
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # In whose right the actor decided: the member, or after their death their authority.
    authority = models.CharField(max_length=32, choices=Authority.choices, default=Authority.MEMBER)
    # A grant's quota (README: Quotas by consent category): at most `cap_quantity` of the use
    # (`consent.cap_unit`) per lease or per year. Empty: no cap.
    cap_quantity = models.PositiveBigIntegerField(null=True, blank=True)
    cap_per = models.CharField(max_length=8, choices=CapPer.choices, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["member", "use", "state"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(state="granted", supersedes__isnull=True))
                | Q(state="withdrawn", supersedes__isnull=False)
                | Q(state="refused", supersedes__isnull=True),
                name="withdrawal_names_its_grant",
            ),
            models.CheckConstraint(
                condition=Q(reconfirms__isnull=True) | Q(state="granted"),
                name="only_a_grant_reconfirms",
            ),
            models.CheckConstraint(
                condition=Q(cap_quantity__isnull=True, cap_per="")
                | Q(state="granted", cap_quantity__gte=1, cap_per__in=["lease", "year"]),
                name="a_cap_is_a_grants_whole_cap",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["granted", "withdrawn", "refused"]), name="consent_state_known"
            ),
        ]

    def __str__(self):
        scope = self.asset_id or "all assets"
        return f"{self.member.member_number} {self.state} {self.use} on {scope}"


class Dataset(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    assets = models.ManyToManyField(Asset, through="DatasetItem", related_name="datasets")

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.title


class DatasetItem(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="dataset_items")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "asset"], name="asset_once_per_dataset"),
        ]

    def __str__(self):
        return f"{self.asset_id} in {self.dataset_id}"


class DatasetVersion(models.Model):
    """An immutable, numbered snapshot of a dataset; leases pin one."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    manifest_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assets = models.ManyToManyField(Asset, through="DatasetVersionItem", related_name="versions")

    class Meta:
        ordering = ["dataset", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_number_per_dataset"),
        ]

    def __str__(self):
        return f"{self.dataset.slug} v{self.number}"


class DatasetVersionItem(models.Model):
    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="items")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="version_items")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "asset"], name="asset_once_per_version"),
        ]

    def __str__(self):
        return f"{self.asset_id} in version {self.version_id}"


class UserToken(models.Model):
    """A `ut_` API token for a person. Only the SHA-256 of the secret is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    def __str__(self):
        return f"ut_… of {self.user}"

    @property
    def state(self) -> TokenState:
        return token_state(self)


class AuditEvent(models.Model):
    """One link of the hash chain: `hash` covers this event's fields and `prev_hash`."""

    seq = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"#{self.seq} {self.action} {self.subject_type}:{self.subject_id}"


class AuditHead(models.Model):
    """A single row locked while appending, so two writers never fork the chain."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self):
        return f"audit head #{self.seq}"


class EstateRepresentative(models.Model):
    """Whom a member names, while alive, to decide on their consent after their death. One row
    per member, replaced by the member; the audit log keeps earlier choices."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="estate_representative")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    named_at = models.DateTimeField()

    def __str__(self):
        return f"estate representative of {self.member.member_number}: {self.user}"


class MemberDeath(models.Model):
    """An administrator's record that a member died, with the evidence it rests on (a reference:
    a certificate number, a probate document's identifier). From `recorded_at` the member's own
    login decides nothing more; `ConsentAuthority` says who does."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="death")
    died_on = models.DateField()
    evidence = models.CharField(max_length=500)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return f"{self.member.member_number} died {self.died_on}"


class ConsentAuthority(models.Model):
    """Who holds a late member's consent authority from `since`: append-only, the newest row is
    in force. A row names a user for an estate representative, and none for the union."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="authorities")
    kind = models.CharField(max_length=32, choices=Authority.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    evidence = models.CharField(max_length=500)
    since = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["member", "since", "id"]
        indexes = [models.Index(fields=["user", "member"], name="authority_user_member")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="estate_representative", user__isnull=False)
                | Q(kind="union", user__isnull=True),
                name="authority_names_its_holder",
            ),
        ]

    def __str__(self):
        return f"{self.kind} for {self.member.member_number} since {self.since}"


class RetentionPeriod(models.Model):
    """How long the trust may hold an asset of one kind, in days from its registration, as an
    administrator set it (`retention_set`; the audit log keeps earlier settings). A kind with no
    row is held until capture consent is withdrawn."""

    kind = models.CharField(max_length=32, choices=Asset.Kind.choices, unique=True)
    days = models.PositiveIntegerField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["kind"]
        constraints = [models.CheckConstraint(condition=Q(days__gte=1), name="retention_at_least_a_day")]

    def __str__(self):
        return f"{self.kind}: {self.days} days"


class AssetDestruction(models.Model):
    """An asset's destruction and, once done, its certificate: why, what was removed from the
    store and what the store answered when asked again. The asset row keeps its hash, kind, size
    and contributors for royalties and audit."""

    class Reason(models.TextChoices):
        CAPTURE_WITHDRAWN = "capture_withdrawn", "Capture consent withdrawn"
        RETENTION_ENDED = "retention_ended", "Retention period ended"

    asset = models.OneToOneField(Asset, on_delete=models.PROTECT, related_name="destruction")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    # The capture withdrawal that made it due (reason capture_withdrawn).
    withdrawal = models.ForeignKey(Consent, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The retention in force when it became due (reason retention_ended).
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    # Made when the asset was claimed for destruction (and taken out of every lease); destroyed_at
    # is set once the store confirmed every copy gone.
    started_at = models.DateTimeField()
    destroyed_at = models.DateTimeField(null=True, blank=True)
    # What the store removed and what it answered afterwards (see trust.storage.PurgeReport).
    removed = models.JSONField(default=dict)
    verification = models.JSONField(default=dict)

    class Meta:
        ordering = ["-destroyed_at", "-id"]

    def __str__(self):
        return f"destruction of {self.asset_id} ({self.reason})"
