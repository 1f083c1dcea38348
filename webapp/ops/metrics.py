"""Prometheus metrics, computed when scraped from the run records and the broker.

No counters live in processes: the run records hold every status and stage timing, and Redis
holds the queues, so one scrape of any web process gives exact values, whatever Celery
processes did the work (and no multiprocess bookkeeping is needed).

  gcf_runs{status}                          runs per status (gauge)
  gcf_run_stage_duration_seconds{stage}     histogram of recorded stage durations, all runs
  gcf_rollout_step_seconds                  histogram of rollout seconds per 6-h step
  gcf_rollout_last_step_seconds             seconds per step of the latest run with a rollout
  gcf_celery_queue_length{queue}            messages waiting in each queue (Redis LLEN)
  gcf_celery_unacked_messages               messages delivered to a worker, not yet acknowledged
  gcf_broker_up                             1 when the broker answered this scrape
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from django.conf import settings
from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from webapp.ops import selectors

# Stage durations span a second (loading a cached predictor) to hours (a 10-day 0.25° rollout).
STAGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
# Seconds per step: ~0.01 (tiny CPU configs) to ~20 (0.25° on CPU); ~1 on a GPU.
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80)
# Kombu's Redis transport keeps each priority level of a queue in its own list.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def _histogram(
    name: str, documentation: str, values_by_label: dict[tuple[str, ...], list[float]],
    labels: list[str], buckets: tuple[float, ...],
) -> HistogramMetricFamily:  # fmt: skip
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for label_values, values in sorted(values_by_label.items()):
        ordered = sorted(values)
        cumulative = [
            (floatToGoString(bound), bisect.bisect_right(ordered, bound)) for bound in buckets
        ]
        cumulative.append(("+Inf", len(ordered)))
        family.add_metric(list(label_values), cumulative, sum_value=sum(ordered))
    return family


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold `queue`'s messages (one per priority step)."""
    return [queue] + [f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS[1:]]


class ServiceCollector:
    """Yields the service's metrics at scrape time (a prometheus_client custom collector)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._runs()
        yield from self._broker()

    def _runs(self) -> Iterable[Metric]:
        by_status = GaugeMetricFamily("gcf_runs", "Forecast runs by status.", labels=["status"])
        for status, count in sorted(selectors.run_status_counts().items()):
            by_status.add_metric([status], count)
        yield by_status

        stages: dict[tuple[str, ...], list[float]] = {}
        per_step: list[float] = []
        last_per_step = None
        for run in selectors.run_timings():
            for stage, seconds in run.stages.items():
                stages.setdefault((stage,), []).append(seconds)
            if (value := run.rollout_seconds_per_step) is not None:
                per_step.append(value)
                last_per_step = value
        yield _histogram(
            "gcf_run_stage_duration_seconds",
            "Recorded duration of each stage of a run (run records' timings), all runs.",
            stages, ["stage"], STAGE_BUCKETS,
        )  # fmt: skip
        yield _histogram(
            "gcf_rollout_step_seconds",
            "Rollout wall time per 6-h step, one observation per run with a finished rollout.",
            {(): per_step} if per_step else {}, [], STEP_BUCKETS,
        )  # fmt: skip
        last = GaugeMetricFamily(
            "gcf_rollout_last_step_seconds",
            "Rollout seconds per 6-h step of the latest run that finished its rollout.",
        )
        if last_per_step is not None:
            last.add_metric([], last_per_step)
        yield last

    def _broker(self) -> Iterable[Metric]:
        import redis

        up = GaugeMetricFamily("gcf_broker_up", "1 when the Celery broker answered this scrape.")
        lengths = GaugeMetricFamily(
            "gcf_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        unacked = GaugeMetricFamily(
            "gcf_celery_unacked_messages",
            "Messages delivered to a worker and not yet acknowledged (running or prefetched).",
        )
        timeout = float(settings.GCF_HEALTH_TIMEOUT_S)
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            with client.pipeline(transaction=False) as pipe:
                queues = list(settings.GCF_HEALTH_QUEUES)
                for queue in queues:
                    for key in queue_keys(queue):
                        pipe.llen(key)
                pipe.hlen("unacked")
                replies = pipe.execute()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        per_queue = len(_PRIORITY_STEPS)
        for index, queue in enumerate(queues):
            lengths.add_metric([queue], sum(replies[index * per_queue : (index + 1) * per_queue]))
        unacked.add_metric([], replies[-1])
        up.add_metric([], 1)
        yield from (up, lengths, unacked)


def registry() -> CollectorRegistry:
    """A registry holding only the service's collector (no per-process default metrics)."""
    result = CollectorRegistry(auto_describe=False)
    result.register(ServiceCollector())
    return result
