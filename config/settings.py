"""The one settings module. Everything comes from the environment; with nothing set, the
embedded default runs: SQLite and the local object store under var/, Celery tasks in-process."""

from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("GUILDTRUST_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

# The embedded default: no DATABASE_URL, so SQLite, the local store and eager tasks under var/.
EMBEDDED_DEFAULT = "DATABASE_URL" not in env.ENVIRON

DEBUG = env.bool("DEBUG", default=False)
# From the environment, and strong, or startup stops (config/secret_key.py); the embedded
# default alone generates its own into var/secret_key on first run.
if env.str("SECRET_KEY", default="") or not EMBEDDED_DEFAULT:
    SECRET_KEY = secret_key.checked(env.str("SECRET_KEY", default=""), source="SECRET_KEY")
else:
    SECRET_KEY = secret_key.embedded_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The trust's apps come first so their templates (the portal's registration pages) win over admin's.
INSTALLED_APPS = [
    "trust",
    "licensing",
    "payouts",
    "federation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_celery_beat",
    "django_filters",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.PermissionsPolicyMiddleware",
    # Early, so an oversized body is refused before anything reads it (the headers above still
    # go on the refusal).
    "config.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "trust.api.errors.MethodNotAllowedFirstMiddleware",
    # A service the request needed was unreachable: 503 with what happened (trust/middleware.py).
    "trust.middleware.ServiceUnavailableMiddleware",
    # Last: turns a sign-in refused for too many failures into trust.signin.locked_out_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trust.portal.portal_context",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'guildtrust.sqlite3'}"),
}


def _server_database(database: dict) -> dict:
    """A PostgreSQL (or other server) database's connection settings, the primary's and the
    read replica's alike."""
    database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.postgresql":
        # Its health check polls the socket instead of asking SELECT 1 (config/postgresql/base.py).
        database["ENGINE"] = "config.postgresql"
    # Statements run through trust.db.prepared_cursor (the gateway's) are prepared on the server
    # after this many runs on a connection; Django's own cursors bind on the client and are never
    # prepared. Off (DB_PREPARED_STATEMENTS=off) behind a pooler that cannot keep them
    # (PgBouncer in transaction mode before 1.21): Django's default turns preparing off for all.
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        database.setdefault("OPTIONS", {})["prepare_threshold"] = 5
    return database


if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # so any manage.py command works on a fresh clone
    # Wait for a writer instead of failing at once: runserver threads and eager tasks share the file.
    # IMMEDIATE: a transaction takes the write lock when it begins, so two requests that read then
    # write queue for the lock instead of one failing with "database is locked" when it upgrades.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
else:
    _server_database(DATABASES["default"])
    # Named after the database, so test runs against different databases never share one.
    test_name = f"test_{DATABASES['default']['NAME']}"
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=test_name)}
# A streaming replica of the primary for the read-only pages trust.db.replica_reads() marks
# (a member's earnings, leases and statements); unset, everything reads the primary.
if env.str("DATABASE_REPLICA_URL", default=""):
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL is a replica of a PostgreSQL DATABASE_URL")
    DATABASES["replica"] = _server_database(env.db("DATABASE_REPLICA_URL"))
    # A replica that stops answering is left for the primary within a few seconds, not a minute.
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_REPLICA_CONNECT_TIMEOUT", default=2)
    )
    # Test databases are made on the primary; the replica's would be its copy.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["trust.db.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The client address is REMOTE_ADDR unless this many reverse proxies (that append to
