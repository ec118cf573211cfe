"""What the puller tells its caller when the trust refuses, and the exit code of each refusal.

A refusal is the trust's answer `{"code": ..., "detail": ...}`; its code decides the class, so a
script can branch on the exit status and a notebook on the exception."""

from __future__ import annotations

# The command's exit statuses (README, "For studios" lists them); EXIT_CODES says what each means.
OK = 0
FAILED = 1
USAGE = 2
TOKEN_INVALID = 3
TOKEN_EXPIRED = 4
TOKEN_REVOKED = 5
ASSET_WITHDRAWN = 6
CAP_REACHED = 7
QUOTA = 8
UNAVAILABLE = 9
VERIFY_FAILED = 10
LEASE_NOT_ACTIVE = 11
USE_CAP_REACHED = 12

EXIT_CODES = {
    OK: "every file pulled and verified",
    FAILED: "some other failure (see the message): a bug, a file the disk would not take",
    USAGE: "wrong arguments, or no server URL or token",
    TOKEN_INVALID: "the token is unknown, for another lease, or signed by a key this trust does not know",
    TOKEN_EXPIRED: "the token or the lease has expired",
    TOKEN_REVOKED: "the token, a token it was derived from, or the lease was revoked",
    ASSET_WITHDRAWN: "consent for some assets was withdrawn: they were not pulled (the others were)",
    CAP_REACHED: "the lease's download cap is reached",
    QUOTA: "rate limited (429) past every retry",
    UNAVAILABLE: "the trust or its object store did not answer after every retry",
    VERIFY_FAILED: "a file did not match its SHA-256 after a refetch",
    LEASE_NOT_ACTIVE: "the lease is not (or not yet) active",
    USE_CAP_REACHED: "a member's or the terms' cap on a use is used up: those assets or events were refused",
}


class GuildtrustError(Exception):
    """Base of every error this package raises. `exit_code` is the command's exit status."""

    exit_code = FAILED

    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class Refused(GuildtrustError):
    """The trust refused the call. `stops_pull`: no later call with this token can succeed."""

    stops_pull = True


class TokenInvalid(Refused):
    exit_code = TOKEN_INVALID


class TokenExpired(Refused):
    exit_code = TOKEN_EXPIRED


class TokenRevoked(Refused):
    exit_code = TOKEN_REVOKED


class LeaseNotActive(Refused):
    exit_code = LEASE_NOT_ACTIVE


class AssetWithdrawn(Refused):
    """This asset only: the rest of the lease can still be pulled."""

    exit_code = ASSET_WITHDRAWN
    stops_pull = False


class CapReached(Refused):
    exit_code = CAP_REACHED


class QuotaExceeded(Refused):
    exit_code = QUOTA


class UseCapReached(Refused):
    """A cap on a use (a member's, or the terms') is used up: for a download, that asset only
    (the rest of the lease can still be pulled); for a usage report, the whole report."""

    exit_code = USE_CAP_REACHED
    stops_pull = False


class Unavailable(GuildtrustError):
    exit_code = UNAVAILABLE


class VerificationFailed(GuildtrustError):
    exit_code = VERIFY_FAILED


class UsageError(GuildtrustError):
    exit_code = USAGE


_BY_CODE: dict[str, type[Refused]] = {
    "token_invalid": TokenInvalid,
    "token_unknown_key": TokenInvalid,
    "token_not_for_this": TokenInvalid,
    "lease_not_found": TokenInvalid,
    "lease_token_required": TokenInvalid,
    "token_expired": TokenExpired,
    "lease_expired": TokenExpired,
    "token_revoked": TokenRevoked,
    "lease_revoked": TokenRevoked,
    "lease_not_active": LeaseNotActive,
    "not_licensable": AssetWithdrawn,
    "consent_withdrawn": AssetWithdrawn,
    "asset_not_found": AssetWithdrawn,
    "download_cap_reached": CapReached,
    "quota_exceeded": UseCapReached,
}

_BY_STATUS: dict[int, type[Refused]] = {401: TokenInvalid, 410: TokenExpired, 429: QuotaExceeded}


def refusal(status: int, body: object) -> Refused:
    """The exception for a trust's refusal, from its status and `{"code", "detail"}` body."""
    code, detail = "", ""
    if isinstance(body, dict):
        code = str(body.get("code") or "")
        detail = str(body.get("detail") or "")
    kind = _BY_CODE.get(code) or _BY_STATUS.get(status) or Refused
    message = detail or f"the trust answered {status}"
    return kind(f"{message} ({code or status})", code=code, status=status)
