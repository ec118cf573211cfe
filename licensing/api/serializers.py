import re
import uuid
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from licensing.models import (
    DerivedToken,
    Lease,
    LeasePart,
    LeaseTerms,
    LeaseToken,
    Studio,
    Takedown,
    UsageEvent,
)
from licensing.selectors import lease_parts
from licensing.services import PAYMENT_DAYS_MAX, PRICE_LIMIT_MESSAGE, PRICE_MAX_CENTS, USAGE_EVENTS_MAX
from trust.api.validation import CENTS_MAX, COUNT_MAX, QUANTITY_MAX, TextField, cents, row_id
from trust.consent import LICENSABLE_USES
from trust.errors import Invalid
from trust.models import Asset
from trust.tokens import TokenState


def price() -> serializers.IntegerField:
    """A price or fee of lease terms, in cents, under the one limit terms_create enforces."""
    return cents(default=0, max_value=PRICE_MAX_CENTS, error_messages={"max_value": PRICE_LIMIT_MESSAGE})


class StudioInputSerializer(serializers.Serializer):
    name = TextField(max_length=200)


class StudioOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Studio
        fields = ["id", "name", "created_at"]


class StaffInputSerializer(serializers.Serializer):
    username = TextField(max_length=150)
    password = TextField(write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class StaffOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = TextField(source="user.username")
    studio = serializers.IntegerField(source="studio_id")


class TermsInputSerializer(serializers.Serializer):
    dataset = row_id()
    title = TextField(max_length=300)
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
    use_caps = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=10**12),
        required=False,
        default=dict,
        help_text='the most of a permitted use each lease may take, e.g. {"replica_active": 600}: '
        "training runs for `training`, generated seconds for the generation uses; usage over it is "
        "refused with 409 `quota_exceeded` (README: Quotas by consent category)",
    )
    takedown_acknowledge_days = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        default=None,
        help_text="days a studio has to acknowledge a takedown notice (default TAKEDOWN_ACKNOWLEDGE_DAYS)",
    )
    takedown_attest_days = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        default=None,
        help_text="days a studio has to attest deletion after a notice (default TAKEDOWN_DEADLINE_DAYS); "
        "at least the acknowledgement days (422 `takedown_windows_out_of_order`); past it the lease's "
        "tokens are suspended until the studio attests",
    )
    currency = TextField(min_length=3, max_length=3, required=False)
    active = serializers.BooleanField(required=False, default=True)
    payment_days = serializers.IntegerField(
        min_value=0,
        max_value=PAYMENT_DAYS_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="days a studio has to pay an invoice with these terms' leases (empty: the trust's default)",
    )
    production_fee_cents = price()
    substitution_premium_bps = serializers.IntegerField(
        min_value=0,
        max_value=10_000,
        required=False,
        default=0,
        help_text="basis points of each substitution saving the studio reports, charged as the premium",
    )


class DatasetSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = TextField()
    title = TextField()
    latest_version = serializers.IntegerField(allow_null=True)
    asset_count = serializers.IntegerField()
    kinds = serializers.DictField(child=serializers.IntegerField())


class TermsOutputSerializer(serializers.ModelSerializer):
    shared_with = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="slug", help_text="peer trusts whose studios see these terms"
    )

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
            "use_caps",
            "takedown_acknowledge_days",
            "takedown_attest_days",
            "currency",
            "active",
            "payment_days",
            "shared_with",
            "created_at",
            "production_fee_cents",
            "substitution_premium_bps",
        ]


class CoverageSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True, help_text="the dataset version approval would pin")
    total = serializers.IntegerField(help_text="assets in that version")
    licensable = serializers.IntegerField(help_text="of them, licensable now for every permitted use")
    per_use = serializers.DictField(child=serializers.IntegerField(), help_text="licensable assets per use")


