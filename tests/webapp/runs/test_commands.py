"""Management commands: ensure_admin (demo credentials) and backfill's argument errors."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_ensure_admin_creates_then_keeps_the_generated_password(settings, tmp_path):
    settings.GCF_VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    password = (tmp_path / "admin-password.txt").read_text().strip()
    assert "created" in out.getvalue() and password in out.getvalue()
    call_command("ensure_admin", stdout=io.StringIO())
    user = authenticate(username="admin", password=password)
    assert user is not None and user.is_superuser and user.is_staff


def test_ensure_admin_with_an_explicit_password(settings, tmp_path):
    settings.GCF_VAR_DIR = tmp_path
    call_command(
        "ensure_admin", "--username", "ops", "--password", "pw-123456", stdout=io.StringIO()
    )
    assert authenticate(username="ops", password="pw-123456") is not None


def test_backfill_refuses_a_reversed_range():
    with pytest.raises(CommandError, match="before its start"):
        call_command("backfill", "2026-11-02T00", "2026-11-01T00")
