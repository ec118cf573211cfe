"""Domain errors with a stable `code`; the API's exception handler maps each to its status."""


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class Unauthorized(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class Locked(DomainError):
    """The object is held until someone acts on it (a lease's tokens suspended until the studio
    attests an overdue takedown)."""

    status = 423
    code = "locked"


class BodyTooLarge(DomainError):
    status = 413
    code = "body_too_large"


class Invalid(DomainError):
    status = 422
    code = "invalid"


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"


class BadGateway(DomainError):
    """Another service this one depends on (a peer trust) did not answer, or answered nonsense."""

    status = 502
    code = "bad_gateway"


class ServiceUnavailable(DomainError):
    """A service the request needs (the task queue, object storage, the sign-in counts) cannot be
    reached right now. Nothing was recorded: the same request can be sent again later."""

    status = 503
    code = "service_unavailable"
