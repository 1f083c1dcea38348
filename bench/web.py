"""The site at scale: p50/p99 latency and requests/s of its pages under concurrent clients.

Seeds a database with 10,000 runs (consecutive 6-hour cycles, ~7 years) and 1,000,000 score
rows (bulk inserts: COPY on PostgreSQL, executemany on SQLite), aggregates them through the
service (`verification_refresh_days`, then ANALYZE), writes one real forecast file for the
point API, serves the site with gunicorn (2 sync workers, production settings: DEBUG off)
and drives each page with N concurrent clients on localhost for a few seconds.

    .venv/bin/python bench/web.py [--db postgres sqlite] [--runs 10000] [--scores 1000000]
        [--clients 32] [--seconds 10] [--reuse] [--pages home "run list" ...] [--json OUT]

Pages are `PAGES` below: (label, URL name, how to build its arguments). A page whose URL name
does not exist in this checkout is reported as "not in this branch"; add a line to measure a
new one. The machine is shared: the load average before and after each page is printed and
recorded. Target: p99 < 50 ms for every page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VAR = REPO_ROOT / "var" / "bench" / "web"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "gcf_bench_web"

# (label, URL name, arguments): arguments name ids the seed step records ("newest",
# "scored", "point", "previous") or are literals; a "?query" after the name is appended.
PAGES: list[tuple[str, str, tuple]] = [
    ("home", "runs:home", ()),
    ("run list", "runs:list", ()),
    ("run list, filtered p3", "runs:list?status=succeeded&data_source=synthetic&page=3", ()),
    ("run detail", "runs:detail", ("scored",)),
    ("status.json", "runs:status", ("scored",)),
    ("map viewer", "runs:maps", ("point",)),
    ("compare", "runs:compare?a={point}&b={previous}", ()),
    ("point API", "api:run_point?lat=48.2&lon=16.4", ("point",)),
    ("runs API", "api:run_list?limit=50", ()),
    ("verification history", "verification:history", ()),
    ("scorecard", "verification:scorecard", ()),
    ("scorecard, 365 d, acc", "verification:scorecard?days=365&metric=acc", ()),
    ("run scores", "verification:run", ("scored",)),
    ("run scores API", "api:run_scores", ("scored",)),
]

FIELDS = (  # (variable, level, RMSE at day 1 in SI units, growth per day)
    ("geopotential", 500, 80.0, 1.45),
    ("temperature", 850, 0.9, 1.3),
    ("2m_temperature", 0, 1.1, 1.25),
    ("mean_sea_level_pressure", 0, 120.0, 1.4),
    ("10m_wind_vector", 0, 1.6, 1.3),
)
PREDICTORS = ("model", "persistence")
LEADS = (24, 72, 120, 168, 240)
REGIONS = ("global", "europe", "tropics")


# --- seeding (runs inside Django, in a subprocess per database) ----------------------------


def _seed(args: argparse.Namespace) -> None:
    import django

    django.setup()
    import datetime as dt

    import numpy as np
    from django.core.management import call_command
    from django.db import connection, transaction

    from webapp.runs.models import ForecastRun, Product
    from webapp.runs.paths import forecast_path
    from webapp.verification import services as score_services
    from webapp.verification.models import RunVerification, ScoreSum

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    Status = ForecastRun.Status
    newest = dt.datetime(2026, 11, 29, 18, tzinfo=dt.UTC)
    inits = [newest - dt.timedelta(hours=6 * k) for k in range(args.runs)]
    config = {
        "predictor_spec": "persistence",
        "grid_deg": 1.0,
        "levels": 13,
        "steps": 40,
        "data_source": "synthetic",
    }
    rng = np.random.default_rng(0)
    runs = []
    for k, init in enumerate(inits):
        status = Status.SUCCEEDED
        if k < 2:
            status = (Status.QUEUED, Status.RUNNING)[k]
        elif rng.random() < 0.03:
            status = Status.FAILED
        runs.append(
            ForecastRun(
                init_time=init,
                config=config,
                predictor_spec="persistence",
                predictor_name="persistence",
                data_source="synthetic",
                synthetic=True,
                grid_deg=1.0,
                levels=13,
                steps=40,
                status=status,
                queued_at=init,
                heartbeat_at=init,
                succeeded_at=init + dt.timedelta(hours=1) if status == Status.SUCCEEDED else None,
                failed_at=init + dt.timedelta(hours=1) if status == Status.FAILED else None,
                error_type="RuntimeError" if status == Status.FAILED else "",
                progress_step=40 if status == Status.SUCCEEDED else 0,
                progress_total=40,
                triggered_by=ForecastRun.Trigger.SCHEDULE,
                lineage={"inputs": "synthetic world", "seed": k},
                timings={"rollout": 12.5, "render": 3.1},
            )
        )
    with transaction.atomic():
        ForecastRun.objects.bulk_create(runs, batch_size=2000)
    runs = list(ForecastRun.objects.order_by("-init_time").values_list("pk", "init_time", "status"))
    succeeded = [(pk, init) for pk, init, status in runs if status == Status.SUCCEEDED]
    t_runs = time.perf_counter() - started

    # Maps of the newest 200 succeeded runs (what a run page lists).
    products = [
        Product(
            run_id=pk, kind="map", variable=variable, level=level, lead_hours=lead,
            file=f"runs/{pk}/{variable}_{level or 'sfc'}_{lead:03d}.png",
        )
        for pk, _ in succeeded[:200]
        for variable, level in (("2m_temperature", None), ("geopotential", 500),
                                ("mean_sea_level_pressure", None), ("temperature", 850))
        for lead in range(6, 241, 24)
    ]  # fmt: skip
    Product.objects.bulk_create(products, batch_size=5000)

    # Score rows: FIELDS × PREDICTORS × LEADS × REGIONS per run (150), newest succeeded runs
    # first, exactly `--scores` rows (the last run scored partly, as a run mid-verification).
    per_run = len(FIELDS) * len(PREDICTORS) * len(LEADS) * len(REGIONS)
    scored = succeeded[: max(1, -(-args.scores // per_run))]
    now = dt.datetime.now(dt.UTC)
    rows = []
    for pk, init in scored:
        noise = rng.lognormal(0.0, 0.1, size=per_run)
        k = 0
        for variable, level, rmse1, growth in FIELDS:
            for predictor in PREDICTORS:
                factor = 1.0 if predictor == "model" else 1.6
                for lead in LEADS:
                    rmse = rmse1 * factor * growth ** (lead / 24 - 1)
                    acc = max(0.05, 0.995 - 0.0009 * factor * lead)
                    for region in REGIONS:
                        e2 = (rmse * noise[k]) ** 2
                        rows.append((
                            now, now, pk, "era5", predictor, variable, level, lead, region,
                            init, init + dt.timedelta(hours=lead), 1.0, 0.1 * rmse,
                            e2, 0.8 * rmse, acc, 1.0, 1.0,
                        ))  # fmt: skip
                        k += 1
    del rows[args.scores :]
    columns = (
        "created_at, updated_at, run_id, truth_source, predictor, variable, level, lead_hours, "
        "region, init_time, valid_time, sum_w, sum_e, sum_e2, sum_abs_e, sum_fa, sum_ff, sum_aa"
    )
    table = ScoreSum._meta.db_table
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * 18)
            for i in range(0, len(rows), 50_000):
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[i : i + 50_000]
                )
    t_scores = time.perf_counter() - t0
    RunVerification.objects.bulk_create(
        [
            RunVerification(
                run_id=pk, leads_scored=list(LEADS), leads_total=40, scored_at=now,
                truth_until=init + dt.timedelta(hours=240), climatology="synthetic world",
            )
            for pk, init in scored
        ],
        batch_size=5000,
    )  # fmt: skip
    t0 = time.perf_counter()
    days = score_services.verification_refresh_days()
    t_days = time.perf_counter() - t0
    t0 = time.perf_counter()
    score_services.database_analyze(
        tables=[
            ForecastRun._meta.db_table,
            Product._meta.db_table,
            table,
            "verification_scoreday",
            RunVerification._meta.db_table,
        ]
    )
    t_analyze = time.perf_counter() - t0

    point_run = succeeded[0][0]
    _write_forecast(forecast_path(point_run), succeeded[0][1])
    ids = {
        "newest": runs[0][0],
        "scored": scored[0][0],
        "point": point_run,
        "previous": succeeded[1][0],
    }
    seeded = {
        "runs": ForecastRun.objects.count(),
        "score_rows": ScoreSum.objects.count(),
        "score_days": days,
        "products": len(products),
        "seconds": {
            "runs": round(t_runs, 1),
            "score_rows": round(t_scores, 1),
            "day_aggregates": round(t_days, 1),
            "analyze": round(t_analyze, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "ids": ids,
    }
    Path(args.seed_out).write_text(json.dumps(seeded, indent=2))


def _resolve_urls(args: argparse.Namespace) -> None:
    """Adds this checkout's URL of each page to the seed record (None: no such page here),
    after applying this checkout's migrations (a reused database may predate some)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.urls import NoReverseMatch, reverse

    call_command("migrate", verbosity=0)

    seeded = json.loads(Path(args.seed_out).read_text())
    ids = seeded["ids"]
    urls = {}
    for label, name, arguments in PAGES:
        name, _, query = name.partition("?")
        try:
            url = reverse(name, args=[ids[a] if a in ids else a for a in arguments])
        except NoReverseMatch:
            urls[label] = None
            continue
        urls[label] = url + ("?" + query.format(**ids) if query else "")
    seeded["urls"] = urls
    Path(args.seed_out).write_text(json.dumps(seeded, indent=2))


