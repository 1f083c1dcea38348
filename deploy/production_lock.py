"""Derives deploy/requirements-production.lock from requirements.lock: the pins a production
host installs, i.e. the project's dependencies and its `deploy` extra with everything they
pull in — and none of the test tools (pytest, playwright, ruff, xskillscore...).

    python deploy/production_lock.py           # rewrite the file
    python deploy/production_lock.py --check   # exit 1 if it is out of date (tests run this)

The dependency graph is read from the installed distributions' metadata (the dev venv has
every pin of requirements.lock installed), with environment markers evaluated for Linux and
CPython 3.11; the versions always come from requirements.lock, so the two never disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
PRODUCTION_LOCK = REPO / "deploy" / "requirements-production.lock"
HEADER = """\
# Production pins: the project's dependencies + its `deploy` extra (gunicorn, flower), without
# test tools. Generated from requirements.lock by `python deploy/production_lock.py`; do not edit.
#   pip install -r deploy/requirements-production.lock && pip install --no-deps .
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[_canonical(name)] = f"{name}=={version}"
    return pins


def _roots() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["deploy"]
    ]


def closure() -> set[str]:
    """Canonical names of every distribution the production install needs."""
    environment = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux"}
    needed: set[str] = set()
    seen: set[tuple[str, frozenset]] = set()
    todo = [(requirement, frozenset()) for requirement in _roots()]
    while todo:
        requirement, extras = todo.pop()
        marker_env = [{**environment, "extra": extra} for extra in extras or {""}]
        if requirement.marker and not any(requirement.marker.evaluate(e) for e in marker_env):
            continue
        name = _canonical(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        needed.add(name)
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(
                f"{requirement.name} is not installed: install requirements.lock in this venv first"
            ) from None
        for child in distribution.requires or []:
            todo.append((Requirement(child), frozenset(requirement.extras)))
    return needed


def render() -> str:
    """The production lock's text."""
    pins = _pins()
    names = closure()
    missing = sorted(names - set(pins))
    if missing:
        raise SystemExit(f"requirements.lock does not pin {missing}")
    return HEADER + "".join(f"{pins[name]}\n" for name in sorted(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PRODUCTION_LOCK.exists() or PRODUCTION_LOCK.read_text() != text:
            print(f"{PRODUCTION_LOCK} is out of date: run python deploy/production_lock.py")
            return 1
        return 0
    PRODUCTION_LOCK.write_text(text)
    print(f"wrote {PRODUCTION_LOCK} ({text.count('==')} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
