"""Django application config for forecast runs."""

from django.apps import AppConfig


class RunsConfig(AppConfig):
    """Forecast runs, their products, the Celery tasks that compute them."""

    name = "webapp.runs"
    label = "runs"
    verbose_name = "Forecast runs"
    default_auto_field = "django.db.models.BigAutoField"
