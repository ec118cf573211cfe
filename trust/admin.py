from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from . import services
from .models import (
    Asset,
    AssetContributor,
    AuditEvent,
    Consent,
    Dataset,
    DatasetItem,
    DatasetVersion,
    DatasetVersionItem,
    Member,
    UserToken,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to administrators, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["member_number", "display_name", "user", "listed_publicly", "created_at"]
    search_fields = ["member_number", "display_name", "user__username"]
    list_filter = ["listed_publicly"]


class ContributorInline(admin.TabularInline):
    model = AssetContributor
    extra = 0


@admin.register(Asset)
class AssetAdmin(GuardedModelAdmin):
    list_display = ["title", "kind", "status", "size", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "id", "sha256"]
    readonly_fields = ["id", "object_key", "sha256", "size", "status", "verified_at", "failure_reason"]
    inlines = [ContributorInline]


@admin.register(AssetContributor)
class AssetContributorAdmin(admin.ModelAdmin):
    list_display = ["asset", "member", "share"]
    search_fields = ["member__member_number", "asset__title"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["member", "use", "asset", "state", "terms_version", "created_at"]
    list_filter = ["use", "state"]
    search_fields = ["member__member_number"]


class DatasetItemInline(admin.TabularInline):
    model = DatasetItem
    extra = 0
    raw_id_fields = ["asset"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "created_at"]
    search_fields = ["slug", "title"]
    inlines = [DatasetItemInline]
    actions = ["freeze"]

    @admin.action(description="Freeze the selected datasets as new versions")
    def freeze(self, request, queryset):
        for dataset in queryset:
            version = services.dataset_freeze(actor=request.user, dataset=dataset)
            self.message_user(request, f"{dataset.slug}: version {version.number} frozen")


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ["dataset", "asset", "added_at"]
    raw_id_fields = ["asset"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "number", "manifest_sha256", "created_at"]


@admin.register(DatasetVersionItem)
class DatasetVersionItemAdmin(ReadOnlyAdmin):
    list_display = ["version", "asset", "sha256", "size"]


@admin.register(UserToken)
class UserTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = ["token_hash", "user", "created_at", "last_used_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "created_at", "actor_label", "action", "subject_type", "subject_id"]
    list_filter = ["action"]
    search_fields = ["subject_id", "action"]
