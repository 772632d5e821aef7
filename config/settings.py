"""Settings, read from the environment (names in docs/ARCHITECTURE.md "External names").

The defaults are the embedded ones ``make run`` uses: SQLite and the console SMS backend; the
Makefile adds ``DEBUG=1`` and eager Celery tasks. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY``, ``DEBUG=0``, ``ALLOWED_HOSTS``, ``PUBLIC_BASE_URL`` and ``SMS_BACKEND=twilio``;
``manage.py check --deploy`` (and the start of gunicorn, a worker or beat) refuses the unsafe
defaults (``ops/checks.py``). Every variable read here is listed in ``.env.example``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The default is public: ``check --deploy`` and production start refuse it (ops/checks.py).
SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # The search indexes (GIN, pg_trgm operator classes) and full-text search: core/search.py.
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "phonenumber_field",
    "interactions",
    "messaging",
    "workflows",
    "integrations",
    "ops",
]

MIDDLEWARE = [
    "core.tracing.RequestIdMiddleware",  # first: every later log line of the request carries its id
    "config.middleware.HealthCheckMiddleware",  # answers /healthz* and /metrics before host checks and redirects
    # HTTP request counts and latencies by view and method (django-prometheus): /metrics and /healthz are not counted.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "ops.middleware.WebhookLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.input_guard.InputGuardMiddleware",  # NUL, lone surrogates, over-deep JSON: 400 before any view
    "config.throttling.RateLimitHeadersMiddleware",  # the API limit in every API response's headers
    "config.middleware.ReadYourWritesMiddleware",  # with a replica: who just wrote reads the primary
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "integrations.context_processors.webhook_alerts",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# A PostgreSQL streaming replica (docs/SCALE.md "A read replica"): reads that may lag — the inbox,
# the searches, API lists, exports, the metrics scrape — go there (core/replica.py, config/db_router.py);
# writes and every other read stay on the primary. Unset (make run, the tests): one database.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
DATABASE_ROUTERS: list[str] = []
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # a test run uses the primary's test database
    DATABASE_ROUTERS.append("config.db_router.ReplicaRouter")
# Whoever wrote (a browser session, an API key) reads the primary this long afterwards, so they see
# their own change: a few seconds longer than the replica usually lags (config.middleware.ReadYourWritesMiddleware).
READ_YOUR_WRITES_SECONDS = env.float("READ_YOUR_WRITES_SECONDS", default=5.0)
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=4)
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
DB_PREPARE_THRESHOLD = 5  # psycopg's own default; Django's is None (never prepare)


def _database_options(database: dict[str, Any]) -> None:
    """Connection options of one database alias (the primary and the replica alike)."""
    database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # ``make run``: parallel requests (the panel's polling, an API burst, the periodic runner)
        # wait for the writer instead of failing with "database is locked". WAL lets readers go on
        # while one request writes; IMMEDIATE takes the write lock when a transaction starts, so two
        # transactions never both read and then deadlock upgrading to write (SQLite would not wait then).
        database.setdefault("OPTIONS", {}).update(
            {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
            }
        )
        return
    # --- PostgreSQL connection pool ------------------------------------------------
    # Each process keeps a psycopg pool of at most DB_POOL_MAX_SIZE connections; a thread borrows one
    # for a request or task and gives it back at the end. Size it to the process's threads (gunicorn
    # --threads, the worker's --concurrency): README "Deploy" adds it up against max_connections.
    # The pool replaces persistent connections, so Django requires CONN_MAX_AGE=0 with it.
    # SQLite keeps its own options; DB_POOL_MAX_SIZE=0 turns the pool off (CONN_MAX_AGE applies).
    if DB_POOL_MAX_SIZE > 0:
        database["CONN_MAX_AGE"] = 0
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            # A thread that waits longer than this for a free connection fails its request or task.
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    # PostgreSQL plans a statement it has prepared once per connection instead of on every run:
    # Django's documented ``server_side_binding`` (values sent apart from the SQL, which psycopg needs
    # to prepare) and psycopg's ``prepare_threshold`` (a statement run this many times on a
    # connection is prepared; Django passes OPTIONS on to psycopg). Planning the send's joins cost
    # more of the database's CPU than running them (bench/README.md). DB_PREPARED_STATEMENTS=0 turns
    # both off, Django's defaults (client-side binding, nothing prepared), for a pooler that can't
    # carry prepared statements (PgBouncer < 1.21 in transaction mode, or without max_prepared_statements).
    if DB_PREPARED_STATEMENTS:
        database.setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": DB_PREPARE_THRESHOLD}
        )


for _database in DATABASES.values():
    _database_options(_database)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes) -----------------------------------------------------------
# Wrong passwords are counted per username and client address (AXES_FAILURE_LIMIT in a row locks
# that pair out for AXES_COOLOFF_MINUTES; a right password resets the count). API tokens are not
# passwords and are not counted. The client address is REMOTE_ADDR: behind a proxy, set
# AXES_IPWARE_PROXY_COUNT to the number of proxies so X-Forwarded-For is read, and never trusted otherwise.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
MIDDLEWARE += ["django_prometheus.middleware.PrometheusAfterMiddleware"]  # last: it sees the final response
AUTHENTICATION_BACKENDS = ["config.lockout.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "config.lockout.throttled_username"
# Lockouts are lifted with `manage.py axes_reset_username <name>` (or `axes_reset`), not in the admin.
AXES_ENABLE_ADMIN = False
# Behind our proxy (TRUSTED_PROXY=1, as compose sets) the client is X-Forwarded-For's last hop.
AXES_IPWARE_PROXY_COUNT = env.int(
    "AXES_IPWARE_PROXY_COUNT", default=1 if env.bool("TRUSTED_PROXY", default=False) else None
)
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
AXES_VERBOSE = False
# axes' own defaults, named here because config/lockout.py reads them.
AXES_HTTP_RESPONSE_CODE = 429
AXES_USERNAME_FORM_FIELD = "username"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env("STATICFILES_BACKEND", default="whitenoise.storage.CompressedManifestStaticFilesStorage")
    },
}

# --- Pictures (MMS) -------------------------------------------------------------------------
# Stored through Django's storage API (messaging.services.media): the file system under MEDIA_ROOT
# by default (``make run``), an S3-compatible bucket through django-storages with MEDIA_STORAGE=s3.
# Never served from MEDIA_URL: every picture goes through a view that checks who asks
# (messaging/views/media.py), so there is no public media URL to configure.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_STORAGE = env("MEDIA_STORAGE", default="filesystem")
if MEDIA_STORAGE not in {"filesystem", "s3"}:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be 'filesystem' or 's3', not {MEDIA_STORAGE!r}")
if MEDIA_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default="") or None,  # MinIO, R2, Spaces…; empty: AWS
            "region_name": env("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env("AWS_ACCESS_KEY_ID", default="") or None,  # empty: the instance's role
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default="") or None,
            "default_acl": None,  # the bucket's own (private) policy; nothing is public
            "file_overwrite": False,
            "location": env("AWS_S3_LOCATION", default=""),  # a prefix inside the bucket
        },
    }
# How long the signed picture links given to Twilio with a text stay valid (Twilio fetches at once
# and again on its own retries).
MEDIA_LINK_MAX_AGE_SECONDS = env.int("MEDIA_LINK_MAX_AGE_SECONDS", default=3600)
# Received pictures: Twilio answers a MediaUrl by redirecting to its content store; only these
# https hosts are followed (the first request goes only to the Twilio API's own host).
TWILIO_MEDIA_REDIRECT_HOSTS = env.list(
    "TWILIO_MEDIA_REDIRECT_HOSTS", default=["media.twiliocdn.com", "s3-external-1.amazonaws.com"]
)

# --- Security: production values unless DEBUG -------------------------------------------
# Served over HTTPS (a production PUBLIC_BASE_URL): secure cookies, redirect plain HTTP, HSTS.
# ``make run`` (DEBUG=1, http://) gets none of these. Each can still be set on its own.
HTTPS = not DEBUG and PUBLIC_BASE_URL.startswith("https://")
# TRUSTED_PROXY=1: a reverse proxy of ours (compose's `proxy`) is the only way in, so its
# X-Forwarded-Proto says whether the client used HTTPS and its X-Forwarded-For who the client is
# (the API throttle's address). Off by default: a client reaching gunicorn directly could spoof
# both, and a proxy that sends no X-Forwarded-Proto would make the HTTPS redirect loop forever.
TRUSTED_PROXY = env.bool("TRUSTED_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY else None
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# Twilio does not follow a redirect of its POSTs; its webhooks are signed over PUBLIC_BASE_URL anyway.
SECURE_REDIRECT_EXEMPT = [r"^webhooks/twilio/"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every answer, make run's included: scripts and styles come
# only from our own static files, so an injected <script>, an inline event handler (onclick=…),
# javascript: URL, eval or injected <style>/style="…" does not run. No page carries inline script or
# style: htmx's own indicator <style> is off (base.html's htmx-config, the rules are in app.css) and
# its hx-trigger filters, which need eval, are replaced by app.js; the API docs use drf-spectacular's
# split view (no inline script). ``img-src data:`` is for the inline SVG favicon. README "Security".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
# Off unless set: a send must never run inside a web request in production. `make run` and the
# test settings turn it on (no broker, no worker there).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes every database connection before and after each task unless this
# is set (a new PostgreSQL connection per text: bench/ measured it as the worker's largest cost).
# config/celery.py applies Django's own rule instead (CONN_MAX_AGE, health checks, broken connections).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1_000_000)
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# An unacknowledged task (its worker died) is delivered again after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TIMEZONE = "UTC"
# Outbound webhooks on their own queue and workers (compose's `webhooks` service): a slow or dead
# integrator's receiver fills only that queue, never the one texts are sent from.
CELERY_TASK_ROUTES = {
    "integrations.tasks.deliver_webhook": {"queue": "webhooks"},
    "integrations.tasks.drain_webhook_outbox": {"queue": "webhooks"},
}
# The queues only webhooks workers consume. A worker that consumes nothing else lowers its own CPU
# priority to this niceness when it starts (config/celery.py), so on a host it shares with text
# workers, PostgreSQL and Redis, making and attempting deliveries never takes CPU a send is waiting
# for; its idle threads cost nothing anyway. 0 keeps the normal priority.
WEBHOOKS_QUEUES = frozenset({"webhooks"})
WEBHOOKS_WORKER_NICE = env.int("WEBHOOKS_WORKER_NICE", default=10)
CELERY_BEAT_SCHEDULE = {
    "release-scheduled-messages": {"task": "messaging.tasks.release_scheduled", "schedule": timedelta(seconds=30)},
    "requeue-stuck-messages": {"task": "messaging.tasks.requeue_stuck", "schedule": timedelta(minutes=1)},
    "reconcile-stuck-messages": {"task": "messaging.tasks.reconcile_stuck", "schedule": timedelta(minutes=1)},
    "materialise-workflow-steps": {"task": "workflows.tasks.materialise_workflows", "schedule": crontab(minute="*")},
    "deliver-due-webhooks": {"task": "integrations.tasks.deliver_due_webhooks", "schedule": timedelta(seconds=30)},
    # Webhook attempts, finished deliveries and events older than WEBHOOK_RETENTION_DAYS go, in batches.
    "purge-webhook-history": {"task": "integrations.tasks.purge_webhook_history", "schedule": crontab(minute=41)},
    # Texts are partitioned by month on PostgreSQL: this month's and the next three exist ahead of
    # their texts (messaging/partitions.py); a text no partition takes lands in DEFAULT (/metrics).
    "text-partitions-ahead": {"task": "messaging.tasks.text_partitions_ahead", "schedule": crontab(hour=2, minute=17)},
    "purge-idempotency-keys": {"task": "messaging.tasks.purge_idempotency_keys", "schedule": crontab(minute=17)},
    # Line-type lookups that failed (or were never made) are tried again.
    "retry-line-type-lookups": {
        "task": "messaging.tasks.lookup_line_types_pending",
        "schedule": crontab(minute="*/15"),
    },
    # Beat publishes it, a worker runs it: its age says the schedule is being published and run.
    "beat-heartbeat": {
        "task": "ops.tasks.beat_heartbeat",
        "schedule": timedelta(seconds=env.float("BEAT_HEARTBEAT_SECONDS", default=30.0)),
    },
    # What only grows, purged once a day (HOUSEKEEPING_PURGES below): old texts, sign-in records, heartbeats.
    "housekeeping": {"task": "ops.tasks.housekeeping", "schedule": crontab(hour=3, minute=41)},
    # The outbox's totals for /metrics, counted once for the cluster instead of at every scrape.
    "outbox-tally": {
        "task": "ops.tasks.outbox_tally",
        "schedule": timedelta(seconds=env.float("OUTBOX_TALLY_SECONDS", default=60.0)),
    },
}
# --- Retention and housekeeping (README "Retention") ---------------------------------------------
# Texts older than this many days are written to MESSAGE_RETENTION_EXPORT_DIR (gzipped JSON Lines),
# then deleted, by the daily housekeeping task (messaging/services/retention.py). 0: kept for ever.
MESSAGE_RETENTION_DAYS = env.int("MESSAGE_RETENTION_DAYS", default=0)
MESSAGE_RETENTION_EXPORT_DIR = env.path("MESSAGE_RETENTION_EXPORT_DIR", default=BASE_DIR / "exports" / "retention")
# django-axes' sign-in records (failures, and their lockout counters once the lockout is over).
LOGIN_ATTEMPT_RETENTION_DAYS = env.int("LOGIN_ATTEMPT_RETENTION_DAYS", default=90)
# Heartbeats of jobs that stopped recording (renamed or removed); the beat's own is never purged.
HEARTBEAT_RETENTION_DAYS = env.int("HEARTBEAT_RETENTION_DAYS", default=30)
# The daily purges, each ``f(*, now) -> rows removed``: an app with rows that only grow adds its own
# here. Webhook history (purge-webhook-history) and API Idempotency-Keys (purge-idempotency-keys)
# have their own hourly tasks above.
HOUSEKEEPING_PURGES = [
    "messaging.services.retention.messages_retention_purge",
    "ops.services.login_attempts_purge",
    "ops.services.heartbeats_purge",
]
# Readiness and the beat container's health check call the heartbeat late after this long.
BEAT_HEARTBEAT_MAX_AGE = env.float("BEAT_HEARTBEAT_MAX_AGE", default=120.0)
# Workers log through LOGGING below (JSON in production, with the request id), not Celery's format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Outbound webhooks (integrations/) -------------------------------------------------------
# Development and tests only: lets webhooks go to http:// and to private or loopback addresses
# (a receiver on 127.0.0.1). Leave it unset in production: both are refused there (SSRF).
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
# The CA certificates deliveries trust (a file); empty: certifi's bundle, the one requests uses.
WEBHOOKS_CA_BUNDLE = env("WEBHOOKS_CA_BUNDLE", default="")
# How a webhook host's name becomes addresses (resolved once a delivery; integrations/destinations.py).
# A dotted path to ``(host, port) -> [address, ...]``; tests point it at a resolver they script.
WEBHOOKS_RESOLVER = "integrations.destinations.system_resolver"
WEBHOOKS_TIMEOUT = (5.0, 10.0)  # seconds to connect, to wait for the answer
# How long the delivery log (every attempt), finished deliveries and their events are kept.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)

# --- Messaging ----------------------------------------------------------------------------
SMS_BACKEND = env("SMS_BACKEND", default="console")
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", default="")
# A provider call slower than this is abandoned; the message becomes needs_reconciliation.
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
SMS_RATE_PER_SENDER = env.float("SMS_RATE_PER_SENDER", default=1.0)  # messages per second per sender
SMS_STUCK_AFTER_SECONDS = env.int("SMS_STUCK_AFTER_SECONDS", default=300)
# A row left in `sending` this long (its worker died) is reconciled against the provider.
SMS_SENDING_STUCK_AFTER_SECONDS = env.int("SMS_SENDING_STUCK_AFTER_SECONDS", default=120)
# How long a worker waits for the sender's rate limit before handing the text back to the queue.
SMS_THROTTLE_MAX_WAIT = env.float("SMS_THROTTLE_MAX_WAIT", default=2.0)
# Extra spacing between two sends of one sender, so network jitter never puts rate+1 in one second.
SMS_THROTTLE_GUARD_SECONDS = env.float("SMS_THROTTLE_GUARD_SECONDS", default=0.05)
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=6)
# Lookup cost setting: each line-type lookup is a paid Twilio Lookup request. Off: no lookups, no
# cost, and numbers are only marked not textable by carrier errors.
LINE_TYPE_LOOKUP = env.bool("LINE_TYPE_LOOKUP", default=True)
# A stored line type older than this is looked up again before the next text to the number.
LINE_TYPE_MAX_AGE_DAYS = env.int("LINE_TYPE_MAX_AGE_DAYS", default=180)
# Unreachable (30003) this many times, the first and last at least this many days apart: not textable.
UNREACHABLE_MARK_AFTER_FAILURES = env.int("UNREACHABLE_MARK_AFTER_FAILURES", default=3)
UNREACHABLE_MARK_AFTER_DAYS = env.int("UNREACHABLE_MARK_AFTER_DAYS", default=2)
# Refuse texts from facilities whose sender registration is not recorded or still pending (off:
# only "failed" and "unregistered" refuse, so an upgrade does not stop every send at once).
SENDER_REGISTRATION_REQUIRED = env.bool("SENDER_REGISTRATION_REQUIRED", default=False)
# A number nobody confirmed (and that never replied) for this long: the card suggests re-confirming it.
NUMBER_RECONFIRM_AFTER_DAYS = env.int("NUMBER_RECONFIRM_AFTER_DAYS", default=365)
# Tests and benchmarks only: lift the statutes' texting windows (messaging/compliance/engine.py) so
# wall-clock sends work at any hour. The organization's own window and every cap still apply.
TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = env.bool("TEXTING_LAW_WINDOWS_OFF_FOR_TESTS", default=False)
PHONENUMBER_DEFAULT_REGION = "US"
PHONENUMBER_DB_FORMAT = "E164"

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Cursor pages on every list (core.api.SyncPagination); ``?page=N`` still works, deprecated.
    "DEFAULT_PAGINATION_CLASS": "core.api.SyncPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.KnownQueryParameters",
        "django_filters.rest_framework.DjangoFilterBackend",
        "core.api.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.api_errors.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env("API_RATE_LIMIT", default="600/min")},
    # The client's address for anonymous throttling: X-Forwarded-For's last hop only behind our proxy.
    "NUM_PROXIES": 1 if TRUSTED_PROXY else 0,
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Textdesk API",
    "DESCRIPTION": "Leads, customers, phone numbers, text consent, templates, messages and tasks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "PhoneNumberSourceEnum": "interactions.models.PhoneNumber.Source",
        "ConsentSourceEnum": "interactions.models.ConsentEvent.Source",
        "ConsentStatusEnum": "interactions.models.Consent.Status",
        "ConsentActionEnum": "interactions.models.ConsentEvent.Action",
        "LeadStatusEnum": "interactions.models.Lead.Status",
        "CustomerStatusEnum": "interactions.serializers.CUSTOMER_STATUSES",
        "MessageStatusEnum": "messaging.models.Message.Status",
    },
}

# --- Shared state: cache in Redis ----------------------------------------------
# Anything cached, the API rate limit included, must be shared by every process and container,
# so the cache lives in Redis whenever REDIS_URL is set. `make run` (no Redis) sets
# CACHE_BACKEND=locmem: one process, nothing to share.
CACHE_BACKEND = env("CACHE_BACKEND", default="redis" if env.str("REDIS_URL", default="") else "locmem")
if CACHE_BACKEND == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("CACHE_REDIS_URL", default=REDIS_URL),
            "KEY_PREFIX": "textdesk",
            # A down Redis must not hang requests: fail fast (the throttle then lets requests through).
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Logs and metrics ----------------------------------------------------------
# JSON lines in production (one object per line, for a log shipper), plain text with DEBUG
# (`make run`); times in ISO 8601 with their zone (core/logs.py). Every line carries the request
# id (core/tracing.py) that follows a text from the request through its Celery task to the
# provider SID and the status callbacks.
LOG_FORMAT = env("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.tracing.RequestIdLogFilter"}},
    "formatters": {
        "plain": {
            "()": "core.logs.ZonedTimeFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {
            "()": "core.logs.JsonLogFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Celery's "Task … succeeded" line for every task run: kept in production (JSON, with the request
    # id), quiet with ``make run``, where the periodic runner would bury the printed texts under them.
    "loggers": {"celery.app.trace": {"level": env("TASK_LOG_LEVEL", default="WARNING" if DEBUG else "INFO")}},
}
# /metrics (Prometheus) answers only a request with "Authorization: Bearer <METRICS_TOKEN>";
# without a token set it does not exist (404). See ops/metrics.py for what it counts and how.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Checks whose refusal a deployment deliberately accepts (e.g. a loopback benchmark).
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
