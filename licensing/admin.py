"""Licensing in the Django admin, through the licensing services only (see trust/admin.py)."""

from django import forms
from django.conf import settings
from django.contrib import admin

from trust.admin import ReadOnlyAdmin, ServiceAdmin, run_for_each
from trust.consent import LICENSABLE_USES

from . import services, tokens
from .models import (
    DerivedToken,
    FederatedRevocation,
    ForwardedUsage,
    InboundLeasePart,
    Lease,
    LeaseAsset,
    LeaseDownloadCount,
    LeasePart,
    LeaseTerms,
    LeaseToken,
    PeerCatalogue,
    PeerOffer,
    PullWindow,
    RevocationCursor,
    Studio,
    StudioStaff,
    Takedown,
    TrainedModel,
    UsageCorrection,
    UsageEvent,
    UsageEventKey,
    UsageQuota,
)


class StudioForm(forms.ModelForm):
    class Meta:
        model = Studio
        fields = ["name"]

    def clean_name(self):
        # The constraint names only this trust's own studios (a peer's studio may share a name), and
        # a form does not check a constraint whose condition reads a field it does not show.
        name = self.cleaned_data["name"]
        if Studio.objects.filter(name=name, home_peer__isnull=True).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"A studio named {name!r} exists.")
        return name


@admin.register(Studio)
class StudioAdmin(ServiceAdmin):
    form = StudioForm
    list_display = ["name", "home_peer", "created_at"]
    search_fields = ["name"]
    fields = ["name"]

    def create(self, request, form):
        return services.studio_create(actor=request.user, name=form.cleaned_data["name"])


class StudioStaffForm(forms.ModelForm):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    email = forms.EmailField(required=False)

    class Meta:
        model = StudioStaff
        fields = ["studio", "username", "password", "email"]


@admin.register(StudioStaff)
class StudioStaffAdmin(ServiceAdmin):
    form = StudioStaffForm
    list_display = ["user", "studio", "created_at"]
    list_filter = ["studio"]
    fields = StudioStaffForm.Meta.fields

    def create(self, request, form):
        return services.studio_add_staff(actor=request.user, **form.cleaned_data)


PRICE_FIELDS = [
    "flat_fee_cents",
    "price_per_download_cents",
    "price_per_training_run_cents",
    "price_per_generated_second_cents",
]


class LeaseTermsForm(forms.ModelForm):
    permitted_uses = forms.MultipleChoiceField(
        choices=[(use.value, use.label) for use in LICENSABLE_USES], widget=forms.CheckboxSelectMultiple
    )
    # The negotiators' premiums are optional: empty means none.
    production_fee_cents = forms.IntegerField(
        required=False, min_value=0, help_text="once per (studio, production title); empty: none"
    )
    substitution_premium_bps = forms.IntegerField(
        required=False, min_value=0, max_value=10_000, help_text="of each saving reported; empty: none"
    )

    def clean_production_fee_cents(self):
        return self.cleaned_data["production_fee_cents"] or 0

    def clean_substitution_premium_bps(self):
        return self.cleaned_data["substitution_premium_bps"] or 0

    class Meta:
        model = LeaseTerms
        fields = [
            "dataset",
            "title",
            "permitted_uses",
            "duration_days",
            *PRICE_FIELDS,
            "download_cap",
            "use_caps",
            "takedown_acknowledge_days",
            "takedown_attest_days",
            "currency",
            "payment_days",
            "production_fee_cents",
            "substitution_premium_bps",
        ]


