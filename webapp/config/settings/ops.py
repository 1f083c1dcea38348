"""Operations settings: what /healthz checks and against which thresholds, how logs look."""

from django.core.exceptions import ImproperlyConfigured

from webapp.config.env import env

# Celery queues that must each have at least one live worker for the service to be healthy.
GCF_HEALTH_QUEUES = env.list("GCF_HEALTH_QUEUES", ["gpu", "cpu"])
# Each probe of /healthz (Redis, Celery workers, Prefect API) gives up after this long, so a
# dead dependency costs a bounded wait, not a hung request.
GCF_HEALTH_TIMEOUT_S = env.float("GCF_HEALTH_TIMEOUT_S", 1.0)
# A store (media, runs, cache) with less free space than this makes the service unhealthy.
GCF_HEALTH_MIN_FREE_GB = env.float("GCF_HEALTH_MIN_FREE_GB", 2.0)
# Log lines: "kv" (key=value, for people and grep) or "json" (one object a line, for collectors).
GCF_LOG_FORMAT = env.str("GCF_LOG_FORMAT", "kv")
if GCF_LOG_FORMAT not in ("kv", "json"):
    raise ImproperlyConfigured(f"GCF_LOG_FORMAT={GCF_LOG_FORMAT!r}: use kv or json")
GCF_LOG_LEVEL = env.str("GCF_LOG_LEVEL", "INFO")
# Whole-page cache (webapp/pagecache.py): how long a web process reuses the data version it
# read before asking the database again. 0 reads it on every request (new data shows at once);
# production uses 1 s, so under load a cached page costs no query and lags new data ≤ 1 s.
GCF_PAGE_VERSION_TTL_S = env.float("GCF_PAGE_VERSION_TTL_S", 0.0)