class CatalogueEntrySerializer(serializers.Serializer):
    """An offer of this trust or of a peer trust (`trust`), priced in that trust's currency."""

    trust = serializers.SlugField(help_text="the slug of the trust that offers these terms")
    trust_name = TextField()
    terms = serializers.IntegerField(help_text="the terms' id at that trust")
    id = serializers.IntegerField(help_text="the same as `terms`")
    title = TextField()
    permitted_uses = serializers.ListField(child=TextField())
    duration_days = serializers.IntegerField()
    flat_fee_cents = serializers.IntegerField()
    price_per_download_cents = serializers.IntegerField()
    price_per_training_run_cents = serializers.IntegerField()
    price_per_generated_second_cents = serializers.IntegerField()
    production_fee_cents = serializers.IntegerField(
        default=0, help_text="once per (studio, production title)"
    )
    substitution_premium_bps = serializers.IntegerField(
        default=0, help_text="basis points of each substitution saving reported"
    )
    download_cap = serializers.IntegerField(allow_null=True)
    currency = TextField()
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    dataset = DatasetSummarySerializer()
    coverage = CoverageSerializer()
    stale = serializers.BooleanField(
        help_text="a peer's offer not refreshed within FEDERATION_OFFERS_STALE_SECONDS, or whose last fetch "
        "failed: shown as it was, not as current"
    )
    fetched_at = serializers.DateTimeField(allow_null=True, help_text="when a peer's offer was fetched")


class SharedOffersSerializer(serializers.Serializer):
    offers = serializers.ListField(child=serializers.DictField(), help_text="catalogue entries, as /catalog/")


class TermsShareSerializer(serializers.Serializer):
    peers = serializers.ListField(
        child=serializers.SlugField(), max_length=500, help_text="peer trusts' slugs"
    )


class LeasePartInputSerializer(serializers.Serializer):
    trust = serializers.SlugField(max_length=64, help_text="this trust's slug, or a live peer's")
    terms = row_id(help_text="the terms' id at that trust (a peer's: one of its shared offers)")


class LeaseInputSerializer(serializers.Serializer):
    """A local lease `{terms, purpose}`, or a federated one `{purpose, parts}`."""

    terms = row_id(required=False, help_text="a local lease: this trust's terms")
    parts = LeasePartInputSerializer(
        many=True,
        required=False,
        help_text="a federated lease: one part per trust, one of them this trust's (its terms are the "
        "lease's); every part priced in the lease's currency",
    )
    purpose = TextField(max_length=5000)
    production = TextField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="the production the data is for; required under terms with a production fee, which is "
        "charged once per (studio, production title)",
    )


class ReasonSerializer(serializers.Serializer):
    reason = TextField(required=False, allow_blank=True, default="", max_length=2000)


class LeasePartOutputSerializer(serializers.Serializer):
    trust = serializers.SlugField(help_text="the trust that decides this part")
    trust_name = TextField()
    terms = serializers.IntegerField(help_text="the terms' id at that trust")
    title = TextField(help_text="the terms' title")
    status = serializers.ChoiceField(choices=LeasePart.Status.choices)
    licensable_at_approval = serializers.IntegerField(allow_null=True)
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    reason = TextField(allow_blank=True)
    unavailable_since = serializers.DateTimeField(
        allow_null=True,
        help_text="since when the part's trust has not answered for its manifest (empty: it answered last)",
    )


class LeaseOutputSerializer(serializers.ModelSerializer):
    studio = serializers.IntegerField(source="studio_id")
    terms = serializers.IntegerField(source="terms_id")
    dataset = TextField(source="terms.dataset.slug")
    version = serializers.IntegerField(source="version.number", allow_null=True, default=None)
    parts = serializers.SerializerMethodField(
        help_text="a federated lease at its home trust: each trust's part and its state (empty for a "
        "local lease); the lease is active once every part is approved"
    )
    federated_from = serializers.SerializerMethodField(
        help_text="a part of another trust's lease: that trust's slug (its studio is a studio of that trust)"
    )

    @extend_schema_field(LeasePartOutputSerializer(many=True))
    def get_parts(self, lease):
        return LeasePartOutputSerializer(lease_parts(lease), many=True).data

    @extend_schema_field(TextField(allow_null=True))
    def get_federated_from(self, lease):
        return lease.studio.home_peer.slug if lease.studio.home_peer_id else None

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
            "use_caps",
            "takedown_acknowledge_days",
            "takedown_attest_days",
            "currency",
            "requested_at",
            "decided_at",
            "decision_reason",
            "starts_at",
            "ends_at",
            "revoked_at",
            "tokens_suspended_at",
            "parts",
            "federated_from",
            "production",
            "production_fee_cents",
            "substitution_premium_bps",
        ]


class TokenInputSerializer(serializers.Serializer):
    name = TextField(max_length=200)
    lifetime_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="default 7; never past the lease's end"
    )


class TokenCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = TextField()
    token = TextField(help_text="shown once: keep it safe")
    expires_at = serializers.DateTimeField()


class TokenOutputSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(
        choices=TokenState.choices, read_only=True, help_text="whether the token opens its lease now"
    )

    class Meta:
        model = LeaseToken
        fields = ["id", "name", "state", "created_at", "expires_at", "revoked_at", "last_used_at"]


class DerivedTokenInputSerializer(serializers.Serializer):
    token = TextField(
        max_length=20_000, help_text="the parent: an `ft_` token of this lease, minted or derived"
    )
    vendor = TextField(max_length=200, help_text="who will use it (a VFX house); members see this name")
    assets = serializers.ListField(
        child=TextField(max_length=300),
        required=False,
        allow_null=True,
        max_length=100_000,
        help_text="the only assets it opens: this trust's by id, another part's as `<trust>:<id>` (as the "
        "manifest lists them); absent or null: every asset the parent opens",
    )
    uses = serializers.ListField(
        child=serializers.ChoiceField(choices=LICENSABLE_USES),
        required=False,
        allow_null=True,
        help_text="the only uses a usage report may claim with it; absent or null: the parent's",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="before the parent's expiry; absent or null: the parent's"
    )


class DerivedTokenOutputSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(
        choices=TokenState.choices,
        read_only=True,
        help_text="revoked when it, its parent or any token between was revoked",
    )
    revoked_at = serializers.DateTimeField(
        source="revoked_since", read_only=True, allow_null=True, help_text="its own or an ancestor's"
    )
    assets = serializers.ListField(
        child=TextField(), allow_null=True, help_text="the asset ids it opens; null: all the parent opens"
    )
    uses = serializers.ListField(child=TextField(), allow_null=True, help_text="null: the parent's uses")
    derived_here = serializers.SerializerMethodField(
        help_text="false for a token derived offline, recorded when first seen in use"
    )

    class Meta:
        model = DerivedToken
        fields = [
            "id",
            "parent",
            "vendor",
            "assets",
            "uses",
            "state",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "derived_here",
        ]

    def get_derived_here(self, token) -> bool:
        return token.created_by_id is not None


class DerivedTokenCreatedSerializer(DerivedTokenOutputSerializer):
    token = TextField(help_text="the vendor's `ft_` token, shown once: hand it to the vendor")

    class Meta(DerivedTokenOutputSerializer.Meta):
        fields = ["token", *DerivedTokenOutputSerializer.Meta.fields]


class ManifestAssetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = TextField()
    title = TextField()
    content_type = TextField(help_text="the asset's media type, e.g. video/mp4")
    sha256 = TextField()
    size = serializers.IntegerField()
    download_url = TextField(help_text="at the gateway of the trust that holds the asset")
    trust = TextField(required=False, help_text="a federated lease's: the trust holding it")


class ManifestPartSerializer(serializers.Serializer):
    trust = TextField()
    lease = serializers.IntegerField(help_text="the part's lease id at that trust")
    status = serializers.ChoiceField(choices=["available", "unavailable"])
    reason = TextField(help_text="why the part is unavailable (its trust did not answer...)")
    dataset = TextField(required=False)


class ManifestSerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    dataset = TextField()
    version = serializers.IntegerField()
    manifest_sha256 = TextField()
    assets = ManifestAssetSerializer(many=True)
    parts = ManifestPartSerializer(
        many=True,
        required=False,
        help_text="a federated lease's manifest (ft_ token, at the home trust): each part's trust "
        "and whether it answered; each asset then names its `trust`",
    )


class RevocationSerializer(serializers.Serializer):
    revocation_id = TextField(max_length=200)
    home_lease_id = serializers.IntegerField(min_value=1)
    revoked_at = serializers.DateTimeField()


class RevocationListSerializer(serializers.Serializer):
    revocations = RevocationSerializer(many=True)
    cursor = serializers.IntegerField(help_text="pass as `since` on the next pull")


class RevocationPushSerializer(serializers.Serializer):
    revocations = RevocationSerializer(many=True, max_length=1000)


class RevocationsAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()


# The bounds of a reported event: the schema's serializers below, the full check (`_usage_event`)
# and the quick one (`_plain_usage_event`) all read these.
EVENT_KEY_MAX = UsageEvent._meta.get_field("event_key").max_length
# An event's `trust`: a trust's slug (a slug field's default length).
EVENT_TRUST_MAX = 50


