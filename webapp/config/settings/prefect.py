"""Prefect and forecast-cycle settings: what the daily cycle runs, on which grid, how long."""

from webapp.config.env import REPO_ROOT, env

# Predictor: a checkpoint path, "persistence", or "module:factory". Empty = the demo checkpoint
# when stats/demo/checkpoint.npz exists, else persistence (the run record says which ran).
GCF_PREDICTOR = env.str("GCF_PREDICTOR", "")
GCF_DEMO_CHECKPOINT = env.path(
    "GCF_DEMO_CHECKPOINT", REPO_ROOT / "stats" / "demo" / "checkpoint.npz"
)
GCF_STATS_DIR = env.path("GCF_STATS_DIR", REPO_ROOT / "stats" / "demo")
# Inputs: "synthetic" (the offline world), "cds" (ERA5) or "opendata" (IFS real-time open data);
# empty = from the checkpoint's task: opendata for an operational-style task (no precipitation
# input), else cds when CDS credentials exist, else synthetic.
GCF_DATA_SOURCE = env.str("GCF_DATA_SOURCE", "")
# IFS open data: the server's base URL (ECMWF's, a mirror, or devtools/local_opendata), and the
# operational-style checkpoint the open-data cycles run.
GCF_OPENDATA_URL = env.str("GCF_OPENDATA_URL", "https://data.ecmwf.int/forecasts")
GCF_OPENDATA_PREDICTOR = env.str(
    "GCF_OPENDATA_PREDICTOR", str(REPO_ROOT / "stats" / "demo_operational" / "checkpoint.npz")
)
# When the daily ERA5 hindcast cycle is scheduled ("M H * * *", UTC): flows/deployments.py serves
# it and the home page shows the next one from it. 06:15 UTC by default.
GCF_DAILY_CRON = env.str("GCF_DAILY_CRON", "15 6 * * *")
GCF_GRID_DEG = env.float("GCF_GRID_DEG", 1.0)
GCF_LEVELS = env.int("GCF_LEVELS", 13)
GCF_STEPS = env.int("GCF_STEPS", 4)
# A QUEUED/RUNNING run whose heartbeat is older than this is failed by the reaper. While a flow
# waits it beats every 30 s and the worker beats every rollout step, so silence means both died.
GCF_STALE_AFTER_S = env.int("GCF_STALE_AFTER_S", 1800)
# The Prefect API the flows report to; empty = every flow process starts its own ephemeral API
# (the demo and tests): then there is no shared server for /healthz to check.
PREFECT_API_URL = env.str("PREFECT_API_URL", "")
# How admin reruns start the flow: "auto" (the Prefect deployment when PREFECT_API_URL is set,
# else a detached subprocess), "deployment" or "subprocess".
GCF_FLOW_LAUNCH = env.str("GCF_FLOW_LAUNCH", "auto")
