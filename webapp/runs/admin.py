"""Admin of runs and products: rerun (optionally with another predictor), backfill a range of
init times, cancel queued or running runs.

Every action needs a logged-in staff user with the permission it names (Django's admin
checks login and staff, its middleware CSRF), goes through `webapp.runs.services`, writes
a `LogEntry` per run and reports counts with `message_user`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from webapp.errors import ApplicationError
from webapp.runs import services
from webapp.runs.forms import BackfillForm, RerunForm
from webapp.runs.models import ForecastRun, Product


class ProductInline(admin.TabularInline):
    model = Product
    extra = 0
    fields = ("kind", "variable", "level", "lead_hours", "file")
    readonly_fields = fields
    can_delete = False


def _log(request: HttpRequest, run: ForecastRun, flag: int, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=[run],
        action_flag=flag,
        change_message=message,
        single_object=True,
    )


def _ids(runs) -> str:
    return ", ".join(str(run.pk) for run in runs)


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
    list_select_related = ("rerun_of",)
    list_per_page = 50
    date_hierarchy = "init_time"
    search_fields = ("error_message", "checkpoint_sha256", "prefect_flow_run_id", "celery_task_id")
    actions = ["rerun_selected", "rerun_with_predictor", "cancel_selected"]
    inlines = [ProductInline]
    change_list_template = "admin/runs/forecastrun/change_list.html"
    # The record is written by the services only; the admin reads it and asks for actions.
    readonly_fields = [f.name for f in ForecastRun._meta.fields]

    @admin.display(description="progress")
    def progress(self, run: ForecastRun) -> str:
        return format_html("{}/{}", run.progress_step, run.progress_total)

    def has_add_permission(self, request) -> bool:
        return False

    def has_rerun_permission(self, request) -> bool:
        """Reruns and backfills need `runs.rerun_forecastrun` (superusers have it)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.rerun_{opts.model_name}")

    # --- rerun -------------------------------------------------------------------------

    def _rerun(self, request, queryset, *, predictor_spec: str = "") -> None:
        created = []
        for run in queryset:
            try:
                new = services.run_request_rerun(
                    run=run, user=request.user, predictor_spec=predictor_spec
                )
            except ApplicationError as exc:
                self.message_user(request, f"run {run.pk}: {exc}", messages.ERROR)
                continue
            with_what = f" with {predictor_spec}" if predictor_spec else ""
            _log(request, new, ADDITION, f"rerun of run {run.pk}{with_what} ({new.launched_via})")
            created.append(new)
        if created:
            self.message_user(
                request,
                f"Started {len(created)} rerun(s): run(s) {_ids(created)}.",
                messages.SUCCESS,
            )

    @admin.action(description="Rerun selected runs", permissions=["rerun"])
    def rerun_selected(self, request, queryset) -> None:
        """Creates a new run per selected run (linked by `rerun_of`) and starts the real flow."""
        self._rerun(request, queryset)

    @admin.action(description="Rerun selected runs with another predictor…", permissions=["rerun"])
    def rerun_with_predictor(self, request, queryset) -> HttpResponse | None:
        """As `rerun_selected`, after a page asking which predictor (checkpoint) to run."""
        form = RerunForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._rerun(request, queryset, predictor_spec=form.cleaned_data["predictor_spec"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Rerun with another predictor",
            "opts": self.opts,
            "form": form,
            "runs": queryset,
            "action": "rerun_with_predictor",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/runs/forecastrun/rerun_with.html", context)

    # --- cancel ------------------------------------------------------------------------

    @admin.action(description="Cancel selected queued or running runs", permissions=["change"])
    def cancel_selected(self, request, queryset) -> None:
        """Cancels each run (record CANCELLED with who and when, task revoked, flow stopped)."""
        cancelled = []
        for run in queryset:
            if run.status not in (ForecastRun.Status.QUEUED, ForecastRun.Status.RUNNING):
                self.message_user(
                    request, f"run {run.pk} is {run.status}; only queued or running runs "
                    "can be cancelled", messages.WARNING,
                )  # fmt: skip
                continue
            try:
                services.run_cancel(run=run, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"run {run.pk}: {exc}", messages.ERROR)
                continue
            _log(request, run, CHANGE, f"cancelled run {run.pk}")
            cancelled.append(run)
        if cancelled:
            self.message_user(
                request,
                f"Cancelled {len(cancelled)} run(s): run(s) {_ids(cancelled)}.",
                messages.SUCCESS,
            )

    # --- backfill ----------------------------------------------------------------------

    def get_urls(self):
        backfill = path(
            "backfill/",
            self.admin_site.admin_view(self.backfill_view),
            name="runs_forecastrun_backfill",
        )
        return [backfill, *super().get_urls()]

    def backfill_view(self, request: HttpRequest) -> HttpResponse:
        """A form: init-time range, step, the run whose configuration to execute; then one
        new run (and real flow run) per init time without a good run."""
        if not self.has_rerun_permission(request):
            raise PermissionDenied
        form = BackfillForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            created, skipped = services.run_request_backfill(
                init_times=form.cleaned_data["init_times"],
                like=form.cleaned_data["like_run"],
                user=request.user,
            )
            for run in created:
                _log(
                    request, run, ADDITION, f"backfill like run {form.cleaned_data['like_run'].pk}"
                )
            self.message_user(
                request,
                f"Backfill started {len(created)} run(s)"
                + (f": run(s) {_ids(created)}" if created else "")
                + f"; skipped {len(skipped)}.",
                messages.SUCCESS if created else messages.WARNING,
            )
            for line in skipped[:10]:
                self.message_user(request, f"skipped {line}", messages.INFO)
            return HttpResponseRedirect(reverse("admin:runs_forecastrun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Backfill forecast cycles",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/runs/forecastrun/backfill.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_backfill": self.has_rerun_permission(request),
        }
        return super().changelist_view(request, extra_context)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("run", "kind", "variable", "level", "lead_hours", "file")
    list_filter = ("kind", "variable")
    list_select_related = ("run",)
    readonly_fields = [f.name for f in Product._meta.fields]