# X-Forwarded-For) stand in front of the app: with 0 the header is ignored, since anyone can send it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# HTTPS: on by default outside the embedded default (`manage.py check --deploy` has nothing to
# say there); HTTPS=off for a plain-HTTP deployment behind nothing. The embedded default is
# plain HTTP on 127.0.0.1.
HTTPS = env.bool("HTTPS", default=not EMBEDDED_DEFAULT)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP to the pod
SESSION_COOKIE_SECURE = HTTPS
# Browsers send a host's cookies to every port on it: two trusts served on one host (make
# federation) each name their session cookie, or signing in at one signs out of the other.
SESSION_COOKIE_NAME = env.str("SESSION_COOKIE_NAME", default="sessionid")
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=365 * 24 * 3600) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env.bool("HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = HTTPS and env.bool("HSTS_PRELOAD", default=True)
if TRUSTED_PROXY_COUNT:
    # The proxies terminate TLS and say so; without trusted proxies the header is anyone's to send.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts, styles, fonts and fetches from our own origin
# only; no inline script, no inline style, no plugins, no framing, forms post only to us.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Swagger UI's icons are data: URLs in its stylesheet
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Permissions-Policy (config.middleware): browser features no page uses, off for every page.
PERMISSIONS_POLICY_OFF = [
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "usb",
]

# The largest request body (config.middleware.BodySizeLimitMiddleware): above it, 413
# `body_too_large` before anything parses it. A usage report of 10,000 events with 200-character
# event keys is about 3.6 MB (4.1 MB indented); 16 MiB leaves room to spare
# (tests/deploy/test_body_limit.py measures it).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=16 * 1024**2)
# What Django itself reads into memory (request.body, form fields): the same bound.
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# The embedded store's signed upload URLs stream to disk under their own limit.
BODY_LIMIT_EXEMPT_PREFIXES = ("/storage/local/",)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
# WhiteNoise serves the portal's CSS and JS under runserver and gunicorn alike, straight from the
# apps' static/ folders, so neither `make run` nor a test server needs collectstatic.
WHITENOISE_USE_FINDERS = True
if not STATIC_ROOT.exists():
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # empty until `collectstatic`; WhiteNoise wants it

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal-landing"
LOGOUT_REDIRECT_URL = "public-home"
# Password reset mail: printed to the console unless EMAIL_URL names a real server (smtp://...).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="trust@guildtrust.invalid")
# The login page lists the demo logins only on the embedded default, where seed_demo made them.
SHOW_DEMO_LOGINS = env.bool("SHOW_DEMO_LOGINS", default="DATABASE_URL" not in env.ENVIRON)

REDIS_URL = env.str("REDIS_URL", default="")

# With Redis down (trust/cache.py) the default cache reads as empty and pages keep working, while
# signing in is refused (503) because failed sign-ins cannot be counted. A request waits at most
# a second for an unreachable Redis.
_REDIS_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "trust.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": _REDIS_OPTIONS,
        },
        # Failed sign-ins, shared by every web process.
        "login_failures": {
            "BACKEND": "trust.cache.SignInCountsCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": _REDIS_OPTIONS,
            "KEY_PREFIX": "login-failures",
        },
    }
else:
    _LOCAL = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    CACHES = {"default": _LOCAL, "login_failures": {**_LOCAL, "KEY_PREFIX": "login-failures"}}

# Password guessing (django-axes): after LOGIN_FAILURE_LIMIT failures for one account, or from
# one address, sign-ins are refused (429) for LOGIN_LOCKOUT_MINUTES, on the page and the API.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "login_failures"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.int("LOGIN_LOCKOUT_MINUTES", default=15) / 60  # hours
AXES_CLIENT_IP_CALLABLE = "trust.signin.client_address"
AXES_LOCKOUT_CALLABLE = "trust.signin.locked_out_response"
AXES_ENABLE_ADMIN = False  # the counts live in the cache, not in axes' tables
if not REDIS_URL:
    # The embedded default is one process: its local-memory cache is the shared cache.
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]

# Celery: Redis when REDIS_URL is set; otherwise tasks run in-process (embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker died (acks_late) goes back to its queue after this many seconds unacked;
# longer than any one task runs (a close batch takes seconds), or it would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Copied into django-celery-beat's tables when beat starts; administrators can retune it there.
CELERY_BEAT_SCHEDULE = {
    "expire-ended-leases": {"task": "licensing.tasks.expire_leases", "schedule": 300.0},
    # Leases with a takedown notice past its attestation deadline: their tokens are suspended.
    "suspend-overdue-leases": {"task": "licensing.tasks.suspend_overdue_leases", "schedule": 300.0},
    # Assets whose capture consent was withdrawn or whose retention ended: destroyed, verified.
    "destroy-due-assets": {"task": "trust.tasks.destroy_due_assets", "schedule": 86400.0},
    # usage_event's month partitions, made ahead (PostgreSQL only; a no-op on SQLite).
    "make-usage-partitions": {"task": "licensing.tasks.make_usage_partitions", "schedule": 86400.0},
    "fetch-peer-offers": {"task": "licensing.tasks.fetch_peer_offers", "schedule": 60.0},
    # Pull windows that ended: their rows only ever answer "billed already?" inside the window.
    "prune-pull-windows": {"task": "licensing.tasks.prune_pull_windows", "schedule": 3600.0},
    # Revoked federated tokens pulled from each home trust (the push may not have arrived):
    # FEDERATION.md's bound is 5 s everywhere.
    "pull-federated-revocations": {"task": "licensing.tasks.pull_revocations", "schedule": 2.0},
    # A close whose next step's message was lost is re-sent after CLOSE_STALL_SECONDS idle.
    "resend-stalled-closes": {"task": "payouts.tasks.resend_stalled_closes", "schedule": 120.0},
    # Federated lease parts, decisions, endings and takedown notices a peer did not take yet
    # (each idempotent); every FEDERATION_RESEND_SECONDS.
    "resend-federated-lease-messages": {
        "task": "licensing.tasks.resend_federated_lease_messages",
        "schedule": float(env.int("FEDERATION_RESEND_SECONDS", default=60)),
    },
    # Settlements of federated leases still awaiting a peer, or never started (payouts.settlements).
    "resend-settlements": {"task": "payouts.tasks.resend_settlements", "schedule": 300.0},
    # Overdue balances of members who cannot be paid into the unclaimed pool, and pool balances
    # past their release date redistributed (payouts.unclaimed); daily.
    "unclaimed-royalties": {"task": "payouts.tasks.unclaimed_royalties", "schedule": 86400.0},
    # The ledger proved from its first entry (the reconciliation page proves it from the latest
    # close's checkpoint on each view, and shows this run's result); daily.
    "prove-ledger-in-full": {"task": "payouts.tasks.prove_ledger_in_full", "schedule": 86400.0},
}
CELERY_TIMEZONE = "UTC"

