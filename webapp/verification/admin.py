"""Admin of verification records (read-only: scores are written by the verify flow)."""

from __future__ import annotations

from django.contrib import admin

from webapp.verification.models import RunVerification, ScoreSum


@admin.register(RunVerification)
class RunVerificationAdmin(admin.ModelAdmin):
    list_display = ("run", "leads_progress", "truth_until", "scored_at", "error_type")
    readonly_fields = [f.name for f in RunVerification._meta.fields]
    search_fields = ("run__id",)

    @admin.display(description="leads scored")
    def leads_progress(self, obj: RunVerification) -> str:
        return f"{len(obj.leads_scored)}/{obj.leads_total}"

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ScoreSum)
class ScoreSumAdmin(admin.ModelAdmin):
    list_display = (
        "run",
        "predictor",
        "variable",
        "level",
        "lead_hours",
        "region",
        "sum_w",
        "sum_e2",
    )
    list_filter = ("predictor", "region", "variable")
    readonly_fields = [f.name for f in ScoreSum._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
