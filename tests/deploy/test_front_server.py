"""deploy/nginx/gcf.conf in a real nginx, before the real site and a real Flower.

The config is used as shipped, with only its ports and directories moved into a temporary
prefix: TLS is terminated with a throw-away certificate, /static/ and /media/ are served from
disk, traversal answers 400, the site sees HTTPS through X-Forwarded-Proto (production
settings), and Flower and the Prefect port refuse anyone without the password.

Needs Debian's nginx (scripts/setup.sh installs nginx-light) and the openssl command.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import database_url
from webapp.infra.ports import free_port, wait_for_port
from webapp.infra.processes import terminate
from webapp.infra.redis_server import RedisServer, find_server_binary

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = [pytest.mark.network, pytest.mark.django_db]
USER, PASSWORD = "ops", secrets.token_urlsafe(12)


def _start(command: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def _nginx_conf(root: Path, ports: dict[str, int], upstreams: dict[str, int]) -> Path:
    """gcf.conf with its ports and directories moved under `root`, in a minimal nginx.conf."""
    site = (REPO / "deploy" / "nginx" / "gcf.conf").read_text()
    site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)  # no IPv6 here
    for public, port in ports.items():
        site = re.sub(rf"listen {public}\b", f"listen 127.0.0.1:{port}", site)
    site = site.replace("/var/lib/gcf/", f"{root}/var/").replace("/etc/gcf/", f"{root}/etc/")
    site = site.replace("/etc/nginx/gcf-upstreams.conf", f"{root}/upstreams.conf")
    shipped = (REPO / "deploy" / "nginx" / "upstreams-host.conf").read_text()
    for name, port in upstreams.items():
        shipped = re.sub(
            rf"(upstream {name}\s*{{ server )127\.0\.0\.1:\d+", rf"\g<1>127.0.0.1:{port}", shipped
        )
    (root / "upstreams.conf").write_text(shipped)
    (root / "site.conf").write_text(site)
    main = root / "nginx.conf"
    main.write_text(
        f"""user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    include {root}/site.conf;
}}
"""
    )
    return main


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_setup, django_db_blocker):
    if NGINX is None or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed (scripts/setup.sh installs nginx-light)")
    try:
        find_server_binary()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    from django.db import connection

    root = tmp_path_factory.mktemp("front")
    for folder in ("etc/tls", "var/static", "var/media/runs/1", "tmp", "logs"):
        (root / folder).mkdir(parents=True)
    (root / "var/static/probe.css").write_text("body { color: #123456 }")
    (root / "var/media/runs/1/map.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    (root / "var/secret.txt").write_text("not for the web")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(root / "etc/tls/privkey.pem"),
         "-out", str(root / "etc/tls/fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", PASSWORD], check=True, capture_output=True, text=True
    ).stdout.strip()
    (root / "etc/htpasswd").write_text(f"{USER}:{hashed}\n")

    redis = RedisServer(data_dir=root / "redis").start()
    processes: list[subprocess.Popen] = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GCF_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="webapp.config.django.production",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1",
            DATABASE_URL=database_url(connection.settings_dict),
            GCF_VAR_DIR=str(root / "var"),
            GCF_REDIS_URL=redis.url,
            CELERY_BROKER_URL=f"{redis.url}/0",
            FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}",
            PYTHONPATH=str(REPO),
        )
        web, flower = free_port(), free_port()
        processes.append(_start(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{web}", "--noreload"],
            env=env, log=root / "logs/web.log",
        ))  # fmt: skip
        # Flower as the unit starts it, on a test port.
        unit = (REPO / "deploy/systemd/gcf-flower.service").read_text()
        argv = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
        argv = [sys.executable, "-m", "celery", *argv[1:]]
        argv = [a.replace("--port=5555", f"--port={flower}") for a in argv]
        processes.append(_start(argv, env=env, log=root / "logs/flower.log"))
        ports = {"80": free_port(), "443": free_port(), "4443": free_port()}
        conf = _nginx_conf(root, ports, {"gcf_web": web, "gcf_flower": flower, "gcf_prefect": web})
        check = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        processes.append(_start(
            [NGINX, "-c", str(conf), "-g", "daemon off;"], env=env, log=root / "logs/nginx.log"
        ))  # fmt: skip
        for port in (web, flower, *ports.values()):
            wait_for_port(port, timeout=60)
        yield {"root": root, "ports": ports, "web": web}
    finally:
        for process in reversed(processes):
            terminate(process, timeout=10, group=True)
        redis.stop()


def _get(
    port: int, raw_path: str, *, tls: bool = True, auth: bool = False
) -> tuple[int, dict, bytes]:
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", raw_path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", "localhost")
        if auth:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            connection.putheader("Authorization", f"Basic {token}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_plain_http_redirects_to_https(stack):
    status, headers, _ = _get(stack["ports"]["80"], "/runs/1/", tls=False)
    assert status == 301 and headers["Location"] == "https://localhost/runs/1/"


def test_static_and_media_come_from_disk(stack):
    https = stack["ports"]["443"]
    status, headers, body = _get(https, "/static/probe.css")
    assert status == 200 and body == b"body { color: #123456 }"
    assert "immutable" in headers["Cache-Control"]
    status, headers, body = _get(https, "/media/runs/1/map.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body == (stack["root"] / "var/media/runs/1/map.png").read_bytes()


@pytest.mark.parametrize(
    "raw_path",
    ["/media/../secret.txt", "/media/..%2fsecret.txt", "/static/../../../etc/passwd",
     "/media/..%2f..%2f..%2f..%2fetc%2fpasswd", "/media/runs/"],
)  # fmt: skip
def test_traversal_and_listing_refused(stack, raw_path):
    status, _, body = _get(stack["ports"]["443"], raw_path)
    assert 400 <= status < 500, (raw_path, status)
    assert b"root:" not in body and b"not for the web" not in body


def test_site_sees_https_through_the_proxy(stack):
    # Directly over plain HTTP, production settings redirect to HTTPS...
    status, headers, _ = _get(stack["web"], "/", tls=False)
    assert status == 301 and headers["Location"].startswith("https://")
    # ...through the proxy, X-Forwarded-Proto says HTTPS: the page itself, with HSTS.
    status, headers, body = _get(stack["ports"]["443"], "/")
    assert status == 200, body[:300]
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_flower_and_prefect_need_the_password(stack):
    https, prefect = stack["ports"]["443"], stack["ports"]["4443"]
    assert _get(https, "/flower/")[0] == 401
    status, _, body = _get(https, "/flower/", auth=True)
    assert status == 200 and b"Flower" in body
    assert _get(prefect, "/")[0] == 401
    assert _get(prefect, "/healthz/live", auth=True)[0] == 200


def test_flower_refuses_to_start_without_a_password():
    unit = (REPO / "deploy/systemd/gcf-flower.service").read_text()
    guard = re.search(r"^ExecStartPre=/bin/sh -c '(.*)'$", unit, re.M).group(1)
    env = {"PATH": os.environ["PATH"]}
    assert subprocess.run(["/bin/sh", "-c", guard], env=env).returncode == 1
    env["FLOWER_BASIC_AUTH"] = "ops:secret"
    assert subprocess.run(["/bin/sh", "-c", guard], env=env).returncode == 0
