from rest_framework import serializers

from payouts.invoices import is_overdue
from payouts.models import (
    Account,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    PayoutBatch,
    PayoutItem,
    Period,
    RateSetting,
)
from payouts.selectors import STATEMENT_ADJUSTMENT, STATEMENT_EARNING, period_books_check
from trust.api.validation import TextField, cents, row_id


class RatesInputSerializer(serializers.Serializer):
    admin_fee_bps = serializers.IntegerField(min_value=0, max_value=10000)
    pension_bps = serializers.IntegerField(min_value=0, max_value=10000)


class RatesOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = RateSetting
        fields = ["id", "admin_fee_bps", "pension_bps", "effective_at"]


class RatesStateSerializer(serializers.Serializer):
    admin_fee_bps = serializers.IntegerField()
    pension_bps = serializers.IntegerField()
    history = RatesOutputSerializer(many=True)


class PeriodInputSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class PeriodOutputSerializer(serializers.ModelSerializer):
    revenue_adds_up = serializers.SerializerMethodField(help_text="revenue = admin fee + pension + net")
    ledger_balanced = serializers.SerializerMethodField(help_text="the period's ledger entries sum to zero")

    class Meta:
        model = Period
        fields = [
            "id",
            "start",
            "end",
            "status",
            "revenue_cents",
            "admin_fee_cents",
            "pension_cents",
            "net_cents",
            "admin_fee_bps",
            "pension_bps",
            "leases_total",
            "leases_done",
            "closing_started_at",
            "closed_at",
            "failed_at",
            "failure_reason",
            "revenue_adds_up",
            "ledger_balanced",
        ]

    def _books(self, period) -> dict:
        # One selector answers both checks; asked once per period serialised.
        if getattr(period, "_books_check", None) is None:
            period._books_check = period_books_check(period)
        return period._books_check

    def get_revenue_adds_up(self, period) -> bool:
        return self._books(period)["revenue_adds_up"]

    def get_ledger_balanced(self, period) -> bool:
        return self._books(period)["ledger_balanced"]


class LeaseEarningSerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    studio = TextField()
    kind = serializers.ChoiceField(
        choices=[STATEMENT_EARNING, STATEMENT_ADJUSTMENT],
        help_text="`earning`: the lease's revenue of the period; `adjustment`: a correction of an "
        "earlier period priced in this one",
    )
    net_cents = serializers.IntegerField()
    pension_cents = serializers.IntegerField()


class PeriodEarningSerializer(serializers.Serializer):
    period = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    net_cents = serializers.IntegerField()
    pension_cents = serializers.IntegerField()
    leases = LeaseEarningSerializer(many=True)


class EarningsSerializer(serializers.Serializer):
    currency = TextField()
    balance_cents = serializers.IntegerField(help_text="earned and not yet paid out")
    total_net_cents = serializers.IntegerField()
    total_pension_cents = serializers.IntegerField()
    periods = PeriodEarningSerializer(many=True)


class MemberLeaseSerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    studio = TextField()
    dataset = TextField()
    version = serializers.IntegerField()
    purpose = TextField()
    uses = serializers.ListField(child=TextField())
    status = TextField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    my_assets = serializers.ListField(child=serializers.UUIDField())
    vendors = serializers.ListField(
        child=TextField(),
        help_text="vendors the studio passed the lease to (derived tokens) that used my assets",
    )
    downloads_of_my_assets = serializers.IntegerField()
    net_cents = serializers.IntegerField()
    pension_cents = serializers.IntegerField()


class PayoutBatchInputSerializer(serializers.Serializer):
    minimum_cents = cents(min_value=1, required=False, help_text="default: the trust's minimum")
    execution_date = serializers.DateField(required=False, help_text="default: tomorrow")


class PayoutItemSerializer(serializers.ModelSerializer):
    member_number = TextField(source="member.member_number")

    class Meta:
        model = PayoutItem
        fields = [
            "member",
            "member_number",
            "amount_cents",
            "account_name",
            "iban",
            "account_number",
            "bic",
            "returned_on",
            "return_reason",
        ]


class PayoutBatchSerializer(serializers.ModelSerializer):
    items = PayoutItemSerializer(many=True, read_only=True)

    class Meta:
        model = PayoutBatch
        fields = [
            "id",
            "created_at",
            "minimum_cents",
            "currency",
            "execution_date",
            "total_cents",
            "item_count",
            "state",
            "sent_on",
            "settled_on",
            "items",
        ]


class PayoutBatchSentInputSerializer(serializers.Serializer):
    sent_on = serializers.DateField(
        required=False, help_text="the day the file went to the bank; default today"
    )


