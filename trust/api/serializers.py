from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trust.api.validation import OBJECT_SIZE_MAX, TextField, row_id
from trust.consent import DEFAULT_LANGUAGE, CapPer, Use
from trust.models import (
    Asset,
    AssetContributor,
    AuditEvent,
    Authority,
    Consent,
    ConsentText,
    Dataset,
    DatasetVersion,
    Member,
)

# A share's shape (digits, an optional decimal point and more digits); its range and sum are the
# service's rules (422).
DECIMAL_STRING = r"^[0-9]{1,7}(\.[0-9]{1,12})?$"


class ErrorSerializer(serializers.Serializer):
    """The shape of every error the API answers."""

    code = TextField(help_text="stable, for programs")
    detail = TextField(help_text="for people")


class BadRequestSerializer(ErrorSerializer):
    """A 400: `code` is `invalid` with `errors` per field, or a more precise code (`bad_page_size`)."""

    errors = serializers.JSONField(required=False, help_text="per field, what is wrong with it")


class TokenRequestSerializer(serializers.Serializer):
    username = TextField()
    password = TextField(style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = TextField(help_text="shown once: keep it safe")
    expires_at = serializers.DateTimeField()


class TokensRevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="how many live `ut_` tokens were revoked")


class MemberInputSerializer(serializers.Serializer):
    username = TextField(max_length=150)
    password = TextField(write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    member_number = TextField(max_length=32)
    display_name = TextField(max_length=200)
    listed_publicly = serializers.BooleanField(required=False, default=False)


class MemberOutputSerializer(serializers.ModelSerializer):
    username = TextField(source="user.username")

    class Meta:
        model = Member
        fields = ["id", "username", "member_number", "display_name", "listed_publicly", "created_at"]


class ContributorSerializer(serializers.Serializer):
    member = row_id()
    share = serializers.RegexField(
        DECIMAL_STRING, help_text='a decimal string, e.g. "0.5"; shares sum to exactly 1 (422 otherwise)'
    )


class AssetInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Asset.Kind.choices)
    title = TextField(max_length=300)
    content_type = TextField(
        max_length=200,
        help_text="A media type: type/subtype with optional `; name=value` parameters "
        "(422 bad_content_type otherwise).",
    )
    size = serializers.IntegerField(min_value=0, max_value=OBJECT_SIZE_MAX, help_text="bytes; at most 5 TiB")
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", help_text="the bytes' SHA-256, in hexadecimal")
    contributors = ContributorSerializer(many=True, allow_empty=False, min_length=1)


class UploadPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField()
    url = TextField()


class UploadSerializer(serializers.Serializer):
    method = TextField(help_text='"PUT" to `url` with `headers`; or "multipart": PUT each part')
    url = TextField(allow_null=True)
    headers = serializers.DictField(child=TextField())
    upload_id = TextField(required=False)
    part_size = serializers.IntegerField(required=False, help_text="bytes per part; the last may be shorter")
    parts = UploadPartSerializer(many=True, required=False)


class CompletedPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField(min_value=1, max_value=10_000)
    etag = TextField(max_length=200, help_text="the ETag header the part's PUT answered")


class CompleteInputSerializer(serializers.Serializer):
    parts = CompletedPartSerializer(many=True, required=False, help_text="multipart uploads only")


class AssetContributorOutputSerializer(serializers.Serializer):
    member = serializers.IntegerField(source="member_id")
    member_number = TextField(source="member.member_number")
    share = serializers.DecimalField(max_digits=7, decimal_places=6, coerce_to_string=True)
    status = serializers.ChoiceField(
        choices=AssetContributor.Status.choices,
        help_text="a member named by another must accept; the asset is licensable only once all have",
    )


class ContributionAssetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Asset.Kind.choices)
    title = serializers.CharField()
    created_at = serializers.DateTimeField()


