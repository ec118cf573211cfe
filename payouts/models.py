from django.conf import settings
from django.db import models
from django.db.models import F, Q

from licensing.models import Lease, Studio
from trust.models import Member

RATES_TOGETHER = "The admin fee and pension & health together must be at most 10000 basis points (100%%)."


class RateSetting(models.Model):
    """Admin fee and pension & health rates in basis points. Append-only: the history is the
    table; the rates in force when a period closes apply to it."""

    admin_fee_bps = models.PositiveIntegerField()
    pension_bps = models.PositiveIntegerField()
    effective_at = models.DateTimeField(db_index=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-effective_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(admin_fee_bps__lte=10000) & Q(pension_bps__lte=10000),
                name="rates_at_most_100_percent",
            ),
            # Together too: the fee and the plan never take more than a lease's revenue.
            models.CheckConstraint(
                condition=Q(admin_fee_bps__lte=10000 - F("pension_bps")),
                name="fee_and_pension_at_most_100_percent",
                violation_error_message=RATES_TOGETHER,
            ),
        ]

    def __str__(self):
        return (
            f"fee {self.admin_fee_bps} bps, pension {self.pension_bps} bps from {self.effective_at:%Y-%m-%d}"
        )


class PeriodQuerySet(models.QuerySet):
    def closed(self):
        """Periods whose distribution is done: their figures are final."""
        return self.filter(status=Period.Status.CLOSED)


class Period(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        CLOSING = "closing"
        # A close stopped by an error: the reason is kept, and an administrator retries it.
        FAILED = "failed"
        CLOSED = "closed"

    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    closing_started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True, default="")
    # Snapshotted when closing starts, so a resumed close uses the same rates.
    admin_fee_bps = models.PositiveIntegerField(null=True, blank=True)
    pension_bps = models.PositiveIntegerField(null=True, blank=True)
    revenue_cents = models.BigIntegerField(default=0)
    admin_fee_cents = models.BigIntegerField(default=0)
    pension_cents = models.BigIntegerField(default=0)
    net_cents = models.BigIntegerField(default=0)
    leases_total = models.PositiveIntegerField(default=0)
    leases_done = models.PositiveIntegerField(default=0)
    # When the close planned its batches (each meters its lease range into PeriodCharge); empty
    # until then, and emptied again by a retry, which plans the leases not yet posted afresh.
    metered_at = models.DateTimeField(null=True, blank=True)
    # When the close last moved (started, metered, a batch posted, or its next step re-sent):
    # a closing period idle for CLOSE_STALL_SECONDS has its next step re-sent by beat.
    close_progress_at = models.DateTimeField(null=True, blank=True)

    objects = PeriodQuerySet.as_manager()

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="period_ends_after_start"),
            models.CheckConstraint(
                condition=Q(admin_fee_bps__isnull=True)
                | Q(pension_bps__isnull=True)
                | Q(admin_fee_bps__lte=10000 - F("pension_bps")),
                name="period_fee_and_pension_at_most_100_percent",
                violation_error_message=RATES_TOGETHER,
            ),
        ]

    def __str__(self):
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d} ({self.status})"


class PeriodCharge(models.Model):
    """What one lease is charged in a closing period for one use (and, for downloads and
    generated seconds, one asset): the summed quantity and the unit price it is charged at.
    Written by each batch of the close for its range of lease ids, by one INSERT ... SELECT ...
    GROUP BY; the flat fee is a row of quantity 1 at the lease's flat fee."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="charges")
    # No foreign-key triggers on these: a period writes millions of rows, each copied from a
    # usage event that already references a real lease and asset.
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    use = models.CharField(max_length=32)  # a MemberEarningLine.Use value
    asset = models.ForeignKey(
        "trust.Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    quantity = models.BigIntegerField()
    unit_price_cents = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["period", "lease"], name="period_charge_lease")]

    def __str__(self):
        return f"lease {self.lease_id} in period {self.period_id}: {self.use} x{self.quantity}"


class CloseBatch(models.Model):
    """A slice of a closing period's leases (ids first_lease_id..last_lease_id; `leases`: those
    that can owe, as planned, then those posted) that one Celery task meters, then distributes
    and posts in one transaction. `done_at` set: posted, and a second run does nothing."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="close_batches")
    number = models.PositiveIntegerField()
    first_lease_id = models.BigIntegerField()
    last_lease_id = models.BigIntegerField()
    leases = models.PositiveIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["period", "number"]
        constraints = [
            models.UniqueConstraint(fields=["period", "number"], name="one_close_batch_number_per_period"),
        ]

    def __str__(self):
        return (
            f"period {self.period_id} batch {self.number}: leases {self.first_lease_id}-{self.last_lease_id}"
        )


