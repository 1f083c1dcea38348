"""What a forecast cycle runs: predictor, data source, grid, levels, steps (from settings)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CycleConfig:
    """The configuration of one cycle, stored on its run record.

    Attributes:
      predictor_spec: "persistence", a checkpoint path, or "module:factory".
      predictor_note: why the predictor differs from the configured one ("" if it does not).
      data_source: "synthetic" or "cds".
      grid_deg: grid spacing in degrees.
      levels: number of pressure levels (13, 25 or 37).
      steps: number of 6 h leads.
    """

    predictor_spec: str
    predictor_note: str
    data_source: str
    grid_deg: float
    levels: int
    steps: int


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
    say (resolution 0 means any grid) or `spec` is not a checkpoint file."""
    if not spec.endswith(".npz") or not Path(spec).is_file():
        return None, None
    from forecast.model import checkpoint

    loaded = checkpoint.load(spec)
    resolution = float(loaded.model_config.resolution)
    return (resolution or None), len(loaded.task_config.pressure_levels)


def cycle_config() -> CycleConfig:
    """The configuration the next scheduled or command-line cycle runs with.

    A checkpoint's own grid and levels win over GCF_GRID_DEG / GCF_LEVELS: GraphCast cannot
    run on another grid.
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
    return CycleConfig(
        predictor_spec=spec,
        predictor_note=note,
        data_source=choose_data_source(),
        grid_deg=grid_deg or settings.GCF_GRID_DEG,
        levels=levels or settings.GCF_LEVELS,
        steps=settings.GCF_STEPS,
    )
