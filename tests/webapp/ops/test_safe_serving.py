"""Safe by default: the demo's server (runserver with the demo's settings, DEBUG off) answers
path traversal with 4xx, mistyped URLs and server errors with plain pages that show nothing
of settings, environment or paths; static files come from WhiteNoise, media from a streaming,
traversal-checked view.

Requests go out as raw HTTP (http.client would normalise nothing, but URL libraries such as
requests or urllib.parse.urljoin do collapse `..`, which would hide the attack).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import database_url
from webapp.infra.ports import free_port, wait_for_port
from webapp.infra.processes import terminate

REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.network, pytest.mark.django_db]
# Things a debug page shows and a production page must not.
LEAKS = ("Traceback", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "URLconf", "settings.py", "sys.path")


class Site:
    """A `manage.py runserver` process, as scripts/demo.sh starts it."""

    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = env
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        wait_for_port(self.port, timeout=60)

    def get(self, raw_path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """GET with the path sent byte for byte as given."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest("GET", raw_path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", "127.0.0.1")
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        terminate(self.process, timeout=10, group=True)


def _demo_env(var_dir: Path, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GCF_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="webapp.config.django.local",  # what scripts/demo.sh serves
        GCF_VAR_DIR=str(var_dir),
        DATABASE_URL=database,
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory) -> Path:
    var = tmp_path_factory.mktemp("var")
    product = var / "media" / "runs" / "1" / "map.png"
    product.parent.mkdir(parents=True)
    product.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    (var / "secret.txt").write_text("not for the web")
    return var


@pytest.fixture(scope="module")
def site(django_db_setup, django_db_blocker, var_dir, tmp_path_factory):
    from django.db import connection

    server = Site(
        env=_demo_env(var_dir, database_url(connection.settings_dict)),
        log=tmp_path_factory.mktemp("site") / "runserver.log",
    )
    yield server
    server.stop()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/static/../../../etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/admin/../../../../etc/passwd",
        "/media/../secret.txt",
        "/media/..%2fsecret.txt",
        "/media/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/media/runs/1/../../../secret.txt",
        "/media/%2fetc%2fpasswd",
        "/media//etc/passwd",
    ],
)
def test_traversal_answers_4xx(site, raw_path):
    status, body = site.get(raw_path)
    assert 400 <= status < 500, (raw_path, status)
    assert b"root:" not in body and b"not for the web" not in body
    assert not any(leak.encode() in body for leak in LEAKS)


def test_static_and_media_are_served_with_debug_off(site, var_dir):
    status, body = site.get("/static/admin/css/base.css")
    assert status == 200 and b"font" in body
    status, body = site.get("/media/runs/1/map.png")
    assert status == 200 and body == (var_dir / "media/runs/1/map.png").read_bytes()
    status, _ = site.get(
        "/media/runs/1/map.png", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    )
    assert status == 304


def test_mistyped_url_gets_the_plain_404(site, var_dir):
    status, body = site.get("/no/such/page/")
    text = body.decode()
    assert status == 404
    assert "Page not found" in text and "All forecast runs" in text
    assert not any(leak in text for leak in LEAKS)
    assert str(var_dir) not in text and str(REPO) not in text
    # The URL list Django's debug 404 prints.
    assert "admin/" not in text and "verification/" not in text


def test_server_error_gets_the_plain_500(var_dir, tmp_path):
    """A real fault (a database never migrated: no tables) answers the plain 500 page."""
    empty = tmp_path / "never-migrated.sqlite3"
    site = Site(env=_demo_env(var_dir, f"sqlite:///{empty}"), log=tmp_path / "site.log")
    try:
        status, body = site.get("/")
    finally:
        site.stop()
    text = body.decode()
    assert status == 500
    assert "Something went wrong on our side" in text
    assert not any(leak in text for leak in LEAKS)
    assert "no such table" not in text and str(empty) not in text and str(var_dir) not in text
