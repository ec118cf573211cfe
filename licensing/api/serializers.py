from rest_framework import serializers

from licensing.models import Lease, LeaseTerms, LeaseToken, Studio, Takedown, UsageEvent
from licensing.services import PRICE_LIMIT_MESSAGE, PRICE_MAX_CENTS
from trust.api.validation import COUNT_MAX, QUANTITY_MAX, cents, row_id
from trust.consent import LICENSABLE_USES
from trust.tokens import TokenState


def price() -> serializers.IntegerField:
    """A price or fee of lease terms, in cents, under the one limit terms_create enforces."""
    return cents(default=0, max_value=PRICE_MAX_CENTS, error_messages={"max_value": PRICE_LIMIT_MESSAGE})


class StudioInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class StudioOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Studio
        fields = ["id", "name", "created_at"]


class StaffInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class StaffOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    studio = serializers.IntegerField(source="studio_id")


class TermsInputSerializer(serializers.Serializer):
    dataset = row_id()
    title = serializers.CharField(max_length=300)
    permitted_uses = serializers.ListField(
        child=serializers.ChoiceField(choices=LICENSABLE_USES), allow_empty=False, min_length=1
    )
    duration_days = serializers.IntegerField(min_value=1, max_value=3650)
    flat_fee_cents = price()
    price_per_download_cents = price()
    price_per_training_run_cents = price()
    price_per_generated_second_cents = price()
    download_cap = serializers.IntegerField(
        min_value=1, max_value=COUNT_MAX, required=False, allow_null=True, default=None
    )
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    active = serializers.BooleanField(required=False, default=True)


class DatasetSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    title = serializers.CharField()
    latest_version = serializers.IntegerField(allow_null=True)
    asset_count = serializers.IntegerField()
    kinds = serializers.DictField(child=serializers.IntegerField())


class TermsOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeaseTerms
        fields = [
            "id",
            "dataset",
            "title",
            "permitted_uses",
            "duration_days",
            "flat_fee_cents",
            "price_per_download_cents",
            "price_per_training_run_cents",
            "price_per_generated_second_cents",
            "download_cap",
            "currency",
            "active",
            "created_at",
        ]


class CatalogueEntrySerializer(TermsOutputSerializer):
    dataset = DatasetSummarySerializer(source="dataset_summary")


class LeaseInputSerializer(serializers.Serializer):
    terms = row_id()
    purpose = serializers.CharField(max_length=5000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class LeaseOutputSerializer(serializers.ModelSerializer):
    studio = serializers.IntegerField(source="studio_id")
    terms = serializers.IntegerField(source="terms_id")
    dataset = serializers.CharField(source="terms.dataset.slug")
    version = serializers.IntegerField(source="version.number", allow_null=True, default=None)

    class Meta:
        model = Lease
        fields = [
            "id",
            "studio",
            "terms",
            "dataset",
            "version",
            "purpose",
            "status",
            "permitted_uses",
            "flat_fee_cents",
            "price_per_download_cents",
            "price_per_training_run_cents",
            "price_per_generated_second_cents",
            "download_cap",
            "currency",
            "requested_at",
            "decided_at",
            "decision_reason",
            "starts_at",
            "ends_at",
            "revoked_at",
        ]


class TokenInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    lifetime_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="default 7; never past the lease's end"
    )


class TokenCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    token = serializers.CharField(help_text="shown once: keep it safe")
    expires_at = serializers.DateTimeField()


class TokenOutputSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(
        choices=TokenState.choices, read_only=True, help_text="whether the token opens its lease now"
    )

    class Meta:
        model = LeaseToken
        fields = ["id", "name", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]


class ManifestAssetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    title = serializers.CharField()
    content_type = serializers.CharField(help_text="the asset's media type, e.g. video/mp4")
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    download_url = serializers.CharField()


class ManifestSerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    dataset = serializers.CharField()
    version = serializers.IntegerField()
    manifest_sha256 = serializers.CharField()
    assets = ManifestAssetSerializer(many=True)


class UsageEventInputSerializer(serializers.Serializer):
    event_key = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=UsageEvent.Kind.choices)
    asset = serializers.UUIDField(required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=QUANTITY_MAX)
    occurred_at = serializers.DateTimeField()


class UsageReportSerializer(serializers.Serializer):
    events = UsageEventInputSerializer(many=True, allow_empty=False, min_length=1, max_length=10000)


class UsageAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class TakedownOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Takedown
        fields = [
            "id",
            "lease",
            "asset",
            "status",
            "issued_at",
            "acknowledged_at",
            "attested_at",
            "attestation",
        ]


class AttestationSerializer(serializers.Serializer):
    statement = serializers.CharField(max_length=5000)


class RegisterEntrySerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    studio = serializers.CharField()
    dataset = serializers.CharField()
    dataset_title = serializers.CharField()
    version = serializers.IntegerField()
    manifest_sha256 = serializers.CharField()
    uses = serializers.ListField(child=serializers.CharField())
    purpose = serializers.CharField()
    status = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    member_count = serializers.IntegerField()
    listed_members = serializers.ListField(child=serializers.CharField())