class LeaseRevenue(models.Model):
    """One lease's revenue in one period and how it was split: written once, with its ledger
    transaction, when the period closes."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="lease_revenues")
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="revenues")
    flat_fee_cents = models.BigIntegerField()
    usage_cents = models.BigIntegerField()
    revenue_cents = models.BigIntegerField()
    admin_fee_cents = models.BigIntegerField()
    pension_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()
    transaction = models.OneToOneField("LedgerTransaction", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["period", "lease"]
        constraints = [
            models.UniqueConstraint(fields=["period", "lease"], name="one_distribution_per_lease_period"),
            models.CheckConstraint(
                condition=Q(revenue_cents=F("admin_fee_cents") + F("pension_cents") + F("net_cents")),
                name="lease_revenue_adds_up",
            ),
        ]

    def __str__(self):
        return f"lease {self.lease_id} in period {self.period_id}: {self.revenue_cents} cents"


class MemberEarning(models.Model):
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="earnings")
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="earnings")
    # Indexed with the period below: a member's pages read their earnings period by period.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="earnings", db_index=False)
    gross_cents = models.BigIntegerField()
    pension_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()

    class Meta:
        ordering = ["period", "lease", "member"]
        # A period holds every member's earnings: a member's statement rows look theirs up by both.
        indexes = [models.Index(fields=["member", "period"], name="earning_member_period")]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "lease", "member"], name="one_earning_per_member_lease_period"
            ),
            models.CheckConstraint(
                condition=Q(gross_cents=F("pension_cents") + F("net_cents")), name="earning_adds_up"
            ),
        ]

    def __str__(self):
        return (
            f"member {self.member_id}, lease {self.lease_id}, period {self.period_id}: {self.net_cents} net"
        )


class MemberEarningLine(models.Model):
    """One use's part of a member's earning from a lease in a period, for their statement: the
    lease revenue attributed to them, their share of the trust's admin fee, the pension credit
    and their net. Written with the earning at close; an earning's lines sum to it exactly."""

    class Use(models.TextChoices):
        FLAT_FEE = "flat_fee", "Flat fee"
        DOWNLOAD = "download", "Downloads"
        TRAINING_RUN = "training_run", "Training runs"
        GENERATED_SECOND = "generated_second", "Generated seconds"
        PRODUCTION_FEE = "production_fee", "Production fee"
        SUBSTITUTION_PREMIUM = "substitution_premium", "Substitution premium"

    earning = models.ForeignKey(MemberEarning, on_delete=models.PROTECT, related_name="lines")
    use = models.CharField(max_length=32, choices=Use.choices)
    revenue_cents = models.BigIntegerField()
    admin_fee_cents = models.BigIntegerField()
    pension_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()

    class Meta:
        ordering = ["earning", "id"]
        constraints = [
            models.UniqueConstraint(fields=["earning", "use"], name="one_line_per_earning_use"),
            models.CheckConstraint(
                condition=Q(revenue_cents=F("admin_fee_cents") + F("pension_cents") + F("net_cents")),
                name="earning_line_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(admin_fee_cents__gte=0, pension_cents__gte=0, net_cents__gte=0),
                name="earning_line_not_negative",
            ),
        ]

    def __str__(self):
        return f"earning {self.earning_id}, {self.use}: {self.net_cents} net"


