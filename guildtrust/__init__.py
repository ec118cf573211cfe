"""guildtrust: pull a lease's assets from a Guildtrust and report their use.

    import guildtrust
    lease = guildtrust.open_lease("https://trust.example", token)   # an lt_ or ft_ lease token
    lease.manifest["assets"][:3]
    lease.download("data/")                                         # resumable, verified
    for chunk in lease.stream(lease.assets[0]): ...                 # verified at the end

The command line (`guildtrust pull|report|manifest|tokens`) is this same API. Nothing here
imports the server: only requests and tqdm."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AssetWithdrawn,
    CapReached,
    GuildtrustError,
    QuotaExceeded,
    Refused,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    Unavailable,
    UseCapReached,
    VerificationFailed,
)
from .lease import Lease, PullSummary, open_lease  # noqa: E402

__all__ = [
    "AssetWithdrawn",
    "CapReached",
    "GuildtrustError",
    "Lease",
    "PullSummary",
    "QuotaExceeded",
    "Refused",
    "TokenExpired",
    "TokenInvalid",
    "TokenRevoked",
    "Unavailable",
    "UseCapReached",
    "VerificationFailed",
    "open_lease",
]
