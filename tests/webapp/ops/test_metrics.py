"""GET /metrics: exact values computed from the run records and the broker's queues."""

from __future__ import annotations

import pytest
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from tests.webapp.runs.factories import make_run
from webapp.runs import services
from webapp.runs.models import ForecastRun

pytestmark = [pytest.mark.network, pytest.mark.django_db]


def _scrape(client) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _finished_run(*, steps: int, timings: dict[str, float]) -> ForecastRun:
    run = make_run(steps=steps)
    services.run_mark_running(run_id=run.pk)
    services.run_mark_succeeded(run_id=run.pk)
    # The stage timings as the workers and the flow record them.
    ForecastRun.objects.filter(pk=run.pk).update(timings=timings)
    return run


def test_metrics_count_runs_timings_and_queues(client, broker, settings):
    settings.GCF_HEALTH_QUEUES = ["gpu", "cpu"]
    _finished_run(steps=4, timings={"rollout": 8.0, "render": 40.0, "predictor_load": 2.5})
    _finished_run(steps=2, timings={"rollout": 1.0, "render": 20.0})
    failed = make_run()
    services.run_mark_failed(run_id=failed.pk, error=RuntimeError("x"))
    make_run()  # queued, no timings

    # Two messages wait in the gpu queue and one in cpu (no worker runs in this test).
    with Connection(settings.CELERY_BROKER_URL) as connection:
        for queue, count in (("gpu", 2), ("cpu", 1)):
            with connection.SimpleQueue(queue) as simple_queue:
                for _ in range(count):
                    simple_queue.put({"run_id": 0})

    samples = _scrape(client)
    runs = {dict(k)["status"]: v for k, v in samples["gcf_runs"].items()}
    expected = dict.fromkeys(ForecastRun.Status.values, 0) | {
        "queued": 1,
        "succeeded": 2,
        "failed": 1,
    }
    assert runs == expected

    count = {
        dict(k)["stage"]: v for k, v in samples["gcf_run_stage_duration_seconds_count"].items()
    }
    total = {dict(k)["stage"]: v for k, v in samples["gcf_run_stage_duration_seconds_sum"].items()}
    assert count == {"rollout": 2, "render": 2, "predictor_load": 1}
    assert total == {"rollout": 9.0, "render": 60.0, "predictor_load": 2.5}
    buckets = samples["gcf_run_stage_duration_seconds_bucket"]
    assert buckets[(("le", "30.0"), ("stage", "render"))] == 1
    assert buckets[(("le", "60.0"), ("stage", "render"))] == 2

    # 8 s / 4 steps and 1 s / 2 steps; the latest run's is 0.5 s.
    assert samples["gcf_rollout_step_seconds_count"][()] == 2
    assert samples["gcf_rollout_step_seconds_sum"][()] == pytest.approx(2.5)
    assert samples["gcf_rollout_last_step_seconds"][()] == pytest.approx(0.5)

    queues = {dict(k)["queue"]: v for k, v in samples["gcf_celery_queue_length"].items()}
    assert queues == {"gpu": 2, "cpu": 1}
    assert samples["gcf_broker_up"][()] == 1


def test_metrics_survive_a_dead_broker(client, broker):
    make_run()
    broker.stop()
    try:
        samples = _scrape(client)
    finally:
        broker.start()
    assert samples["gcf_broker_up"][()] == 0
    assert "gcf_celery_queue_length" not in samples
    assert sum(samples["gcf_runs"].values()) == 1
