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


def cycle_config() -> CycleConfig:
    """The configuration the next scheduled or command-line cycle runs with."""
    spec, note = choose_predictor()
    return CycleConfig(
        predictor_spec=spec,
        predictor_note=note,
        data_source=choose_data_source(),
        grid_deg=settings.GCF_GRID_DEG,
        levels=settings.GCF_LEVELS,
        steps=settings.GCF_STEPS,
    )
