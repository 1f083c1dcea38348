"""Helpers that start and stop the service's real processes (Redis, Celery workers)."""