class Account(models.Model):
    class Kind(models.TextChoices):
        STUDIO_RECEIVABLE = "studio_receivable"
        TRUST_FEE_REVENUE = "trust_fee_revenue"
        MEMBER_PAYABLE = "member_payable"
        PENSION_PAYABLE = "pension_payable"
        PAYOUTS_IN_TRANSIT = "payouts_in_transit"
        # Federated leases' settlements: what this trust owes a peer (as a lease's home trust)
        # and what a peer owes it (as a part's trust).
        PEER_PAYABLE = "peer_payable"
        PEER_RECEIVABLE = "peer_receivable"
        # Money studios paid on their invoices, and invoices voided unpaid (revenue foregone:
        # the members' royalties of a voided invoice stay earned, the trust bears them).
        BANK = "bank"
        INVOICES_VOIDED = "invoices_voided"
        # Balances of members who could not be paid for longer than the hold period
        # (payouts.unclaimed): claimable until their release date, then redistributed.
        UNCLAIMED_POOL = "unclaimed_pool"

    code = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts"
    )
    # Indexed where set only (Meta): every kept-balance update of a member's account (a close
    # moves ~160k) is a non-HOT update, which inserted a NULL entry into both full indexes.
    studio = models.ForeignKey(
        Studio, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts", db_index=False
    )
    peer = models.ForeignKey(
        "federation.Peer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        db_index=False,
    )
    # Debits minus credits: the sum of the account's entries, kept by ledger.post in the same
    # transaction, so pages read a member's balance without summing the whole ledger.
    balance_cents = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["code"]
        indexes = [
            # What the trust owes members, largest first, and its totals: read from this index,
            # not from every member's account.
            models.Index(
                fields=["balance_cents"],
                name="account_member_owed",
                condition=Q(kind="member_payable", balance_cents__lt=0),
            ),
            models.Index(fields=["studio"], name="account_studio", condition=Q(studio__isnull=False)),
            models.Index(fields=["peer"], name="account_peer", condition=Q(peer__isnull=False)),
        ]

    def __str__(self):
        return self.code


class LedgerTransaction(models.Model):
    """A balanced set of entries. `key` makes posting idempotent: the same movement is
    never posted twice."""

    key = models.CharField(max_length=200, unique=True)
    memo = models.CharField(max_length=300)
    period = models.ForeignKey(
        Period, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.key


class LedgerEntry(models.Model):
    """Debits positive, credits negative; a transaction's entries sum to zero."""

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount_cents = models.BigIntegerField()

    class Meta:
        ordering = ["transaction", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_cents=0), name="entry_not_zero"),
        ]

    def __str__(self):
        return f"{self.account_id}: {self.amount_cents:+d}"


class LedgerCheckpoint(models.Model):
    """Every account's entries summed through one entry id (`through_entry_id`), written once
    per period close (payouts.checkpoints): the ledger is append-only (a trigger refuses UPDATE
    and DELETE of its rows), so those sums never change, and the reconciliation proves the books
    from them plus the entries after. Verified at writing against the kept balances: the
    accounts that disagreed then are recorded in `disagreeing`."""

    through_entry_id = models.BigIntegerField(unique=True)
    # The close that wrote it (none: written by hand). No database constraint: the checkpoint
    # is written under a lock on the entries, and must not wait on a period's row lock there.
    period = models.OneToOneField(
        Period, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+", db_constraint=False
    )
    taken_at = models.DateTimeField()
    accounts = models.PositiveIntegerField(default=0)
    entries_after_previous = models.PositiveBigIntegerField(default=0)
    entries_total_cents = models.BigIntegerField(default=0)
    disagreeing_count = models.PositiveIntegerField(default=0)
    disagreeing = models.JSONField(default=list, blank=True)
    unbalanced_transactions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-through_entry_id"]

    def __str__(self):
        return f"checkpoint {self.pk} through entry {self.through_entry_id}"

    @property
    def verified(self) -> bool:
        return not (self.disagreeing_count or self.unbalanced_transactions or self.entries_total_cents)


