"""TigerCity settings. Everything an operator may change comes from the environment (README: Configuration)."""
import os
import secrets
from pathlib import Path

import dj_database_url

from tigercity.cache import cache_settings
from tigercity.env import env_bool, env_int, env_json, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("TIGER_DATA_DIR", str(BASE_DIR / "var"))).resolve()
# The data directory holds sessions (SQLite) and users' adapters: readable by this server's user only.
# Every file and directory this process (and the engine process it starts) creates is 0600 / 0700.
os.umask(os.umask(0o077) | 0o077)
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    """The configured key, or one generated on first start and kept under DATA_DIR (sessions survive restarts)."""
    configured = env_str("TIGER_SECRET_KEY")
    if configured:
        return configured
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("TIGER_DEBUG", False)
ALLOWED_HOSTS = env_list("TIGER_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("TIGER_CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("TIGER_PORT", 45678, minimum=1)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "apikeys",
    "inference",
    "playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tigercity.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "tigercity.urls"
ASGI_APPLICATION = "tigercity.asgi.application"
# /v1/ paths answer with and without a trailing slash; a redirect would turn a POST into a GET.
APPEND_SLASH = False

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
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'tigercity.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web requests and the engine thread write concurrently: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TIGER_MAX_BODY_BYTES", 1_000_000, minimum=1024)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# Nothing sends messages between processes over the channel layer (the engine is reached through its runtime).
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The deployment's namespace: the prefix of every cache key, so that two deployments sharing one Redis never
# share rate-limit buckets.
NAMESPACE = env_str("TIGER_NAMESPACE", "tigercity")
# Rate-limit histories and the API-key generation (apikeys/key_cache.py) are shared by every web process
# through Redis when there is one (stored as JSON): Redis's only use.
CACHES = cache_settings(REDIS_URL, NAMESPACE)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without a collectstatic step

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("TIGER_HTTPS", False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("TIGER_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

_rate_limit = env_str("TIGER_RATE_LIMIT", "600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.BearerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tigercity.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "tigercity.error_responses.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.throttling.KeyRateThrottle"],
    # TIGER_RATE_LIMIT: requests per user (all its API keys together), e.g. "600/min" or "20/s"; "off" for none.
    "DEFAULT_THROTTLE_RATES": {"api_key": None if _rate_limit.lower() == "off" else _rate_limit},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TigerCity API",
    "DESCRIPTION": "Self-hosted LLM playground and API: models, generation, reward training.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["tigercity.openapi.strip_trailing_slashes", "inference.api.schema.add_async_endpoints"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "tigercity.openapi.nullable_refs"],
    "ENUM_NAME_OVERRIDES": {
        "AssistantRoleEnum": ["assistant"],
        "GenerateFinishReasonEnum": ["stop", "length"],
        "ChatFinishReasonEnum": ["stop", "length", "tool_calls"],
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("TIGER_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# TigerCity's own settings.
TIGER = {
    # Base models: name -> checkpoint directory (or an object with path/description/default/...).
    # A base model without a checkpoint runs the built-in demo weights.
    "BASE_MODELS": env_json("TIGER_BASE_MODELS", {}),
    "DEFAULT_MODEL": env_str("TIGER_DEFAULT_MODEL", "DeepSeek-R1-8b"),
    "SIGNUP": env_bool("TIGER_SIGNUP", True),
    "ENGINE": env_str("TIGER_ENGINE", "embedded"),  # embedded | ray | off
    # API keys checked once per web process (apikeys/key_cache.py). Revocations reach the other web
    # processes through the shared cache: on by default with REDIS_URL, or with the embedded engine (one
    # web process); off for several web processes without Redis. An entry is re-checked after this many
    # seconds whatever happens (the bound for changes made by another process without Redis).
    "KEY_CACHE": env_bool("TIGER_KEY_CACHE", bool(REDIS_URL) or env_str("TIGER_ENGINE", "embedded") == "embedded"),
    "KEY_CACHE_SECONDS": env_int("TIGER_KEY_CACHE_SECONDS", 60, minimum=1),
    # The engine in its own child process (default), or on a thread of this one (one process, but
    # every streamed token's web work then takes the GIL from the decode loop: README, Benchmarks).
    "ENGINE_PROCESS": env_bool("TIGER_ENGINE_PROCESS", True),
    # ray: seconds the web tier waits for a replica to take a request; then 503 with Retry-After
    "ENGINE_TIMEOUT": env_int("TIGER_ENGINE_TIMEOUT", 30, minimum=1),
    # ray: the cluster to join ("auto": the one started on this machine by `ray start`), and the prefix of
    # the Serve applications' names (one per base model; clusters shared by several sites need their own)
    "RAY_ADDRESS": env_str("TIGER_RAY_ADDRESS", "auto"),
    "RAY_APP_PREFIX": env_str("TIGER_RAY_APP_PREFIX", "tigercity"),
    "ADAPTER_CACHE_SIZE": env_int("TIGER_ADAPTER_CACHE_SIZE", 64, minimum=1),
    "MAX_BATCH_SIZE": env_int("TIGER_MAX_BATCH_SIZE", 32, minimum=1),
    "CPU_THREADS": env_int("TIGER_CPU_THREADS", 0, minimum=0),  # 0: automatic (engine_factory.cpu_threads)
    "MAX_QUEUE": env_int("TIGER_MAX_QUEUE", 256, minimum=1),
    "MAX_TOKENS": env_int("TIGER_MAX_TOKENS", 1024, minimum=1),
    "MAX_CONCURRENT_GENERATIONS": env_int("TIGER_MAX_CONCURRENT_GENERATIONS", 16, minimum=1),
    "MAX_BODY_BYTES": env_int("TIGER_MAX_BODY_BYTES", 1_000_000, minimum=1024),
    "MAX_MESSAGES": env_int("TIGER_MAX_MESSAGES", 200, minimum=1),
    "MAX_MESSAGE_CHARS": env_int("TIGER_MAX_MESSAGE_CHARS", 100_000, minimum=1),
    "KEEP_REVISIONS": env_int("TIGER_KEEP_REVISIONS", 20, minimum=1),
    # Per-user caps (tigercity/quotas.py): what one account may hold and run at once.
    "MAX_KEYS_PER_USER": env_int("TIGER_MAX_KEYS_PER_USER", 20, minimum=1),
    "MAX_MODELS_PER_USER": env_int("TIGER_MAX_MODELS_PER_USER", 100, minimum=1),
    "MAX_TRAININGS_PER_USER": env_int("TIGER_MAX_TRAININGS_PER_USER", 4, minimum=1),
    "MAX_ADAPTER_BYTES_PER_USER": env_int("TIGER_MAX_ADAPTER_BYTES_PER_USER", 10 * 2**30, minimum=1),
    # Sign-in and sign-up throttling (playground/throttle.py), per client address and per username.
    "SIGNIN_FAILURES": env_int("TIGER_SIGNIN_FAILURES", 10, minimum=1),
    "SIGNIN_FAILURES_PER_ADDRESS": env_int("TIGER_SIGNIN_FAILURES_PER_ADDRESS", 50, minimum=1),
    "SIGNIN_LOCKOUT_SECONDS": env_int("TIGER_SIGNIN_LOCKOUT_SECONDS", 900, minimum=1),
    "SIGNUPS_PER_ADDRESS": env_int("TIGER_SIGNUPS_PER_ADDRESS", 5, minimum=1),
    "SIGNUP_WINDOW_SECONDS": env_int("TIGER_SIGNUP_WINDOW_SECONDS", 3600, minimum=1),
    # Datasets and fine-tuning jobs (docs/api.md, "Files" and "Fine-tuning jobs").
    "MAX_FILE_BYTES": env_int("TIGER_MAX_FILE_BYTES", 20_000_000, minimum=1024),  # one upload (413)
    "MAX_FILE_LINES": env_int("TIGER_MAX_FILE_LINES", 50_000, minimum=1),  # examples in one file (400)
    "MAX_STORED_FILE_BYTES": env_int("TIGER_MAX_STORED_FILE_BYTES", 200_000_000, minimum=1024),  # per user (413)
    "MAX_FILES": env_int("TIGER_MAX_FILES", 100, minimum=1),  # files per user (413)
    "MAX_ACTIVE_JOBS": env_int("TIGER_MAX_ACTIVE_JOBS", 5, minimum=1),  # a user's queued + running jobs (429)
    "MAX_RUNNING_JOBS": env_int("TIGER_MAX_RUNNING_JOBS", 1, minimum=1),  # a user's jobs running at once; more wait
    "VALIDATION_SHARE": float(env_str("TIGER_VALIDATION_SHARE", "0.1")),  # held out without a validation file
}