class UsageEventInputSerializer(serializers.Serializer):
    """The shape of one reported event, for the schema. Reports are checked by
    `usage_events_from`, which applies these same rules in one pass over the batch."""

    event_key = TextField(max_length=EVENT_KEY_MAX)
    kind = serializers.ChoiceField(
        choices=[
            choice for choice in UsageEvent.Kind.choices if choice[0] != UsageEvent.Kind.SUBSTITUTION_SAVING
        ]
    )
    asset = serializers.UUIDField(required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=QUANTITY_MAX)
    occurred_at = serializers.DateTimeField()
    trust = TextField(
        max_length=EVENT_TRUST_MAX,
        required=False,
        help_text="a federated lease only: the trust holding `asset` (the manifest's `trust`); a "
        "generated-seconds event naming another trust of the lease is forwarded to it, which meters it",
    )


class UsageCorrectionInputSerializer(serializers.Serializer):
    """The shape of a correction (licensing.corrections): its kind, asset and time are the
    original's. Zero, or the sign of what it corrects, is 422 `correction_wrong_sign`."""

    event_key = TextField(
        max_length=EVENT_KEY_MAX, help_text="the correction's own key: re-sent, counted once"
    )
    corrects = TextField(
        max_length=EVENT_KEY_MAX, help_text="the event_key of the event (or correction) it corrects"
    )
    quantity = serializers.IntegerField(
        min_value=-QUANTITY_MAX, max_value=QUANTITY_MAX, help_text="signed, never zero"
    )
    reason = TextField(max_length=500, required=False)


class SubstitutionSavingInputSerializer(serializers.Serializer):
    """The shape of a reported substitution saving (payouts/premiums.py), for the schema: an
    amount, not a quantity (a quantity other than 1 is 422 `quantity_not_allowed`)."""

    event_key = TextField(max_length=EVENT_KEY_MAX)
    kind = serializers.ChoiceField(choices=[UsageEvent.Kind.SUBSTITUTION_SAVING])
    asset = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="the asset whose digital double saved it; absent: the lease's",
    )
    amount_cents = serializers.IntegerField(
        min_value=1,
        max_value=CENTS_MAX,
        help_text="the costs the digital double saved, in cents; the premium is floor(saving x the lease's "
        "substitution_premium_bps / 10000), charged to `asset` or shared like the flat fee",
    )
    occurred_at = serializers.DateTimeField()
    trust = TextField(max_length=EVENT_TRUST_MAX, required=False, help_text="this trust's slug, if given")


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="ReportedUsageEvent",
        serializers=[
            UsageEventInputSerializer,
            SubstitutionSavingInputSerializer,
            UsageCorrectionInputSerializer,
        ],
        resource_type_field_name=None,
    )
)
class ReportedUsageEventField(serializers.DictField):
    """One event of a report: metered usage, a substitution saving (`amount_cents`), or a
    correction of a recorded event (`corrects`, a signed quantity: licensing.corrections)."""


class UsageReportSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=ReportedUsageEventField(), allow_empty=False, min_length=1, max_length=USAGE_EVENTS_MAX
    )


_USAGE_KINDS = frozenset(UsageEvent.Kind.values)
_USAGE_FIELDS = ("event_key", "kind", "quantity", "occurred_at")
# The texts an event may carry (PostgreSQL text holds no NUL character).
_USAGE_TEXTS = ("event_key", "corrects", "trust", "reason")
_INTEGRAL = re.compile(r"^\s*-?\d+(\.0*)?\s*$")


