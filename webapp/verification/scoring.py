"""Scores from stored sums: the per-run definitions as database expressions, and windows.

The definitions are `forecast.verify.metrics`' (WeatherBench2's): per run, MSE = sum_e2/sum_w,
bias = sum_e/sum_w, MAE = sum_abs_e/sum_w, ACC = sum_fa/sqrt(sum_ff·sum_aa); over a window of
runs each is the mean of the per-run values, except RMSE = sqrt(mean MSE) (root after
averaging). A window where some run's value is undefined (null) reports null, as
WeatherBench2's `skipna=False`.
"""

from __future__ import annotations

import math

from django.db.models import Case, F, FloatField, Q, Value, When
from django.db.models.functions import Sqrt

# Per-run scores that window means are taken of (RMSE follows from MSE).
MEAN_SCORES = ("mse", "bias", "mae", "acc")


def per_run_expressions() -> dict:
    """`{score: expression}` of one run's MSE, bias, MAE and ACC over a `ScoreSum` row."""
    return {
        "mse": F("sum_e2") / F("sum_w"),
        "bias": F("sum_e") / F("sum_w"),
        "mae": F("sum_abs_e") / F("sum_w"),
        # Undefined (null) where an anomaly vanishes everywhere, e.g. the climatology itself.
        "acc": Case(
            When(
                Q(sum_ff__gt=0) & Q(sum_aa__gt=0),
                then=F("sum_fa") / Sqrt(F("sum_ff") * F("sum_aa")),
            ),
            default=Value(None),
            output_field=FloatField(),
        ),
    }


def window_from_totals(*, runs: int, totals: dict, counts: dict) -> dict[str, float | None]:
    """Window scores from Σ per-run values and their counts over `runs` runs.

    Returns:
      `{"n", "rmse", "mse", "bias", "mae", "acc"}`: a score is null unless every run has it.
    """
    out: dict = {"n": runs}
    for name in MEAN_SCORES:
        total = totals.get(name)
        out[name] = (
            total / runs if runs and counts.get(name) == runs and total is not None else None
        )
    mse = out["mse"]
    out["rmse"] = math.sqrt(mse) if mse is not None and mse >= 0 else None
    return out
