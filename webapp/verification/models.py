"""Verification records: additive score sums per (run, predictor, field, lead, region)."""

from __future__ import annotations

from django.db import models

from webapp.runs.models import BaseModel, ForecastRun

# Field names of the additive sums, as `forecast.verify.metrics.SUM_NAMES`.
SUM_FIELDS = ("sum_w", "sum_e", "sum_e2", "sum_abs_e", "sum_fa", "sum_ff", "sum_aa")


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
                fields=["run", "predictor", "variable", "level", "lead_hours", "region"],
                name="verification_scoresum_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(sum_w__gt=0), name="verification_sum_w_positive"
            ),
        ]
        indexes = [
            models.Index(
                fields=["variable", "level", "region", "predictor", "lead_hours"],
                name="verification_field_idx",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.predictor} {self.variable}@{self.level} +{self.lead_hours}h {self.region} "
            f"(run {self.run_id})"
        )


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
