"""Skill of a checkpoint against persistence on held-out dates of the synthetic world.

For each init time t the two input frames (t − 6 h, t) and the truth at t + 6 h·k come from
`synthetic_era5` on the checkpoint's grid; the forecast comes from the inference path
(`GraphCastPredictor`, bf16 as in service), persistence repeats the frame at t. RMSE is
area-weighted (`forecast.verify.weights.area_weights`) over the globe and aggregated as
√(mean over inits of the MSE), roots taken last as WeatherBench 2 does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.synthetic import synthetic_era5
from forecast.predictor import GraphCastPredictor
from forecast.verify.weights import area_weights

STEP = pd.Timedelta(hours=6)
# (variable, level or None): the headline fields of the demo's acceptance test.
HEADLINE = (("geopotential", 500), ("temperature", 850), ("2m_temperature", None))


@dataclasses.dataclass(frozen=True)
class SkillTable:
    """RMSE of the model and of persistence per field and lead.

    Attributes:
        model, persistence: `{(variable, level): {lead_hours: rmse}}`.
        init_times: the init times averaged over.
    """

    model: dict[tuple[str, int | None], dict[int, float]]
    persistence: dict[tuple[str, int | None], dict[int, float]]
    init_times: tuple[pd.Timestamp, ...]

    def beats_persistence(self) -> bool:
        """Whether the model's RMSE is below persistence's for every field and lead."""
        return all(
            self.model[key][lead] < self.persistence[key][lead]
            for key in self.model
            for lead in self.model[key]
        )

    def lines(self) -> list[str]:
        """A plain-text table, one line per field and lead."""
        out = ["field              lead   model RMSE   persistence RMSE   ratio"]
        for (name, level), by_lead in self.model.items():
            label = f"{name}{'@' + str(level) if level else ''}"
            for lead, rmse in by_lead.items():
                base = self.persistence[(name, level)][lead]
                out.append(f"{label:18s} {lead:3d} h {rmse:12.4g} {base:18.4g} {rmse / base:7.3f}")
        return out


def _field(ds: xr.Dataset, name: str, level: int | None) -> xr.DataArray:
    array = ds[name]
    return array.sel(level=level) if level is not None else array


def skill_against_persistence(
    checkpoint: str | Path,
    stats_dir: str | Path,
    init_times: Sequence[pd.Timestamp | str],
    *,
    leads_hours: Sequence[int] = (6, 24, 72),
    fields: Sequence[tuple[str, int | None]] = HEADLINE,
    seed: int = 0,
) -> SkillTable:
    """RMSE of the checkpoint and of persistence at `leads_hours` (multiples of 6).

    Args:
        checkpoint: GraphCast checkpoint (official layout); its resolution sets the grid.
        stats_dir: its normalisation statistics.
        init_times: held-out init times.
        leads_hours: lead times to score.
        fields: `(variable, level)` pairs (level None for surface variables).
        seed: the synthetic world's seed.

    Returns:
        The `SkillTable`.
    """
    predictor = GraphCastPredictor.from_files(checkpoint, stats_dir)
    resolution = float(predictor.rollout.checkpoint.model_config.resolution) or 4.0
    levels = predictor.rollout.checkpoint.task_config.pressure_levels
    steps = max(leads_hours) // 6
    sums = {key: {lead: 0.0 for lead in leads_hours} for key in fields}
    base_sums = {key: {lead: 0.0 for lead in leads_hours} for key in fields}
    inits = tuple(pd.Timestamp(t) for t in init_times)
    weights = None
    for init in inits:
        inputs = synthetic_era5([init - STEP, init], grid_deg=resolution, levels=levels, seed=seed)
        truth = synthetic_era5(
            [init + pd.Timedelta(hours=h) for h in leads_hours],
            grid_deg=resolution,
            levels=levels,
            seed=seed,
            variables=sorted({name for name, _ in fields}),
        )
        forecast = predictor.forecast(inputs, steps=steps)
        if weights is None:
            weights = area_weights(inputs["lat"].values)[:, None]
            weights = weights / weights.mean()
        for key in fields:
            persisted = _field(inputs, *key).isel(time=-1).values.astype(np.float64)
            for lead in leads_hours:
                valid = init + pd.Timedelta(hours=lead)
                target = _field(truth, *key).sel(time=valid).values.astype(np.float64)
                predicted = _field(forecast, *key).sel(time=valid).values.astype(np.float64)
                sums[key][lead] += float(np.mean(weights * (predicted - target) ** 2))
                base_sums[key][lead] += float(np.mean(weights * (persisted - target) ** 2))
    n = len(inits)
    return SkillTable(
        model={k: {lead: np.sqrt(v / n) for lead, v in d.items()} for k, d in sums.items()},
        persistence={
            k: {lead: np.sqrt(v / n) for lead, v in d.items()} for k, d in base_sums.items()
        },
        init_times=inits,
    )
