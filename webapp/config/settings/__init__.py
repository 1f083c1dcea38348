"""Settings of the integrations (Celery, Prefect, storage, operations), star-imported by `base`."""
