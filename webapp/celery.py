"""The Celery application: queues `gpu` (rollouts) and `cpu` (products, scoring), Redis broker.

Each queue has its own direct exchange and routing key, so a message for one can never land
in the other. Every other setting comes from Django settings, CELERY_-prefixed
(webapp/config/settings/celery.py); the ones below are the lifecycle's guarantees.
"""

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.django.local")

QUEUES = ("gpu", "cpu")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES
)
app.conf.task_default_queue = "cpu"
app.conf.task_default_exchange = "cpu"
app.conf.task_default_routing_key = "cpu"
# A Redis restart is an outage to wait out, not a reason to stop: the worker reconnects for
# ever, and a rollout running when the connection drops goes on (its message stays unacked
# in Redis, which persists it, and is acknowledged once the rollout is done).
app.conf.broker_connection_retry = True
app.conf.broker_connection_retry_on_startup = True
app.conf.broker_connection_max_retries = None
app.conf.worker_cancel_long_running_tasks_on_connection_loss = False
# A result written while Redis is down is retried (up to ~10 min), not lost: the flow is
# waiting for it.
app.conf.result_backend_always_retry = True
app.conf.result_backend_max_retries = 60
# One message at a time per process: a rollout holds the accelerator for minutes.
app.conf.worker_prefetch_multiplier = 1
app.autodiscover_tasks()
