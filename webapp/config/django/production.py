"""Production settings: behind a TLS-terminating proxy, secrets from the environment only.

`manage.py check --deploy` is clean with these and the environment of deploy/env.example
(tests/deploy/test_check_deploy.py runs it).
"""

from django.core.exceptions import ImproperlyConfigured

from webapp.config.django.base import *  # noqa: F403
from webapp.config.env import env

DEBUG = False
# No default: a production process without its secret must not start.
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
if SECRET_KEY in ("change-me", "insecure-local-only-key-change-me"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is still the example's: set a random one")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# TLS ends at the front web server (deploy/nginx/gcf.conf), which sets X-Forwarded-Proto;
# Django trusts that header only because gunicorn listens on 127.0.0.1 / the internal network
# and the proxy overwrites whatever the client sent.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Probes from the same host or the orchestrator speak plain HTTP to gunicorn.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", True)

# Collected into STATIC_ROOT (`collectstatic`) with hashed, compressed names; the front web
# server serves /static/ from there, WhiteNoise answers when gunicorn is reached directly.
WHITENOISE_USE_FINDERS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Cached pages re-read their data version at most once a second per process (see ops.py).
GCF_PAGE_VERSION_TTL_S = env.float("GCF_PAGE_VERSION_TTL_S", 1.0)

# The front web server serves /media/; set GCF_SERVE_MEDIA=1 only without one (a streaming,
# traversal-checked view then serves them: webapp/ops/views.py).
GCF_SERVE_MEDIA = env.bool("GCF_SERVE_MEDIA", False)
