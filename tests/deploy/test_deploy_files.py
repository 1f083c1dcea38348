"""deploy/: compose file, systemd units and env example are well-formed and agree with the code.

Docker and systemd cannot run here, so these tests parse the files and check them against each
other and against the repository: services, commands, entry-point modules, environment names.
"""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
APP_SERVICES = {
    "migrate", "web", "worker-gpu", "worker-cpu", "prefect-server", "prefect-serve", "flower",
}  # fmt: skip
# The entry points of docs/design.md's layers.
GPU_WORKER = ["celery", "-A", "webapp", "worker", "-Q", "gpu", "--concurrency", "1"]
CPU_WORKER = ["celery", "-A", "webapp", "worker", "-Q", "cpu"]
WSGI = "webapp.config.wsgi:application"
SERVE = ["python", "-m", "flows.deployments"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _command(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, str):
        return shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2])
    return list(command)


def _starts_with(command: list[str], prefix: list[str]) -> bool:
    return command[: len(prefix)] == prefix


def _unit(path: Path) -> configparser.ConfigParser:
    # Repeated keys (Environment=) keep only the last value here; read those with a regex.
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def _exec_start(path: Path) -> list[str]:
    argv = shlex.split(_unit(path)["Service"]["ExecStart"])
    assert argv[0].startswith("/opt/gcf/app/.venv/bin/"), f"{path.name}: use the venv's binaries"
    return [Path(argv[0]).name, *argv[1:]]


def test_compose_services(compose: dict) -> None:
    assert set(compose["services"]) == APP_SERVICES | {"postgres", "redis", "proxy"}
    for name, service in compose["services"].items():
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert "gcf-var:/var/lib/gcf" in service["volumes"], f"{name} must share GCF_VAR_DIR"
        env = service["environment"]
        assert env["GCF_VAR_DIR"] == "/var/lib/gcf"
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
        assert (
            env["DATABASE_URL"].startswith("postgres://")
            and "@postgres:5432/" in env["DATABASE_URL"]
        )
        assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["DO_NOT_TRACK"] == "1"
    assert set(compose["volumes"]) >= {"gcf-var", "postgres-data", "redis-data"}


