"""The one environment reader every settings module uses (typed, with defaults)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

REPO_ROOT = Path(__file__).resolve().parents[2]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Typed access to `os.environ`; a malformed value raises `ImproperlyConfigured` naming it."""

    def str(self, name: str, default: str | None = None) -> str:
        """The variable as a string; raises if unset and no default is given."""
        value = os.environ.get(name, default)
        if value is None:
            raise ImproperlyConfigured(f"environment variable {name} is required")
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        """The variable as a boolean (1/true/yes/on or 0/false/no/off)."""
        raw = os.environ.get(name)
        if raw is None:
            return default
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")

    def int(self, name: str, default: int) -> int:
        """The variable as an integer."""
        raw = os.environ.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None

    def float(self, name: str, default: float) -> float:
        """The variable as a float."""
        raw = os.environ.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None

    def list(self, name: str, default: list[str]) -> list[str]:
        """The variable as a comma-separated list."""
        raw = os.environ.get(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def path(self, name: str, default: Path) -> Path:
        """The variable as an absolute path (relative values are taken from the repo root)."""
        raw = os.environ.get(name)
        path = Path(raw) if raw else Path(default)
        return path if path.is_absolute() else REPO_ROOT / path


env = Env()
