"""Faults survived on the real services (Redis, Celery workers, Prefect, PostgreSQL).

Each test injects one fault into a real daily cycle on the tiny world (10° grid, a few
steps) and checks that the run ends completed exactly once, or failed/cancelled with a clear
reason; that earlier runs are intact; and that no temporary or orphan file and no process
of ours is left behind. Times to recover are printed (`-s`) for the record.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from flows.daily import daily_forecast
from forecast.errors import InvalidInputError
from forecast.io.atomic import leftover_temporaries
from webapp.runs import paths, services
from webapp.runs.models import ForecastRun, Product

pytestmark = [pytest.mark.slow, pytest.mark.network]
Status = ForecastRun.Status
INIT = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)


def _cycle(k: int) -> str:
    """The k-th 6-hourly cycle from INIT (one run per cycle: each repetition its own)."""
    return (INIT + dt.timedelta(hours=6 * k)).isoformat()


@pytest.fixture
def predictor(monkeypatch):
    """Sets the predictor spec the next cycle's frozen config records."""

    def use(spec: str) -> None:
        monkeypatch.setattr(settings, "GCF_PREDICTOR", spec)

    use("persistence")
    return use


def _wait_for(condition, *, timeout: float, what: str, every: float = 0.1):
    """Polls `condition()` (from any thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(every)
        raise TimeoutError(f"{what}: not within {timeout} s")
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def _rollout_at(step: int):
    """The active run whose rollout reached `step`, if any."""
    return ForecastRun.objects.filter(
        progress_step__gte=step, stage="rollout", status=Status.RUNNING
    ).first()


def _task_succeeded_count(worker, task_id: str) -> int:
    return worker.log_file.read_text().count(
        f"Task webapp.runs.tasks.rollout_task[{task_id}] succeeded"
    )


def _assert_no_leftovers() -> None:
    """No temporary file anywhere under var/; for this test's runs, no product file without
    its Product row (earlier tests' runs are gone from the flushed database, not from disk)."""
    var = Path(settings.GCF_VAR_DIR)
    assert leftover_temporaries(var / "runs") == []
    assert leftover_temporaries(var / "media") == []
    for run in ForecastRun.objects.all():
        published = {p.file.name for p in run.products.all()}
        media = paths.media_dir(run.pk)
        on_disk = (
            {str(p.relative_to(settings.MEDIA_ROOT)) for p in media.rglob("*") if p.is_file()}
            if media.exists()
            else set()
        )
        assert on_disk == published, (run.pk, run.status, sorted(on_disk ^ published)[:5])


def _our_processes() -> dict[int, str]:
    """Processes started for this test session (they carry its GCF_VAR_DIR), but not the
    Redis server, the workers and their pools, or this process."""
    marker = f"GCF_VAR_DIR={settings.GCF_VAR_DIR}".encode()
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().split(") ")[1][0]
        except OSError:
            continue
        if state != "Z" and "celery" not in cmdline and int(proc.name) != os.getpid():
            found[int(proc.name)] = cmdline
    return found


def _new_processes(before: dict[int, str]) -> dict[int, str]:
    """Our processes that were not running when the test started (the session's Prefect
    test server was)."""
    return {pid: cmd for pid, cmd in _our_processes().items() if pid not in before}


def _assert_no_leaked_processes(before: dict[int, str], timeout: float = 15.0) -> None:
    """Nothing the test started still runs: no flow subprocess, no temporary Prefect server."""
    try:
        _wait_for(lambda: not _new_processes(before), timeout=timeout, what="leaked processes")
    except TimeoutError:
        pytest.fail(f"processes left running: {_new_processes(before)}")


@pytest.fixture(autouse=True)
def no_leaked_processes(cycle):
    """Every fault test ends with no process of its own still running."""
    before = _our_processes()
    yield
    _assert_no_leaked_processes(before)


def _assert_worker_pools(workers) -> None:
    """Each worker runs exactly its pool (no process lost, none doubled)."""
    for worker in workers.values():
        assert worker.process.poll() is None, worker.log_tail()
        assert len(worker.pool_pids()) == worker.concurrency, worker.pool_pids()


def test_pool_process_killed_ten_times_every_run_completes_once(cycle, predictor, monkeypatch):
    predictor("tests.e2e.predictors:slow_persistence")
    monkeypatch.setattr(settings, "GCF_STEPS", 3)
    gpu = cycle["gpu"]
    recoveries = []
    for k in range(10):
        killed: list[float] = []
        planted: list[Path] = []

        def kill_mid_rollout(killed=killed, planted=planted) -> None:
            run = _wait_for(lambda: _rollout_at(1), timeout=120, what="rollout at step 1")
            # What a writer killed in the middle of writing leaves: its temporary file.
            leftover = paths.run_dir(run.pk) / ".tmp-forecast.nc.killed.part"
            leftover.write_bytes(b"\0" * 4096)
            planted.append(leftover)
            for pid in gpu.pool_pids():
                os.kill(pid, signal.SIGKILL)
            killed.append(time.monotonic())

        killer = threading.Thread(target=kill_mid_rollout, daemon=True)
        killer.start()
        run_id = daily_forecast(init_time=_cycle(k))
        killer.join(5)
        finished = time.monotonic()

        assert killed, f"repetition {k}: the rollout was never killed"
        recoveries.append(finished - killed[0])
        run = ForecastRun.objects.get(pk=run_id)
        assert run.status == Status.SUCCEEDED, (k, run.error_type, run.error_message)
        assert (run.progress_step, run.progress_total) == (3, 3)
        assert _task_succeeded_count(gpu, run.lineage["rollout_task_id"]) == 1
        assert "rollout_lost_task" not in run.lineage  # redelivered, not re-submitted
        assert not planted[0].exists()
        assert Product.objects.filter(run=run).count() >= 12
    assert ForecastRun.objects.count() == 10
    assert "WorkerLostError" in gpu.log_file.read_text()
    _assert_no_leftovers()
    _assert_worker_pools(cycle)
    print(f"\npool SIGKILL x10: recovered in {min(recoveries):.1f}-{max(recoveries):.1f} s")


def test_whole_gpu_worker_killed_and_restarted_the_run_completes_once(
    cycle, predictor, monkeypatch, service_env
):
    from tests.e2e.conftest import restart_worker

    predictor("tests.e2e.predictors:slow_persistence")
    monkeypatch.setattr(settings, "GCF_STEPS", 4)
    killed: list[float] = []

    def kill_and_restart() -> None:
        _wait_for(lambda: _rollout_at(1), timeout=120, what="rollout at step 1")
        os.killpg(cycle["gpu"].process.pid, signal.SIGKILL)
        killed.append(time.monotonic())
        time.sleep(3)
        restart_worker(cycle, "gpu", service_env)

    killer = threading.Thread(target=kill_and_restart, daemon=True)
    killer.start()
    run_id = daily_forecast(init_time=_cycle(0))
    recovered = time.monotonic() - killed[0]
    killer.join(60)

    run = ForecastRun.objects.get(pk=run_id)
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert (run.progress_step, run.progress_total) == (4, 4)
    # The lost task was noticed and re-submitted; the new one succeeded once.
    assert run.lineage["rollout_lost_task"] != run.lineage["rollout_task_id"]
    assert _task_succeeded_count(cycle["gpu"], run.lineage["rollout_task_id"]) == 1
    assert recovered < 180, recovered
    _assert_no_leftovers()
    _assert_worker_pools(cycle)
    print(f"\nwhole gpu worker SIGKILL + restart: recovered in {recovered:.1f} s")


def test_redis_restarted_mid_rollout_nothing_lost(cycle, predictor, monkeypatch, redis_server):
    predictor("tests.e2e.predictors:slow_persistence")
    monkeypatch.setattr(settings, "GCF_STEPS", 5)
    restarted: list[float] = []

    def restart_redis() -> None:
        _wait_for(lambda: _rollout_at(1), timeout=120, what="rollout at step 1")
        redis_server.restart(down_s=3)
        restarted.append(time.monotonic())

    thread = threading.Thread(target=restart_redis, daemon=True)
    thread.start()
    run_id = daily_forecast(init_time=_cycle(0))
    thread.join(30)

    assert restarted, "Redis was never restarted"
    run = ForecastRun.objects.get(pk=run_id)
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert (run.progress_step, run.progress_total) == (5, 5)
    assert "rollout_lost_task" not in run.lineage
    assert _task_succeeded_count(cycle["gpu"], run.lineage["rollout_task_id"]) == 1
    _assert_no_leftovers()
    _assert_worker_pools(cycle)
    print(f"\nRedis restart mid-rollout: run done {time.monotonic() - restarted[0]:.1f} s after")


def test_redis_restarted_while_a_rollout_is_queued_nothing_lost(
    cycle, predictor, redis_server, service_env
):
    from tests.e2e.conftest import restart_worker

    cycle["gpu"].stop()  # no gpu worker: the rollout waits in its queue
    outcome: dict = {}

    def run_flow() -> None:
        try:
            outcome["run_id"] = daily_forecast(init_time=_cycle(0))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            outcome["error"] = exc
        finally:
            connection.close()

    flow_thread = threading.Thread(target=run_flow, daemon=True)
    flow_thread.start()
    try:
        run = _wait_for(
            lambda: ForecastRun.objects.filter(stage="rollout").exclude(celery_task_id="").first(),
            timeout=120,
            what="rollout submitted",
        )
        import redis

        client = redis.Redis.from_url(f"{redis_server.url}/0")
        _wait_for(lambda: client.llen("gpu"), timeout=30, what="message in the gpu queue")
        redis_server.restart(down_s=2)
        assert client.llen("gpu") == 1, "the queued rollout did not survive the restart"
        client.close()
    finally:
        restart_worker(cycle, "gpu", service_env)
    flow_thread.join(180)

    assert "error" not in outcome, outcome.get("error")
    run = ForecastRun.objects.get(pk=outcome["run_id"])
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert "rollout_lost_task" not in run.lineage  # the queued message itself ran
    _assert_no_leftovers()
    _assert_worker_pools(cycle)


def test_flow_process_killed_the_run_is_resumed_and_completes(
    cycle, predictor, monkeypatch, settings
):
    from flows.cycle import cycle_config
    from flows.reaper import reap

    predictor("tests.e2e.predictors:slow_persistence")
    monkeypatch.setattr(settings, "GCF_STEPS", 6)
    settings.GCF_FLOW_LAUNCH = "subprocess"
    settings.GCF_FLOW_STALE_AFTER_S = 20
    before = _our_processes()
    run = services.run_create(init_time=INIT, config=cycle_config())
    services.run_launch_flow(run=run)
    flow_pid = _wait_for(
        lambda: next(
            (pid for pid, cmd in _new_processes(before).items() if f"--run-id {run.pk}" in cmd),
            None,
        ),
        timeout=30,
        what="flow subprocess",
    )
    try:
        # The flow starts its own temporary Prefect API first: slow on a loaded machine.
        _wait_for(lambda: _rollout_at(1), timeout=420, what="rollout at step 1")
    except TimeoutError:
        os.killpg(flow_pid, signal.SIGKILL)  # leave nothing behind on the way out
        raise
    os.kill(flow_pid, signal.SIGKILL)
    killed = time.monotonic()
    # The flow's watchdog takes its temporary Prefect API server down with it.
    _wait_for(
        lambda: not any("uvicorn" in cmd for cmd in _new_processes(before).values()),
        timeout=20,
        what="temporary Prefect server stopped",
    )
    first_task = ForecastRun.objects.get(pk=run.pk).lineage["rollout_task_id"]

    resumed = _wait_for(
        lambda: reap()["recovered"].get(run.pk), timeout=120, every=2, what="reaper resumes"
    )
    assert resumed == "resumed"
    _wait_for(
        lambda: ForecastRun.objects.get(pk=run.pk).is_terminal,
        timeout=300,
        every=1,
        what="resumed run finished",
    )
    recovered = time.monotonic() - killed
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert len(run.lineage["resumed"]) == 1
    # The resumed flow adopted the rollout the dead one started: computed once.
    assert run.lineage["rollout_task_id"] == first_task
    assert _task_succeeded_count(cycle["gpu"], first_task) == 1
    _assert_no_leaked_processes(before)
    _assert_no_leftovers()
    print(f"\nflow SIGKILL: resumed and completed {recovered:.1f} s after")


def test_two_triggers_at_once_make_one_run(cycle, predictor):
    barrier = threading.Barrier(2)
    results: list = []

    def trigger() -> None:
        barrier.wait()
        try:
            results.append(daily_forecast(init_time=_cycle(0)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert len(results) == 2 and results[0] == results[1], results
    [run] = ForecastRun.objects.all()
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert _task_succeeded_count(cycle["gpu"], run.lineage["rollout_task_id"]) == 1
    _assert_no_leftovers()


def test_products_disk_full_fails_naming_the_store_and_keeps_earlier_runs(cycle, predictor):
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs over MEDIA_ROOT (a real full disk)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(media)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs over MEDIA_ROOT: {mounted.stderr.strip()}")
    try:
        first = ForecastRun.objects.get(pk=daily_forecast(init_time=_cycle(0)))
        assert first.status == Status.SUCCEEDED
        before = {p.file.name: (media / p.file.name).read_bytes() for p in first.products.all()}
        # Fill the store, leaving less than one run's maps.
        filler = media / "filler"
        with open(filler, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
            except OSError:
                pass
        filler.unlink()
        with open(filler, "wb") as handle:
            handle.write(
                b"\0" * (os.statvfs(media).f_bavail * os.statvfs(media).f_frsize - 100_000)
            )

        with pytest.raises(OSError, match="products store MEDIA_ROOT"):
            daily_forecast(init_time=_cycle(1))
        second = ForecastRun.objects.exclude(pk=first.pk).get()
        assert second.status == Status.FAILED and "No space left" in second.error_message
        assert str(media) in second.error_message
        assert not paths.media_dir(second.pk).exists() and not second.products.exists()
        assert {name: (media / name).read_bytes() for name in before} == before
        filler.unlink()
        _assert_no_leftovers()
    finally:
        subprocess.run(["umount", str(media)], check=False)


def test_hung_rollout_is_stopped_at_its_time_limit_and_the_worker_is_free(
    cycle, predictor, monkeypatch
):
    predictor("tests.e2e.predictors:hung")
    monkeypatch.setattr(settings, "GCF_ROLLOUT_TIMEOUT_S", 8)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="hard time limit of 8 s"):
        daily_forecast(init_time=_cycle(0))
    stopped = time.monotonic() - started
    run = ForecastRun.objects.get()
    assert run.status == Status.FAILED and run.error_type == "TimeoutError"
    assert run.config["rollout_time_limit_s"] == 8

    predictor("persistence")
    monkeypatch.setattr(settings, "GCF_ROLLOUT_TIMEOUT_S", 120)
    after = ForecastRun.objects.get(pk=daily_forecast(init_time=_cycle(1)))
    assert after.status == Status.SUCCEEDED, (after.error_type, after.error_message)
    _assert_worker_pools(cycle)
    _assert_no_leftovers()
    print(f"\nhung rollout: stopped {stopped:.1f} s after the flow started")


def test_cancel_mid_rollout_stops_flow_and_worker(cycle, predictor, monkeypatch, django_user_model):
    from flows.steps import RunStopped

    predictor("tests.e2e.predictors:slow_persistence")
    monkeypatch.setattr(settings, "GCF_STEPS", 8)
    user = django_user_model.objects.create_user("ops")

    def cancel() -> None:
        run = _wait_for(lambda: _rollout_at(1), timeout=120, what="rollout at step 1")
        services.run_cancel(run=run, user=user)
        connection.close()

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    with pytest.raises(RunStopped, match="cancelled"):
        daily_forecast(init_time=_cycle(0))
    thread.join(10)
    run = ForecastRun.objects.get()
    assert run.status == Status.CANCELLED and run.cancelled_by == user
    assert run.progress_step < 8 and not paths.forecast_path(run.pk).exists()
    # The worker was told to stop the task (revoke with terminate), not left to finish it.
    task_id = run.lineage["rollout_task_id"]
    _wait_for(
        lambda: f"Terminating {task_id}" in cycle["gpu"].log_file.read_text(),
        timeout=10,
        what="revoked rollout terminated",
    )
    assert _task_succeeded_count(cycle["gpu"], task_id) == 0
    # The worker is free again: the next cycle runs.
    predictor("persistence")
    after = ForecastRun.objects.get(pk=daily_forecast(init_time=_cycle(1)))
    assert after.status == Status.SUCCEEDED
    _assert_worker_pools(cycle)
    _assert_no_leftovers()


def test_inputs_corrupted_after_validation_name_the_file(cycle, predictor, monkeypatch):
    from flows import daily as daily_flow

    real_validate = daily_flow.inputs.validate_inputs

    def validate_then_corrupt(path, **kwargs):
        checked = real_validate(path, **kwargs)
        with open(path, "r+b") as handle:  # the disk rots between validation and rollout
            handle.seek(64)  # into the HDF5 metadata: netCDF's bare "NetCDF: HDF error"
            handle.write(b"\xff" * 4096)
        return checked

    monkeypatch.setattr(daily_flow.inputs, "validate_inputs", validate_then_corrupt)
    with pytest.raises(InvalidInputError, match="inputs.nc"):
        daily_forecast(init_time=_cycle(0))
    run = ForecastRun.objects.get()
    assert run.status == Status.QUARANTINED and run.error_type == "InvalidInputError"
    assert str(paths.inputs_path(run.pk)) in run.error_message
    assert "HDF error" in run.error_message
    _assert_no_leftovers()