class LedgerCheckpointBalance(models.Model):
    """One account's entries summed through its checkpoint's entry id."""

    checkpoint = models.ForeignKey(LedgerCheckpoint, on_delete=models.CASCADE, related_name="balances")
    # No database constraint, as for the checkpoint's period: an account row locked by a posting
    # waiting on the checkpoint's lock must not block the checkpoint in turn. No index of its own:
    # rows are read by checkpoint (the unique index), and each checkpoint writes one per account.
    account = models.ForeignKey(
        Account, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    entries_cents = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "account"], name="checkpoint_account_once"),
        ]

    def __str__(self):
        return f"{self.account_id}: {self.entries_cents:+d} at checkpoint {self.checkpoint_id}"


class LedgerFullProof(models.Model):
    """One run of the full proof (`manage.py reconcile --full`, nightly): every entry summed from
    the first, per account against the kept balances and against the latest checkpoint's rows,
    and per transaction. What the checkpointed proof takes on trust, this one checks."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    through_entry_id = models.BigIntegerField()
    entries = models.PositiveBigIntegerField()
    entries_total_cents = models.BigIntegerField()
    balances_total_cents = models.BigIntegerField()
    disagreeing_count = models.PositiveIntegerField()
    disagreeing = models.JSONField(default=list, blank=True)
    unbalanced_transactions = models.PositiveIntegerField()
    checkpoint = models.ForeignKey(
        LedgerCheckpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    checkpoint_rows_wrong = models.PositiveIntegerField(default=0)
    balanced = models.BooleanField()

    class Meta:
        ordering = ["-finished_at", "-id"]

    def __str__(self):
        verdict = "balanced" if self.balanced else "NOT balanced"
        return f"full proof of {self.finished_at:%Y-%m-%d %H:%M}: {verdict}"


class PayoutBatch(models.Model):
    """Member balances at or above the minimum, moved out of their payable accounts in one go
    and exported as CSV and as an ISO 20022 pain.001 credit transfer."""

    class State(models.TextChoices):
        # created: money moved to payouts in transit; sent: the file went to the bank;
        # settled: the bank paid it (in transit -> bank), less any payment it returned.
        CREATED = "created", "Created"
        SENT = "sent", "Sent to the bank"
        SETTLED = "settled", "Settled"

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    minimum_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    execution_date = models.DateField()
    total_cents = models.BigIntegerField(default=0)
    item_count = models.PositiveIntegerField(default=0)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.CREATED, db_default="created"
    )
    sent_on = models.DateField(null=True, blank=True)
    settled_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"payout batch {self.pk}: {self.item_count} payments, {self.total_cents} cents"


class PayoutItem(models.Model):
    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="items")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="payouts")
    amount_cents = models.BigIntegerField()
    # Snapshotted: the file must say where the money went even if the member changes banks.
    account_name = models.CharField(max_length=140)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    # An account outside the IBAN world (paid by a non-SEPA transfer): its number, with the BIC.
    account_number = models.CharField(max_length=34, blank=True, default="", db_default="")
    transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="+")
    # The bank could not pay it: the amount went back to the member's payable account.
    returned_on = models.DateField(null=True, blank=True)
    return_reason = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta:
        ordering = ["batch", "member__member_number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "member"], name="one_payout_per_member_per_batch"),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payout_positive"),
        ]

    def __str__(self):
        return f"{self.amount_cents} cents to {self.member_id}"


class PaidOfPeriod(models.Model):
    """How much of a closed period's net to members one event settled, by the rule of
    `payouts.paid_of_periods` (payments settle a member's oldest earnings first): what a payout
    batch paid of it (`batch`), what a payment the bank returned took back (`returned_payment`,
    negative), or what a period's close moved (`close`: the payments already made that its
    earnings absorb, and, when it closed after a later period, what that later one gives up).
    None of the three: recorded from the payments before these rows were kept (migration 0020).
    A period's paid figure is the sum of its rows."""

    # No database constraint to the periods (periods are never deleted): checking one at commit
    # share-locks the period rows, which period creation locks before the audit head, which
    # these rows' writers hold (payouts.paid_of_periods): a deadlock.
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="paid_of", db_constraint=False)
    paid_cents = models.BigIntegerField()
    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    returned_payment = models.ForeignKey(
        PayoutItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    close = models.ForeignKey(
        Period, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["period", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(batch__isnull=True, returned_payment__isnull=True)
                | Q(batch__isnull=True, close__isnull=True)
                | Q(returned_payment__isnull=True, close__isnull=True),
                name="paid_of_period_one_cause",
            ),
            # Each event records a period once: a second row would count it twice.
            models.UniqueConstraint(
                fields=["period", "batch"],
                condition=Q(batch__isnull=False),
                name="paid_of_period_once_per_batch",
            ),
            models.UniqueConstraint(
                fields=["period", "returned_payment"],
                condition=Q(returned_payment__isnull=False),
                name="paid_of_period_once_per_return",
            ),
            models.UniqueConstraint(
                fields=["period", "close"],
                condition=Q(close__isnull=False),
                name="paid_of_period_once_per_close",
            ),
        ]

    def __str__(self):
        return f"{self.paid_cents} cents of period {self.period_id} paid"


class PartShare(models.Model):
    """At a part's trust: this part's share of a federated lease's flat fee or training runs for
    one period window of the home trust, as the home trust's settlement said (FEDERATION.md).
    The part's lease charges neither itself (licensing zeroes them at approval): this trust's
    close whose period holds `received_at` meters these as shared charges of the part's lease,
    paid to its members by its own rates. Once per (lease, use, window): a resent settlement
    never adds a share twice."""

    class Use(models.TextChoices):
        FLAT_FEE = "flat_fee", "Flat fee"
        TRAINING_RUN = "training_run", "Training runs"

    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="part_shares")
    use = models.CharField(max_length=32, choices=Use.choices)
    cents = models.BigIntegerField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["window_start", "lease", "use"]
        constraints = [
            models.UniqueConstraint(
                fields=["lease", "use", "window_start", "window_end"], name="part_share_once_per_window"
            ),
            models.CheckConstraint(condition=Q(cents__gte=0), name="part_share_not_negative"),
        ]
        indexes = [models.Index(fields=["received_at"], name="part_share_received")]

    def __str__(self):
        return f"{self.use} share of lease {self.lease_id}: {self.cents} cents"


