"""What the next forecast cycle runs (predictor, data source, grid, levels, steps, limits),
decided from the settings once, as the run's frozen `RunConfig`."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from forecast.errors import InvalidInputError
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


SOURCES = ("synthetic", "cds", "opendata")


def choose_data_source(task=None, requested: str = "") -> str:
    """The cycle's data source: `requested` (a deployment's), else GCF_DATA_SOURCE, else from
    the checkpoint's task — IFS open data for an operational-style task (no precipitation
    input, like GraphCast_operational), else ERA5 from the CDS when credentials are
    configured, else the offline synthetic world."""
    source = requested or settings.GCF_DATA_SOURCE
    if source:
        if source not in SOURCES:
            named = "source" if requested else "GCF_DATA_SOURCE"
            raise ValueError(f"{named}={source!r}: use one of {', '.join(SOURCES)}")
        return source
    if task is not None:
        from forecast.data.opendata import default_source_for_task

        if default_source_for_task(task) == "opendata":
            return "opendata"
    from forecast.data.cds import CdsConfigurationError, resolve_configuration

    try:
        resolve_configuration()
    except CdsConfigurationError:
        logger.info("no CDS credentials: the cycle runs on the synthetic world")
        return "synthetic"
    return "cds"


def _checkpoint(spec: str):
    """The loaded checkpoint `spec` names, or None (not a checkpoint, or no such file)."""
    parsed = parse_predictor_spec(spec)
    if parsed.kind != "checkpoint" or not Path(parsed.target).is_file():
        return None
    from forecast.model import checkpoint

    return checkpoint.load(parsed.target)


def checkpoint_grid(spec: str) -> tuple[float | None, int | None]:
    """(grid spacing, number of levels) a checkpoint was trained for; None where it does not
    say (resolution 0 means any grid) or `spec` is not an existing checkpoint file."""
    return _grid_of(_checkpoint(spec))


def _grid_of(loaded) -> tuple[float | None, int | None]:
    if loaded is None:
        return None, None
    resolution = float(loaded.model_config.resolution)
    return (resolution or None), len(loaded.task_config.pressure_levels)


def cycle_config(*, source: str = "", predictor_spec: str = "") -> RunConfig:
    """The frozen configuration the next scheduled or command-line cycle runs with.

    A checkpoint's own grid and levels win over GCF_GRID_DEG / GCF_LEVELS: GraphCast cannot
    run on another grid. The checkpoint's sha256 is taken now: it is the run's identity, and
    a worker refuses a checkpoint file that changed since. The data source follows the
    checkpoint's task unless `source` or GCF_DATA_SOURCE says otherwise.

    Args:
      source: the data source a deployment asks for ("" = decided as above).
      predictor_spec: the predictor a deployment asks for ("" = GCF_PREDICTOR or the demo's).

    Raises:
      InvalidInputError: open data asked for a checkpoint that reads precipitation.
    """
    spec, note = (predictor_spec, "") if predictor_spec else choose_predictor()
    loaded = _checkpoint(spec)
    data_source = choose_data_source(loaded.task_config if loaded else None, source)
    if data_source == "opendata" and loaded is not None:
        from forecast.data.opendata import is_operational_task

        if not is_operational_task(loaded.task_config):
            raise InvalidInputError(
                f"checkpoint {spec} reads total_precipitation_6hr, which IFS open data do not "
                "provide: run it on ERA5 (source cds) or use an operational-style checkpoint"
            )
    grid_deg, levels = _grid_of(loaded)
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
        data_source=data_source,
        opendata_url=settings.GCF_OPENDATA_URL if data_source == "opendata" else "",
        grid_deg=grid_deg or settings.GCF_GRID_DEG,
        levels=levels or settings.GCF_LEVELS,
        steps=settings.GCF_STEPS,
        rollout_soft_time_limit_s=soft_s,
        rollout_time_limit_s=hard_s,
        render_time_limit_s=settings.GCF_RENDER_TIMEOUT_S,
        render_parts=settings.GCF_RENDER_PARTS,
    )