# Object storage: any S3 API when S3_BUCKET is set; otherwise a directory under var/objects/.
S3_BUCKET = env.str("S3_BUCKET", default="")
S3_ENDPOINT_URL = env.str("S3_ENDPOINT_URL", default="") or None
S3_REGION = env.str("S3_REGION", default="us-east-1")
S3_ACCESS_KEY_ID = env.str("S3_ACCESS_KEY_ID", default="") or None
S3_SECRET_ACCESS_KEY = env.str("S3_SECRET_ACCESS_KEY", default="") or None
S3_SSE = env.str("S3_SSE", default="AES256")
LOCAL_OBJECT_ROOT = Path(env.str("LOCAL_OBJECT_ROOT", default=str(VAR_DIR / "objects")))
# Where the local store's signed URLs point; the gateway's own host when empty.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}")

# The trust's rules of money and access.
TRUST_CURRENCY = env.str("TRUST_CURRENCY", default="USD")
TRUST_DEFAULT_ADMIN_FEE_BPS = env.int("TRUST_DEFAULT_ADMIN_FEE_BPS", default=1000)
TRUST_DEFAULT_PENSION_BPS = env.int("TRUST_DEFAULT_PENSION_BPS", default=500)
if not (
    TRUST_DEFAULT_ADMIN_FEE_BPS >= 0
    and TRUST_DEFAULT_PENSION_BPS >= 0
    and TRUST_DEFAULT_ADMIN_FEE_BPS + TRUST_DEFAULT_PENSION_BPS <= 10000
):
    raise ImproperlyConfigured(
        "TRUST_DEFAULT_ADMIN_FEE_BPS and TRUST_DEFAULT_PENSION_BPS must not be negative and must "
        "together be at most 10000 basis points (100%)"
    )