class PayoutBatchSettledInputSerializer(serializers.Serializer):
    settled_on = serializers.DateField(required=False, help_text="the day the bank paid it; default today")


class PayoutReturnInputSerializer(serializers.Serializer):
    member = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="the member's id")
    reason = TextField(max_length=200, help_text="why the bank returned it: closed account, wrong name...")
    returned_on = serializers.DateField(required=False, help_text="default today")


class MyPayoutSerializer(serializers.Serializer):
    batch = serializers.IntegerField(source="batch_id")
    amount_cents = serializers.IntegerField()
    currency = TextField()
    account_ends = TextField(help_text="the last four characters of the account it went to")
    created_at = serializers.DateTimeField(help_text="when the batch was made")
    execution_date = serializers.DateField(help_text="the day the bank was asked to pay")
    batch_state = serializers.ChoiceField(choices=PayoutBatch.State.choices)
    sent_on = serializers.DateField(allow_null=True)
    settled_on = serializers.DateField(allow_null=True)
    returned_on = serializers.DateField(allow_null=True, help_text="set when the bank returned the payment")
    return_reason = TextField()


class ChargeLineSerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    dataset = TextField()
    flat_fee_cents = serializers.IntegerField()
    usage_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()


class PeriodChargesSerializer(serializers.Serializer):
    period = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    currency = TextField()
    total_cents = serializers.IntegerField()
    leases = ChargeLineSerializer(many=True)


class MemberBalanceFilterSerializer(serializers.Serializer):
    payable = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only the members the next batch pays; false: only those it cannot pay",
    )


class MemberBalanceSerializer(serializers.Serializer):
    member = serializers.IntegerField(source="member_id")
    member_number = TextField()
    display_name = TextField()
    owed_cents = serializers.IntegerField(help_text="earned and not yet paid out")
    payable = serializers.SerializerMethodField(help_text="whether the next payout batch pays it")
    reason = serializers.ChoiceField(
        choices=[
            ("", "payable"),
            ("no_bank_details", "no bank details"),
            ("untraceable", "untraceable"),
            ("below_minimum", "below minimum"),
        ],
        help_text="why the next batch cannot pay it; empty when it does",
    )
    iban_ends = serializers.SerializerMethodField(help_text="the last four characters of the IBAN")

    def get_payable(self, row) -> bool:
        return row["reason"] == ""

    def get_iban_ends(self, row) -> str:
        return row["iban"][-4:]


# Settlements of federated leases (payouts.settlements) --------------------------------------------


class SettlementFiguresSerializer(serializers.Serializer):
    downloads_cents = serializers.IntegerField(allow_null=True, help_text="the part's downloads at its price")
    generated_cents = serializers.IntegerField(
        allow_null=True, help_text="generated seconds at the part's price"
    )
    flat_fee_share_cents = serializers.IntegerField(
        allow_null=True, help_text="the part's share of the flat fee"
    )
    training_share_cents = serializers.IntegerField(allow_null=True, help_text="its share of training runs")
    total_cents = serializers.IntegerField(allow_null=True, help_text="the part's revenue: what is owed")


class SettlementRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    peer = serializers.CharField(help_text="the other trust's slug")
    peer_name = serializers.CharField()
    role = serializers.ChoiceField(
        choices=["home", "part"], help_text="home: this trust is the lease's home; part: it holds a part"
    )
    lease = serializers.IntegerField(help_text="this trust's lease id")
    home_lease_id = serializers.IntegerField(help_text="the lease's id at its home trust")
    ours = SettlementFiguresSerializer(help_text="this trust's figures, from its own records")
    theirs = SettlementFiguresSerializer(help_text="the other trust's figures as last received")
    state = serializers.ChoiceField(choices=["awaiting_peer", "agreed", "disagreed"])
    direction = serializers.CharField(help_text='"owed to <peer>" (home) or "owed by <peer>" (part)')
    owed_cents = serializers.IntegerField(allow_null=True)
    disagreeing = serializers.ListField(child=serializers.CharField(), help_text="components that differ")
    computed_at = serializers.DateTimeField()
    peer_figures_at = serializers.DateTimeField(allow_null=True)


class SettlementListSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    settlements = SettlementRowSerializer(many=True)


def _figure(**kwargs) -> serializers.IntegerField:
    return cents(**kwargs)


class InboundStatementSerializer(serializers.Serializer):
    home_lease_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    downloads_cents = _figure()
    generated_cents = _figure()
    flat_fee_share_cents = _figure()
    training_share_cents = _figure()
    total_cents = _figure()


class InboundSettlementSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField(help_text="the period window at the calling (home) trust")
    period_end = serializers.DateTimeField()
    statements = InboundStatementSerializer(many=True, allow_empty=False, max_length=10000)

    def validate(self, data):
        if data["period_end"] <= data["period_start"]:
            raise serializers.ValidationError("period_end must come after period_start")
        return data


class PartFiguresSerializer(SettlementFiguresSerializer):
    home_lease_id = serializers.IntegerField()


class InboundSettlementAnswerSerializer(serializers.Serializer):
    statements = PartFiguresSerializer(many=True, help_text="this trust's own figures of each part")


class PartDownloadsSerializer(serializers.Serializer):
    home_lease_id = serializers.IntegerField()
    quantity = serializers.IntegerField()


class PartDownloadsAnswerSerializer(serializers.Serializer):
    downloads = PartDownloadsSerializer(many=True)


# Invoices ---------------------------------------------------------------------------------------


class InvoiceLineSerializer(serializers.ModelSerializer):
    lease = serializers.IntegerField(source="lease_id")

    class Meta:
        model = InvoiceLine
        fields = ["lease", "use", "description", "quantity", "unit_price_cents", "amount_cents"]


class InvoiceSerializer(serializers.ModelSerializer):
    studio = serializers.CharField(source="studio.name")
    studio_id = serializers.IntegerField()
    period = serializers.IntegerField(source="period_id")
    outstanding_cents = serializers.IntegerField(read_only=True)
    overdue = serializers.SerializerMethodField(help_text="open and past its due date")
    lines = InvoiceLineSerializer(many=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "studio",
            "studio_id",
            "period",
            "issued_at",
            "due_at",
            "currency",
            "total_cents",
            "paid_cents",
            "outstanding_cents",
            "status",
            "overdue",
            "lines",
        ]

    def get_overdue(self, invoice) -> bool:
        return is_overdue(invoice)


class InvoicePaymentInputSerializer(serializers.Serializer):
    amount_cents = cents(min_value=1)
    paid_at = serializers.DateField(help_text="the day the money arrived (not in the future)")
    reference = TextField(max_length=140, help_text="the bank's or the studio's reference")


