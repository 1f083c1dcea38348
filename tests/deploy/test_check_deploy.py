"""`manage.py check --deploy` is clean with production settings and the environment a
production deploy has (deploy/env.example with its secrets filled in)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    for line in (REPO / "deploy" / "env.example").read_text().splitlines():
        if match := re.match(r"^([A-Z][A-Z0-9_]+)=(.*)$", line):
            env[match.group(1)] = match.group(2)
    # What the operator fills in (the example's are placeholders).
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        FLOWER_BASIC_AUTH="ops:" + secrets.token_urlsafe(16),
        GCF_VAR_DIR=str(tmp_path / "var"),
        CARTOPY_DATA_DIR=str(tmp_path / "cartopy"),
        PREFECT_HOME=str(tmp_path / "prefect"),
    )
    env.update(overrides)
    return env


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_in_production(tmp_path):
    env = _production_env(tmp_path)
    assert env["DJANGO_SETTINGS_MODULE"] == "webapp.config.django.production"
    result = _check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_catches_an_insecure_setting(tmp_path):
    # The check is real: turning off the HTTPS redirect and secure cookies is reported.
    result = _check(
        _production_env(tmp_path, DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_SECURE_COOKIES="0")
    )
    assert result.returncode != 0
    for check in ("security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def test_production_refuses_the_example_secret(tmp_path):
    result = _check(_production_env(tmp_path, DJANGO_SECRET_KEY="change-me"))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is still the example's" in result.stderr
