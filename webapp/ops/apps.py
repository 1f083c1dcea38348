"""Django application config for operations (health, metrics, logs, retention)."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health checks, Prometheus metrics, run-id logging, media serving, retention."""

    name = "webapp.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Celery workers import Django too: every task whose arguments name a run logs with it.
        from webapp.ops.logs import connect_celery_signals

        connect_celery_signals()
