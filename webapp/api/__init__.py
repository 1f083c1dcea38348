"""The read-only JSON API (django-ninja) and its OpenAPI schema at /api/openapi.json."""
