"""What the next forecast cycle runs (predictor, data source, grid, levels, steps, limits),
decided from the settings once, as the run's frozen `RunConfig`."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from webapp.runs.config import RunConfig, parse_predictor_spec, time_limits

logger = logging.getLogger(__name__)


def choose_predictor() -> tuple[str, str]:
    """(spec, note): GCF_PREDICTOR when set; else the demo checkpoint when it exists; else the
    persistence baseline, with a note saying it is a fallback."""
    if settings.GCF_PREDICTOR:
        return settings.GCF_PREDICTOR, ""
    checkpoint = Path(settings.GCF_DEMO_CHECKPOINT)
    if checkpoint.is_file():
        return str(checkpoint), ""
    note = (
        f"fallback: the demo checkpoint {checkpoint} does not exist, so the persistence "
        "baseline ran instead of GraphCast"
    )
    logger.warning(note)
    return "persistence", note


def choose_data_source() -> str:
    """GCF_DATA_SOURCE when set; else "cds" when CDS credentials are configured, else the
    offline synthetic world."""
    if settings.GCF_DATA_SOURCE:
        if settings.GCF_DATA_SOURCE not in ("synthetic", "cds"):
            raise ValueError(f"GCF_DATA_SOURCE={settings.GCF_DATA_SOURCE!r}: use synthetic or cds")
        return settings.GCF_DATA_SOURCE
    from forecast.data.cds import CdsConfigurationError, resolve_configuration

    try:
        resolve_configuration()
    except CdsConfigurationError:
        logger.info("no CDS credentials: the cycle runs on the synthetic world")
        return "synthetic"
    return "cds"


def checkpoint_grid(spec: str) -> tuple[float | None, int | None]:
    """(grid spacing, number of levels) a checkpoint was trained for; None where it does not
    say (resolution 0 means any grid) or `spec` is not an existing checkpoint file."""
    parsed = parse_predictor_spec(spec)
    if parsed.kind != "checkpoint" or not Path(parsed.target).is_file():
        return None, None
    from forecast.model import checkpoint

    loaded = checkpoint.load(parsed.target)
    resolution = float(loaded.model_config.resolution)
    return (resolution or None), len(loaded.task_config.pressure_levels)


def cycle_config() -> RunConfig:
    """The frozen configuration the next scheduled or command-line cycle runs with.

    A checkpoint's own grid and levels win over GCF_GRID_DEG / GCF_LEVELS: GraphCast cannot
    run on another grid. The checkpoint's sha256 is taken now: it is the run's identity, and
    a worker refuses a checkpoint file that changed since.
    """
    spec, note = choose_predictor()
    grid_deg, levels = checkpoint_grid(spec)
    if grid_deg and grid_deg != settings.GCF_GRID_DEG:
        logger.info(
            "checkpoint %s needs a %s° grid (GCF_GRID_DEG=%s)",
            spec,
            grid_deg,
            settings.GCF_GRID_DEG,
        )
    checkpoint_path = sha256 = ""
    if parse_predictor_spec(spec).kind == "checkpoint" and Path(spec).is_file():
        from forecast.model.checkpoint import file_sha256

        checkpoint_path, sha256 = str(Path(spec).resolve()), file_sha256(spec)
    soft_s, hard_s = time_limits(settings.GCF_ROLLOUT_TIMEOUT_S)
    return RunConfig(
        predictor_spec=spec,
        predictor_note=note,
        checkpoint_path=checkpoint_path,
        checkpoint_sha256=sha256,
        stats_dir=str(settings.GCF_STATS_DIR),
        data_source=choose_data_source(),
        grid_deg=grid_deg or settings.GCF_GRID_DEG,
        levels=levels or settings.GCF_LEVELS,
        steps=settings.GCF_STEPS,
        rollout_soft_time_limit_s=soft_s,
        rollout_time_limit_s=hard_s,
        render_time_limit_s=settings.GCF_RENDER_TIMEOUT_S,
    )
