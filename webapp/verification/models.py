"""Verification records: additive score sums per (run, truth, predictor, field, lead, region),
their per-day aggregates (what window scores read), and the list of scored regions."""

from __future__ import annotations

from django.db import models

from webapp.runs.models import BaseModel, ForecastRun

# Field names of the additive sums, as `forecast.verify.metrics.SUM_NAMES`.
SUM_FIELDS = ("sum_w", "sum_e", "sum_e2", "sum_abs_e", "sum_fa", "sum_ff", "sum_aa")


class TruthSource(models.TextChoices):
    """What a forecast is scored against: ERA5 (the reference, days late) or a faster tier."""

    ERA5 = "era5", "ERA5 reanalysis"
    IFS_ANALYSIS = "ifs_analysis", "IFS analysis (ECMWF open data)"


DEFAULT_TRUTH = TruthSource.ERA5.value


class ScoreSum(BaseModel):
    """The weighted sums of one field's errors for one run, predictor, lead and region.

    With w the area weights times the region mask, e = f − a, f' = f − c, a' = a − c:
    sum_w = Σw, sum_e = Σw·e, sum_e2 = Σw·e², sum_abs_e = Σw·|e|, sum_fa = Σw·f'a',
    sum_ff = Σw·f'², sum_aa = Σw·a'² (wind vectors: sum_e2 = Σw·(e_u² + e_v²), other sums
    null). Null means undefined (no climatology, NaN field). Any window's scores follow from
    these rows without re-reading fields (see `webapp.verification.selectors`).
    """

    class Predictor(models.TextChoices):
        MODEL = "model", "Model"
        PERSISTENCE = "persistence", "Persistence"
        CLIMATOLOGY = "climatology", "Climatology"

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="score_sums")
    truth_source = models.CharField(
        max_length=30, choices=TruthSource.choices, default=DEFAULT_TRUTH
    )
    predictor = models.CharField(max_length=20, choices=Predictor.choices)
    variable = models.CharField(max_length=100)
    level = models.PositiveSmallIntegerField(help_text="hPa; 0 for surface fields")
    lead_hours = models.PositiveIntegerField()
    region = models.CharField(max_length=60)
    init_time = models.DateTimeField(db_index=True)
    valid_time = models.DateTimeField()
    sum_w = models.FloatField()
    sum_e = models.FloatField(null=True)
    sum_e2 = models.FloatField(null=True)
    sum_abs_e = models.FloatField(null=True)
    sum_fa = models.FloatField(null=True)
    sum_ff = models.FloatField(null=True)
    sum_aa = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "run",
                    "truth_source",
                    "predictor",
                    "variable",
                    "level",
                    "lead_hours",
                    "region",
                ],
                name="verification_scoresum_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(sum_w__gt=0), name="verification_sum_w_positive"
            ),
        ]
        indexes = [
            # History of one field: equality on everything but the init time, then its range.
            models.Index(
                fields=[
                    "variable",
                    "level",
                    "region",
                    "truth_source",
                    "predictor",
                    "lead_hours",
                    "init_time",
                ],
                name="verification_field_idx",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.predictor} {self.variable}@{self.level} +{self.lead_hours}h {self.region} "
            f"vs {self.truth_source} (run {self.run_id})"
        )


class ScoreDay(models.Model):
    """Per-run scores of one UTC init day, summed: what any window of days adds up.

    Window scores are means over runs of each run's MSE, bias, MAE and ACC (WeatherBench2's
    order: average MSE, root last), so a window is Σ over its days of `*_total` divided by
    Σ `runs`; a score is undefined (null) in a window where any run lacks it, i.e. where
    Σ `*_count` < Σ `runs`. Rows are recomputed from `ScoreSum` for the days a store touches
    (`webapp.verification.services`), so re-scoring a run never double-counts.
    """

    init_date = models.DateField()
    truth_source = models.CharField(max_length=30, default=DEFAULT_TRUTH)
    predictor = models.CharField(max_length=20)
    variable = models.CharField(max_length=100)
    level = models.PositiveSmallIntegerField()
    lead_hours = models.PositiveIntegerField()
    region = models.CharField(max_length=60)
    runs = models.PositiveIntegerField()
    mse_total = models.FloatField(null=True)
    mse_count = models.PositiveIntegerField(default=0)
    bias_total = models.FloatField(null=True)
    bias_count = models.PositiveIntegerField(default=0)
    mae_total = models.FloatField(null=True)
    mae_count = models.PositiveIntegerField(default=0)
    acc_total = models.FloatField(null=True)
    acc_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of every window read: equality on truth, region and field,
            # then the day range.
            models.UniqueConstraint(
                fields=[
                    "truth_source",
                    "region",
                    "variable",
                    "level",
                    "init_date",
                    "predictor",
                    "lead_hours",
                ],
                name="verification_scoreday_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(runs__gt=0), name="verification_scoreday_runs_positive"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.init_date} {self.predictor} {self.variable}@{self.level} "
            f"+{self.lead_hours}h {self.region} vs {self.truth_source} ({self.runs} runs)"
        )


class ScoredRegion(models.Model):
    """A region some score exists for (the region menus read this, not the score table)."""

    name = models.CharField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunVerification(BaseModel):
    """What has been verified of one run, and how (notes say what was skipped and why)."""

    run = models.OneToOneField(ForecastRun, on_delete=models.CASCADE, related_name="verification")
    leads_scored = models.JSONField(default=list, blank=True)
    leads_total = models.PositiveIntegerField(default=0)
    truth_until = models.DateTimeField(null=True, blank=True)
    climatology = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    # Score plots of the run (paths relative to MEDIA_ROOT), e.g. {"geopotential@500": "..."}.
    plots = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return (
            f"verification of run {self.run_id}: {len(self.leads_scored)}/{self.leads_total} leads"
        )

    @property
    def complete(self) -> bool:
        """Whether every lead of the run has been scored."""
        return bool(self.leads_total) and len(self.leads_scored) >= self.leads_total


class ScoresStamp(models.Model):
    """One row: when scores last changed (cached score pages are keyed by it)."""

    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"scores changed at {self.changed_at:%Y-%m-%d %H:%M:%S} UTC"