def _usage_datetime(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _usage_quantity(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGRAL.match(value):
        return int(value.strip().split(".")[0])
    return None


def _substitution_saving(raw: dict, kind, errors: dict) -> int | None:
    """A substitution saving's amount (`amount_cents`, kept as the event's quantity), with its
    errors added to `errors`: required on that kind, whole positive cents. A saving needs no
    quantity; what the schema cannot say is refused later (`_saving_rule_broken`)."""
    if kind != UsageEvent.Kind.SUBSTITUTION_SAVING:
        return None
    errors.pop("quantity", None)
    if "amount_cents" not in raw:
        errors["amount_cents"] = [ErrorDetail("This field is required.", code="required")]
        return None
    amount = _usage_quantity(raw["amount_cents"])
    if amount is None:
        errors["amount_cents"] = [ErrorDetail("A valid integer is required.", code="invalid")]
    elif amount < 1:
        errors["amount_cents"] = [
            ErrorDetail("Ensure this value is greater than or equal to 1.", code="min_value")
        ]
    elif amount > CENTS_MAX:
        message = f"Ensure this value is less than or equal to {CENTS_MAX}."
        errors["amount_cents"] = [ErrorDetail(message, code="max_value")]
    else:
        return amount
    return None


def _usage_event(raw) -> tuple[dict | None, dict | list | None]:
    """One event checked as UsageEventInputSerializer would: (values, None) or (None, errors)."""
    if raw is None:
        return None, [ErrorDetail("This field may not be null.", code="null")]
    if not isinstance(raw, dict):
        message = f"Invalid data. Expected a dictionary, but got {type(raw).__name__}."
        return None, {"non_field_errors": [ErrorDetail(message, code="invalid")]}
    errors: dict[str, list] = {}
    # PostgreSQL text holds no NUL character: refused as DRF's CharField refuses it (a 400, not
    # a database error), in every text the event carries.
    with_nul = [name for name in _USAGE_TEXTS if isinstance(raw.get(name), str) and "\x00" in raw[name]]
    # A correction (licensing.corrections) takes its kind, asset and time from the event it
    # corrects: it needs only its key, `corrects` and a signed quantity.
    corrects = raw.get("corrects")
    if corrects is not None and (
        isinstance(corrects, bool)
        or not isinstance(corrects, str | int)
        or not 0 < len(str(corrects).strip()) <= EVENT_KEY_MAX
    ):
        errors["corrects"] = [ErrorDetail("Not a valid event key.", code="invalid")]
        corrects = None
    correction = corrects is not None
    for name in ("event_key", "quantity") if correction else _USAGE_FIELDS:
        if name not in raw:
            errors[name] = [ErrorDetail("This field is required.", code="required")]
    key = raw.get("event_key")
    if "event_key" in raw:
        if isinstance(key, bool) or not isinstance(key, str | int | float):
            errors["event_key"] = [ErrorDetail("Not a valid string.", code="invalid")]
        else:
            key = str(key).strip()
            if not key:
                errors["event_key"] = [ErrorDetail("This field may not be blank.", code="blank")]
            elif len(key) > EVENT_KEY_MAX:
                message = f"Ensure this field has no more than {EVENT_KEY_MAX} characters."
                errors["event_key"] = [ErrorDetail(message, code="max_length")]
    kind = raw.get("kind")
    if "kind" in raw and not correction and (not isinstance(kind, str) or kind not in _USAGE_KINDS):
        errors["kind"] = [ErrorDetail(f'"{kind}" is not a valid choice.', code="invalid_choice")]
    asset = raw.get("asset")
    if asset is not None:
        try:
            asset = uuid.UUID(asset) if isinstance(asset, str) else None
        except ValueError:
            asset = None
        if asset is None:
            errors["asset"] = [ErrorDetail("Must be a valid UUID.", code="invalid")]
    quantity = _usage_quantity(raw.get("quantity"))
    if "quantity" in raw:
        if quantity is None:
            errors["quantity"] = [ErrorDetail("A valid integer is required.", code="invalid")]
        elif quantity < 0 and not correction:
            message = "A negative quantity is only allowed in a correction (naming the event in `corrects`)."
            errors["quantity"] = [ErrorDetail(message, code="negative_without_corrects")]
        elif quantity < 1 and not correction:
            message = "Ensure this value is greater than or equal to 1."
            errors["quantity"] = [ErrorDetail(message, code="min_value")]
        elif abs(quantity) > QUANTITY_MAX:
            message = f"Ensure this value is less than or equal to {QUANTITY_MAX}."
            errors["quantity"] = [ErrorDetail(message, code="max_value")]
    occurred_at = _usage_datetime(raw.get("occurred_at"))
    if "occurred_at" in raw and occurred_at is None and not correction:
        message = (
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        )
        errors["occurred_at"] = [ErrorDetail(message, code="invalid")]
    trust = raw.get("trust")
    if trust is not None and (not isinstance(trust, str) or len(trust) > EVENT_TRUST_MAX):
        errors["trust"] = [ErrorDetail("Not a valid trust slug.", code="invalid")]
    saving = _substitution_saving(raw, kind, errors)
    if saving is not None:
        quantity = saving
    for name in with_nul:
        errors[name] = [ErrorDetail("Null characters are not allowed.", code="null_characters_not_allowed")]
    if errors:
        return None, errors
    if correction:
        reason = raw.get("reason")
        return {
            "event_key": key,
            "corrects": str(corrects).strip(),
            "quantity": quantity,
            "reason": reason if isinstance(reason, str) else "",
        }, None
    event = {"event_key": key, "kind": kind, "quantity": quantity, "occurred_at": occurred_at}
    if asset is not None:
        event["asset"] = asset
    if trust and trust.strip():
        event["trust"] = trust.strip()
    return event, None


# What the usual event carries: `_plain_usage_event` checks it in a few steps.
_PLAIN_FIELDS = frozenset((*_USAGE_FIELDS, "asset", "trust"))
_PLAIN_KINDS = _USAGE_KINDS - {UsageEvent.Kind.SUBSTITUTION_SAVING}


def _plain_usage_event(raw, assets: dict) -> dict | None:
    """The values of an event of the usual shape (the four fields, perhaps an asset and a
    trust, each of the JSON type the schema names), or None: then `_usage_event` checks it with
    every rule and names what is wrong. For an event this takes, `_usage_event` gives the same
    values. `assets` keeps the UUIDs already parsed: a report names each asset many times."""
    if raw.__class__ is not dict or not raw.keys() <= _PLAIN_FIELDS:
        return None
    key, kind, quantity, at = (
        raw.get("event_key"),
        raw.get("kind"),
        raw.get("quantity"),
        raw.get("occurred_at"),
    )
    # Exact classes: a bool is no quantity, and a list no kind (nor hashable).
    if (key.__class__, kind.__class__, quantity.__class__, at.__class__) != (str, str, int, str):
        return None
    key = key.strip()
    if (
        not key
        or len(key) > EVENT_KEY_MAX
        or "\x00" in key
        or kind not in _PLAIN_KINDS
        or not 1 <= quantity <= QUANTITY_MAX
    ):
        return None
    try:
        occurred_at = datetime.fromisoformat(at)
    except ValueError:
        return None
    occurred_at = (
        occurred_at.replace(tzinfo=UTC) if occurred_at.tzinfo is None else occurred_at.astimezone(UTC)
    )
    event = {"event_key": key, "kind": kind, "quantity": quantity, "occurred_at": occurred_at}
    asset = raw.get("asset")
    if asset is not None:
        if asset.__class__ is not str:
            return None
        parsed = assets.get(asset)
        if parsed is None:
            try:
                parsed = assets[asset] = uuid.UUID(asset)
            except ValueError:
                return None
        event["asset"] = parsed
    trust = raw.get("trust")
    if trust is not None:
        if trust.__class__ is not str or len(trust) > EVENT_TRUST_MAX or "\x00" in trust:
            return None
        if trust.strip():
            event["trust"] = trust.strip()
    return event


def usage_events_from(data) -> list[dict]:
    """The events of a usage report body, checked in one pass with UsageReportSerializer's rules
    and its 400 shape (`errors.events[i]` names what is wrong with event i), without building a
    serializer per event: a report carries up to USAGE_EVENTS_MAX events."""
    if not isinstance(data, dict):
        message = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
        raise serializers.ValidationError({"non_field_errors": [ErrorDetail(message, code="invalid")]})
    if "events" not in data:
        required = ErrorDetail("This field is required.", code="required")
        raise serializers.ValidationError({"events": [required]})
    raw_events = data["events"]
    refusal = None
    if not isinstance(raw_events, list):
        refusal = (f'Expected a list of items but got type "{type(raw_events).__name__}".', "not_a_list")
    elif not raw_events:
        refusal = ("This list may not be empty.", "empty")
    elif len(raw_events) > USAGE_EVENTS_MAX:
        refusal = (f"Ensure this field has no more than {USAGE_EVENTS_MAX} elements.", "max_length")
    if refusal:
        message, code = refusal
        raise serializers.ValidationError({"events": {"non_field_errors": [ErrorDetail(message, code=code)]}})
    events, errors, assets = [], {}, {}
    first_broken = None  # the first event the saving rule refuses (422), once no event is a 400
    for index, raw in enumerate(raw_events):
        event = _plain_usage_event(raw, assets)
        if event is None:
            event, error = _usage_event(raw)
            if error is not None:
                errors[index] = error
            elif first_broken is None and _saving_rule_broken(raw):
                first_broken = index
        events.append(event)
    if errors:
        raise serializers.ValidationError({"events": [errors.get(index, {}) for index in range(len(events))]})
    if first_broken is not None:
        message, code = _saving_rule_broken(raw_events[first_broken])
        raise Invalid(f"events[{first_broken}]: {message}", code=code)
    return events


class UsageCorrectionReportSerializer(serializers.Serializer):
    events = UsageCorrectionInputSerializer(many=True, allow_empty=False, max_length=USAGE_EVENTS_MAX)


def usage_corrections_from(data) -> list[dict]:
    """An administrator's corrections, checked by the usage report's rules: every event must
    name the event it corrects."""
    events = usage_events_from(data)
    missing = [{} if event.get("corrects") else {"corrects": ["This field is required."]} for event in events]
    if any(missing):
        raise serializers.ValidationError({"events": missing})
    return events


def _saving_rule_broken(raw: dict) -> tuple[str, str] | None:
    """What the report's schema allows but a saving's rule refuses (422): an amount on metered
    usage, which would be ignored, or a quantity on a saving, which is one amount."""
    if raw.get("kind") != UsageEvent.Kind.SUBSTITUTION_SAVING:
        if "amount_cents" in raw:
            return "amount_cents is only for substitution_saving events", "amount_not_allowed"
        return None
    if raw.get("quantity") not in (None, 1):
        return "a substitution saving is one amount: give it as amount_cents, without a quantity", (
            "quantity_not_allowed"
        )
    return None


class UsageAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class TakedownOutputSerializer(serializers.ModelSerializer):
    trust = serializers.CharField(
        source="trust_slug", read_only=True, help_text="the trust that holds the asset and issued the notice"
    )
    asset = serializers.UUIDField(
        source="asset_ref", read_only=True, help_text="the asset's id at that trust"
    )
    kind = serializers.CharField(source="asset_kind", read_only=True)
    overdue = serializers.CharField(
        read_only=True,
        help_text="empty, or in words the step past its deadline: `acknowledgement overdue`, "
        "`deletion attestation overdue`",
    )

    class Meta:
        model = Takedown
        fields = [
            "id",
            "lease",
            "trust",
            "asset",
            "kind",
            "status",
            "issued_at",
            "acknowledge_due_at",
            "attest_due_at",
            "overdue",
            "acknowledged_at",
            "attested_at",
            "attestation",
        ]


class RelayedTakedownSerializer(serializers.Serializer):
    """A takedown notice the calling trust issued on its part of a lease of this trust."""

    home_lease_id = row_id(help_text="the lease's id at this (home) trust")
    takedown = row_id(help_text="the notice's id at the calling trust")
    asset = serializers.UUIDField(help_text="the asset's id at the calling trust")
    kind = serializers.ChoiceField(choices=Asset.Kind.choices)
    issued_at = serializers.DateTimeField(required=False, help_text="when the calling trust issued it")
    acknowledge_due_at = serializers.DateTimeField(
        required=False, help_text="the calling trust's deadline for the studio to acknowledge it"
    )
    attest_due_at = serializers.DateTimeField(
        required=False, help_text="the calling trust's deadline for the studio to attest deletion"
    )


class RelayedTakedownAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the notice's id at this trust")
    status = serializers.ChoiceField(choices=Takedown.Status.choices)


class TakedownStatusSerializer(serializers.Serializer):
    """A step the studio took at the calling (home) trust on a notice this trust issued."""

    takedown = row_id(help_text="the notice's id at this trust")
    status = serializers.ChoiceField(choices=Takedown.Status.choices)
    acknowledged_at = serializers.DateTimeField(allow_null=True, required=False)
    attested_at = serializers.DateTimeField(allow_null=True, required=False)
    attestation = TextField(max_length=5000, allow_blank=True, required=False, default="")


class AttestationSerializer(serializers.Serializer):
    statement = TextField(max_length=5000)


class RegisterEntrySerializer(serializers.Serializer):
    lease = serializers.IntegerField()
    studio = TextField()
    dataset = TextField()
    dataset_title = TextField()
    version = serializers.IntegerField()
    manifest_sha256 = TextField()
    uses = serializers.ListField(child=TextField())
    purpose = TextField()
    status = TextField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    member_count = serializers.IntegerField()
    listed_members = serializers.ListField(child=TextField())


class InboundPartSerializer(serializers.Serializer):
    home_lease_id = row_id(help_text="the lease's id at the calling (home) trust")
    terms = row_id(help_text="terms of this trust shared with the caller")
    purpose = TextField(max_length=5000)
    studio = serializers.DictField(help_text="{id, name}: the studio at the home trust")

    def validate_studio(self, value):
        if not isinstance(value.get("id"), int) or not isinstance(value.get("name"), str):
            raise serializers.ValidationError("studio is {id: integer, name: string}")
        return value


class PartAnswerSerializer(serializers.Serializer):
    lease = serializers.IntegerField(help_text="the part's lease id at the answering trust")
    status = serializers.ChoiceField(choices=LeasePart.Status.choices)
    licensable = serializers.IntegerField(allow_null=True, help_text="licensable assets at approval")
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    reason = TextField(allow_blank=True)
    prices = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="{download, generated_second}: the part's unit prices here, once approved",
    )


class PartPricesSerializer(serializers.Serializer):
    download = cents(help_text="the part's price per download at its trust")
    generated_second = cents(help_text="the part's price per generated second at its trust")


class PartDecisionSerializer(PartAnswerSerializer):
    prices = PartPricesSerializer(required=False, allow_null=True, default=None)
    home_lease_id = row_id()
    licensable = serializers.IntegerField(allow_null=True, min_value=0, max_value=COUNT_MAX, required=False)
    starts_at = serializers.DateTimeField(allow_null=True, required=False)
    ends_at = serializers.DateTimeField(allow_null=True, required=False)
    reason = TextField(allow_blank=True, max_length=5000, required=False, default="")


class PartEndSerializer(serializers.Serializer):
    home_lease_id = row_id()
    reason = TextField(allow_blank=True, max_length=2000, required=False, default="")


class InboundUsageSerializer(serializers.Serializer):
    """Usage the home trust forwards for its part here (the shape of a studio's report)."""

    home_lease_id = row_id(help_text="the lease's id at the calling (home) trust")
    events = UsageEventInputSerializer(many=True, allow_empty=False, min_length=1, max_length=1000)


class UsageRefusalSerializer(serializers.Serializer):
    event_key = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()


class InboundUsageAnswerSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    refused = UsageRefusalSerializer(many=True, help_text="events refused for good, with the reason")


class _HomeLeaseIdSerializer(serializers.Serializer):
    home_lease_id = row_id()


def home_lease_id_of(data) -> int:
    """The `home_lease_id` of a trust-to-trust body, checked (400 otherwise)."""
    serializer = _HomeLeaseIdSerializer(data=data if isinstance(data, dict) else {})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["home_lease_id"]


class DatasetVersionRefSerializer(serializers.Serializer):
    dataset = serializers.SlugField(max_length=50, help_text="the dataset's slug")
    version = serializers.IntegerField(min_value=1, max_value=COUNT_MAX, help_text="the version's number")


class TrainedModelInputSerializer(serializers.Serializer):
    name = TextField(max_length=200)
    version = TextField(max_length=100)
    purpose = TextField(max_length=5000)
    dataset_versions = DatasetVersionRefSerializer(
        many=True,
        min_length=1,
        max_length=20,
        help_text="the dataset versions the model was trained on: under a lease, its pinned version only",
    )
    training_started_on = serializers.DateField()
    training_ended_on = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="empty while training goes on"
    )


