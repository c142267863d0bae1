"""Django settings for the reading center.

Everything that differs between a laptop, CI and production comes from the environment
(see ``readingcenter.env``); the defaults are the demo's, on this machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from csp.constants import NONCE, NONE, SELF

from readingcenter.env import (
    database_from_url,
    env,
    env_bool,
    env_float,
    env_int,
    orthanc_index_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("READINGCENTER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
# The demo key is only good for a demo; production sets DJANGO_SECRET_KEY(_FILE).
SECRET_KEY = env("DJANGO_SECRET_KEY", "demo-only-insecure-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = [
    h for h in (env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost") or "").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in (env("DJANGO_CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000") or "").split(",") if o
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.postgres",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "procrastinate.contrib.django",
    # Our apps in the order a study flows through them, lowest layer first (tests/architecture
    # holds the imports to it); hooks subscribed in ready() run in this order too.
    "readingcenter.accounts",
    "readingcenter.hospitals",
    "readingcenter.audit",
    "readingcenter.pacs",
    "readingcenter.studies",
    "readingcenter.hl7intake",
    "readingcenter.priors",
    "triage",
    "readingcenter.worklist",
    "readingcenter.viewer",
    "readingcenter.reports",
    "readingcenter.delivery",
    "readingcenter.critical",
    "readingcenter.followups",
    "readingcenter.quality",
    "readingcenter.sla",
    "readingcenter.analytics",
    "readingcenter.ops",
    "readingcenter.portal",
    "readingcenter.demo",  # the demo's loaders and commands: an entry point, last
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (cookie, then Accept-Language) for everyone; a signed-in user's
    # own choice replaces it once the user is known (UserLanguageMiddleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "readingcenter.accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "readingcenter.accounts.middleware.UserTimezoneMiddleware",
    "readingcenter.accounts.middleware.UserLanguageMiddleware",
    "readingcenter.accounts.middleware.IdleSessionMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "readingcenter.urls"
ASGI_APPLICATION = "readingcenter.asgi.application"
WSGI_APPLICATION = None

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
            ],
            # Every page writes moments one way, with an unambiguous zone: {{ x|when }}.
            "builtins": ["readingcenter.accounts.templatetags.moments"],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/readingcenter")
    )
}
# The test database is named after this checkout, so that two clones on one machine (a
# developer's tree and a CI run) never drop each other's test database.
_CHECKOUT = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]
DATABASES["default"]["TEST"] = {
    "NAME": env("DATABASE_TEST_NAME") or f"test_{DATABASES['default']['NAME']}_{_CHECKOUT}"
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Content-Security-Policy on every page: scripts only from us (the few inline ones carry the
# response's nonce), no plugins, no framing except by our own pages (the viewer sets its own),
# forms post only to us. Inline style attributes stay allowed: our templates use them, and
# style cannot run code. Swagger UI and ReDoc (API docs) are left to their own defaults.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/", "/api/redoc/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    },
}

# Served over HTTPS (DJANGO_HTTPS=true, behind a TLS-terminating front that sets
# X-Forwarded-Proto): redirect plain HTTP, secure cookies, and HSTS for a year. Off for the
# demo, which runs on plain http://127.0.0.1.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the front's health checks speak plain HTTP
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preload asks browsers to use HTTPS for the domain before the first visit: a clinical
    # system is HTTPS-only for good. DJANGO_HSTS_PRELOAD=false for a domain that is not.
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# The second factor (TOTP, django-otp): always for radiologists, managers and administrators,
# for a hospital user who turns it on. The issuer names us in the user's authenticator app.
SECOND_FACTOR_ISSUER = env("SECOND_FACTOR_ISSUER", "Reading center")
OTP_TOTP_ISSUER = SECOND_FACTOR_ISSUER
# No growing delay after a wrong code: the lockout (below) bounds guessing more strictly,
# and the delay would make an honest second try fail with the same "not right" message.
OTP_TOTP_THROTTLE_FACTOR = 0

# API tokens (accounts.services.api_token_create) live at most this long.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 730)

# Lockout (accounts.services): this many failed sign-ins for a username within the window
# lock it for SIGN_IN_LOCK_MINUTES; a manager can unlock it in the admin.
SIGN_IN_MAX_FAILURES = env_int("SIGN_IN_MAX_FAILURES", 5)
SIGN_IN_FAILURE_WINDOW_MINUTES = env_int("SIGN_IN_FAILURE_WINDOW_MINUTES", 15)
SIGN_IN_LOCK_MINUTES = env_int("SIGN_IN_LOCK_MINUTES", 15)

# An idle session ends after this long: use pushes the expiry on (accounts.middleware,
# at most once a minute, so that a viewer's hundreds of frame requests write nothing).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30) * 60

# Stored in UTC, shown in the user's zone (accounts.User.time_zone, see the middleware).
USE_TZ = True
TIME_ZONE = "UTC"
# The interface in English, Korean and Simplified Chinese: the catalogues live in locale/ and
# are compiled by `make setup` (compilemessages); a user's choice is accounts.User.language.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어"), ("zh-hans", "简体中文")]
# Ours first (they win), then what setup adds there: Django REST framework's Korean (ko_KR) as ko.
LOCALE_PATHS = [BASE_DIR / "locale", VAR_DIR / "locale"]
USE_I18N = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env("CHANNELS_PREFIX", "readingcenter")},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated call then gets 401 with WWW-Authenticate, not 403.
        "readingcenter.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "readingcenter.accounts.authentication.TokenScopes",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "readingcenter.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Reading center API",
    "DESCRIPTION": (
        "Hospitals post orders and read their studies; managers onboard hospitals. "
        "Authenticate with a session (signed in with the second factor) or "
        "`Authorization: Token <key>`: a token expires, can be revoked, and holds scopes "
        "(orders:write, portal:read, critical:acknowledge, reading, management); a call "
        "outside its scopes gets 403 `token_scope`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two models have a "state" field each: name their enums apart.
    "ENUM_NAME_OVERRIDES": {
        "CriticalResultStateEnum": "readingcenter.critical.models.State",
        # Users, hospitals, reports, templates and macros choose from the same languages.
        "LanguageEnum": LANGUAGES,
        "CaseStateEnum": "readingcenter.worklist.models.CaseState",
        "ReportKindEnum": "readingcenter.reports.models.ReportKind",
        "AssignmentDecisionKindEnum": "readingcenter.worklist.models.AssignmentDecision.Kind",
        "ModelVersionStateEnum": "triage.models.VersionState",
    },
}

PROCRASTINATE_AUTODISCOVER_MODULE_NAME = "jobs"

# Orthanc, the DICOM front door. Only readingcenter.pacs.orthanc talks to it.
ORTHANC_URL = env("ORTHANC_URL", "http://127.0.0.1:8043")
# Other Orthanc nodes on the same index, tried in turn when ORTHANC_URL cannot be reached.
ORTHANC_FALLBACK_URLS = [
    u.strip() for u in (env("ORTHANC_FALLBACK_URLS") or "").split(",") if u.strip()
]
ORTHANC_USERNAME = env("ORTHANC_USERNAME", "readingcenter")
ORTHANC_PASSWORD = env("ORTHANC_PASSWORD", "demo-orthanc-password")
ORTHANC_TIMEOUT = env_float("ORTHANC_TIMEOUT", 10.0)
ORTHANC_AET = env("ORTHANC_AET", "READINGCENTER")
ORTHANC_DICOM_PORT = env_int("ORTHANC_DICOM_PORT", 4242)
# The HL7 v2 listener (MLLP) where hospitals send orders and ADT updates.
HL7_LISTENER_HOST = env("HL7_LISTENER_HOST", "127.0.0.1")
HL7_LISTENER_PORT = env_int("HL7_LISTENER_PORT", 2576)
ORTHANC_STABLE_AGE = env_int("ORTHANC_STABLE_AGE", 5)
# Orthanc's own index: a PostgreSQL database beside ours (DATABASE_URL's server, the name
# with "_orthanc" added) through the orthanc-postgresql plugin, so that several Orthanc nodes
# can share it; "sqlite" keeps a file index under var/orthanc (one node only).
ORTHANC_INDEX_URL = env("ORTHANC_INDEX_URL") or orthanc_index_url(DATABASES["default"])

# The follower: how often it polls /changes when idle, how much it takes per transaction,
# and how often it sweeps for studies whose StableStudy event Orthanc lost.
INGEST_POLL_INTERVAL = env_float("INGEST_POLL_INTERVAL", 0.1)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 200)
INGEST_SWEEP_INTERVAL = env_float("INGEST_SWEEP_INTERVAL", 30.0)
# A follower behind the change log completes the studies Orthanc calls stable ahead of its
# cursor (readingcenter/studies/ingest.py, "Completing ahead"); off, it applies strictly in order.
INGEST_COMPLETE_AHEAD = env_bool("INGEST_COMPLETE_AHEAD", True)
# How long after completing a study the sweep still checks it for files another Orthanc node
# added after the completion (a node of a cluster that died before its StableStudy).
INGEST_RECHECK_WINDOW = env_float("INGEST_RECHECK_WINDOW", 600.0)

# AI triage model packages: the ones shipped with the project, then a folder where operators
# drop new ones (loaded by the next triage job, no restart).
TRIAGE_MODEL_DIRS = [
    str(BASE_DIR / "triage" / "packages"),
    env("TRIAGE_MODEL_DIR", str(VAR_DIR / "models")),
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "procrastinate": {"level": env("PROCRASTINATE_LOG_LEVEL", "WARNING")},
        # highdicom narrates every SR it builds at INFO.
        "highdicom": {"level": "WARNING"},
        # pynetdicom narrates every DIMSE message (a prior's C-MOVE is hundreds) at INFO.
        "pynetdicom": {"level": "WARNING"},
    },
}

# A study missing any of these is quarantined: without them it cannot be matched, read or
# reported back. StudyInstanceUID is always there (Orthanc refuses instances without it).
INGEST_REQUIRED_TAGS = [t for t in (env("INGEST_REQUIRED_TAGS", "PatientID") or "").split(",") if t]
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

# -- worklist and SLA ---------------------------------------------------------------------------
# The promise for a hospital without its own policy, in minutes from the study's completion.
SLA_DEFAULT_MINUTES = {
    "stat": env_int("SLA_DEFAULT_STAT_MINUTES", 30),
    "urgent": env_int("SLA_DEFAULT_URGENT_MINUTES", 120),
    "routine": env_int("SLA_DEFAULT_ROUTINE_MINUTES", 1440),
}
SLA_DEFAULT_AT_RISK_PERCENT = env_int("SLA_DEFAULT_AT_RISK_PERCENT", 75)
# A claim with no sign of the reader (page heartbeat, viewer, report) for this long returns
# to the pool.
WORKLIST_CLAIM_IDLE_MINUTES = env_int("WORKLIST_CLAIM_IDLE_MINUTES", 30)
WORKLIST_PAGE_SIZE = env_int("WORKLIST_PAGE_SIZE", 50)

# -- the viewer (OHIF) and its DICOMweb proxy (readingcenter.viewer.viewer, .dicomweb) --------
# The prebuilt OHIF dist that `make setup` unpacks from npm; served under /ohif/.
OHIF_DIR = Path(env("OHIF_DIR", str(VAR_DIR / "ohif" / "dist")))
# Bytes per chunk relayed from Orthanc: under ASGI every chunk costs a hop to a worker thread,
# so chunks are large (one CT slice is 512 KiB).
DICOMWEB_CHUNK_SIZE = env_int("DICOMWEB_CHUNK_SIZE", 1024 * 1024)
# Opening one study, a viewer asks for it several times (the study by UID, its series list):
# one audit line per user and study within this many seconds.
DICOMWEB_AUDIT_WINDOW = env_int("DICOMWEB_AUDIT_WINDOW", 300)
# A user allowed a study's images keeps that answer this many seconds for its frames (each one
# a request); opening the study is always decided afresh. 0: ask every time.
DICOMWEB_GRANT_SECONDS = env_float("DICOMWEB_GRANT_SECONDS", 5.0)

# --- reports and delivery to hospitals ---------------------------------------------------------
# Names the reading center in idempotency keys and UIDs (keep it stable once reports went out).
READING_CENTER_CODE = env("READING_CENTER_CODE", "rc")
READING_CENTER_NAME = env("READING_CENTER_NAME", "Reading Center Teleradiology")
# The root of the UIDs of the SR and PDF objects we create (a registered root in production).
READING_CENTER_UID_ROOT = env("READING_CENTER_UID_ROOT", "1.2.826.0.1.3680043.10.1138")
HL7_SENDING_APPLICATION = env("HL7_SENDING_APPLICATION", "READINGCENTER")
HL7_SENDING_FACILITY = env("HL7_SENDING_FACILITY", "READINGCENTER")
# Retries: 30 s, 1, 2, 4 min, then every 5 min (a hospital that is back waits at most that);
# 30 tries cover a hospital down for about two hours before a delivery is marked failed for
# a manager to retry.
DELIVERY_RETRY_BASE_SECONDS = env_float("DELIVERY_RETRY_BASE_SECONDS", 30.0)
DELIVERY_RETRY_MAX_SECONDS = env_float("DELIVERY_RETRY_MAX_SECONDS", 300.0)
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 30)
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

# E-mail (critical-result notifications). With EMAIL_HOST set, mail goes out by SMTP; without
# it (the demo), each message is written to a file under var/mail for people to look at.
EMAIL_HOST = env("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "reading-center@readingcenter.example")
# Under ASGI, Django runs each request's synchronous part in a thread of its own, and database
# connections belong to threads: a persistent connection is never used twice, and every
# request opened a new PostgreSQL connection (about 7 ms here, more than the whole of an image
# from Orthanc). The web process (readingcenter/asgi.py sets DATABASE_POOL) shares a pool
# instead; the worker and the follower keep their one persistent connection.
if env_bool("DATABASE_POOL", False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
    }
