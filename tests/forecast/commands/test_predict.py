"""Tests of `forecast predict`: vectors A end to end, and every kind of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from forecast.cli import main
from forecast.io import open_forecast
from forecast.model import normalization
from tests.forecast.model.test_rollout import assert_within_tolerance


def _predict(directory: Path, input_path: Path, output: Path, steps: int = 4) -> int:
    return main(
        [
            "predict",
            "--checkpoint",
            str(directory / "checkpoint.npz"),
            "--stats",
            str(directory),
            "--input",
            str(input_path),
            "--steps",
            str(steps),
            "--output",
            str(output),
        ]
    )


def test_vector_a_end_to_end(vectors_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GCF_JAX_CACHE_DIR", str(tmp_path / "jax_cache"))
    directory = vectors_dir / "A"
    output = tmp_path / "forecast.nc"
    assert _predict(directory, directory / "example_batch.nc", output) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "step" in line][-1].startswith(
        "forecast predict: step 4/4"
    )
    forecast = open_forecast(output).load()
    reference = xr.load_dataset(directory / "predictions.nc")
    assert forecast["temperature"].dims == ("time", "level", "lat", "lon")
    assert forecast.attrs["init_time"] == "2022-01-01T06:00:00"
    assert forecast.attrs["predictor"] == "graphcast"
    assert forecast.attrs["checkpoint"] == "checkpoint.npz"
    np.testing.assert_array_equal(
        forecast["lead_time"].values.astype("timedelta64[ns]"), reference["time"].values
    )
    assert str(forecast["time"].values[0])[:19] == "2022-01-01T12:00:00"
    stats = normalization.load_stats(directory, forecast["level"].values)
    ours = forecast.swap_dims(time="lead_time").drop_vars("time").rename(lead_time="time")
    ours = ours.expand_dims("batch", axis=1).assign_coords(time=reference["time"].values)
    assert_within_tolerance(ours, reference, stats.diffs_stddev)


def _bad_inputs(directory: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    batch = xr.load_dataset(directory / "example_batch.nc")
    cases = {}

    def write(name: str, dataset: xr.Dataset, message: str) -> None:
        path = tmp_path / f"{name}.nc"
        dataset.to_netcdf(path)
        cases[name] = (path, message)

    write("missing_variable", batch.drop_vars("specific_humidity"), "specific_humidity")
    write("wrong_grid", batch.isel(lon=slice(0, None, 2)), "wrong grid.*lon spacing 8")
    write("too_few_times", batch.isel(time=slice(0, 3)), "too few times")
    nan = batch.copy(deep=True)
    nan["2m_temperature"][0, 1, 5, 5] = np.nan
    write("nan", nan, "input variable '2m_temperature' has NaN")
    write("missing_level", batch.isel(level=slice(0, 12)), r"level\(s\) \[1000\]")
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"\x89HDF garbage, not a netcdf file")
    cases["unreadable"] = (garbage, "cannot read input file")
    cases["absent"] = (tmp_path / "absent.nc", "not found")
    return cases


CASES = [
    "missing_variable",
    "wrong_grid",
    "too_few_times",
    "nan",
    "missing_level",
    "unreadable",
    "absent",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_writes_nothing(
    vectors_dir: Path, tmp_path: Path, capsys, case: str
) -> None:
    directory = vectors_dir / "A"
    input_path, message = _bad_inputs(directory, tmp_path)[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert _predict(directory, input_path, out_dir / "forecast.nc") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("forecast predict: error:")
    assert re.search(message, err[0]), err[0]
    assert list(out_dir.iterdir()) == []


def test_corrupt_checkpoint_and_bad_steps(vectors_dir: Path, tmp_path: Path, capsys) -> None:
    directory = vectors_dir / "A"
    bad = tmp_path / "checkpoint.npz"
    bad.write_bytes((directory / "checkpoint.npz").read_bytes()[:1000])
    args = ["predict", "--checkpoint", str(bad), "--stats", str(directory)]
    args += ["--input", str(directory / "example_batch.nc"), "--output", str(tmp_path / "o.nc")]
    assert main(args + ["--steps", "2"]) == 1
    assert "checkpoint.npz" in capsys.readouterr().err
    assert main(args + ["--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    assert not (tmp_path / "o.nc").exists()