class Settlement(models.Model):
    """What a federated lease's home trust owes one part's trust for one period window of the
    home trust: the part's revenue (its downloads and generated seconds at its unit prices, and
    its shares of the flat fee and training runs). Each trust computes it from its own records;
    `peer_*` are the other trust's figures as last received. Equal to the cent on every
    component: agreed at both; otherwise disagreed at both, shown to both administrators, never
    netted. `lease` is this trust's lease: the home lease at home, the part's lease at the part."""

    class Role(models.TextChoices):
        HOME = "home", "Home trust of the lease"
        PART = "part", "Trust of a part"

    class State(models.TextChoices):
        AWAITING_PEER = "awaiting_peer", "Awaiting the other trust"
        AGREED = "agreed"
        DISAGREED = "disagreed"

    COMPONENTS = ("downloads_cents", "generated_cents", "flat_fee_share_cents", "training_share_cents")

    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    peer = models.ForeignKey("federation.Peer", on_delete=models.PROTECT, related_name="settlements")
    role = models.CharField(max_length=8, choices=Role.choices)
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="settlements")
    home_lease_id = models.BigIntegerField()
    # This trust's figures. Downloads are metered by the part's trust alone: the home trust knows
    # them (the count, at the part's price) once the part's trust answered.
    downloads_cents = models.BigIntegerField(null=True, blank=True)
    generated_cents = models.BigIntegerField()
    flat_fee_share_cents = models.BigIntegerField()
    training_share_cents = models.BigIntegerField()
    total_cents = models.BigIntegerField(null=True, blank=True)
    # The other trust's figures, as last received.
    peer_downloads_cents = models.BigIntegerField(null=True, blank=True)
    peer_generated_cents = models.BigIntegerField(null=True, blank=True)
    peer_flat_fee_share_cents = models.BigIntegerField(null=True, blank=True)
    peer_training_share_cents = models.BigIntegerField(null=True, blank=True)
    peer_total_cents = models.BigIntegerField(null=True, blank=True)
    peer_figures_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.AWAITING_PEER)
    computed_at = models.DateTimeField()
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-period_start", "peer_id", "home_lease_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["period_start", "period_end", "peer", "lease"], name="one_settlement_per_window_lease"
            ),
        ]

    def __str__(self):
        return f"settlement of lease {self.home_lease_id} with {self.peer_id}: {self.state}"

    def figures(self, *, theirs: bool = False) -> dict:
        prefix = "peer_" if theirs else ""
        return {name: getattr(self, prefix + name) for name in (*self.COMPONENTS, "total_cents")}


