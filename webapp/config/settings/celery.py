"""Celery settings (read through the CELERY_ namespace by `webapp/celery.py`)."""

from webapp.config.env import env

# One Redis for broker (db 0) and results (db 1); the project starts its own on port 6390.
GCF_REDIS_URL = env.str("GCF_REDIS_URL", "redis://127.0.0.1:6390").rstrip("/")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", f"{GCF_REDIS_URL}/0")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", f"{GCF_REDIS_URL}/1")

# The longest rollout we expect (10-day GraphCast at 0.25° on one GPU, with compile): 2 h.
GCF_ROLLOUT_TIMEOUT_S = env.int("GCF_ROLLOUT_TIMEOUT_S", 2 * 3600)
GCF_RENDER_TIMEOUT_S = env.int("GCF_RENDER_TIMEOUT_S", 3600)
# Render tasks a run's products fan out to: the `cpu` workers' total concurrency is a good
# value (2: one worker with --concurrency 2, as deploy/ and the demo start it).
GCF_RENDER_PARTS = env.int("GCF_RENDER_PARTS", 2)
# An unacknowledged message is redelivered after this long: it must exceed the longest rollout,
# or a slow but healthy rollout would be started a second time on another worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": GCF_ROLLOUT_TIMEOUT_S + 1800}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": GCF_ROLLOUT_TIMEOUT_S + 1800}
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged only once it finished, and a worker killed mid-task gives it back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: a rollout holds the GPU for minutes.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {
    "webapp.runs.tasks.rollout_task": {"queue": "gpu"},
    "webapp.runs.tasks.render_part_task": {"queue": "cpu"},
    "webapp.runs.tasks.publish_products_task": {"queue": "cpu"},
    "webapp.runs.tasks.discard_products_task": {"queue": "cpu"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
