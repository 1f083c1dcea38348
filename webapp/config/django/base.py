"""Settings shared by every environment; production-only behaviour is switched by env vars."""

import dj_database_url

from webapp.config.env import REPO_ROOT, env
from webapp.config.settings.celery import *  # noqa: F403
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
    "django.contrib.staticfiles",
    "webapp.runs",
    "webapp.verification",
    "ninja",  # serves the API docs' static files (/api/docs) without a CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # One handler, on the root: the service's loggers propagate to it (and print once, also in
    # Prefect processes, whose console handler sits on the root too).
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {"level": env.str("GCF_LOG_LEVEL", "INFO")}
        for name in ("webapp", "flows", "forecast")
    },
}