@admin.register(LeaseTerms)
class LeaseTermsAdmin(ServiceAdmin):
    """Created with `terms_create`. A price is never changed in place (leases and invoices
    refer to these terms): only offering or withdrawing them, with `terms_set_active`."""

    form = LeaseTermsForm
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

    def get_fields(self, request, obj=None):
        return [*LeaseTermsForm.Meta.fields, "active"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else LeaseTermsForm.Meta.fields

    def get_changeform_initial_data(self, request):
        return {"currency": settings.TRUST_CURRENCY, **super().get_changeform_initial_data(request)}

    def create(self, request, form):
        return services.terms_create(actor=request.user, **form.cleaned_data)

    def update(self, request, obj, form):
        if "active" in form.changed_data:
            return services.terms_set_active(
                actor=request.user, terms=obj, active=form.cleaned_data["active"]
            )
        return obj


@admin.register(Lease)
class LeaseAdmin(ReadOnlyAdmin):
    """Leases are requested by studios and decided only by the lease services."""

    list_display = ["pk", "studio", "terms", "status", "starts_at", "ends_at"]
    list_filter = ["status"]
    list_select_related = ["studio", "terms"]
    actions = ["approve", "reject", "revoke"]

    def _decide(self, request, queryset, service, done):
        run_for_each(self, request, queryset, lambda lease: service(actor=request.user, lease=lease), done)

    @admin.action(description="Approve selected lease requests")
    def approve(self, request, queryset):
        self._decide(request, queryset, services.lease_approve, "approved")

    @admin.action(description="Reject selected lease requests")
    def reject(self, request, queryset):
        self._decide(request, queryset, services.lease_reject, "rejected")

    @admin.action(description="Revoke selected active leases")
    def revoke(self, request, queryset):
        self._decide(request, queryset, services.lease_revoke, "revoked")


@admin.register(LeaseToken)
class LeaseTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "lease", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]
    # `state` asks the lease whether it still gives access: load it with the token.
    list_select_related = ["lease__studio", "lease__terms"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected lease tokens")
    def revoke(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset.select_related("lease__studio"),
            lambda token: tokens.lease_token_revoke(actor=request.user, lease=token.lease, token=token),
            "revoked",
        )


@admin.register(DerivedToken)
class DerivedTokenAdmin(ReadOnlyAdmin):
    """Vendors' tokens: derived by studio staff (or first seen in use), revoked through the service."""

    list_display = ["vendor", "lease", "parent", "expires_at", "revoked_at", "last_used_at", "created_by"]
    list_select_related = ["lease__studio", "lease__terms", "parent", "created_by"]
    search_fields = ["vendor"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected vendor tokens")
    def revoke(self, request, queryset):
        run_for_each(
            self,
            request,
            queryset.select_related("lease__studio"),
            lambda token: tokens.derived_token_revoke(actor=request.user, lease=token.lease, token=token),
            "revoked",
        )


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ["lease", "kind", "asset", "quantity", "occurred_at", "source", "vendor"]
    list_filter = ["kind", "source"]


@admin.register(ForwardedUsage)
class ForwardedUsageAdmin(ReadOnlyAdmin):
    """Usage reported here for another trust's asset of a federated lease, forwarded to it."""

    list_display = [
        "lease",
        "peer",
        "event_key",
        "kind",
        "quantity",
        "occurred_at",
        "forwarded_at",
        "refused_reason",
    ]
    list_filter = ["peer", "kind"]
    search_fields = ["event_key"]


@admin.register(UsageCorrection)
class UsageCorrectionAdmin(ReadOnlyAdmin):
    """Compensating events (licensing.corrections): recorded by the usage report or the API."""

    list_display = [
        "lease",
        "event_key",
        "corrects_key",
        "kind",
        "quantity",
        "in_place",
        "source",
        "recorded_at",
    ]
    list_filter = ["source", "in_place", "kind"]
    search_fields = ["event_key", "corrects_key", "original_key"]


@admin.register(UsageEventKey)
class UsageEventKeyAdmin(ReadOnlyAdmin):
    list_display = ["lease", "event_key"]
    search_fields = ["event_key"]


@admin.register(Takedown)
class TakedownAdmin(ReadOnlyAdmin):
    list_display = [
        "lease",
        "asset",
        "peer",
        "remote_asset_id",
        "status",
        "issued_at",
        "acknowledged_at",
        "attested_at",
    ]
    list_filter = ["status", "peer"]


@admin.register(TrainedModel)
class TrainedModelAdmin(ReadOnlyAdmin):
    """The model register: studios declare through the API; the trust only reads."""

    list_display = ["name", "version", "lease", "training_started_on", "training_ended_on", "declared_at"]
    list_select_related = ["lease__studio", "lease__terms"]
    search_fields = ["name", "purpose"]


@admin.register(LeaseAsset)
class LeaseAssetAdmin(ReadOnlyAdmin):
    """What each active lease may use now, as the consent rule answers (refreshed by the services)."""

    list_display = ["lease", "asset"]
    list_select_related = ["lease", "asset"]


@admin.register(LeaseDownloadCount)
class LeaseDownloadCountAdmin(ReadOnlyAdmin):
    list_display = ["lease", "used"]


@admin.register(UsageQuota)
class UsageQuotaAdmin(ReadOnlyAdmin):
    """How much of each capped use was taken (README: Quotas by consent category); written only
    by the usage ingest's conditional upsert."""

    list_display = ["key", "use", "lease", "year", "used", "cap"]
    list_select_related = ["lease"]
    search_fields = ["key"]


@admin.register(PullWindow)
class PullWindowAdmin(ReadOnlyAdmin):
    """When each token last had each asset's download billed (the gateway's pull window)."""

    list_display = ["token_key", "asset_id", "opened_at"]
    search_fields = ["token_key"]


@admin.register(PeerOffer)
class PeerOfferAdmin(ReadOnlyAdmin):
    """Fetched from peers by the beat job `fetch-peer-offers`; never edited here."""

    list_display = ["title", "peer", "terms_id", "currency", "fetched_at"]
    list_filter = ["peer"]


@admin.register(PeerCatalogue)
class PeerCatalogueAdmin(ReadOnlyAdmin):
    list_display = ["peer", "fetched_at", "attempted_at", "error"]


@admin.register(LeasePart)
class LeasePartAdmin(ReadOnlyAdmin):
    """Each part of a federated lease at its home trust (the home part has no peer); moved only
    by the decisions of the part's own trust."""

    list_display = ["lease", "peer", "remote_terms_id", "remote_lease_id", "status", "decided_at"]
    list_filter = ["status", "peer"]


@admin.register(InboundLeasePart)
class InboundLeasePartAdmin(ReadOnlyAdmin):
    """Leases here that are parts of a peer's federated lease, and what the peer was last told."""

    list_display = ["lease", "peer", "home_lease_id", "reported_status", "reported_at"]
    list_filter = ["peer"]


@admin.register(FederatedRevocation)
class FederatedRevocationAdmin(ReadOnlyAdmin):
    """Revoked `ft_` tokens: ours (no issuer) and those home peers told us of. Written only by
    token revocation and by the push and pull between trusts."""

    list_display = ["revocation_id", "issuer", "home_lease_id", "revoked_at", "received_at"]
    list_filter = ["issuer"]


@admin.register(RevocationCursor)
class RevocationCursorAdmin(ReadOnlyAdmin):
    list_display = ["peer", "last_seen", "pulled_at"]