TRUST_MINIMUM_PAYOUT_CENTS = env.int("TRUST_MINIMUM_PAYOUT_CENTS", default=2500)
# Unclaimed royalties (payouts.unclaimed): a member who cannot be paid (no bank details, or
# marked untraceable) keeps accruing; what stays owed longer than the hold period moves to the
# unclaimed pool, claimable for the claim window after the move, then redistributed.
UNCLAIMED_HOLD_DAYS = env.int("UNCLAIMED_HOLD_DAYS", default=3 * 365)
UNCLAIMED_CLAIM_WINDOW_DAYS = env.int("UNCLAIMED_CLAIM_WINDOW_DAYS", default=2 * 365)
# Days a studio has to pay an invoice when none of its leases' terms sets its own payment days.
INVOICE_PAYMENT_DAYS = env.int("INVOICE_PAYMENT_DAYS", default=30)
# A period close posts its leases in batches, one Celery task each (any number of workers take
# them): at most this many leases, or this many metered charge rows, per batch.
PERIOD_CLOSE_BATCH_LEASES = env.int("PERIOD_CLOSE_BATCH_LEASES", default=100)
PERIOD_CLOSE_BATCH_CHARGES = env.int("PERIOD_CLOSE_BATCH_CHARGES", default=50_000)
# A closing period that has not moved for this long (no step running, none finished) has its
# next step re-sent by beat: longer than any one step takes.
CLOSE_STALL_SECONDS = env.int("CLOSE_STALL_SECONDS", default=600)
# The account payouts are sent from, named in the pain.001 credit transfer file.
TRUST_NAME = env.str("TRUST_NAME", default="Guildtrust Performers Data Trust")
TRUST_IBAN = env.str("TRUST_IBAN", default="DE89370400440532013000")
TRUST_BIC = env.str("TRUST_BIC", default="COBADEFFXXX")
# Days a studio has to attest deletion after a takedown notice is issued; past half of them the
# administrator's overview lists the notice. The default of new lease terms'
# `takedown_attest_days` (each lease keeps its terms' copy); past it the lease's tokens are
# suspended (`suspend-overdue-leases`) until the studio attests.
TAKEDOWN_DEADLINE_DAYS = env.int("TAKEDOWN_DEADLINE_DAYS", default=30)
# Days a studio has to acknowledge a notice: the default of new terms' `takedown_acknowledge_days`.
TAKEDOWN_ACKNOWLEDGE_DAYS = env.int("TAKEDOWN_ACKNOWLEDGE_DAYS", default=7)
# Retention: how long after a lease ends (expires or is revoked) the studio may still hold what
# it downloaded under it. A consent withdrawn within it sends a takedown notice to that ended
# lease for every withdrawn asset it downloaded.
TAKEDOWN_RETENTION_DAYS = env.int("TAKEDOWN_RETENTION_DAYS", default=30)
# Federation (FEDERATION.md): this trust's slug among its peers, and its Ed25519 signing keys
# (trust.keys: hex seeds, comma-separated, the signing one first). Never in code or the
# database: from the environment, or generated once into var/ on the embedded default.
TRUST_SLUG = env.str("TRUST_SLUG", default="guildtrust")
# Peers' shared offers are fetched every minute (beat); older than this they are labelled stale.
FEDERATION_OFFERS_STALE_SECONDS = env.int("FEDERATION_OFFERS_STALE_SECONDS", default=300)
TRUST_SIGNING_KEY = env.str("TRUST_SIGNING_KEY", default="")
if not TRUST_SIGNING_KEY:
    if "DATABASE_URL" in env.ENVIRON:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "TRUST_SIGNING_KEY is not set: outside the embedded default the trust's Ed25519 key "
            "comes from the environment (32 random bytes in hex: `openssl rand -hex 32`)"
        )
    _key_file = VAR_DIR / "signing_key"
    if not _key_file.exists():
        import secrets as _secrets

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        _key_file.touch(mode=0o600)
        _key_file.write_text(_secrets.token_hex(32))
    TRUST_SIGNING_KEY = _key_file.read_text().strip()
# The version of the trust's consent terms in force: stamped on each consent text published
# (trust.models.ConsentText), and hashed with it.
TRUST_CONSENT_TERMS_VERSION = env.str("TRUST_CONSENT_TERMS_VERSION", default="2026-1")
# The law consent records are kept under, named in every consent receipt (ISO/IEC 27560
# `jurisdiction`): an ISO 3166 country code, optionally with the instrument.
TRUST_JURISDICTION = env.str("TRUST_JURISDICTION", default="DE (GDPR)")
USER_TOKEN_LIFETIME_HOURS = env.int("USER_TOKEN_LIFETIME_HOURS", default=24)
LEASE_TOKEN_DEFAULT_DAYS = env.int("LEASE_TOKEN_DEFAULT_DAYS", default=7)
# A presigned download URL lives at most this long, so a withdrawal reaches every studio's
# links within it (the member's withdrawal page states the bound from this setting).
DOWNLOAD_URL_SECONDS = env.int("DOWNLOAD_URL_SECONDS", default=60)
# The pull window: one download per asset per token is billed (and counted against the cap)
# within this many seconds of the last billed one; a URL refresh or resume inside it is free. 0: off.
PULL_WINDOW_SECONDS = env.int("PULL_WINDOW_SECONDS", default=24 * 3600)
# How long a process believes the object store reachable after it last answered, so a download
# does not ask it (a HEAD) every time; any call that finds it unreachable ends this at once.
STORAGE_REACHABLE_SECONDS = env.float("STORAGE_REACHABLE_SECONDS", default=1.0)
UPLOAD_URL_SECONDS = env.int("UPLOAD_URL_SECONDS", default=3600)
# Above this size an upload is multipart: one presigned URL per part (S3 parts are 5 MiB at least).
MULTIPART_THRESHOLD_BYTES = env.int("MULTIPART_THRESHOLD_BYTES", default=100 * 1024**2)
MULTIPART_PART_BYTES = env.int("MULTIPART_PART_BYTES", default=64 * 1024**2)
# C2PA provenance (licensing/provenance.py): the trust's signing chain (PEM: its signing
# certificate first, then intermediates) and private key (PEM), as file paths. Unset on the
# embedded default: a local chain, named as not trusted, is generated under var/c2pa/; unset
# elsewhere: the `.c2pa` sidecars answer 503. README, "C2PA provenance", says how to install one.
C2PA_SIGNING_CERT = env.str("C2PA_SIGNING_CERT", default="")
C2PA_SIGNING_KEY = env.str("C2PA_SIGNING_KEY", default="")
# The key's algorithm as c2pa names it (es256, es384, es512, ps256, ed25519...).
C2PA_SIGNING_ALG = env.str("C2PA_SIGNING_ALG", default="es256")
# An RFC 3161 time-stamp authority, so a signature stays valid after the certificate expires.
C2PA_TSA_URL = env.str("C2PA_TSA_URL", default="")
# A signed sidecar is kept this long in the cache, under a hash of everything it states.
C2PA_CACHE_SECONDS = env.int("C2PA_CACHE_SECONDS", default=24 * 3600)

