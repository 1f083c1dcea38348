"""Test settings: the suite's own database, whose name other processes (workers, flows) can reach."""

from webapp.config.django.base import *  # noqa: F403
from webapp.config.django.base import DATABASES
from webapp.config.settings.storage import GCF_VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:": Celery workers and flow subprocesses open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(GCF_VAR_DIR / "test-db.sqlite3")}
