"""The Celery app's queues: each its own exchange and routing key, so messages never mix."""

from __future__ import annotations

from webapp.celery import app
from webapp.runs.tasks import publish_products_task, render_part_task, rollout_task


def test_each_queue_has_its_own_exchange_and_routing_key():
    queues = app.amqp.queues
    for name in ("gpu", "cpu"):
        assert queues[name].exchange.name == name
        assert queues[name].routing_key == name


def test_tasks_route_to_their_queue_exchange():
    router = app.amqp.router
    for task, queue in (
        (rollout_task, "gpu"),
        (render_part_task, "cpu"),
        (publish_products_task, "cpu"),
    ):
        route = router.route({}, task.name, args=(1,))
        assert route["queue"].name == queue
        assert route["queue"].exchange.name == queue and route["queue"].routing_key == queue


def test_one_message_at_a_time_and_late_acknowledgement():
    assert app.conf.worker_prefetch_multiplier == 1
    assert rollout_task.acks_late and rollout_task.reject_on_worker_lost


def test_results_and_broker_outlive_a_redis_restart():
    assert app.conf.result_backend_always_retry and app.conf.result_backend_max_retries >= 60
    assert app.conf.broker_connection_max_retries is None
