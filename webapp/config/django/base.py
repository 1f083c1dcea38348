"""Settings shared by every environment; production-only behaviour is switched by env vars."""

import warnings

import dj_database_url

from webapp.config.env import REPO_ROOT, env
from webapp.config.settings.celery import *  # noqa: F403
from webapp.config.settings.ops import *  # noqa: F403
from webapp.config.settings.ops import GCF_LOG_FORMAT, GCF_LOG_LEVEL
from webapp.config.settings.prefect import *  # noqa: F403
from webapp.config.settings.storage import *  # noqa: F403
from webapp.config.settings.storage import GCF_VAR_DIR

BASE_DIR = REPO_ROOT
SECRET_KEY = env.str("DJANGO_SECRET_KEY", "insecure-local-only-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: `runserver` then leaves /static/ to WhiteNoise, as production does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "webapp.runs",
    "webapp.verification",
    "webapp.ops",
    "ninja",  # serves the API docs' static files (/api/docs) without a CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files with DEBUG off, in every environment (the demo too): WhiteNoise answers
    # only for files it knows, so `/static/../x` falls through to a 404.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.config.urls"
WSGI_APPLICATION = "webapp.config.wsgi.application"

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
            ],
        },
    },
]

# DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/gcf); default SQLite under var/.
DATABASES = {
    "default": dj_database_url.parse(
        env.str("DATABASE_URL", f"sqlite:///{GCF_VAR_DIR / 'db.sqlite3'}"),
        # Persistent connections (a new one per request capped status.json at ~150 req/s),
        # checked before reuse so a restarted database costs one failed check, not a 500.
        conn_max_age=env.int("DJANGO_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Flows, workers and the site write concurrently: writers take the lock when their
    # transaction starts (no read→write upgrade that fails at once with "database is locked"),
    # wait up to 30 s for it, and WAL lets readers go on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=30,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "/admin/login/"
# Without collectstatic (demo, tests) WhiteNoise serves the apps' static folders directly;
# production collects them into STATIC_ROOT with hashed names (webapp.config.django.production).
WHITENOISE_USE_FINDERS = True
# Until `collectstatic` runs, STATIC_ROOT does not exist; WhiteNoise would warn at every start.
warnings.filterwarnings("ignore", message="No directory at: ")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every record carries the run it belongs to (`run_id`, "-" outside a run): see
    # webapp/ops/logs.py for how tasks and flows bind it.
    "filters": {"run_id": {"()": "webapp.ops.logs.RunIdFilter"}},
    "formatters": {
        "kv": {"()": "webapp.ops.logs.KeyValueFormatter"},
        "json": {"()": "webapp.ops.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": GCF_LOG_FORMAT,
            "filters": ["run_id"],
        }
    },
    # One handler, on the root: the service's loggers propagate to it (and print once, also in
    # Prefect processes, whose console handler sits on the root too).
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {name: {"level": GCF_LOG_LEVEL} for name in ("webapp", "flows", "forecast")},
}