class InvoiceCounter(models.Model):
    """The last invoice number issued in a year. Its row is locked FOR UPDATE by the close step
    that issues invoices, in the same transaction as the invoices: a close that fails rolls the
    counter back with them, so numbers are gapless and never issued twice."""

    year = models.PositiveIntegerField(unique=True)
    last_sequence = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_sequence}"


class Invoice(models.Model):
    """What one studio owes for one closed period: its leases' revenue posted to its receivable
    at the close, and the federated parts' settlements agreed since its last invoice."""

    class Status(models.TextChoices):
        OPEN = "open"
        PAID = "paid"
        VOID = "void"

    number = models.CharField(max_length=40, unique=True)
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="invoices")
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="invoices")
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total_cents = models.BigIntegerField()
    paid_cents = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-year", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="one_invoice_per_number"),
            models.UniqueConstraint(fields=["period", "studio"], name="one_invoice_per_studio_period"),
            models.CheckConstraint(condition=Q(total_cents__gt=0), name="invoice_total_positive"),
            models.CheckConstraint(
                condition=Q(paid_cents__gte=0) & Q(paid_cents__lte=F("total_cents")),
                name="invoice_never_overpaid",
            ),
        ]
        indexes = [models.Index(fields=["studio", "-issued_at"], name="invoice_studio_issued")]

    def __str__(self):
        return self.number

    @property
    def outstanding_cents(self) -> int:
        return 0 if self.status == self.Status.VOID else self.total_cents - self.paid_cents


class InvoiceLine(models.Model):
    """One lease's charge for one use at one unit price, or one federated part's settlement."""

    class Use(models.TextChoices):
        FLAT_FEE = "flat_fee", "Flat fee"
        DOWNLOAD = "download", "Downloads"
        TRAINING_RUN = "training_run", "Training runs"
        GENERATED_SECOND = "generated_second", "Generated seconds"
        PRODUCTION_FEE = "production_fee", "Production fee"
        SUBSTITUTION_PREMIUM = "substitution_premium", "Substitution premium"
        PEER_PART = "peer_part", "Part at a peer trust"
        # A correction of a closed period's usage undone later: re-charged (payouts.corrections).
        ADJUSTMENT = "adjustment", "Adjustment of a closed period"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="+")
    use = models.CharField(max_length=32, choices=Use.choices)
    description = models.CharField(max_length=300)
    quantity = models.BigIntegerField()
    unit_price_cents = models.BigIntegerField()
    amount_cents = models.BigIntegerField()
    # A settlement is invoiced once, on the first invoice issued after it was agreed and posted.
    settlement = models.OneToOneField(
        "Settlement", on_delete=models.PROTECT, null=True, blank=True, related_name="invoice_line"
    )

    class Meta:
        ordering = ["invoice", "id"]

    def __str__(self):
        return f"{self.invoice_id}: {self.description} {self.amount_cents}"


class InvoicePayment(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount_cents = models.BigIntegerField()
    paid_at = models.DateField()
    reference = models.CharField(max_length=140)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="+")
    # The caller's Idempotency-Key (API header, or the key the payment form was rendered with): the
    # same payment sent twice, by a retry or a double click, is recorded once.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["invoice", "paid_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payment_positive"),
            models.UniqueConstraint(
                fields=["invoice", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="payment_idempotency_key_once_per_invoice",
            ),
        ]

    def __str__(self):
        return f"{self.amount_cents} on {self.invoice_id}"


