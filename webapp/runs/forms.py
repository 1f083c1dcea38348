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
