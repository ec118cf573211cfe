"""The Django admin is one more caller of the services: every model here is either read-only
or created and changed through the service that owns it, with its checks and audit event."""

import re

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from . import services, tokens
from .errors import DomainError
from .models import (
    Asset,
    AssetContributor,
    AssetDestruction,
    AuditEvent,
    Consent,
    ConsentAuthority,
    ConsentText,
    Dataset,
    DatasetItem,
    DatasetVersion,
    DatasetVersionItem,
    EstateRepresentative,
    Member,
    MemberDeath,
    RetentionPeriod,
    UserToken,
)


class NoHandEdits:
    """Refuses add, change and delete: the rows are written only by services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoHandEdits, admin.ModelAdmin):
    """Records written only by services: visible to administrators, never edited by hand.
    Admin actions that call a service may still be offered on them."""


class ReadOnlyInline(NoHandEdits, admin.TabularInline):
    extra = 0


class ServiceAdmin(admin.ModelAdmin):
    """Rows an administrator creates or changes, always through their service.

    A subclass offers adding by defining `create(request, form)` and changing by defining
    `update(request, obj, form)`; each calls a service and returns the row it wrote. Nothing
    is ever deleted here. A refusal from the service (a `DomainError`) rolls the whole request
    back, the admin's own log entry included, and is shown as an error message."""

    def has_add_permission(self, request):
        return callable(getattr(self, "create", None)) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return callable(getattr(self, "update", None)) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = self.update(request, obj, form) if change else self.create(request, form)
        # The admin's success message, log entry and redirect describe the row the service
        # wrote, so `obj` (the form's unsaved instance) becomes that row.
        obj.__dict__.update(saved.__dict__)

    def save_related(self, request, form, formsets, change):
        """Related rows belong to the services too: inlines here are read-only."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            # The admin runs this in a transaction: an exception leaving it writes nothing.
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, f"Not saved: {error.detail}", level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def run_for_each(modeladmin, request, queryset, call, done: str) -> None:
    """An admin action: `call(row)` runs one service per selected row, each in its own
    transaction; a refusal is reported for its row and the other rows go ahead."""
    for row in queryset:
        try:
            call(row)
        except DomainError as error:
            modeladmin.message_user(request, f"{row}: {error.detail}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{row}: {done}")


class MemberEnrolForm(forms.ModelForm):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    email = forms.EmailField()

    class Meta:
        model = Member
        fields = ["username", "password", "email", "member_number", "display_name", "listed_publicly"]


@admin.register(Member)
class MemberAdmin(ServiceAdmin):
    list_display = ["member_number", "display_name", "user", "listed_publicly", "created_at"]
    search_fields = ["member_number", "display_name", "user__username"]
    list_filter = ["listed_publicly"]
    bank_fields = ["payout_account_name", "payout_iban", "payout_account_number", "payout_bic"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MemberEnrolForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return MemberEnrolForm.Meta.fields
        return ["member_number", "user", "display_name", "listed_publicly", *self.bank_fields, "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["member_number", "user", "created_at"]

    def create(self, request, form):
        return services.member_enrol(actor=request.user, **form.cleaned_data)

    def update(self, request, obj, form):
        data = form.cleaned_data
        member = services.member_update(
            actor=request.user,
            member=obj,
            display_name=data["display_name"],
            listed_publicly=data["listed_publicly"],
        )
        if set(self.bank_fields) & set(form.changed_data):
            member = services.member_set_bank_account(
                actor=request.user,
                member=member,
                iban=data["payout_iban"],
                bic=data["payout_bic"],
                account_name=data["payout_account_name"],
                account_number=data["payout_account_number"],
            )
        return member


class ContributorInline(ReadOnlyInline):
    model = AssetContributor


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    """Assets arrive through the upload flow (create, upload, verify), never from a form."""

    list_display = ["title", "kind", "status", "size", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "id", "sha256"]
    inlines = [ContributorInline]


@admin.register(AssetContributor)
class AssetContributorAdmin(ReadOnlyAdmin):
    list_display = ["asset", "member", "share"]
    search_fields = ["member__member_number", "asset__title"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["member", "use", "asset", "state", "text", "channel", "created_at"]
    list_filter = ["use", "state", "channel"]
    search_fields = ["member__member_number"]


@admin.register(ConsentText)
class ConsentTextAdmin(ServiceAdmin):
    """Publishing the next version of a use's text: old versions and the grants made under them
    never change; members with older grants are offered to re-confirm (trust.services)."""

    list_display = ["use", "language", "version", "effective_at", "terms_version", "sha256"]
    list_filter = ["use", "language"]
    fields = ["use", "language", "effective_at", "text"]

    def get_readonly_fields(self, request, obj=None):
        return (
            ["use", "language", "version", "effective_at", "terms_version", "sha256", "text"] if obj else []
        )

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) if obj else self.fields

    def create(self, request, form):
        data = form.cleaned_data
        return services.consent_text_publish(
            actor=request.user,
            use=data["use"],
            text=data["text"],
            language=data["language"],
            effective_at=data.get("effective_at"),
        )


class DatasetForm(forms.ModelForm):
    add_asset_ids = forms.CharField(
        label="Add assets",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Ids of verified assets, separated by spaces, commas or new lines.",
    )

    class Meta:
        model = Dataset
        fields = ["slug", "title", "description", "add_asset_ids"]


@admin.register(Dataset)
class DatasetAdmin(ServiceAdmin):
    """Created with `dataset_create`; its working set grows with `dataset_add_assets` and is
    frozen into versions with `dataset_freeze`. Its items are listed under Dataset items."""

    form = DatasetForm
    list_display = ["slug", "title", "created_at"]
    search_fields = ["slug", "title"]
    actions = ["freeze"]

    def get_fields(self, request, obj=None):
        return (
            ["slug", "title", "description"]
            if obj is None
            else ["slug", "title", "description", "add_asset_ids"]
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["slug", "title", "description"]

    def create(self, request, form):
        data = form.cleaned_data
        return services.dataset_create(
            actor=request.user, slug=data["slug"], title=data["title"], description=data["description"]
        )

    def update(self, request, obj, form):
        asset_ids = [part for part in re.split(r"[\s,]+", form.cleaned_data["add_asset_ids"]) if part]
        if asset_ids:
            added = services.dataset_add_assets(actor=request.user, dataset=obj, asset_ids=asset_ids)
            self.message_user(request, f"{added} asset(s) added to {obj.slug}")
        return obj

    @admin.action(description="Freeze the selected datasets as new versions")
    def freeze(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset,
            lambda d: services.dataset_freeze(actor=request.user, dataset=d),
            "frozen",
        )


@admin.register(DatasetItem)
class DatasetItemAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "asset", "added_at"]
    list_filter = ["dataset"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "number", "manifest_sha256", "created_at"]


@admin.register(DatasetVersionItem)
class DatasetVersionItemAdmin(ReadOnlyAdmin):
    list_display = ["version", "asset", "sha256", "size"]


@admin.register(UserToken)
class UserTokenAdmin(ReadOnlyAdmin):
    list_display = ["user", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected API tokens")
    def revoke(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset.select_related("user"),
            lambda token: tokens.user_token_revoke(actor=request.user, token=token),
            "revoked",
        )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "created_at", "actor_label", "action", "subject_type", "subject_id"]
    list_filter = ["action"]
    search_fields = ["subject_id", "action"]


# Deaths and authorities are recorded through their services (the operations page, the API),
# with their evidence and audit events; here they are read only.
@admin.register(EstateRepresentative)
class EstateRepresentativeAdmin(ReadOnlyAdmin):
    list_display = ["member", "user", "named_at"]
    search_fields = ["member__member_number", "user__username"]


@admin.register(MemberDeath)
class MemberDeathAdmin(ReadOnlyAdmin):
    list_display = ["member", "died_on", "evidence", "recorded_at", "recorded_by"]
    search_fields = ["member__member_number", "evidence"]


@admin.register(ConsentAuthority)
class ConsentAuthorityAdmin(ReadOnlyAdmin):
    list_display = ["member", "kind", "user", "since", "evidence"]
    list_filter = ["kind"]
    search_fields = ["member__member_number", "user__username"]


@admin.register(RetentionPeriod)
class RetentionPeriodAdmin(ReadOnlyAdmin):
    """Set on Operations > Retention or through the API (`retention_set`, audited)."""

    list_display = ["kind", "days", "updated_at", "updated_by"]


@admin.register(AssetDestruction)
class AssetDestructionAdmin(ReadOnlyAdmin):
    """Written only by the destruction job (`trust.destruction`)."""

    list_display = ["asset", "reason", "started_at", "destroyed_at"]
    list_filter = ["reason"]
    search_fields = ["asset__id", "asset__sha256"]
