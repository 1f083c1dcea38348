"""Settings of the integrations (Celery, Prefect, storage), star-imported by `base`."""
