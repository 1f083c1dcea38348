"""Prefect flows of the service: the daily forecast cycle, backfills, deployments.

Importing this package sets Prefect's defaults for offline machines before Prefect loads:
telemetry off and PREFECT_HOME under the service's var/ directory.
"""

import os
from pathlib import Path

_VAR_DIR = Path(os.environ.get("GCF_VAR_DIR") or Path(__file__).resolve().parents[1] / "var")
os.environ.setdefault("PREFECT_HOME", str(_VAR_DIR / "prefect"))
# The machines are offline: no usage telemetry from the server or the client.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# The ephemeral API server starts slowly on a busy 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
