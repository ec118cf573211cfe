from django.contrib import admin, messages
from guardian.admin import GuardedModelAdmin

from trust.errors import DomainError

from . import services
from .models import Lease, LeaseTerms, LeaseToken, Studio, StudioStaff, Takedown, UsageEvent


@admin.register(Studio)
class StudioAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["group"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            obj.pk = services.studio_create(actor=request.user, name=obj.name).pk


@admin.register(StudioStaff)
class StudioStaffAdmin(admin.ModelAdmin):
    list_display = ["user", "studio", "created_at"]


@admin.register(LeaseTerms)
class LeaseTermsAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "dataset",
        "permitted_uses",
        "duration_days",
        "flat_fee_cents",
        "currency",
        "active",
    ]
    list_filter = ["active"]


def _apply(modeladmin, request, queryset, service, verb):
    for lease in queryset:
        try:
            service(actor=request.user, lease=lease)
            modeladmin.message_user(request, f"lease {lease.pk} {verb}")
        except DomainError as error:
            modeladmin.message_user(request, f"lease {lease.pk}: {error.detail}", level=messages.ERROR)


@admin.register(Lease)
class LeaseAdmin(GuardedModelAdmin):
    list_display = ["pk", "studio", "terms", "status", "starts_at", "ends_at"]
    list_filter = ["status"]
    readonly_fields = ["status", "version", "starts_at", "ends_at", "revoked_at", "decided_by", "decided_at"]
    actions = ["approve", "reject", "revoke"]

    @admin.action(description="Approve selected lease requests")
    def approve(self, request, queryset):
        _apply(self, request, queryset, services.lease_approve, "approved")

    @admin.action(description="Reject selected lease requests")
    def reject(self, request, queryset):
        _apply(self, request, queryset, services.lease_reject, "rejected")

    @admin.action(description="Revoke selected active leases")
    def revoke(self, request, queryset):
        _apply(self, request, queryset, services.lease_revoke, "revoked")


@admin.register(LeaseToken)
class LeaseTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "lease", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]
    # `state` asks the lease whether it still gives access: load it with the token.
    list_select_related = ["lease__studio", "lease__terms"]
    readonly_fields = ["token_hash"]


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = ["lease", "kind", "asset", "quantity", "occurred_at", "source"]
    list_filter = ["kind", "source"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Takedown)
class TakedownAdmin(admin.ModelAdmin):
    list_display = ["lease", "asset", "status", "issued_at", "acknowledged_at", "attested_at"]
    list_filter = ["status"]
