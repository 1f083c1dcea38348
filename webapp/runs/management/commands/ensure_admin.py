"""Creates (or resets) a superuser for the demo and prints its credentials."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user (password from GCF_ADMIN_PASSWORD or generated) and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password", default=None, help="default: generated once, kept in var/"
        )

    def handle(self, *args, username: str, password: str | None, **options) -> None:
        secret_file = Path(settings.GCF_VAR_DIR) / "admin-password.txt"
        if password is None:
            if secret_file.exists():
                password = secret_file.read_text().strip()
            else:
                password = secrets.token_urlsafe(12)
                secret_file.parent.mkdir(parents=True, exist_ok=True)
                secret_file.write_text(password + "\n")
                secret_file.chmod(0o600)
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@localhost"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        verb = "created" if created else "updated"
        self.stdout.write(f"admin user {verb}: username {username!r} password {password!r}")
