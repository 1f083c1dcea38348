"""Admin of runs and products, with the "Rerun selected runs" action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, LogEntry
from django.utils.html import format_html

from webapp.errors import ApplicationError
from webapp.runs import services
from webapp.runs.models import ForecastRun, Product


class ProductInline(admin.TabularInline):
    model = Product
    extra = 0
    fields = ("kind", "variable", "level", "lead_hours", "file")
    readonly_fields = fields
    can_delete = False


@admin.register(ForecastRun)
class ForecastRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "init_time",
        "status",
        "progress",
        "predictor_name",
        "data_source",
        "triggered_by",
        "rerun_of",
        "created_at",
    )
    list_filter = ("status", "data_source", "triggered_by", "predictor_name")
    date_hierarchy = "init_time"
    search_fields = ("error_message", "checkpoint_sha256", "prefect_flow_run_id", "celery_task_id")
    actions = ["rerun_selected"]
    inlines = [ProductInline]
    # The record is written by the services only; the admin reads it and asks for reruns.
    readonly_fields = [f.name for f in ForecastRun._meta.fields]

    @admin.display(description="progress")
    def progress(self, run: ForecastRun) -> str:
        return format_html("{}/{}", run.progress_step, run.progress_total)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Rerun selected runs", permissions=["rerun"])
    def rerun_selected(self, request, queryset) -> None:
        """Creates a new run per selected run (linked by `rerun_of`) and starts the real flow."""
        created = []
        for run in queryset:
            try:
                new = services.run_request_rerun(run=run, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"run {run.pk}: {exc}", messages.ERROR)
                continue
            LogEntry.objects.log_actions(
                user_id=request.user.pk,
                queryset=[new],
                action_flag=ADDITION,
                change_message=f"rerun of run {run.pk} ({new.launched_via})",
                single_object=True,
            )
            created.append(new.pk)
        if created:
            self.message_user(
                request,
                f"Started {len(created)} rerun(s): run(s) {', '.join(map(str, created))}.",
                messages.SUCCESS,
            )

    def has_rerun_permission(self, request) -> bool:
        """Reruns need the custom `runs.rerun_forecastrun` permission (superusers have it)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.rerun_{opts.model_name}")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("run", "kind", "variable", "level", "lead_hours", "file")
    list_filter = ("kind", "variable")
    readonly_fields = [f.name for f in Product._meta.fields]
