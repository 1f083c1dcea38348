"""forecast/ is a plain science library: it must not import the service layers."""

import ast
from pathlib import Path

import pytest

FORBIDDEN = ("django", "celery", "prefect", "webapp", "flows")
FORECAST_DIR = Path(__file__).resolve().parents[2] / "forecast"


@pytest.mark.parametrize("path", sorted(FORECAST_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_no_service_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"
