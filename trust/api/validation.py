from rest_framework import serializers

from trust.errors import NotFound

# Bounds on numbers in request bodies, so no input can overflow a database column (a 500).
# A unit price times one event's quantity stays inside a 64-bit column: 10^10 x 10^8 < 2^63.
ROW_ID_MAX = 2**63 - 1
CENTS_MAX = 10**10
QUANTITY_MAX = 10**8
COUNT_MAX = 2**31 - 1
OBJECT_SIZE_MAX = 5 * 1024**4  # S3's largest object, 5 TiB


class TextField(serializers.CharField):
    """A string field that takes only JSON strings: DRF's CharField would turn a number into
    its text, accepting input the schema calls invalid. Every API text field is one of these."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def row_id(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=ROW_ID_MAX, **kwargs)


def cents(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(**{"min_value": 0, "max_value": CENTS_MAX, **kwargs})


def validated(serializer_class, request) -> dict:
    """The request body checked against an input serializer; a 400 with every error otherwise."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def found(queryset, pk, *, what: str):
    """The row with this primary key, or a 404 `<what>_not_found` ("no such <what>")."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"no such {what.replace('_', ' ')}", code=f"{what}_not_found")
    return obj
