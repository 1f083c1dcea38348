"""The frozen configuration of a run, and the one parser of predictor specs.

A `RunConfig` is decided once, when the run is created, and stored verbatim on the record
(`ForecastRun.config`). Every step executes it — the worker reads the checkpoint, stats and
grid from it, never from lineage or from its own settings — so a rerun repeats exactly what
ran, and a checkpoint changed on disk since is refused rather than silently used.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Literal

from forecast.errors import InvalidInputError

# "package.module:factory" naming a zero-argument callable that returns a predictor.
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# NetCDF (CF-1.11) and Zarr for every run; "grib2" on request (forecast.io.write_forecast).
OUTPUT_FORMATS = ("netcdf", "zarr")


@dataclasses.dataclass(frozen=True)
class PredictorSpec:
    """What a predictor spec names.

    Attributes:
      kind: "persistence" (the baseline), "checkpoint" (a GraphCast `.npz`) or "factory".
      target: the checkpoint path or the "module:callable" ("" for persistence).
    """

    kind: Literal["persistence", "checkpoint", "factory"]
    target: str = ""

    @property
    def factory(self) -> tuple[str, str]:
        """(module, attribute) of a factory spec."""
        module, _, attribute = self.target.partition(":")
        return module, attribute


def parse_predictor_spec(spec: str) -> PredictorSpec:
    """Parses "persistence", a checkpoint path, or "package.module:factory".

    An existing file wins over the factory form (a path may contain a colon).

    Raises:
      InvalidInputError: the spec is empty or none of the three forms.
    """
    if spec == "persistence":
        return PredictorSpec("persistence")
    if spec.endswith(".npz") or (spec and Path(spec).is_file()):
        return PredictorSpec("checkpoint", spec)
    if _FACTORY.match(spec):
        return PredictorSpec("factory", spec)
    raise InvalidInputError(
        f"predictor spec {spec!r} is none of: 'persistence', a checkpoint .npz path, "
        "'package.module:factory'"
    )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run executes, frozen at creation and stored as JSON on the record.

    Attributes:
      predictor_spec: "persistence", a checkpoint path, or "module:factory".
      predictor_note: why the predictor differs from the configured one ("" if it does not).
      checkpoint_path: the checkpoint file ("" when the predictor is not a checkpoint).
      checkpoint_sha256: its hex sha256 at configuration time (the run's checkpoint identity).
      stats_dir: the normalisation statistics the checkpoint needs.
      data_source: "synthetic", "cds" (ERA5) or "opendata" (IFS real-time open data).
      opendata_url: the open-data server's base URL ("opendata" runs only).
      grid_deg: grid spacing in degrees.
      levels: number of pressure levels (13, 25 or 37).
      steps: number of 6 h leads.
      output_formats: the forecast file formats to write.
      rollout_soft_time_limit_s: Celery soft limit of the rollout (SoftTimeLimitExceeded).
      rollout_time_limit_s: Celery hard limit (the pool process is killed).
      render_time_limit_s: Celery hard limit of each products task (a render part, publish).
      render_parts: render tasks the products fan out to on the `cpu` queue (at most one
        per main field: more get nothing to draw).
    """

    predictor_spec: str
    grid_deg: float
    levels: int
    steps: int
    data_source: str = "synthetic"
    opendata_url: str = ""
    predictor_note: str = ""
    checkpoint_path: str = ""
    checkpoint_sha256: str = ""
    stats_dir: str = ""
    output_formats: tuple[str, ...] = OUTPUT_FORMATS
    rollout_soft_time_limit_s: int = 7140
    rollout_time_limit_s: int = 7200
    render_time_limit_s: int = 3600
    render_parts: int = 2

    def __post_init__(self) -> None:
        parse_predictor_spec(self.predictor_spec)
        if self.render_parts < 1:
            raise InvalidInputError(f"render_parts must be at least 1, not {self.render_parts}")
        if self.rollout_soft_time_limit_s > self.rollout_time_limit_s:
            raise InvalidInputError(
                f"rollout soft time limit {self.rollout_soft_time_limit_s} s exceeds the hard "
                f"limit {self.rollout_time_limit_s} s"
            )

    @property
    def predictor(self) -> PredictorSpec:
        """The parsed predictor spec."""
        return parse_predictor_spec(self.predictor_spec)

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready data (what `ForecastRun.config` stores)."""
        data = dataclasses.asdict(self)
        data["output_formats"] = list(self.output_formats)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        """The config stored on a run; unknown keys are refused (a newer writer's record)."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidInputError(f"run config has unknown keys {sorted(unknown)}")
        values = dict(data)
        if "output_formats" in values:
            values["output_formats"] = tuple(values["output_formats"])
        return cls(**values)


def time_limits(hard_s: int) -> tuple[int, int]:
    """(soft, hard) Celery limits for a step allowed `hard_s` seconds: the soft limit comes a
    tenth earlier (at most a minute) so the step can stop cleanly before it is killed."""
    return max(1, hard_s - min(60, max(1, hard_s // 10))), hard_s
