"""Settings, all read from the environment in this one module.

Every variable is documented in the README's configuration table. With none
set, the site runs on embedded defaults: SQLite under var/, an in-process
task broker, an SQLite FTS5 search index under var/ and SMTP to localhost:25.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def load_secret_key() -> str:
    """The SECRET_KEY variable, or a key generated once into var/secret_key."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        # O_EXCL: when two processes start at once, one key wins for both.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = load_secret_key()
DEBUG = env_bool("DEBUG")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", f"localhost,127.0.0.1,{urlsplit(SITE_URL).hostname}")
CSRF_TRUSTED_ORIGINS = [SITE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "haystack",
    "lists",
    "members",
    "messages",
    "archive",
    "bounces",
    "api",
    "mailman_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "mailman_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mailman_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "mailman_site.wsgi.application"


# Database: DATABASE_URL, or SQLite under var/.
def database_from_url(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # WAL lets readers go on while one writer commits; IMMEDIATE takes
            # the write lock at BEGIN, so concurrent writers wait (up to the
            # timeout) instead of failing with "database is locked" mid-way.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # Tests get a file too: an in-memory database is shared between threads
        # with table locks, unlike the WAL file the site runs on.
        config["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # Only messages.prepared's cursors prepare (Django's own never do):
        # at first use, or never behind a pooler that cannot keep them.
        prepared = os.environ.get("DATABASE_PREPARED_STATEMENTS", "on") != "off"
        config.setdefault("OPTIONS", {})["prepare_threshold"] = 0 if prepared else None
    return config


DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Task broker: BROKER_URL (redis://... or amqp://...); empty means the
# in-process broker used by the all-in-one command.
BROKER_URL = os.environ.get("BROKER_URL", "")


# Cache (rate limits, allauth's login counters): CACHE_URL redis://...; empty
# means each process counts on its own, which is right for one process only.
def cache_from_url(url: str) -> dict:
    scheme = urlsplit(url).scheme
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if scheme in {"redis", "rediss"}:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    raise ValueError(f"CACHE_URL: unknown scheme {scheme!r} (use redis:// or leave it empty)")


CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {"default": cache_from_url(CACHE_URL)}


# Search: SEARCH_URL, sqlite:///path or fts5:///path (default
# var/search.sqlite3: SQLite FTS5 in a file of its own, archive.fts5_backend,
# embedded), whoosh:///path (archive.whoosh_backend, embedded, slower) or
# elasticsearch://host:port/index (haystack's Elasticsearch 7 backend).
def haystack_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme in {"sqlite", "fts5"}:
        return {
            "ENGINE": "archive.fts5_backend.Fts5Engine",
            "PATH": unquote(parts.path) or str(VAR_DIR / "search.sqlite3"),
        }
    if parts.scheme == "whoosh":
        return {
            "ENGINE": "archive.whoosh_backend.ArchiveWhooshEngine",
            "PATH": unquote(parts.path) or str(VAR_DIR / "whoosh"),
        }
    if parts.scheme in {"elasticsearch", "elasticsearchs"}:
        scheme = "https" if parts.scheme.endswith("s") else "http"
        return {
            "ENGINE": "haystack.backends.elasticsearch7_backend.Elasticsearch7SearchEngine",
            "URL": f"{scheme}://{parts.netloc}/",
            "INDEX_NAME": parts.path.strip("/") or "mailman",
        }
    raise ValueError(f"SEARCH_URL: unknown scheme {parts.scheme!r} (use sqlite://, whoosh:// or elasticsearch://)")


SEARCH_URL = os.environ.get("SEARCH_URL") or f"sqlite://{VAR_DIR / 'search.sqlite3'}"
HAYSTACK_CONNECTIONS = {"default": haystack_from_url(SEARCH_URL)}
# Archived messages are indexed by a worker after commit, never in the
# request or the mail path (archive.search_indexing).
HAYSTACK_SIGNAL_PROCESSOR = "archive.search_indexing.IndexOnCommit"


# Outgoing mail: SMTP_URL, smtp://[user:password@]host[:port], smtps:// for
# implicit TLS, smtp+starttls:// for STARTTLS.
def smtp_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps", "smtp+starttls"}:
        raise ValueError(f"SMTP_URL: unknown scheme {parts.scheme!r} (use smtp://, smtps:// or smtp+starttls://)")
    return {
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtps" else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": parts.scheme == "smtps",
        "EMAIL_USE_TLS": parts.scheme == "smtp+starttls",
    }


SMTP_URL = os.environ.get("SMTP_URL", "smtp://localhost:25")
globals().update(smtp_from_url(SMTP_URL))
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", f"mailman@{urlsplit(SITE_URL).hostname}")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

SITE_ID = 1
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "members.accounts.AccountAdapter"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = urlsplit(SITE_URL).scheme or "http"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# collectstatic fills it for production; whitenoise wants it to exist.
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the apps' folders too, so the site works before
# (and without) collectstatic.
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "api.authentication.OAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.permissions.ScopeAllowsMethod",
    ],
    # JSON in and out: the docs page at /api/v3/docs/ is the API's web interface.
    "DEFAULT_PARSER_CLASSES": ["api.input.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "api.input.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "api.errors.json_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Mailing list server API",
    "DESCRIPTION": (
        "Domains, mailing lists, members and addresses. Authenticate with an API key "
        "(`Authorization: Api-Key <key>`), an OAuth 2 bearer token from /o/token/ or a session. "
        'Errors are JSON: `{"message": "...", "errors": {"field": ["..."]}}`.'
    ),
    "VERSION": "3.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v3",
    # Request and response bodies as separate components, so write-only and
    # read-only fields are described where they apply.
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page loads Swagger UI from drf-spectacular-sidecar, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "OAUTH2_FLOWS": ["authorizationCode", "clientCredentials"],
    "OAUTH2_AUTHORIZATION_URL": "/o/authorize/",
    "OAUTH2_TOKEN_URL": "/o/token/",
    "SWAGGER_UI_OAUTH2_CONFIG": {"usePkceWithAuthorizationCodeGrant": True},
    # Several settings share these choices; one name each in the schema.
    "ENUM_NAME_OVERRIDES": {"ActionEnum": "lists.models.Action"},
}

OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "SCOPES": {"read": "Read lists and members", "write": "Change lists and members"},
    "DEFAULT_SCOPES": ["read"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# The mail path.
# LMTP receiver (manage.py runlmtp, runall); 8024 is Mailman's port, so MTA
# set-ups carry over.
LMTP_HOST = os.environ.get("LMTP_HOST", "127.0.0.1")
LMTP_PORT = int(os.environ.get("LMTP_PORT", "8024"))
# The site's size limit for one incoming message (bytes); larger gets 552 5.3.4.
MAX_MESSAGE_SIZE = int(os.environ.get("MAX_MESSAGE_SIZE", str(40 * 1024 * 1024)))
# Outgoing delivery: recipients per SMTP transaction in bulk mode, and
# recipients per delivery batch (one broker message, one claim).
MAX_RECIPIENTS_PER_TRANSACTION = int(os.environ.get("MAX_RECIPIENTS_PER_TRANSACTION", "500"))
DELIVERY_BATCH_SIZE = int(os.environ.get("DELIVERY_BATCH_SIZE", "1000"))
# A worker's claim on a batch lasts this long (seconds) and is renewed while
# it sends; a batch whose worker died is taken over when its claim runs out.
DELIVERY_CLAIM_SECONDS = int(os.environ.get("DELIVERY_CLAIM_SECONDS", "300"))
# Waits (seconds) before each retry of temporarily failed recipients; the last
# one repeats. After DELIVERY_MAX_AGE seconds they are given up as permanent.
DELIVERY_RETRY_DELAYS = [int(s) for s in env_list("DELIVERY_RETRY_DELAYS", "60,300,1800,7200,21600")]
DELIVERY_MAX_AGE = int(os.environ.get("DELIVERY_MAX_AGE", str(3 * 24 * 3600)))
# The sweeper (manage.py sweep) re-sends the broker message of work left
# untouched this long (seconds), and runs every SWEEP_INTERVAL seconds with --loop.
SWEEP_GRACE_SECONDS = int(os.environ.get("SWEEP_GRACE_SECONDS", "60"))
SWEEP_INTERVAL = int(os.environ.get("SWEEP_INTERVAL", "30"))
# MTA maps: "postfix" regenerates them under MTA_MAPS_DIR whenever lists change.
MTA_MAPS = os.environ.get("MTA_MAPS", "")
MTA_MAPS_DIR = os.environ.get("MTA_MAPS_DIR", str(VAR_DIR / "mta"))

# Moderation: notices to the sender of a held post, at most this many a day
# per sender and list (Mailman's max_autoresponses_per_day); the daily
# summaries to moderators go out from this hour (UTC).
MODERATION_MAX_HOLD_NOTICES_PER_DAY = int(os.environ.get("MODERATION_MAX_HOLD_NOTICES_PER_DAY", "10"))
MODERATION_SUMMARY_HOUR = int(os.environ.get("MODERATION_SUMMARY_HOUR", "8"))

# Content filtering.
# spamd: "" checks nothing with spamd; "tcp://127.0.0.1:783" or
# "unix:///run/spamd.sock". A post is checked once, within SPAMD_TIMEOUT
# seconds; when spamd is down or slow, SPAMD_DOWN_ACTION ("hold" or
# "accept") decides, never a wait without end. Larger posts than
# SPAMD_MAX_SIZE bytes are not sent to it (spamc's limit).
SPAMD_URL = os.environ.get("SPAMD_URL", "")
SPAMD_TIMEOUT = float(os.environ.get("SPAMD_TIMEOUT", "10"))
SPAMD_DOWN_ACTION = os.environ.get("SPAMD_DOWN_ACTION", "accept")
SPAMD_MAX_SIZE = int(os.environ.get("SPAMD_MAX_SIZE", str(500 * 1024)))
# Trust X-Spam-Status / X-Spam-Score added by the site's own MTA.
TRUST_MTA_SPAM_HEADERS = env_bool("TRUST_MTA_SPAM_HEADERS")

# DMARC, DKIM and ARC.
# DNS servers ("host" or "host:port") for DMARC lookups; empty: the system's.
DNS_RESOLVERS = env_list("DNS_RESOLVERS", "")
DNS_TIMEOUT = float(os.environ.get("DNS_TIMEOUT", "3"))
DMARC_CACHE_SECONDS = int(os.environ.get("DMARC_CACHE_SECONDS", "3600"))
# Sign outgoing list mail with DKIM (and seal with ARC) when a key is set:
# a PEM file; the signing domain is the list's, unless DKIM_DOMAIN is set.
DKIM_PRIVATE_KEY_FILE = os.environ.get("DKIM_PRIVATE_KEY_FILE", "")
DKIM_SELECTOR = os.environ.get("DKIM_SELECTOR", "mailman")
DKIM_DOMAIN = os.environ.get("DKIM_DOMAIN", "")
ARC_SEAL = env_bool("ARC_SEAL")
# The authserv-id of this site's Authentication-Results (RFC 8601), for ARC.
AUTHSERV_ID = os.environ.get("AUTHSERV_ID", urlsplit(SITE_URL).hostname or "localhost")
