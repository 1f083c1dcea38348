"""Django application config for verification."""

from django.apps import AppConfig


class VerificationConfig(AppConfig):
    """Scores of forecast runs against the truth, kept as additive sums."""

    name = "webapp.verification"
    label = "verification"
    verbose_name = "Verification"
    default_auto_field = "django.db.models.BigAutoField"
