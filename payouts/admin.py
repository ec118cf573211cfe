from django.contrib import admin

from trust.admin import ReadOnlyAdmin, ServiceAdmin, run_for_each

from . import invoices, services
from .models import (
    Account,
    Adjustment,
    CloseBatch,
    CorrectionCharge,
    CreditNote,
    CreditNoteCounter,
    CreditNoteLine,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    InvoicePayment,
    LeaseRevenue,
    LedgerCheckpoint,
    LedgerCheckpointBalance,
    LedgerEntry,
    LedgerFullProof,
    LedgerTransaction,
    MemberAdjustmentLine,
    MemberEarning,
    MemberEarningLine,
    PaidOfPeriod,
    PartShare,
    PayoutBatch,
    PayoutItem,
    Period,
    PeriodCharge,
    RateSetting,
    Settlement,
    UnclaimedClaim,
    UnclaimedHolding,
    UnclaimedRelease,
    UntraceableMark,
)


@admin.register(RateSetting)
class RateSettingAdmin(ServiceAdmin):
    """New rates with `rates_set`; earlier rows stay as the history."""

    list_display = ["admin_fee_bps", "pension_bps", "effective_at", "set_by"]
    fields = ["admin_fee_bps", "pension_bps"]

    def create(self, request, form):
        return services.rates_set(actor=request.user, **form.cleaned_data)


@admin.register(Period)
class PeriodAdmin(ServiceAdmin):
    """Created with `period_create`; its dates are fixed once created and its results come
    from closing it."""

    list_display = [
        "start",
        "end",
        "status",
        "revenue_cents",
        "admin_fee_cents",
        "pension_cents",
        "net_cents",
    ]
    fields = ["start", "end"]
    actions = ["close"]

    def create(self, request, form):
        return services.period_create(
            actor=request.user, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
        )

    @admin.action(description="Close the selected ended periods")
    def close(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda period: services.period_request_close(actor=request.user, period=period),
            "closing",
        )


admin.site.register(
    [
        LeaseRevenue,
        MemberEarning,
        MemberEarningLine,
        Account,
        LedgerTransaction,
        LedgerEntry,
        LedgerCheckpoint,
        LedgerCheckpointBalance,
        LedgerFullProof,
        PayoutBatch,
        PayoutItem,
        PaidOfPeriod,
        PeriodCharge,
        CloseBatch,
        InvoiceCounter,
        InvoiceLine,
        InvoicePayment,
    ],
    ReadOnlyAdmin,
)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    """Issued by period closes; payments are recorded on the invoice's page in /operations/."""

    list_display = [
        "number",
        "studio",
        "period",
        "issued_at",
        "due_at",
        "total_cents",
        "paid_cents",
        "status",
    ]
    list_filter = ["status"]
    actions = ["void"]

    @admin.action(description="Void the selected open invoices with no payment")
    def void(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda invoice: invoices.invoice_void(
                actor=request.user, invoice=invoice, reason="voided in the admin"
            ),
            "voided",
        )


@admin.register(Settlement)
class SettlementAdmin(ReadOnlyAdmin):
    """Settlements of federated leases with peer trusts (payouts.settlements): both sides' figures."""

    list_display = [
        "period_start",
        "period_end",
        "peer",
        "role",
        "home_lease_id",
        "total_cents",
        "peer_total_cents",
        "state",
    ]
    list_filter = ["state", "role", "peer"]


@admin.register(PartShare)
class PartShareAdmin(ReadOnlyAdmin):
    list_display = ["lease", "use", "cents", "window_start", "window_end", "received_at"]


# Corrections of closed periods: written by a period's close (payouts.corrections), read here.
admin.site.register(
    [CorrectionCharge, CreditNoteCounter, CreditNote, CreditNoteLine, Adjustment, MemberAdjustmentLine],
    ReadOnlyAdmin,
)


# Unclaimed royalties (payouts.unclaimed): written by its services; marks, claims and releases
# are made on /operations/unclaimed/ or through the API.
@admin.register(UntraceableMark)
class UntraceableMarkAdmin(ReadOnlyAdmin):
    list_display = ["member", "marked_at", "marked_by", "cleared_at", "cleared_by", "reason"]


@admin.register(UnclaimedHolding)
class UnclaimedHoldingAdmin(ReadOnlyAdmin):
    list_display = ["member", "amount_cents", "moved_at", "release_at", "state"]
    list_filter = ["state"]


@admin.register(UnclaimedClaim)
class UnclaimedClaimAdmin(ReadOnlyAdmin):
    list_display = ["member", "amount_cents", "claimed_at", "claimed_by"]


@admin.register(UnclaimedRelease)
class UnclaimedReleaseAdmin(ReadOnlyAdmin):
    list_display = ["released_at", "period", "total_cents", "recipients"]