class ContributionOutputSerializer(serializers.Serializer):
    """One of my shares of an asset; `pending` ones wait for me to accept or decline."""

    id = serializers.IntegerField()
    asset = ContributionAssetSerializer()
    share = serializers.DecimalField(max_digits=7, decimal_places=6, coerce_to_string=True)
    status = serializers.ChoiceField(choices=AssetContributor.Status.choices)
    decided_at = serializers.DateTimeField(allow_null=True)
    named_by = serializers.SerializerMethodField(help_text="the member number of who registered the asset")

    def get_named_by(self, row) -> str | None:
        registrant = getattr(row.asset.created_by, "member", None)
        return registrant.member_number if registrant else None


class ContributionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AssetContributor.Status.choices, required=False)


class AssetOutputSerializer(serializers.ModelSerializer):
    contributors = AssetContributorOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Asset
        fields = [
            "id",
            "kind",
            "title",
            "content_type",
            "size",
            "sha256",
            "status",
            "failure_reason",
            "created_at",
            "verified_at",
            "contributors",
        ]


class AssetCreatedSerializer(AssetOutputSerializer):
    upload = UploadSerializer()

    class Meta(AssetOutputSerializer.Meta):
        fields = [*AssetOutputSerializer.Meta.fields, "upload"]


LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class ConsentCapSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=10**12,
        help_text="how much of the use: training runs for `training`, generated seconds for the "
        "generation uses (README: Quotas by consent category)",
    )
    per = serializers.ChoiceField(
        choices=CapPer.choices, help_text="`lease`: under each lease; `year`: under all leases in a year"
    )


class ConsentInputSerializer(serializers.Serializer):
    member = row_id(
        required=False,
        allow_null=True,
        help_text="empty: my own consent. A late member's id: decided as their estate "
        "representative or, for an administrator, as the union (404 for a member I hold no "
        "authority over; 403 `authority_passed` for a late member's own login)",
    )
    use = serializers.ChoiceField(choices=Use.choices)
    asset = serializers.UUIDField(required=False, allow_null=True, help_text="empty: all my assets")
    decision = serializers.ChoiceField(
        choices=[("grant", "grant"), ("refuse", "refuse")],
        default="grant",
        help_text="`grant` (the default) or `refuse`: an explicit no, recorded like a grant, never "
        "counted as one. Refusing what an active grant of mine covers is a 409 `consent_granted` "
        "(withdraw it first).",
    )
    language = serializers.RegexField(
        LANGUAGE,
        max_length=16,
        required=False,
        default=DEFAULT_LANGUAGE,
        help_text="the language of the text I was shown (422 `no_consent_text` if none is published)",
    )
    cap = ConsentCapSerializer(
        required=False,
        allow_null=True,
        help_text="a grant's quota: at most `quantity` of the use per lease or per year; usage "
        "over it is refused with 409 `quota_exceeded`. Not for `capture`, nor for a refusal.",
    )

    def validate(self, data):
        if data.get("cap") and data.get("decision") == "refuse":
            raise serializers.ValidationError({"cap": "a refusal has no cap"}, code="bad_cap")
        if data.get("cap") and data.get("use") == Use.CAPTURE:
            raise serializers.ValidationError({"cap": "capture cannot be capped"}, code="bad_cap")
        return data


class ConsentHistoryFilterSerializer(serializers.Serializer):
    member = row_id(required=False, help_text="a late member whose authority I hold; empty: my own history")


class ConsentTextSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentText
        fields = ["id", "use", "version", "language", "effective_at", "terms_version", "sha256", "text"]
        extra_kwargs = {
            "sha256": {"help_text": "SHA-256 (hex) of the terms version, a newline, and the text"},
        }


class ConsentTextFilterSerializer(serializers.Serializer):
    use = serializers.ChoiceField(choices=Use.choices, required=False)
    language = serializers.RegexField(LANGUAGE, max_length=16, required=False)


