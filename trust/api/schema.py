"""The OpenAPI schema's one home for what can go wrong: every operation documents each error
status it can answer, with the `{"code", "detail"}` shape, and the links that let a client (and
schemathesis's stateful tests) go from a created object to the calls that use it.

Most statuses follow from how a view is built: a login or token it checks (401, 403), a path
parameter (404), a body or query parameters (400; a body also 413 and 415), a list page (400
`bad_page_size`, 404 `page_not_found`), a throttle (429), and whatever its authenticators say
they refuse with (`refusal_statuses`, e.g. 410 for the token of an ended lease). What only the
services know (409 conflicts, 422 rule refusals, ...) a handler declares with `@errors(...)`."""

import re

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny
from rest_framework.serializers import CharField, ListSerializer

from .serializers import BadRequestSerializer, ErrorSerializer

MEANINGS = {
    400: "Bad input: a malformed body or query parameter (`errors` says which field and why).",
    401: "A missing, malformed, unknown, expired or revoked token, or no session.",
    403: "The caller, or the kind of credential sent, has no right to this call.",
    404: "Nothing the caller may see is here.",
    409: "The object's state conflicts with the call.",
    410: "The lease has ended or was revoked.",
    413: "The request body is larger than the API accepts (`body_too_large`).",
    415: "The body's media type is not one this call reads.",
    423: "The lease's tokens are suspended (`tokens_suspended`): a takedown notice passed its "
    "attestation deadline; they work again once the studio attests deletion.",
    422: "Well-formed input that the trust's rules refuse.",
    429: "Too many attempts: wait before trying again (see `Retry-After`).",
    503: "A service the call needs (queue, object storage, sign-in counts) is unreachable; nothing recorded.",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}
NO_NUL = "^[^\\u0000]*$"


def errors(*statuses: int):
    """Declare the error statuses a handler's services can answer beyond those its shape implies."""
    unknown = set(statuses) - set(MEANINGS)
    if unknown:
        raise ValueError(f"no documented meaning for {sorted(unknown)}")

    def mark(handler):
        handler.documented_errors = frozenset(statuses) | getattr(handler, "documented_errors", frozenset())
        return handler

    return mark


def links(status: int, **targets: tuple[str, dict]):
    """OpenAPI links from a response: `name=(operationId, {parameter: runtime expression})`."""

    def mark(handler):
        handler.response_links = {**getattr(handler, "response_links", {}), status: targets}
        return handler

    return mark


class GuildtrustAutoSchema(AutoSchema):
    def _handler(self):
        return getattr(self.view, self.method.lower(), None)

    def error_statuses(self) -> set[int]:
        statuses = set(getattr(self._handler(), "documented_errors", ()))
        authenticators = self.view.get_authenticators()
        open_to_anyone = any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if authenticators:
            statuses.add(401)  # a malformed or unknown bearer token is refused on any call that reads one
            for authenticator in authenticators:
                statuses.update(getattr(authenticator, "refusal_statuses", ()))
        if not open_to_anyone:
            statuses.update({401, 403})
        if re.search(r"{\w+}", self.path):
            statuses.add(404)
        if self.method in BODY_METHODS and self.get_request_serializer() is not None:
            statuses.update({400, 413, 415})
        if self.get_override_parameters():
            statuses.add(400)
        if self.method == "GET" and self._is_list_view() and self._get_paginator():
            statuses.update({400, 404})
        if getattr(self.view, "throttle_scope", None):
            statuses.add(429)
        return statuses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # drf-spectacular leaves a nested list's bounds out; a client should see them.
        if isinstance(field, ListSerializer) and schema.get("type") == "array":
            minimum = max(field.min_length or 0, 0 if field.allow_empty else 1)
            if minimum:
                schema["minItems"] = minimum
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        # DRF refuses NUL in every CharField (400): the schema says so where nothing else does.
        plain_text = (
            schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
            and not any(isinstance(v, RegexValidator) for v in getattr(field, "validators", ()))
        )
        if direction == "request" and isinstance(field, CharField) and plain_text:
            schema["pattern"] = NO_NUL
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in sorted(self.error_statuses()):
            if str(status) not in responses:
                shape = BadRequestSerializer if status == 400 else ErrorSerializer
                error = OpenApiResponse(response=shape, description=MEANINGS[status])
                responses[str(status)] = self._get_response_for_code(error, str(status))
        return responses

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return operation
        for status, targets in getattr(self._handler(), "response_links", {}).items():
            response = operation["responses"][str(status)]
            response["links"] = {
                name: {"operationId": operation_id, "parameters": parameters}
                for name, (operation_id, parameters) in targets.items()
            }
        return operation
