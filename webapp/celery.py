"""The Celery application: queues `gpu` (rollouts) and `cpu` (rendering, scoring), Redis broker."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.django.local")

app = Celery("webapp")
# Every setting comes from Django settings, CELERY_-prefixed (webapp/config/settings/celery.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("gpu"), Queue("cpu"))
app.autodiscover_tasks()
