"""Template filters of the site pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict | None, key: str):
    """`mapping[key]`, or None (tables of values keyed by variable name)."""
    if not mapping:
        return None
    return mapping.get(key)