class ConsentTextInputSerializer(serializers.Serializer):
    use = serializers.ChoiceField(choices=Use.choices)
    text = TextField(max_length=10_000)
    language = serializers.RegexField(LANGUAGE, max_length=16, required=False, default=DEFAULT_LANGUAGE)
    effective_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="when it takes effect: now if empty or earlier (never before it is published)",
    )


class ConsentOutputSerializer(serializers.ModelSerializer):
    member = serializers.IntegerField(source="member_id")
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    reconfirms = serializers.IntegerField(source="reconfirms_id", allow_null=True)
    text = ConsentTextSerializer(help_text="the exact text this decision was made under")
    active = serializers.SerializerMethodField()
    cap = serializers.SerializerMethodField()

    class Meta:
        model = Consent
        fields = [
            "id",
            "member",
            "asset",
            "use",
            "state",
            "terms_version",
            "consent_text_sha256",
            "text",
            "supersedes",
            "reconfirms",
            "channel",
            "authority",
            "created_at",
            "active",
            "cap",
        ]

    @extend_schema_field(ConsentCapSerializer(allow_null=True))
    def get_cap(self, consent):
        """The grant's quota, or null for none."""
        if consent.cap_quantity is None:
            return None
        return {"quantity": consent.cap_quantity, "per": consent.cap_per}

    def get_active(self, consent) -> bool:
        """A grant neither withdrawn nor re-confirmed by a newer grant."""
        if consent.state != Consent.State.GRANTED:
            return False
        return (
            getattr(consent, "withdrawal", None) is None and getattr(consent, "reconfirmation", None) is None
        )


class ConsentReceiptSignatureSerializer(serializers.Serializer):
    alg = TextField()
    kid = TextField(help_text="the key's `kid` in /.well-known/guildtrust.json")
    key_fingerprint = TextField(help_text="SHA-256 of the raw public key, hex")
    public_keys_url = TextField()


class ConsentReceiptSerializer(serializers.Serializer):
    """A signed consent receipt (README: Consent receipts)."""

    receipt = serializers.JSONField(help_text="the ISO/IEC TS 27560 consent record fields")
    jws = TextField(help_text="compact JWS (EdDSA) whose payload is exactly `receipt`")
    signature = ConsentReceiptSignatureSerializer()


class DatasetInputSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=50)
    title = TextField(max_length=300)
    description = TextField(required=False, allow_blank=True, default="")


class DatasetOutputSerializer(serializers.ModelSerializer):
    asset_count = serializers.IntegerField(source="items.count", read_only=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "slug", "title", "description", "asset_count", "latest_version", "created_at"]

    def get_latest_version(self, dataset) -> int | None:
        return dataset.versions.order_by("-number").values_list("number", flat=True).first()


class DatasetItemsInputSerializer(serializers.Serializer):
    assets = serializers.ListField(
        child=serializers.UUIDField(), allow_empty=False, min_length=1, max_length=10000
    )


class DatasetItemsOutputSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    asset_count = serializers.IntegerField()


class DatasetVersionOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.IntegerField(source="dataset_id")
    asset_count = serializers.IntegerField(source="items.count", read_only=True)

    class Meta:
        model = DatasetVersion
        fields = ["id", "dataset", "number", "manifest_sha256", "asset_count", "created_at"]


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created_at",
            "actor_label",
            "action",
            "subject_type",
            "subject_id",
            "data",
            "prev_hash",
            "hash",
        ]


class BankAccountInputSerializer(serializers.Serializer):
    iban = TextField(
        max_length=42, required=False, allow_blank=True, default="", help_text="or account_number with bic"
    )
    bic = TextField(max_length=11, required=False, allow_blank=True, default="")
    account_number = TextField(
        max_length=42,
        required=False,
        allow_blank=True,
        default="",
        help_text="a bank without IBANs: the account number, with `bic` (paid by a non-SEPA transfer)",
    )
    account_name = TextField(max_length=140, required=False, allow_blank=True, default="")
    current_password = TextField(
        max_length=4096,
        trim_whitespace=False,
        write_only=True,
        help_text="The member's current password: changing where royalties go needs it again (403 "
        "`wrong_password` otherwise).",
    )


