from django.contrib import admin, messages

from trust.admin import ReadOnlyAdmin
from trust.errors import DomainError

from . import services
from .models import (
    Account,
    LeaseRevenue,
    LedgerEntry,
    LedgerTransaction,
    MemberEarning,
    MemberEarningLine,
    PayoutBatch,
    PayoutItem,
    Period,
    RateSetting,
)


@admin.register(RateSetting)
class RateSettingAdmin(admin.ModelAdmin):
    list_display = ["admin_fee_bps", "pension_bps", "effective_at", "set_by"]
    fields = ["admin_fee_bps", "pension_bps"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = services.rates_set(
            actor=request.user, admin_fee_bps=obj.admin_fee_bps, pension_bps=obj.pension_bps
        ).pk


@admin.register(Period)
class PeriodAdmin(admin.ModelAdmin):
    list_display = [
        "start",
        "end",
        "status",
        "revenue_cents",
        "admin_fee_cents",
        "pension_cents",
        "net_cents",
    ]
    readonly_fields = [
        "status",
        "admin_fee_bps",
        "pension_bps",
        "revenue_cents",
        "admin_fee_cents",
        "pension_cents",
        "net_cents",
        "leases_total",
        "leases_done",
        "closed_at",
    ]
    actions = ["close"]

    def has_change_permission(self, request, obj=None):
        return obj is None  # a period's dates are fixed once created; results come from closing

    def save_model(self, request, obj, form, change):
        obj.pk = services.period_create(actor=request.user, start=obj.start, end=obj.end).pk

    @admin.action(description="Close the selected ended periods")
    def close(self, request, queryset):
        for period in queryset:
            try:
                services.period_request_close(actor=request.user, period=period)
                self.message_user(request, f"closing {period}")
            except DomainError as error:
                self.message_user(request, f"{period}: {error.detail}", level=messages.ERROR)


admin.site.register(
    [
        LeaseRevenue,
        MemberEarning,
        MemberEarningLine,
        Account,
        LedgerTransaction,
        LedgerEntry,
        PayoutBatch,
        PayoutItem,
    ],
    ReadOnlyAdmin,
)
