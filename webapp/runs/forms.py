"""Forms of the runs pages: the run list's filters (validated input for `selectors.run_list`)."""

from __future__ import annotations

from django import forms

from webapp.runs.models import ForecastRun


def _any(choices) -> list[tuple[str, str]]:
    return [("", "any"), *choices]


class RunFilterForm(forms.Form):
    """Filters of the run list; every field optional, bad values are form errors (not 500s)."""

    status = forms.ChoiceField(choices=_any(ForecastRun.Status.choices), required=False)
    init_from = forms.DateField(required=False, label="Init from (UTC day)")
    init_to = forms.DateField(required=False, label="Init to (UTC day)")
    predictor = forms.CharField(required=False, max_length=255, label="Predictor/checkpoint")
    data_source = forms.ChoiceField(
        choices=_any(ForecastRun.DataSource.choices), required=False, label="Data"
    )
    trigger = forms.ChoiceField(
        choices=_any(ForecastRun.Trigger.choices), required=False, label="Triggered by"
    )

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("init_from"), data.get("init_to")
        if start and end and end < start:
            raise forms.ValidationError(f"init range ends ({end}) before it starts ({start})")
        return data

    def filters(self) -> dict:
        """The valid filters as `run_list` keywords (empty when the form has errors)."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}


class RerunForm(forms.Form):
    """The admin's "rerun with another predictor" step."""

    predictor_spec = forms.CharField(
        max_length=500,
        label="Predictor",
        help_text='"persistence" or the path of a GraphCast checkpoint (.npz) on the server',
    )


class BackfillForm(forms.Form):
    """The admin's backfill of a range of init times (UTC), with one run's configuration."""

    # One flow process per cycle is started at once: keep a backfill to what a host can run.
    MAX_CYCLES = 20

    start = forms.DateTimeField(label="First init time (UTC)", help_text="e.g. 2026-11-01 00:00")
    end = forms.DateTimeField(label="Last init time (UTC)", help_text="inclusive")
    every_hours = forms.TypedChoiceField(
        choices=[(6, "6 h"), (12, "12 h"), (24, "24 h")], coerce=int, initial=6, label="Every"
    )
    like_run = forms.ModelChoiceField(
        queryset=ForecastRun.objects.none(),
        label="Configuration of run",
        help_text="the new runs execute this run's frozen configuration (predictor, grid, data)",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The 50 newest runs to pick from, not all 10,000.
        recent = ForecastRun.objects.order_by("-init_time", "-id").values_list("pk", flat=True)[:50]
        self.fields["like_run"].queryset = ForecastRun.objects.filter(pk__in=list(recent))

    def clean(self) -> dict:
        import pandas as pd

        from forecast.times import to_aware_utc

        data = super().clean()
        start, end, every = data.get("start"), data.get("end"), data.get("every_hours")
        if start is None or end is None or every is None:
            return data
        start, end = to_aware_utc(start), to_aware_utc(end)
        if end < start:
            raise forms.ValidationError(f"the range ends ({end:%Y-%m-%d %H:%MZ}) before it starts")
        first = pd.Timestamp(start).ceil("6h")
        times = [t.to_pydatetime() for t in pd.date_range(first, end, freq=f"{every}h")]
        if not times:
            raise forms.ValidationError("no 00/06/12/18 UTC init time in that range")
        if len(times) > self.MAX_CYCLES:
            raise forms.ValidationError(
                f"{len(times)} cycles asked; at most {self.MAX_CYCLES} per backfill"
            )
        data["init_times"] = times
        return data
