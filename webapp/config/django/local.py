"""Settings for a developer machine and the demo: debug on, SQLite by default."""

from webapp.config.django.base import *  # noqa: F403
from webapp.config.env import env

DEBUG = env.bool("DJANGO_DEBUG", True)