def _write_forecast(path: Path, init) -> None:
    """A 1° forecast with the point series' variables (40 leads), as the cycle writes it."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from forecast.io.atomic import atomic_output

    lat = np.linspace(-90, 90, 181)
    lon = np.arange(0, 360, 1.0)
    init = pd.Timestamp(init).tz_convert(None)
    leads = pd.to_timedelta(np.arange(1, 41) * 6, unit="h")
    rng = np.random.default_rng(1)
    shape = (leads.size, lat.size, lon.size)
    base = {
        "2m_temperature": 288.0 - 30 * np.abs(np.sin(np.radians(lat)))[None, :, None],
        "mean_sea_level_pressure": np.full((1, 1, 1), 101_325.0),
        "10m_u_component_of_wind": np.zeros((1, 1, 1)),
        "10m_v_component_of_wind": np.zeros((1, 1, 1)),
        "total_precipitation_6hr": np.zeros((1, 1, 1)),
    }
    spread = {"2m_temperature": 3.0, "mean_sea_level_pressure": 800.0,
              "10m_u_component_of_wind": 5.0, "10m_v_component_of_wind": 5.0,
              "total_precipitation_6hr": 0.001}  # fmt: skip
    data = {
        name: (("time", "lat", "lon"), (value + spread[name] * rng.standard_normal(shape)).astype(
            np.float32))
        for name, value in base.items()
    }  # fmt: skip
    dataset = xr.Dataset(
        data,
        coords={"time": init + leads, "lat": lat, "lon": lon, "lead_time": ("time", leads)},
        attrs={"init_time": init.isoformat(), "predictor": "persistence", "synthetic": 1},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        dataset.to_netcdf(tmp)


# --- load (plain asyncio HTTP/1.1 clients; no Django in this process) ----------------------


async def _get(host: str, port: int, path: str) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
    return status, len(data)


async def _timed(host: str, port: int, path: str) -> float:
    t0 = time.perf_counter()
    await _get(host, port, path)
    return 1000 * (time.perf_counter() - t0)


async def _load(host: str, port: int, path: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sizes: list[int] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status, size = await _get(host, port, path)
            except OSError:
                status, size = -1, 0
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            sizes.append(size)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(0.50), 1),
        "p99_ms": round(pct(0.99), 1),
        "max_ms": round(1000 * latencies[-1], 1),
        "statuses": statuses,
        "bytes": round(sum(sizes) / max(1, len(sizes))),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _prepare_database(kind: str, reuse: bool) -> str:
    if kind == "sqlite":
        path = VAR / "web.sqlite3"
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    if not reuse:
        with psycopg.connect(
            PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"


def _bench_database(kind: str, args: argparse.Namespace) -> dict:
    VAR.mkdir(parents=True, exist_ok=True)
    var_dir = VAR / f"var-{kind}"
    url = _prepare_database(kind, args.reuse)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GCF_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "webapp.config.django.production",
        "DJANGO_SECRET_KEY": "bench-web-not-secret-" + "x" * 40,
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Clients speak to gunicorn as the TLS-ending proxy would: plain HTTP, no redirect.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GCF_LOG_LEVEL": "WARNING",
    }
    seed_out = VAR / f"seed-{kind}.json"
    if not (args.reuse and seed_out.exists()):
        print(f"[{kind}] seeding {args.runs} runs and {args.scores} score rows…", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--seed-only", "--seed-out", str(seed_out),
             "--runs", str(args.runs), "--scores", str(args.scores)],
            env=env, check=True, cwd=REPO_ROOT,
        )  # fmt: skip
    subprocess.run(
        [sys.executable, __file__, "--urls-only", "--seed-out", str(seed_out)],
        env=env, check=True, cwd=REPO_ROOT,
    )  # fmt: skip
    seeded = json.loads(seed_out.read_text())
    print(
        f"[{kind}] seeded: {json.dumps({k: seeded[k] for k in ('runs', 'score_rows', 'score_days', 'seconds')})}"
    )
    port = _free_port()
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "webapp.config.wsgi:application",
         "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        env=env, cwd=REPO_ROOT, start_new_session=True,
    )  # fmt: skip
    results: dict = {"database": kind, "seeded": seeded, "pages": {}}
    try:
        for _ in range(200):
            try:
                if asyncio.run(_get("127.0.0.1", port, "/api/openapi.json"))[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn did not answer on port {port}")
        for label, _, _ in PAGES:
            if args.pages and label not in args.pages:
                continue
            path = seeded["urls"].get(label)
            if path is None:
                print(f"[{kind}] {label:24s} not in this branch")
                results["pages"][label] = None
                continue
            warm = [asyncio.run(_get("127.0.0.1", port, path))[0] for _ in range(3)]
            if warm[-1] != 200:
                print(f"[{kind}] {label:24s} {path} answers {warm[-1]}: skipped")
                results["pages"][label] = {"path": path, "status": warm[-1]}
                continue
            # Uncached: what a page costs after its data changed (a unique ignored parameter
            # defeats the page cache), one client, so no queueing.
            cold = sorted(
                asyncio.run(
                    _timed("127.0.0.1", port, f"{path}{'&' if '?' in path else '?'}cold={k}")
                )
                for k in range(5)
            )
            # One client: the service time of a (cached) request, without queueing.
            single = asyncio.run(_load("127.0.0.1", port, path, 1, min(2.0, args.seconds)))
            before = _load_avg()
            figures = asyncio.run(_load("127.0.0.1", port, path, args.clients, args.seconds))
            figures |= {
                "path": path,
                "one_client_p50_ms": single["p50_ms"],
                "uncached_median_ms": round(cold[2], 1),
                "load_before": before,
                "load_after": _load_avg(),
            }
            results["pages"][label] = figures
            flag = "" if figures["p99_ms"] < 50 else "  (p99 over 50 ms)"
            print(
                f"[{kind}] {label:24s} p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms"
                f"  {figures['rps']:7.1f} req/s  {figures['bytes'] / 1024:6.1f} KB"
                f"  1 client {figures['one_client_p50_ms']:5.1f} ms"
                f"  uncached {figures['uncached_median_ms']:6.1f} ms"
                f"  load {before} → {figures['load_after']}{flag}",
                flush=True,
            )
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"]
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--scores", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded databases")
    parser.add_argument("--pages", nargs="+", help="only these pages (labels, as printed)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed-out", help=argparse.SUPPRESS)
    parser.add_argument("--urls-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_only or args.urls_only:
        sys.path.insert(0, str(REPO_ROOT))
        _seed(args) if args.seed_only else _resolve_urls(args)
        return
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_start": _load_avg()},
        "config": {k: getattr(args, k) for k in ("runs", "scores", "clients", "seconds", "workers")},
        "databases": [_bench_database(kind, args) for kind in args.db],
    }  # fmt: skip
    report["machine"]["load_end"] = _load_avg()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
