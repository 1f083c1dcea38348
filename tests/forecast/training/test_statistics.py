"""Tests of the normalisation statistics: DeepMind's layout, exact values, chunk invariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from forecast.cli import main
from forecast.errors import InvalidInputError
from forecast.model.normalization import STATS_FILES, load_stats
from forecast.training.statistics import PROGRESS_VARS, compute_statistics
from forecast.variables import PRESSURE_LEVELS_13, STATIC_VARS


def _open(directory: Path) -> list[xr.Dataset]:
    return [xr.load_dataset(directory / name) for name in STATS_FILES.values()]


def test_layout_matches_deepminds(small_stats: Path, shared_dir: Path) -> None:
    official = _open(shared_dir / "data" / "graphcast-stats-official")
    ours = _open(small_stats)
    for mine, theirs in zip(ours, official, strict=True):
        assert mine["level"].dtype == theirs["level"].dtype == np.int32
        for name, var in mine.data_vars.items():
            assert var.dtype == np.float64, name
            assert name in theirs, name  # every name we write is one DeepMind uses
            assert var.dims == theirs[name].dims, name
        # Their timestep/stride attributes are kept.
        assert mine.attrs["timestep_hours"] == 6 and mine.attrs["window_stride"] == 1
    mean, stddev, diffs = ours
    for name in (*STATIC_VARS, *PROGRESS_VARS, "toa_incident_solar_radiation"):
        assert name in mean and name in stddev
    assert not set(STATIC_VARS) & set(diffs.data_vars)  # statics have no differences
    assert set(PROGRESS_VARS) <= set(diffs.data_vars)
    # The model's loader accepts them.
    stats = load_stats(small_stats, PRESSURE_LEVELS_13)
    assert stats.mean["geopotential"].shape == (13,)


def test_values_are_exact(small_archive: Path, small_stats: Path) -> None:
    archive = xr.load_dataset(small_archive)
    mean, stddev, diffs = _open(small_stats)
    z = archive["geopotential"].values.astype(np.float64)
    np.testing.assert_allclose(mean["geopotential"].values, z.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(stddev["geopotential"].values, z.std(axis=(0, 2, 3)), rtol=1e-8)
    dz = np.diff(z, axis=0)
    np.testing.assert_allclose(diffs["geopotential"].values, dz.std(axis=(0, 2, 3)), rtol=1e-8)
    t2m = archive["2m_temperature"].values.astype(np.float64)
    np.testing.assert_allclose(mean["2m_temperature"].values, t2m.mean(), rtol=1e-10)
    lsm = archive["land_sea_mask"].values.astype(np.float64)
    np.testing.assert_allclose(stddev["land_sea_mask"].values, lsm.std(), rtol=1e-8)
    # Day progress: uniform over the day → stddev 1/√12; 6 h steps → diffs 0.25 or −0.75.
    np.testing.assert_allclose(stddev["day_progress"].values, 1 / np.sqrt(12), rtol=1e-3)
    np.testing.assert_allclose(diffs["day_progress"].values, np.sqrt(3) / 4, rtol=1e-3)


def test_chunking_does_not_change_results(small_archive: Path) -> None:
    archive = xr.open_dataset(small_archive)
    names = ["geopotential", "2m_temperature", "total_precipitation_6hr"]
    whole = compute_statistics(archive, variables_=names, chunk_times=100)
    pieces = compute_statistics(archive, variables_=names, chunk_times=3)
    for a, b in zip(whole, pieces, strict=True):
        xr.testing.assert_allclose(a, b, rtol=1e-12)


def test_area_weighting(small_archive: Path) -> None:
    archive = xr.open_dataset(small_archive)
    plain = compute_statistics(archive, variables_=["2m_temperature"])[0]
    weighted = compute_statistics(archive, variables_=["2m_temperature"], area_weighted=True)[0]
    t2m = archive["2m_temperature"].values.astype(np.float64)
    w = np.cos(np.deg2rad(archive["lat"].values.astype(np.float64)))[None, :, None]
    expected = (t2m * w).sum() / np.broadcast_to(w, t2m.shape).sum()
    np.testing.assert_allclose(weighted["2m_temperature"].values, expected, rtol=1e-10)
    # The tropics are warm: weighting them up raises the mean.
    assert weighted["2m_temperature"] > plain["2m_temperature"] + 1
    assert weighted.attrs["area_weighted"] == 1 and plain.attrs["area_weighted"] == 0


def test_gaps_are_not_differenced(small_archive: Path) -> None:
    archive = xr.open_dataset(small_archive)
    gappy = archive.isel(time=[0, 1, 5, 6])  # two 6 h pairs, one 24 h gap
    diffs = compute_statistics(gappy, variables_=["2m_temperature"])[2]
    t = gappy["2m_temperature"].values.astype(np.float64)
    pairs = np.concatenate([t[1] - t[0], t[3] - t[2]])
    np.testing.assert_allclose(diffs["2m_temperature"].values, pairs.std(), rtol=1e-8)


def test_bad_archives_are_named(small_archive: Path, tmp_path: Path) -> None:
    archive = xr.open_dataset(small_archive)
    with pytest.raises(InvalidInputError, match="two archive frames"):
        compute_statistics(archive.isel(time=[0]), variables_=["2m_temperature"])
    with pytest.raises(InvalidInputError, match="nonexistent"):
        compute_statistics(archive, variables_=["nonexistent"])
    broken = archive[["2m_temperature"]].load()
    broken["2m_temperature"][2, 1, 1] = np.nan
    with pytest.raises(InvalidInputError, match="2m_temperature"):
        compute_statistics(broken)
    assert main(["stats", "--archive", str(tmp_path / "missing.nc"), "--output", "x"]) == 1


def test_command_writes_three_files(small_archive: Path, tmp_path: Path) -> None:
    assert main(["stats", "--archive", str(small_archive), "--output", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(STATS_FILES.values())


@pytest.mark.parametrize("area_weighted", [False, True])
def test_dask_path_equals_the_in_memory_path(small_archive: Path, area_weighted: bool) -> None:
    from forecast.training.statistics import compute_statistics_dask

    with (
        xr.open_dataset(small_archive) as eager,
        xr.open_dataset(small_archive, chunks={"time": 3}) as lazy,
    ):
        gap = np.r_[0:5, 7 : eager.sizes["time"]]  # a gap: its difference must not count
        reference = compute_statistics(eager.isel(time=gap), area_weighted=area_weighted)
        got = compute_statistics_dask(lazy.isel(time=gap), area_weighted=area_weighted)
    for want, have in zip(reference, got, strict=True):
        assert set(want.data_vars) == set(have.data_vars)
        assert want.attrs == have.attrs
        for name in want.data_vars:
            np.testing.assert_allclose(have[name], want[name], rtol=1e-9, err_msg=name)


def test_stats_command_on_a_local_cluster_reads_a_zarr_archive(
    small_archive: Path, small_stats: Path, tmp_path: Path
) -> None:
    store = tmp_path / "world.zarr"
    with xr.open_dataset(small_archive) as ds:
        ds.rename(lat="latitude", lon="longitude").sortby("latitude", ascending=False).chunk(
            {"time": 2}
        ).to_zarr(store, consolidated=True, zarr_format=2)
    argv = ["stats", "--archive", str(store), "--output", str(tmp_path / "out")]
    assert main([*argv, "--workers", "1", "--memory-limit", "1GiB"]) == 0
    for want, have in zip(_open(small_stats), _open(tmp_path / "out"), strict=True):
        for name in want.data_vars:
            np.testing.assert_allclose(have[name], want[name], rtol=1e-9, err_msg=name)