class ModelDatasetSerializer(serializers.Serializer):
    dataset = serializers.SlugField()
    title = TextField()
    version = serializers.IntegerField()
    manifest_sha256 = TextField()


class TrainedModelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lease = serializers.IntegerField(source="lease_id")
    name = TextField()
    version = TextField()
    purpose = TextField()
    dataset_versions = serializers.SerializerMethodField()
    training_started_on = serializers.DateField()
    training_ended_on = serializers.DateField(allow_null=True)
    declared_at = serializers.DateTimeField()

    @extend_schema_field(ModelDatasetSerializer(many=True))
    def get_dataset_versions(self, model):
        return [
            {
                "dataset": version.dataset.slug,
                "title": version.dataset.title,
                "version": version.number,
                "manifest_sha256": version.manifest_sha256,
            }
            for version in model.dataset_versions.all()
        ]


class RegisterModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = TextField()
    version = TextField()
    purpose = TextField()
    studio = TextField()
    lease = serializers.IntegerField()
    training_started_on = serializers.DateField()
    training_ended_on = serializers.DateField(allow_null=True)
    declared_at = serializers.DateTimeField()
    datasets = ModelDatasetSerializer(many=True)
    member_count = serializers.IntegerField(help_text="members whose data the lease held at approval")
    listed_members = serializers.ListField(
        child=TextField(), help_text="of those, the members who opted in to being named publicly"
    )
