"""Plot tests run offline: cartopy reads Natural Earth from a temporary dir, sockets are refused."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from forecast.plots import natural_earth


class NetworkForbidden(RuntimeError):
    """A test tried to open a network connection."""


def _refuse(*args, **kwargs):
    raise NetworkForbidden(f"network access attempted: {args[1:]!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connect() during a plot test fails loudly (and at once) instead of downloading."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)


@pytest.fixture(scope="session")
def natural_earth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Natural Earth laid out from the installed wheel, as a fresh machine's setup does."""
    return natural_earth.ensure_natural_earth(tmp_path_factory.mktemp("cartopy"))


@pytest.fixture
def offline_cartopy(natural_earth_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cartopy pointed at `natural_earth_dir`, its downloaders disabled."""
    import cartopy

    monkeypatch.setattr(natural_earth, "_configured_dir", natural_earth.configured_data_dir())
    monkeypatch.setitem(cartopy.config, "data_dir", cartopy.config["data_dir"])
    monkeypatch.setitem(
        cartopy.config, "pre_existing_data_dir", cartopy.config["pre_existing_data_dir"]
    )
    monkeypatch.setenv("CARTOPY_DATA_DIR", str(natural_earth_dir))
    assert natural_earth.configure_cartopy(natural_earth_dir)
    return natural_earth_dir


@pytest.fixture
def cartopy_without_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cartopy pointed at an empty dir with no way to install shapes (the wheel 'missing')."""
    import cartopy

    monkeypatch.setattr(natural_earth, "_configured_dir", natural_earth.configured_data_dir())
    monkeypatch.setitem(cartopy.config, "data_dir", cartopy.config["data_dir"])
    monkeypatch.setitem(
        cartopy.config, "pre_existing_data_dir", cartopy.config["pre_existing_data_dir"]
    )
    monkeypatch.setenv("CARTOPY_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(natural_earth, "SOURCE_PACKAGE", "no_such_natural_earth_package")
    empty = tmp_path / "empty-cartopy"
    assert not natural_earth.configure_cartopy(empty)
    return empty
