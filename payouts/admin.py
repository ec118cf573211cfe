from django.contrib import admin

from . import services
from .models import Account, LeaseRevenue, LedgerEntry, LedgerTransaction, MemberEarning, Period, RateSetting


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records are written by services only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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

    @admin.action(description="Close the selected ended periods")
    def close(self, request, queryset):
        for period in queryset:
            services.period_request_close(actor=request.user, period=period)
            self.message_user(request, f"closing {period}")


admin.site.register([LeaseRevenue, MemberEarning, Account, LedgerTransaction, LedgerEntry], ReadOnlyAdmin)