def test_compose_commands(compose: dict) -> None:
    services = compose["services"]
    gpu = services["worker-gpu"]
    assert _starts_with(_command(gpu), GPU_WORKER)
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert gpu["build"]["args"]["JAX_EXTRA"] == "cuda12"
    assert gpu["environment"]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert gpu["environment"]["XLA_PYTHON_CLIENT_ALLOCATOR"] == "platform"
    assert _starts_with(_command(services["worker-cpu"]), CPU_WORKER)
    assert "gpu" not in _command(services["worker-cpu"])
    web = _command(services["web"])
    assert web[web.index("gunicorn") + 1] == WSGI
    assert _command(services["prefect-serve"]) == SERVE
    assert (
        services["prefect-serve"]["environment"]["PREFECT_API_URL"]
        == "http://prefect-server:4200/api"
    )
    assert _starts_with(_command(services["prefect-server"]), ["prefect", "server", "start"])
    assert _command(services["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]


def test_entry_points_exist() -> None:
    module, attribute = WSGI.split(":")
    wsgi = REPO / (module.replace(".", "/") + ".py")
    assert re.search(rf"^{attribute}\s*=", wsgi.read_text(), re.M), f"{wsgi} lacks {attribute}"
    assert re.search(r"^app\s*=\s*Celery\(", (REPO / "webapp" / "celery.py").read_text(), re.M)
    assert "__main__" in (REPO / "flows" / "deployments.py").read_text()
    assert (REPO / "manage.py").is_file()


def test_systemd_units() -> None:
    names = {path.name for path in UNITS}
    assert names == {
        "gcf-celery-gpu@.service",
        "gcf-celery-cpu.service",
        "gcf-web.service",
        "gcf-prefect-server.service",
        "gcf-prefect-serve.service",
        "gcf-flower.service",
        "gcf-healthcheck.service",
    }
    # The health check is a oneshot started by its timer (every minute).
    check = _unit(DEPLOY / "systemd" / "gcf-healthcheck.service")
    assert check["Service"]["Type"] == "oneshot"
    assert _exec_start(DEPLOY / "systemd" / "gcf-healthcheck.service") == [
        "python", "-m", "webapp.ops.probe", "http://127.0.0.1:8000/healthz",
    ]  # fmt: skip
    timer = _unit(DEPLOY / "systemd" / "gcf-healthcheck.timer")
    assert timer["Timer"]["OnUnitActiveSec"] and timer["Install"]["WantedBy"] == "gcf.target"
    web = (DEPLOY / "systemd" / "gcf-web.service").read_text()
    assert "ExecStartPost=/opt/gcf/app/.venv/bin/python -m webapp.ops.probe" in web
    for path in UNITS:
        if path.name == "gcf-healthcheck.service":
            continue
        unit = _unit(path)
        assert unit["Service"]["EnvironmentFile"] == "/etc/gcf/env"
        assert unit["Service"]["User"] == "gcf"
        assert unit["Service"]["Restart"] == "always"
        assert unit["Install"]["WantedBy"] == "gcf.target"
        # A single %h is systemd's home directory; Celery's host name needs %%h.
        assert not re.search(r"(?<!%)%h", unit["Service"]["ExecStart"]), path.name
    target = _unit(DEPLOY / "systemd" / "gcf.target")
    wanted = set(target["Unit"]["Wants"].split())
    assert wanted == (names - {"gcf-celery-gpu@.service", "gcf-healthcheck.service"}) | {
        "redis-server.service",
        "nginx.service",
        "gcf-healthcheck.timer",
    }


def test_systemd_commands_match_compose(compose: dict) -> None:
    systemd = DEPLOY / "systemd"
    environment = re.findall(
        r"^Environment=(.*)$", (systemd / "gcf-celery-gpu@.service").read_text(), re.M
    )
    assert "CUDA_VISIBLE_DEVICES=%i" in environment  # one GPU per instance
    assert _starts_with(_exec_start(systemd / "gcf-celery-gpu@.service"), GPU_WORKER)
    assert _starts_with(_exec_start(systemd / "gcf-celery-cpu.service"), CPU_WORKER)
    web = _exec_start(systemd / "gcf-web.service")
    assert web[:2] == ["gunicorn", WSGI]
    assert _exec_start(systemd / "gcf-prefect-serve.service") == SERVE
    assert _exec_start(systemd / "gcf-prefect-server.service")[:3] == ["prefect", "server", "start"]
    # The same concurrency for the cpu worker in both.
    cpu_compose = _command(compose["services"]["worker-cpu"])
    cpu_unit = _exec_start(systemd / "gcf-celery-cpu.service")
    assert (
        cpu_compose[cpu_compose.index("--concurrency") + 1]
        == cpu_unit[cpu_unit.index("--concurrency") + 1]
    )


def _documented() -> dict[str, str]:
    names = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            names[match.group(1)] = match.group(2)
    return names


def _read_by_code() -> set[str]:
    patterns = [
        r"""env\.(?:str|bool|int|float|list|path)\(\s*["']([A-Z][A-Z0-9_]+)["']""",
        r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""",
        r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]+)["']\s*\]""",
        r"""os\.getenv\(\s*["']([A-Z][A-Z0-9_]+)["']""",
    ]
    names = set()
    for folder in ("forecast", "webapp", "flows"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            for pattern in patterns:
                names.update(re.findall(pattern, text))
    return names


def test_env_example_documents_every_variable_the_code_reads() -> None:
    documented = _documented()
    # Set per process by the tooling, not by an operator.
    internal = {"DJANGO_SETTINGS_MODULE"}
    missing = sorted(_read_by_code() - set(documented) - internal)
    assert not missing, f"deploy/env.example does not document {missing}"
    for required in (
        "GCF_VAR_DIR",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CDSAPI_URL",
        "CDSAPI_KEY",
        "GCF_JAX_CACHE_DIR",
        "PREFECT_API_URL",
        "CARTOPY_DATA_DIR",
    ):
        assert required in documented
    assert documented["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert documented["XLA_PYTHON_CLIENT_ALLOCATOR"] == "platform"
    assert documented["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert documented["DO_NOT_TRACK"] == "1"
    assert documented["DJANGO_SETTINGS_MODULE"] == "webapp.config.django.production"


def test_dockerfile_installs_offline_coastlines() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "python -m forecast.plots.natural_earth" in text
    assert "pip install -r deploy/requirements-production.lock" in text
    assert "requirements.lock" not in text.replace("requirements-production.lock", "")
    assert re.search(r"CARTOPY_DATA_DIR=/opt/gcf/cartopy", text)


# A JSON schema of the Compose file's shape, as much of the Compose Specification as this file
# uses (docker is not installed here to run `docker compose config`): unknown keys (typos)
# and wrong types fail, as they would in docker.
_STRINGS = {"type": "array", "items": {"type": "string"}}
_COMMAND = {"oneOf": [{"type": "string"}, _STRINGS]}
_HEALTHCHECK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["test"],
    "properties": {
        "test": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "interval": {"type": "string", "pattern": "^[0-9]+[smh]$"},
        "timeout": {"type": "string", "pattern": "^[0-9]+[smh]$"},
        "start_period": {"type": "string", "pattern": "^[0-9]+[smh]$"},
        "retries": {"type": "integer", "minimum": 1},
    },
}
_DEPENDS = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "condition": {
                "enum": [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully",
                ]
            }
        },
    },
}
COMPOSE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["services"],
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string"},
        "volumes": {"type": "object"},
        "services": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
                "properties": {
                    "image": {"type": "string"},
                    "build": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "context": {"type": "string"},
                            "dockerfile": {"type": "string"},
                            "args": {"type": "object"},
                        },
                    },
                    "command": _COMMAND,
                    "environment": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                    "env_file": {"type": "string"},
                    "volumes": _STRINGS,
                    "ports": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[0-9]+:[0-9]+$"},
                    },
                    "expose": _STRINGS,
                    "healthcheck": _HEALTHCHECK,
                    "depends_on": _DEPENDS,
                    "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
                    "stop_grace_period": {"type": "string", "pattern": "^[0-9]+[smh]$"},
                    "deploy": {"type": "object"},
                },
            },
        },
    },
}