class InvoicePaymentSerializer(serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id")

    class Meta:
        model = InvoicePayment
        fields = ["id", "invoice", "amount_cents", "paid_at", "reference", "recorded_at"]


class InvoiceVoidInputSerializer(serializers.Serializer):
    reason = TextField(max_length=500, required=False, allow_blank=True, default="")


# Credit notes (payouts.corrections) -------------------------------------------------------------


class CreditNoteLineSerializer(serializers.ModelSerializer):
    lease = serializers.IntegerField(source="lease_id")
    original_period = serializers.IntegerField(
        source="original_period_id", help_text="the closed period corrected"
    )
    original_invoice = serializers.CharField(
        source="original_invoice.number",
        allow_null=True,
        help_text="that period's invoice, if one was issued",
    )

    class Meta:
        model = CreditNoteLine
        fields = [
            "lease",
            "original_period",
            "original_invoice",
            "use",
            "description",
            "quantity",
            "unit_price_cents",
            "amount_cents",
        ]


class CreditNoteSerializer(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField(help_text="always `credit_note`")
    studio = serializers.CharField(source="studio.name")
    studio_id = serializers.IntegerField()
    period = serializers.IntegerField(source="period_id", help_text="the period whose close priced it")
    lines = CreditNoteLineSerializer(many=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "kind",
            "number",
            "studio",
            "studio_id",
            "period",
            "issued_at",
            "currency",
            "total_cents",
            "lines",
        ]

    def get_kind(self, obj) -> str:
        return "credit_note"


# Reconciliation, the ledger's accounts and entries, studio statements of account -------------


class ReconciliationQuerySerializer(serializers.Serializer):
    period = row_id(help_text="the period to reconcile")


class AccountDisagreeingSerializer(serializers.Serializer):
    code = serializers.CharField()
    balance_cents = serializers.IntegerField(help_text="the account's kept balance")
    entries_cents = serializers.IntegerField(help_text="the sum of its entries")


class LedgerCheckpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    through_entry_id = serializers.IntegerField(help_text="every entry up to this id is summed in it")
    taken_at = serializers.DateTimeField()
    period = serializers.IntegerField(allow_null=True, help_text="the close that wrote it")
    verified = serializers.BooleanField(help_text="its sums agreed with the kept balances when written")
    disagreeing_count = serializers.IntegerField()
    unbalanced_transactions = serializers.IntegerField()


class LedgerFullProofSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    finished_at = serializers.DateTimeField()
    balanced = serializers.BooleanField()
    entries = serializers.IntegerField()
    through_entry_id = serializers.IntegerField()
    disagreeing_count = serializers.IntegerField()
    unbalanced_transactions = serializers.IntegerField()
    checkpoint = serializers.IntegerField(source="checkpoint_id", allow_null=True)
    checkpoint_rows_wrong = serializers.IntegerField(
        help_text="the checkpoint's rows not equal to their entries summed"
    )


class LedgerProofSerializer(serializers.Serializer):
    ledger_balanced = serializers.BooleanField()
    entries_total_cents = serializers.IntegerField(help_text="every ledger entry summed: 0")
    balances_total_cents = serializers.IntegerField(help_text="every account's kept balance summed: 0")
    period_entries_cents = serializers.IntegerField(
        allow_null=True, help_text="the period's own transactions' entries summed: 0"
    )
    disagreeing = AccountDisagreeingSerializer(
        many=True, help_text="accounts whose balance is not their entries' sum"
    )
    unbalanced_transactions = serializers.IntegerField(help_text="transactions whose entries do not sum to 0")
    checkpoint = LedgerCheckpointSerializer(
        allow_null=True, help_text="the checkpoint the proof starts from (none: from the first entry)"
    )
    entries_after_checkpoint = serializers.IntegerField(help_text="the entries summed on top of it")
    full_proof = LedgerFullProofSerializer(
        allow_null=True, help_text="the latest proof from the first entry (nightly)"
    )


class MovementSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="account kind")
    label = serializers.CharField()
    accounts = serializers.IntegerField()
    cents = serializers.IntegerField(help_text="debits minus credits of the period's transactions")


class ReconciliationSerializer(serializers.Serializer):
    period = serializers.IntegerField()
    label = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    status = serializers.CharField()
    currency = serializers.CharField()
    invoices = serializers.IntegerField(help_text="invoices issued for the period")
    invoiced_cents = serializers.IntegerField(help_text="their totals, voided ones included")
    voided_cents = serializers.IntegerField()
    credited_cents = serializers.IntegerField(help_text="credit notes against them")
    collected_cents = serializers.IntegerField(help_text="payments recorded on them")
    outstanding_cents = serializers.IntegerField(help_text="invoiced - voided - credited - collected")
    revenue_cents = serializers.IntegerField(help_text="gross: before the trust fee")
    fee_cents = serializers.IntegerField(help_text="the trust fee")
    pension_cents = serializers.IntegerField()
    distributed_cents = serializers.IntegerField(help_text="net credited to members at the close")
    paid_cents = serializers.IntegerField(help_text="of it, paid out since (oldest earnings first)")
    unpaid_cents = serializers.IntegerField()
    unclaimed_cents = serializers.IntegerField(help_text="held in the unclaimed pool now (trust-wide)")
    revenue_adds_up = serializers.BooleanField()
    ledger_balanced = serializers.BooleanField()
    proof = LedgerProofSerializer()
    movements = MovementSerializer(many=True)


class AccountFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Account.Kind.choices, required=False)
    code = TextField(max_length=100, required=False, help_text="accounts whose code starts with this")


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    kind = serializers.CharField()
    balance_cents = serializers.IntegerField(help_text="debits minus credits, as kept")


class AccountEntrySerializer(serializers.Serializer):
    entry = serializers.IntegerField()
    amount_cents = serializers.IntegerField(help_text="debit positive, credit negative")
    transaction_key = serializers.CharField()
    memo = serializers.CharField()
    period = serializers.IntegerField(allow_null=True)
    posted_at = serializers.DateTimeField()


class StatementOfAccountRowSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["invoice", "credit_note", "payment", "void"])
    date = serializers.DateField()
    number = serializers.CharField(help_text="the invoice or credit note number, or the payment's reference")
    description = serializers.CharField()
    debit_cents = serializers.IntegerField()
    credit_cents = serializers.IntegerField()
    balance_cents = serializers.IntegerField(help_text="what the studio owes after this row")
    invoice = serializers.IntegerField(allow_null=True)
    period = serializers.IntegerField(allow_null=True)


class StatementOfAccountSerializer(serializers.Serializer):
    studio = serializers.CharField()
    currency = serializers.CharField()
    invoiced_cents = serializers.IntegerField(help_text="every debit: the invoices")
    credited_cents = serializers.IntegerField(help_text="every credit: payments, credit notes and voids")
    balance_cents = serializers.IntegerField(help_text="what the studio owes now")
    receivable_cents = serializers.IntegerField(help_text="the studio's receivable in the ledger: equal")
    rows = StatementOfAccountRowSerializer(many=True)
