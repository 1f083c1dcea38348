"""Production settings: a real secret key is required, cookies are secure, debug is off."""

from webapp.config.django.base import *  # noqa: F403
from webapp.config.django.base import MIDDLEWARE
from webapp.config.env import env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", True)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Static files (collectstatic into var/static) are served by WhiteNoise, right after security.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