def test_compose_file_matches_the_schema(compose: dict) -> None:
    import jsonschema

    jsonschema.validate(compose, COMPOSE_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):  # the schema does catch a typo
        broken = {**compose, "services": {**compose["services"]}}
        broken["services"]["web"] = {**broken["services"]["web"], "helthcheck": {}}
        jsonschema.validate(broken, COMPOSE_SCHEMA)


def test_compose_health_checks_and_exposure(compose: dict) -> None:
    services = compose["services"]
    # Every long-running service reports its health; dependants wait for it.
    for name in ("postgres", "redis", "web", "worker-gpu", "worker-cpu", "prefect-server",
                 "flower", "proxy"):  # fmt: skip
        assert "healthcheck" in services[name], f"{name} has no health check"
    for queue, name in (("gpu", "worker-gpu"), ("cpu", "worker-cpu")):
        test = services[name]["healthcheck"]["test"]
        assert f"inspect ping --destination {queue}@" in test[1]
        assert f"{queue}@%h" in _command(services[name])
    # Only the TLS proxy publishes ports: Prefect, Flower and gunicorn sit behind it.
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["ports"] == ["80:80", "443:443", "4443:4443"]
    proxy_volumes = services["proxy"]["volumes"]
    assert "./nginx/gcf.conf:/etc/nginx/conf.d/default.conf:ro" in proxy_volumes
    assert "./nginx/upstreams-compose.conf:/etc/nginx/gcf-upstreams.conf:ro" in proxy_volumes
    assert "gcf-var:/var/lib/gcf:ro" in proxy_volumes
    # Flower cannot start without its password (compose refuses an unset variable).
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith(
        "${FLOWER_BASIC_AUTH:?"
    )
    assert "--url_prefix=flower" in _command(services["flower"])
    # Media and static files come from nginx, not from Django.
    assert services["web"]["environment"]["GCF_SERVE_MEDIA"] == "0"


def test_compose_and_host_upstreams_name_the_same_services(compose: dict) -> None:
    conf = (DEPLOY / "nginx" / "gcf.conf").read_text()
    used = set(re.findall(r"proxy_pass http://(\w+)", conf))
    for variant in ("upstreams-compose.conf", "upstreams-host.conf"):
        text = (DEPLOY / "nginx" / variant).read_text()
        assert set(re.findall(r"upstream (\w+)", text)) == used
    hosts = re.findall(
        r"server ([\w-]+):(\d+);", (DEPLOY / "nginx" / "upstreams-compose.conf").read_text()
    )
    for host, port in hosts:
        assert host in compose["services"] and port in compose["services"][host]["expose"]


def test_production_lock_is_derived_and_has_no_test_tools() -> None:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "production_lock.py"), "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    pins = (DEPLOY / "requirements-production.lock").read_text()
    for tool in ("pytest", "pytest-django", "playwright", "ruff", "xskillscore"):
        assert not re.search(rf"^{tool}==", pins, re.M | re.I), tool
    for needed in ("Django", "celery", "gunicorn", "flower", "jax", "prefect", "whitenoise"):
        assert re.search(rf"^{needed}==", pins, re.M | re.I), needed
    locked = set((REPO / "requirements.lock").read_text().splitlines())
    assert all(line in locked for line in pins.splitlines() if "==" in line)


def test_secrets_come_only_from_the_environment() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    secret = r"[A-Z_]*(?:PASSWORD|SECRET|KEY|AUTH)[A-Z_]*"
    # A secret never has a default in the compose file: compose refuses to start without it.
    assert not re.findall(rf"\$\{{{secret}:-", text)
    for name in ("POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"):
        assert f"${{{name}:?" in text
    documented = _documented()
    for name in ("POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH", "CDSAPI_KEY"):
        assert documented[name] == "", f"env.example must not carry a value for {name}"
    # The example's Django key is a placeholder that production refuses (test_check_deploy).
    assert documented["DJANGO_SECRET_KEY"] == "change-me"
