"""Makes Django usable from a flow process (the flows call the runs services)."""

import os


def setup_django() -> None:
    """Configures Django once (local settings unless DJANGO_SETTINGS_MODULE says otherwise)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.django.local")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
