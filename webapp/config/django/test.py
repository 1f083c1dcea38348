"""Test settings: the suite's own database, whose name other processes (workers, flows) can reach."""

import os

from webapp.config.django.base import *  # noqa: F403
from webapp.config.django.base import DATABASES
from webapp.config.settings.storage import GCF_VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# One test database per pytest process: several suites may run at once on one machine (and
# share var/); Celery workers and flow subprocesses get its name through DATABASE_URL.
_SUFFIX = f"{os.getpid()}"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:", so that other processes can open it.
    DATABASES["default"]["TEST"] = {"NAME": str(GCF_VAR_DIR / f"test-db-{_SUFFIX}.sqlite3")}
    # No WAL: its side files outlive a test database deleted while a child still has it open.
    DATABASES["default"]["OPTIONS"].pop("init_command", None)
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_SUFFIX}"}
