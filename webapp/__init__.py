"""The service's Django project, its apps and its Celery app."""

from webapp.celery import app as celery_app

__all__ = ("celery_app",)