# Corrections of closed periods (payouts/corrections.py) ------------------------------------------


class CorrectionCharge(models.Model):
    """One usage correction of a closed period, priced once by a later period's close: the
    quantity (signed) at the unit price its original was charged in its own period. Its unique
    `correction` is the claim: no correction is priced twice, even by two closes at once."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="correction_charges")
    correction = models.OneToOneField(
        "licensing.UsageCorrection", on_delete=models.PROTECT, related_name="charge"
    )
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="+")
    original_period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="+")
    use = models.CharField(max_length=32)
    asset = models.ForeignKey(
        "trust.Asset", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_constraint=False
    )
    quantity = models.BigIntegerField()
    unit_price_cents = models.BigIntegerField()
    amount_cents = models.BigIntegerField()

    class Meta:
        ordering = ["period", "lease", "id"]

    def __str__(self):
        return f"correction {self.correction_id} priced in period {self.period_id}: {self.amount_cents}"


class CreditNoteCounter(models.Model):
    """The last credit note number issued in a year: locked FOR UPDATE by the close that issues
    credit notes, like InvoiceCounter, so the series is gapless."""

    year = models.PositiveIntegerField(unique=True)
    last_sequence = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_sequence}"


class CreditNote(models.Model):
    """What a later period's close credits one studio for corrections that lowered the usage of
    closed periods: the studio's receivable is credited by its total."""

    number = models.CharField(max_length=40, unique=True)
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="credit_notes")
    # The period whose close priced the corrections.
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="credit_notes")
    issued_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total_cents = models.BigIntegerField()

    class Meta:
        ordering = ["-year", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="one_credit_note_per_number"),
            models.UniqueConstraint(fields=["period", "studio"], name="one_credit_note_per_studio_period"),
            models.CheckConstraint(condition=Q(total_cents__gt=0), name="credit_note_total_positive"),
        ]
        indexes = [models.Index(fields=["studio", "-issued_at"], name="credit_note_studio_issued")]

    def __str__(self):
        return self.number


class Adjustment(models.Model):
    """One lease's corrections of one closed period, priced in a later period and split by the
    distribution rule: a credit (usage lowered: every amount negative, on a credit note) or a
    charge (a correction undone: positive, a line of the period's invoice). Posted in its own
    balanced ledger transaction; the original period's figures never change."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="adjustments")
    original_period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="adjusted_by")
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="adjustments")
    is_credit = models.BooleanField()
    revenue_cents = models.BigIntegerField()
    admin_fee_cents = models.BigIntegerField()
    pension_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()
    transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="+")
    credit_note = models.ForeignKey(
        CreditNote, on_delete=models.PROTECT, null=True, blank=True, related_name="adjustments"
    )

    class Meta:
        ordering = ["period", "lease", "original_period"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "original_period", "lease", "is_credit"], name="one_adjustment_per_lease"
            ),
            models.CheckConstraint(
                condition=Q(revenue_cents=F("admin_fee_cents") + F("pension_cents") + F("net_cents")),
                name="adjustment_adds_up",
            ),
        ]

    def __str__(self):
        return f"lease {self.lease_id}, {self.original_period_id} in {self.period_id}: {self.revenue_cents}"


class MemberAdjustmentLine(models.Model):
    """One member's part of an adjustment for one use, for their statement: signed like it."""

    adjustment = models.ForeignKey(Adjustment, on_delete=models.PROTECT, related_name="lines")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="adjustment_lines")
    use = models.CharField(max_length=32, choices=MemberEarningLine.Use.choices)
    revenue_cents = models.BigIntegerField()
    admin_fee_cents = models.BigIntegerField()
    pension_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()

    class Meta:
        ordering = ["adjustment", "id"]
        indexes = [models.Index(fields=["member", "adjustment"], name="adjustment_line_member")]
        constraints = [
            models.CheckConstraint(
                condition=Q(revenue_cents=F("admin_fee_cents") + F("pension_cents") + F("net_cents")),
                name="adjustment_line_adds_up",
            ),
        ]

    def __str__(self):
        return f"adjustment {self.adjustment_id}, member {self.member_id}: {self.net_cents} net"