REST_FRAMEWORK = {
    # People's calls take a `ut_` token or a session; the lease-data calls say so and take `lt_`
    # (licensing.api.views). A token of the other kind is refused with 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trust.api.auth.UserTokenAuthentication",
        "licensing.api.auth.LeaseTokenNotAccepted",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API reads JSON bodies only (nested shapes have no form encoding); others are a 415.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "trust.api.schema.GuildtrustAutoSchema",
    "EXCEPTION_HANDLER": "trust.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "trust.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Password guessing at the token endpoint is slowed per client address (counted in the cache).
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"auth": env.str("AUTH_TOKEN_RATE", default="30/min")},
    # The throttle's client address follows the same rule as trust.signin.client_address.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Guildtrust API",
    "DESCRIPTION": (
        "Union data trust: consented member data leased to studios, royalties metered and paid.\n\n"
        f"A request body may be at most {API_MAX_BODY_BYTES} bytes (`API_MAX_BODY_BYTES`; "
        "16 MiB unless the trust set another, room for a usage report of 10,000 events): a larger "
        'one is refused with 413 `{"code": "body_too_large", "detail": ...}` before it is read.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids (`v1_leases_retrieve`, which the schema's links name) stay as they are whatever
    # other paths (/.well-known/) the schema shows.
    "SCHEMA_PATH_PREFIX": r"/api",
    # The credentials a call accepts; the refusers of the other kind of token are no scheme.
    "AUTHENTICATION_WHITELIST": [
        "trust.api.auth.UserTokenAuthentication",
        "licensing.api.auth.LeaseTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "federation.api.auth.PeerCallAuthentication",
    ],
    # config.urls.RowIdConverter: a row id in a path, documented as the integer it is.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}},
    "ENUM_NAME_OVERRIDES": {
        "AssetKindEnum": "trust.models.Asset.Kind",
        "AssetStatusEnum": "trust.models.Asset.Status",
        "UsageKindEnum": "licensing.models.UsageEvent.Kind",
        "LeaseStatusEnum": "licensing.models.Lease.Status",
        "LeasePartStatusEnum": "licensing.models.LeasePart.Status",
        "TokenStateEnum": "trust.tokens.TokenState",
        "TakedownStatusEnum": "licensing.models.Takedown.Status",
        "PeriodStatusEnum": "payouts.models.Period.Status",
        "ConsentUseEnum": "trust.consent.Use",
        # The uses a lease may permit (every use but capture): terms, and vendor tokens narrowing them.
        "PermittedUsesEnum": "trust.consent.LICENSABLE_USES",
        "ContributionStatusEnum": "trust.models.AssetContributor.Status",
        "ConsentAuthorityEnum": "trust.models.Authority",
        "PayoutBatchStateEnum": "payouts.models.PayoutBatch.State",
    },
}

# django-filter: an unset choice filter reads "Any" rather than a row of dashes.
FILTERS_EMPTY_CHOICE_LABEL = "Any"

# --- Operations (issue 10): probes, metrics, structured logs. Kept in one block. -------------
# /metrics answers only a scraper sending `Authorization: Bearer $METRICS_TOKEN`; unset: 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# First: every request gets its id and its timing, whatever answers it.
MIDDLEWARE = ["config.logs.RequestIdMiddleware", "config.metrics.RequestMetricsMiddleware", *MIDDLEWARE]
# One JSON object per line on stderr (structlog), with the request id; see config/logs.py.
from config.logs import configure_structlog, logging_config  # noqa: E402

LOGGING = logging_config(env.str("LOG_LEVEL", default="INFO"))
configure_structlog()
