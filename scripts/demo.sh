#!/usr/bin/env bash
# The demo: setup → Redis → migrate → admin user → Celery workers (gpu, cpu) → one full
# daily_forecast cycle on the offline synthetic world → the site on http://127.0.0.1:8000.
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - started) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

scripts/setup.sh

export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-webapp.config.django.local}
export GCF_VAR_DIR=${GCF_VAR_DIR:-$PWD/var}
export GCF_REDIS_PORT=${GCF_REDIS_PORT:-6390}   # the project's own Redis, not the system's 6379
export GCF_REDIS_URL=redis://127.0.0.1:$GCF_REDIS_PORT
export GCF_DATA_SOURCE=${GCF_DATA_SOURCE:-synthetic}
export GCF_GRID_DEG=${GCF_GRID_DEG:-1.0}
export GCF_STEPS=${GCF_STEPS:-40}   # 10 days of 6-h leads
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
PY=$PWD/.venv/bin/python
logs=$GCF_VAR_DIR/logs
mkdir -p "$logs"

pids=()
stop_all() {
  trap - EXIT INT TERM
  echo "demo: stopping"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
}
trap stop_all EXIT INT TERM
# Each service in its own process group, so stopping it stops its children too.
spawn() { setsid "$@" & pids+=($!); }

spawn "$PY" -m webapp.infra.redis_server --port "$GCF_REDIS_PORT" --dir "$GCF_VAR_DIR/redis" >"$logs/redis.log" 2>&1
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$GCF_REDIS_PORT") 2>/dev/null && break; sleep 0.1; done
echo "demo: redis on $GCF_REDIS_URL"

"$PY" manage.py migrate --noinput -v0
"$PY" manage.py ensure_admin

for queue in gpu cpu; do
  spawn "$PY" -m celery -A webapp worker -Q "$queue" -c 1 -n "$queue@%h" --loglevel INFO \
    --without-gossip --without-mingle >"$logs/celery-$queue.log" 2>&1
done
echo "demo: celery workers (gpu, cpu) started; logs in $logs"

echo "demo: running one daily_forecast cycle ($GCF_STEPS steps, $GCF_DATA_SOURCE data; the checkpoint's own grid, ${GCF_GRID_DEG}° for persistence)"
"$PY" -m flows.daily --triggered-by cli
echo "demo: cycle done after $(elapsed) s"

if [ "$GCF_DATA_SOURCE" = synthetic ]; then
  # One cycle a day earlier, whose valid times' truth has already "arrived" (the synthetic world
  # mimics ERA5T's 5-day delay), then the verify flow: the site opens with a scored run and a
  # verification history, not only a fresh run still waiting for its truth.
  earlier=$("$PY" -c 'import datetime as dt; from forecast.data.acquire import resolve_init_time; print((resolve_init_time("synthetic") - dt.timedelta(days=1)).isoformat())')
  echo "demo: running an earlier cycle ($earlier) and the verify flow"
  "$PY" -m flows.daily --init-time "$earlier" --triggered-by cli
  "$PY" -m flows.verify
  echo "demo: verification done after $(elapsed) s"
fi

port=${GCF_SITE_PORT:-8000}
spawn "$PY" manage.py runserver "127.0.0.1:$port" --noreload
for _ in $(seq 200); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1
done
echo "demo: site served at http://127.0.0.1:$port after $(elapsed) s from start (admin: /admin/). Ctrl-C stops."
wait "${pids[-1]}"