class BankAccountOutputSerializer(serializers.Serializer):
    account_name = TextField(source="payout_account_name")
    iban = TextField(source="payout_iban")
    bic = TextField(source="payout_bic")
    account_number = TextField(source="payout_account_number")


AUTHORITY_HELP = "a user's id (the estate representative) or \"union\" (the trust's administrators)"


class AuthorityField(serializers.RegexField):
    """A user id or the word "union"."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", AUTHORITY_HELP)
        super().__init__(r"^(union|[1-9][0-9]{0,17})$", max_length=20, **kwargs)


class DeathInputSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="the date of death (not in the future: 422 `date_in_future`)")
    evidence = TextField(
        max_length=500, help_text="the reference of the evidence: certificate number, probate document id"
    )
    authority = AuthorityField(
        required=False,
        help_text=f"{AUTHORITY_HELP}; empty: the representative the member named, or the union. A user "
        "other than the one the member named is a 422 `not_the_named_representative`",
    )


class AuthorityChangeInputSerializer(serializers.Serializer):
    authority = AuthorityField()
    evidence = TextField(max_length=500, help_text="the reference of the evidence: a court appointment")


class ConsentAuthoritySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Authority.choices)
    user = serializers.IntegerField(source="user_id", allow_null=True, help_text="empty for the union")
    since = serializers.DateTimeField()
    evidence = TextField()


class DeathOutputSerializer(serializers.Serializer):
    member = serializers.IntegerField(source="member_id")
    date = serializers.DateField(source="died_on")
    evidence = TextField()
    recorded_at = serializers.DateTimeField()
    authority = ConsentAuthoritySerializer(help_text="who decides the member's consent from now on")


class EstateRepresentativeInputSerializer(serializers.Serializer):
    username = TextField(
        max_length=150,
        help_text="the login of the person (with an account at the trust) who decides after my death",
    )


class EstateRepresentativeOutputSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id", allow_null=True)
    username = TextField(allow_null=True)
    named_at = serializers.DateTimeField(allow_null=True)


def _retention_fields(*, required: bool) -> dict:
    # One field per asset kind: days from registration, null for "until capture is withdrawn".
    from trust.destruction import RETENTION_DAYS_MAX

    return {
        kind: serializers.IntegerField(
            min_value=1,
            max_value=RETENTION_DAYS_MAX,
            allow_null=True,
            required=required,
            help_text=f"days a {kind} is held after registration; null: until capture is withdrawn",
        )
        for kind in Asset.Kind.values
    }


class RetentionInputSerializer(serializers.Serializer):
    """The kinds to set; kinds not named keep their retention."""

    locals().update(_retention_fields(required=False))

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(Asset.Kind.values))
        if unknown:
            raise serializers.ValidationError({kind: ["not an asset kind"] for kind in unknown})
        if not attrs:
            raise serializers.ValidationError("name at least one asset kind")
        return attrs


class RetentionSerializer(serializers.Serializer):
    """Every asset kind with its retention in days (null: held until capture is withdrawn)."""

    locals().update(_retention_fields(required=True))


class DestructionCertificateSerializer(serializers.Serializer):
    """A signed destruction certificate (README: Retention and verified destruction)."""

    receipt = serializers.JSONField(help_text="the certificate: asset kept (hash, kind), removed, verified")
    jws = TextField(help_text="compact JWS (EdDSA) whose payload is exactly `receipt`")
    signature = ConsentReceiptSignatureSerializer()


class DestructionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    asset = serializers.UUIDField(source="asset_id")
    kind = serializers.CharField(source="asset.kind")
    title = serializers.CharField(source="asset.title")
    sha256 = serializers.CharField(source="asset.sha256")
    reason = serializers.CharField()
    started_at = serializers.DateTimeField()
    destroyed_at = serializers.DateTimeField()
