def validated(serializer_class, request) -> dict:
    """The request body checked against an input serializer; a 400 with every error otherwise."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
