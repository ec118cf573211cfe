from rest_framework import serializers

from trust.api.validation import TextField

from ..models import Peer


class PublicKeySerializer(serializers.Serializer):
    kid = TextField()
    alg = TextField()
    key = TextField(help_text="the raw Ed25519 public key, hex")


class WellKnownSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = TextField()
    currency = TextField()
    api = serializers.URLField()
    public_keys = PublicKeySerializer(many=True)


class PeerAddSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=300, help_text="the peer's base URL")
    # Not trimmed here: a value of only spaces is the service's 422 `invalid_fingerprint`, as any
    # other text that is not 64 hex characters (schema-valid input is never a 400).
    fingerprint = TextField(
        max_length=80,
        trim_whitespace=False,
        help_text="SHA-256 of the peer's public key, hex, from its administrator",
    )


class PeerOutputSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=Peer.State.choices, read_only=True)
    public_keys = PublicKeySerializer(many=True, read_only=True)

    class Meta:
        model = Peer
        fields = [
            "id",
            "slug",
            "name",
            "currency",
            "base_url",
            "api_url",
            "fingerprint",
            "public_keys",
            "state",
            "added_by_us_at",
            "added_by_them_at",
            "suspended_by_us_at",
            "suspended_by_them_at",
        ]


class HelloSerializer(serializers.Serializer):
    base_url = serializers.URLField(max_length=300)


class HelloAnswerSerializer(serializers.Serializer):
    added_you = serializers.BooleanField(help_text="whether this trust's administrator has added the caller")


class SuspensionSerializer(serializers.Serializer):
    suspended = serializers.BooleanField()
