from trust.errors import NotFound


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