class CreditNoteLine(models.Model):
    """One lease's credit for one closed period, referencing that period's invoice."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    lease = models.ForeignKey(Lease, on_delete=models.PROTECT, related_name="+")
    original_period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="+")
    original_invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_note_lines"
    )
    use = models.CharField(max_length=32)
    description = models.CharField(max_length=300)
    quantity = models.BigIntegerField()
    unit_price_cents = models.BigIntegerField()
    amount_cents = models.BigIntegerField()

    class Meta:
        ordering = ["credit_note", "id"]

    def __str__(self):
        return f"{self.credit_note_id}: {self.description} {self.amount_cents}"


class UntraceableMark(models.Model):
    """An administrator's finding that a member cannot be reached. While it stands (not cleared)
    no payout batch pays the member, and their balance ages toward the unclaimed pool as if they
    had no bank details. Clearing it keeps the row: the history of marks is the table."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="untraceable_marks")
    reason = models.CharField(max_length=500)
    marked_at = models.DateTimeField()
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-marked_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(cleared_at__isnull=True), name="one_standing_untraceable_mark"
            ),
        ]

    def __str__(self):
        return f"member {self.member_id} untraceable since {self.marked_at:%Y-%m-%d}"


class UnclaimedClaim(models.Model):
    """A member's pool balance moved back to their payable account (by them or an administrator
    on their behalf), once they could be paid again."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="unclaimed_claims")
    amount_cents = models.BigIntegerField()
    claimed_at = models.DateTimeField()
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-claimed_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="claim_positive")]

    def __str__(self):
        return f"{self.amount_cents} claimed by member {self.member_id}"


class UnclaimedRelease(models.Model):
    """Pool balances past their release date, redistributed in one ledger transaction to the
    other recipients of `period` (the latest closed period) pro rata to their net earnings in it."""

    released_at = models.DateTimeField()
    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="unclaimed_releases")
    total_cents = models.BigIntegerField()
    recipients = models.PositiveIntegerField()
    transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-released_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(total_cents__gt=0), name="release_positive")]

    def __str__(self):
        return f"{self.total_cents} released on {self.released_at:%Y-%m-%d}"


class UnclaimedHolding(models.Model):
    """One move of a member's overdue balance into the unclaimed pool: held (claimable until
    `release_at`), then claimed or released. Each move has its own release date."""

    class State(models.TextChoices):
        HELD = "held"
        CLAIMED = "claimed"
        RELEASED = "released"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="unclaimed_holdings")
    amount_cents = models.BigIntegerField()
    moved_at = models.DateTimeField()
    release_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.HELD)
    claim = models.ForeignKey(
        UnclaimedClaim, on_delete=models.PROTECT, null=True, blank=True, related_name="holdings"
    )
    release = models.ForeignKey(
        UnclaimedRelease, on_delete=models.PROTECT, null=True, blank=True, related_name="holdings"
    )
    transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["moved_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="holding_positive"),
            models.CheckConstraint(
                condition=Q(release_at__gt=F("moved_at")), name="holding_released_after_move"
            ),
            models.CheckConstraint(
                condition=Q(state="held", claim__isnull=True, release__isnull=True)
                | Q(state="claimed", claim__isnull=False, release__isnull=True)
                | Q(state="released", claim__isnull=True, release__isnull=False),
                name="holding_state_matches_its_outcome",
            ),
        ]
        indexes = [
            models.Index(fields=["release_at"], name="holding_held_release", condition=Q(state="held")),
            models.Index(fields=["member"], name="holding_held_member", condition=Q(state="held")),
        ]

    def __str__(self):
        return f"{self.amount_cents} of member {self.member_id} held since {self.moved_at:%Y-%m-%d}"
