"""`forecast run`: a forecast from an init time, end to end from each source, and its exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.cli import main
from forecast.data.synthetic import synthetic_era5
from forecast.io import open_forecast
from forecast.io.atomic import leftover_temporaries
from tests.devtools.fixtures import local_cds, local_cds_server  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "stats" / "demo"
INIT = "2026-11-16T00"


@pytest.fixture(scope="module")
def graphs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("graphs")


def _run(graphs: Path, source: str, output: Path, *extra: str) -> int:
    argv = ["run", "--checkpoint", str(DEMO / "checkpoint.npz"), "--stats", str(DEMO)]
    argv += ["--init-time", INIT, "--steps", "2", "--source", source, "--output", str(output)]
    argv += ["--graphs-cache", str(graphs), "--cache", str(output.parent / "cache"), *extra]
    return main(argv)


@pytest.fixture(scope="module")
def synthetic_forecast(graphs, tmp_path_factory) -> xr.Dataset:
    out = tmp_path_factory.mktemp("synthetic") / "forecast.nc"
    assert _run(graphs, "synthetic", out) == 0
    return open_forecast(out).load()


def test_synthetic_source_gives_a_forecast_from_the_init_time(synthetic_forecast, capsys):
    fc = synthetic_forecast
    assert fc.attrs["init_time"] == "2026-11-16T00:00:00"
    assert fc.attrs["predictor"] == "graphcast" and fc.attrs["source"] == "synthetic"
    np.testing.assert_array_equal(
        fc["time"].values, pd.to_datetime(["2026-11-16T06", "2026-11-16T12"]).to_numpy()
    )
    assert fc.sizes["lat"] == 46 and fc.sizes["level"] == 13  # the demo checkpoint's grid
    assert bool(np.isfinite(fc["2m_temperature"]).all())


def _arco_style_archive(path: Path) -> Path:
    """The synthetic world as ARCO-ERA5 stores it: hourly, `latitude` descending, `longitude`,
    hourly `total_precipitation`, statics with a time axis."""
    init = pd.Timestamp(INIT)
    hours = pd.date_range(init - pd.Timedelta(hours=11), init, freq="h")
    world = synthetic_era5(hours.to_numpy(), grid_deg=4.0, precipitation_hours=1)
    statics = world[["geopotential_at_surface", "land_sea_mask"]]
    world = world.drop_vars(list(statics.data_vars)).assign(
        {name: statics[name].expand_dims(time=world["time"]) for name in statics.data_vars}
    )
    arco = world.rename(lat="latitude", lon="longitude").sortby("latitude", ascending=False)
    arco.chunk({"time": 1}).to_zarr(path, consolidated=True, zarr_format=2)
    return path


def test_zarr_era5_archive_source_equals_the_synthetic_source(synthetic_forecast, graphs, tmp_path):
    archive = _arco_style_archive(tmp_path / "era5.zarr")
    out = tmp_path / "forecast.zarr"
    assert _run(graphs, str(archive), out, "--quiet") == 0
    fc = open_forecast(out).load()
    assert fc.attrs["source"] == "era5"
    # Same world; 6 h precipitation summed from float32 hourly fields rather than in float64.
    for name in synthetic_forecast.data_vars:
        scale = float(synthetic_forecast[name].std()) or 1.0
        np.testing.assert_allclose(
            fc[name].values,
            synthetic_forecast[name].values,
            rtol=0,
            atol=1e-3 * scale,
            err_msg=name,
        )


@pytest.mark.network
def test_era5_source_through_the_local_cds_to_grib2(
    local_cds,  # noqa: F811
    monkeypatch,
    graphs,
    synthetic_forecast,
    tmp_path,
):
    monkeypatch.setenv("CDSAPI_URL", local_cds.url)
    monkeypatch.setenv("CDSAPI_KEY", local_cds.key)
    out = tmp_path / "forecast.grib2"
    assert _run(graphs, "era5", out, "--quiet") == 0
    fc = open_forecast(out)
    assert set(fc.data_vars) == set(synthetic_forecast.data_vars)
    # The local CDS serves the same synthetic world: GRIB2 equals it within packing precision.
    for name in fc.data_vars:
        span = float(synthetic_forecast[name].max() - synthetic_forecast[name].min())
        error = float(abs(fc[name] - synthetic_forecast[name]).max())
        assert error <= span / 2**15 + 1e-3 * float(synthetic_forecast[name].std()), name
    assert leftover_temporaries(tmp_path) == []


def test_usage_and_data_errors_have_their_exit_codes(graphs, tmp_path, capsys):
    assert _run(graphs, "synthetic", tmp_path / "forecast.tiff") == 2
    assert ".nc, .zarr, .grib2" in capsys.readouterr().err
    argv = ["run", "--checkpoint", "c.npz", "--stats", ".", "--init-time", "2026-11-16T03:30"]
    assert main([*argv, "--output", str(tmp_path / "f.nc")]) == 2
    assert "on the hour" in capsys.readouterr().err
    assert _run(graphs, "somewhere-else", tmp_path / "f.nc") == 1
    assert "unknown source 'somewhere-else'" in capsys.readouterr().err
    # An archive lacking a variable: one line naming it and the names accepted for it.
    thin = synthetic_era5(pd.date_range("2026-11-15T18", INIT, freq="6h"), grid_deg=4.0)
    thin.drop_vars("2m_temperature").rename(lat="latitude").to_netcdf(tmp_path / "thin.nc")
    assert _run(graphs, str(tmp_path / "thin.nc"), tmp_path / "f.nc") == 1
    err = capsys.readouterr().err
    assert "missing variable(s) 2m_temperature (or t2m)" in err and err.count("\n") <= 3
    assert not (tmp_path / "f.nc").exists()


def test_version_and_defaults_in_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("forecast ")
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "(default: 40)" in text and "(default: era5)" in text


@pytest.mark.network
def test_opendata_source_through_the_local_open_data_server(local_opendata, graphs, tmp_path):
    from tests.devtools.opendata_fixtures import NEWEST

    operational = REPO / "stats" / "demo_operational" / "checkpoint.npz"
    init = f"{NEWEST:%Y-%m-%dT%H}"
    argv = ["run", "--checkpoint", str(operational), "--stats", str(DEMO), "--init-time", init]
    argv += ["--steps", "2", "--source", "opendata", "--opendata-url", local_opendata.url]
    argv += ["--output", str(tmp_path / "forecast.nc"), "--cache", str(tmp_path / "cache")]
    assert main([*argv, "--graphs-cache", str(graphs), "--quiet"]) == 0
    fc = open_forecast(tmp_path / "forecast.nc").load()
    assert fc.attrs["source"] == "ifs-opendata" and fc.attrs["init_time"] == f"{init}:00:00"
    assert fc.sizes["time"] == 2 and fc.sizes["lat"] == 46
    # The same synthetic world through the synthetic source: equal up to GRIB2 packing.
    synthetic = tmp_path / "synthetic.nc"
    argv[argv.index("opendata")] = "synthetic"
    argv[argv.index(str(tmp_path / "forecast.nc"))] = str(synthetic)
    assert main([*argv, "--graphs-cache", str(graphs), "--quiet"]) == 0
    reference = open_forecast(synthetic).load()
    for name in ("2m_temperature", "geopotential", "u_component_of_wind"):
        scale = float(reference[name].std())
        np.testing.assert_allclose(fc[name], reference[name], rtol=0, atol=0.05 * scale)
