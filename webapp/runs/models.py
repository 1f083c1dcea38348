"""The forecast run record (the source of truth for a cycle) and its published products."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class BaseModel(models.Model):
    """Adds creation and update timestamps."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ForecastRun(BaseModel):
    """One forecast cycle: what ran, on what, who asked, how it went.

    Status changes only through `webapp.runs.services`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        QUARANTINED = "quarantined", "Quarantined"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        ADMIN = "admin", "Admin"
        CLI = "cli", "Command line"
        BACKFILL = "backfill", "Backfill"

    class DataSource(models.TextChoices):
        SYNTHETIC = "synthetic", "Synthetic (offline world)"
        CDS = "cds", "ERA5 from the CDS"
        OPENDATA = "opendata", "IFS open data (real time)"

    class Launch(models.TextChoices):
        INLINE = "inline", "In the calling process"
        DEPLOYMENT = "deployment", "Prefect deployment"
        SUBPROCESS = "subprocess", "Detached flow subprocess (ephemeral Prefect)"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.QUARANTINED, Status.CANCELLED)
    # Runs that free their cycle for a new trigger (the others hold it: one run per cycle).
    RETRYABLE = (Status.FAILED, Status.CANCELLED)

    init_time = models.DateTimeField(db_index=True)
    # What was asked for ("persistence", a checkpoint path, "module:factory").
    predictor_spec = models.CharField(max_length=500, blank=True)
    predictor_name = models.CharField(max_length=100, blank=True)
    # Why the predictor is not the one configured (e.g. demo checkpoint missing); empty if none.
    predictor_note = models.TextField(blank=True)
    checkpoint_name = models.CharField(max_length=255, blank=True)
    checkpoint_sha256 = models.CharField(max_length=64, blank=True)
    data_source = models.CharField(
        max_length=20, choices=DataSource.choices, default=DataSource.SYNTHETIC
    )
    synthetic = models.BooleanField(default=True)
    grid_deg = models.FloatField()
    levels = models.PositiveSmallIntegerField()
    steps = models.PositiveSmallIntegerField()

    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cancelled_runs",
    )
    # Last sign of life from the worker executing a step (every rollout step beats).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life from the flow orchestrating the run (it beats while it waits); apart
    # from the worker's so that a dead flow is noticed in minutes while its worker still runs.
    flow_heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress_step = models.PositiveSmallIntegerField(default=0)
    progress_total = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=40, blank=True)

    triggered_by = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.CLI)
    triggered_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    launched_via = models.CharField(
        max_length=20, choices=Launch.choices, default=Launch.INLINE, blank=True
    )

    # The frozen run configuration (`webapp.runs.config.RunConfig` as JSON), written once at
    # creation: what every step executes. Lineage records what happened; it is never read back.
    config = models.JSONField(default=dict, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    prefect_flow_run_id = models.CharField(max_length=64, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-init_time", "-id"]
        permissions = [("rerun_forecastrun", "Can rerun a forecast run")]
        # The cached pages' data version (`selectors.runs_version`) reads both maxima.
        indexes = [
            models.Index(fields=["updated_at"], name="runs_updated_at"),
            models.Index(fields=["heartbeat_at"], name="runs_heartbeat_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress_step__lte=models.F("progress_total")),
                name="runs_progress_within_total",
            ),
            models.CheckConstraint(condition=models.Q(grid_deg__gt=0), name="runs_grid_positive"),
            # One run per cycle (init time, predictor/checkpoint, data source): two triggers
            # at once get the same run. Admin reruns (`rerun_of` set) and runs that ended
            # failed or cancelled do not hold the cycle.
            models.UniqueConstraint(
                fields=["init_time", "predictor_spec", "checkpoint_sha256", "data_source"],
                condition=models.Q(rerun_of__isnull=True)
                & ~models.Q(status__in=["failed", "cancelled"]),
                name="runs_one_run_per_cycle",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} @ {self.init_time:%Y-%m-%d %H:%MZ} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has finished (succeeded, failed, quarantined or cancelled)."""
        return self.status in self.TERMINAL

    @property
    def progress_percent(self) -> int:
        """Rollout progress in percent (0 before the rollout starts)."""
        if not self.progress_total:
            return 0
        return round(100 * self.progress_step / self.progress_total)


class Product(BaseModel):
    """One published file of a run (a map or plot), served from MEDIA_ROOT."""

    class Kind(models.TextChoices):
        MAP = "map", "Forecast map"
        ERROR_MAP = "error_map", "Error map"
        PLOT = "plot", "Plot"

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="products")
    kind = models.CharField(max_length=20, default=Kind.MAP)
    variable = models.CharField(max_length=100)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    lead_hours = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(max_length=500)

    class Meta:
        ordering = ["kind", "variable", "level", "lead_hours"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind", "variable", "level", "lead_hours"],
                name="runs_product_unique",
            )
        ]

    def __str__(self) -> str:
        level = f" {self.level} hPa" if self.level else ""
        return f"{self.kind} {self.variable}{level} +{self.lead_hours}h (run {self.run_id})"
