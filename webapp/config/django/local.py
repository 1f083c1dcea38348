"""Settings for a developer machine and the demo: SQLite by default, DEBUG off unless asked.

The demo is what a newcomer exposes first, so it answers like production: custom 404/500 pages,
no settings, environment or paths shown. Set DJANGO_DEBUG=1 for Django's debug pages.
"""

from webapp.config.django.base import *  # noqa: F403
from webapp.config.env import env

DEBUG = env.bool("DJANGO_DEBUG", False)
