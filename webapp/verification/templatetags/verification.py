"""Template tags: the verification section of a run's page, and score formatting."""

from __future__ import annotations

from pathlib import Path

from django import template
from django.conf import settings

from webapp.verification import selectors

register = template.Library()


@register.inclusion_tag("verification/_run_section.html")
def run_verification(run) -> dict:
    """The run's verification summary: headline scores vs persistence and its score plots."""
    record = selectors.run_verification_get(run=run)
    plots = []
    if record is not None:
        for name, rel in record.plots.items():
            if (Path(settings.MEDIA_ROOT) / rel).is_file():
                plots.append({"name": name, "url": settings.MEDIA_URL + rel})
    return {
        "run": run,
        "record": record,
        "table": selectors.run_headline_table(run=run) if record else [],
        "plots": plots[:3],
    }


@register.filter
def score(value, digits: int = 3) -> str:
    """A score with `digits` significant digits, or an em dash when undefined (None, or the
    empty string a missing predictor resolves to)."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value:.{int(digits)}g}"


@register.filter
def pct_style(value, metric: str = "rmse") -> str:
    """Inline background for a scorecard cell: blue where the model is better than the baseline
    (lower RMSE, higher ACC), red where it is worse."""
    if value is None:
        return "background:#f2f2f2"
    strength = min(abs(value) / 50.0, 1.0)
    if (value > 0) if metric == "acc" else (value < 0):
        return f"background:rgba(33,102,172,{0.15 + 0.6 * strength:.2f})"
    return f"background:rgba(178,24,43,{0.15 + 0.6 * strength:.2f})"


@register.filter
def get(mapping, key):
    """`mapping[key]` in templates (None when absent, or when the mapping itself is: a missing
    predictor resolves to the template engine's empty string)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key)
