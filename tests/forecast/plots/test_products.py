"""render_forecast_products: every main product at every lead, error maps only where truth is."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from forecast.errors import InvalidInputError
from forecast.plots import maps
from forecast.plots.products import (
    MAIN_PRODUCTS,
    Product,
    product_filename,
    product_parts,
    render_forecast_products,
    render_part,
)
from tests.forecast.plots.factories import make_forecast

MIN_WIDTH = 1000  # sharp on a 1440-px screen


def _check_pngs(out_dir: Path, products: list[Product]) -> None:
    for product in products:
        assert not product.path.is_absolute()
        with Image.open(out_dir / product.path) as image:
            image.verify()
        with Image.open(out_dir / product.path) as image:
            assert image.format == "PNG" and image.size[0] >= MIN_WIDTH
    assert len({p.path for p in products}) == len(products)
    assert not list(out_dir.glob(".*"))  # no temporary files left behind


def test_all_products_every_lead_and_error_maps_where_truth_exists(
    offline_cartopy: Path, tmp_path: Path
) -> None:
    forecast = make_forecast(steps=3, resolution=10.0)
    # Truth holds the first two valid times only (the third is in the future).
    truth = make_forecast(steps=2, resolution=10.0, shift=0.4, seed=1)
    products = render_forecast_products(forecast, tmp_path, truth=truth, workers=1)

    maps_ = [p for p in products if p.kind == "map"]
    errors = [p for p in products if p.kind == "error_map"]
    assert {(p.variable, p.level) for p in maps_} == set(MAIN_PRODUCTS)
    assert sorted({p.lead_hours for p in maps_}) == [6, 12, 18]
    assert len(maps_) == len(MAIN_PRODUCTS) * 3
    assert len(errors) == len(MAIN_PRODUCTS) * 2
    assert {p.lead_hours for p in errors} == {6, 12}
    assert products[: len(maps_)] == maps_  # maps first
    assert (
        Product("map", "geopotential", 500, 12, Path("map_geopotential_500hPa_012h.png"))
        in products
    )
    assert product_filename("error_map", "10m_wind", None, 6) == "error_map_10m_wind_006h.png"
    _check_pngs(tmp_path, products)


def test_no_truth_no_error_maps(offline_cartopy: Path, tmp_path: Path) -> None:
    forecast = make_forecast(steps=2, resolution=10.0)
    products = render_forecast_products(
        forecast, tmp_path, variables=[("2m_temperature", None)], workers=1
    )
    assert [p.kind for p in products] == ["map", "map"]
    # Truth at other valid times only: still no error maps.
    truth = make_forecast(steps=2, resolution=10.0, init_time="2026-11-20T00:00:00")
    products = render_forecast_products(
        forecast, tmp_path / "b", truth=truth, variables=[("2m_temperature", None)], workers=1
    )
    assert all(p.kind == "map" for p in products)


def test_truth_lacking_a_variable_skips_only_its_error_maps(
    offline_cartopy: Path, tmp_path: Path
) -> None:
    forecast = make_forecast(steps=1, resolution=10.0)
    truth = make_forecast(steps=1, resolution=10.0).drop_vars("total_precipitation_6hr")
    variables = [("2m_temperature", None), ("total_precipitation_6hr", None)]
    products = render_forecast_products(
        forecast, tmp_path, truth=truth, variables=variables, workers=1
    )
    assert {(p.kind, p.variable) for p in products} == {
        ("map", "2m_temperature"),
        ("map", "total_precipitation_6hr"),
        ("error_map", "2m_temperature"),
    }


def test_selected_leads(offline_cartopy: Path, tmp_path: Path) -> None:
    forecast = make_forecast(steps=4, resolution=10.0)
    products = render_forecast_products(
        forecast, tmp_path, variables=[("temperature", 850)], leads=[6, 24], workers=1
    )
    assert [p.lead_hours for p in products] == [6, 24]
    with pytest.raises(InvalidInputError, match=r"\[30\]"):
        render_forecast_products(forecast, tmp_path, leads=[30], workers=1)


def test_synthetic_label_on_products(
    offline_cartopy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    original = maps.MapCanvas.save

    def spy(self, path):
        seen.append(self.texts())
        return original(self, path)

    monkeypatch.setattr(maps.MapCanvas, "save", spy)
    for synthetic in (1, 0):
        seen.clear()
        forecast = make_forecast(steps=1, resolution=10.0, synthetic=synthetic)
        render_forecast_products(
            forecast, tmp_path / str(synthetic), variables=[("2m_temperature", None)], workers=1
        )
        assert seen and all((maps.SYNTHETIC_LABEL in texts) == bool(synthetic) for texts in seen)
        caption = next(t for t in seen[0] if t.startswith("Init"))
        assert "T+006 h" in caption and "Valid Mon 16 Nov 2026 06 UTC" in caption


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ds: ds.drop_vars("10m_v_component_of_wind"), "10m_v_component_of_wind"),
        (lambda ds: ds.sel(level=[850]), "geopotential at 500 hPa"),
        (lambda ds: ds.drop_attrs(), "init_time"),
        (lambda ds: ds.isel(lat=0, drop=True), "lat"),
        (lambda ds: ds.expand_dims("batch"), "batch"),
    ],
)
def test_bad_forecasts_are_named(offline_cartopy: Path, tmp_path: Path, mutate, message) -> None:
    forecast = mutate(make_forecast(steps=1, resolution=10.0))
    with pytest.raises(InvalidInputError, match=message):
        render_forecast_products(forecast, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_truth_on_another_grid_is_rejected(offline_cartopy: Path, tmp_path: Path) -> None:
    forecast = make_forecast(steps=1, resolution=10.0)
    truth = make_forecast(steps=1, resolution=5.0)
    with pytest.raises(InvalidInputError, match="grid"):
        render_forecast_products(forecast, tmp_path, truth=truth, workers=1)


def test_process_pool_gives_the_same_products(offline_cartopy: Path, tmp_path: Path) -> None:
    forecast = make_forecast(steps=2, resolution=10.0)
    truth = make_forecast(steps=1, resolution=10.0, shift=0.2)
    variables = [("2m_temperature", None), ("10m_wind", None)]
    serial = render_forecast_products(
        forecast, tmp_path / "a", truth=truth, variables=variables, workers=1
    )
    pooled = render_forecast_products(
        forecast, tmp_path / "b", truth=truth, variables=variables, workers=2
    )
    assert serial == pooled
    _check_pngs(tmp_path / "b", pooled)
    a = np.asarray(Image.open(tmp_path / "a" / serial[0].path).convert("RGB"))
    b = np.asarray(Image.open(tmp_path / "b" / pooled[0].path).convert("RGB"))
    assert (a != b).any(axis=-1).mean() < 0.01  # same picture from the worker process


def test_synthetic_world_persistence_run(offline_cartopy: Path, tmp_path: Path) -> None:
    synthetic = pytest.importorskip("forecast.data.synthetic")
    from forecast.predictor import PersistencePredictor

    init = pd.Timestamp("2026-11-16T00:00")
    kwargs = {"grid_deg": 10.0, "levels": (500, 850)}
    inputs = synthetic.synthetic_era5([init - pd.Timedelta(hours=6), init], **kwargs)
    forecast = PersistencePredictor().forecast(inputs, steps=2)
    truth = synthetic.synthetic_era5(forecast["time"].values[:1], **kwargs)
    products = render_forecast_products(forecast, tmp_path, truth=truth, workers=1)
    assert sum(p.kind == "map" for p in products) == 12
    assert sum(p.kind == "error_map" for p in products) == 6
    _check_pngs(tmp_path, products)


def _render_in_daemon(out_dir: str) -> None:
    from forecast.plots import products

    assert products.default_workers(1000) == 1
    forecast = make_forecast(steps=1, resolution=10.0)
    # Asked for a pool, a daemonic process (like a Celery prefork child) renders in-process.
    done = products.render_forecast_products(
        forecast,
        Path(out_dir),
        variables=[("2m_temperature", None), ("temperature", 850)],
        workers=2,
    )
    assert len(done) == 2


def test_daemonic_process_renders_in_process(offline_cartopy: Path, tmp_path: Path) -> None:
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(
        target=_render_in_daemon, args=(str(tmp_path),), daemon=True
    )
    process.start()
    process.join(120)
    assert process.exitcode == 0
    assert len(list(tmp_path.glob("map_*.png"))) == 2


def test_small_jobs_render_in_process() -> None:
    from forecast.plots.products import default_workers

    assert default_workers(10) == 1
    assert default_workers(480) == min(2, os.cpu_count() or 1)


def test_parts_share_every_fields_leads_and_keep_fitted_scales_whole() -> None:
    variables = [("2m_temperature", None), ("10m_wind", None), ("geopotential", 700)]
    parts = product_parts(2, 5, variables, kinds=("forecast", "error"))
    drawn = {}
    for work in parts:
        for item in work:
            for lead in item.lead_indices:
                key = (item.kind, item.variable, item.level, lead)
                assert key not in drawn  # nothing drawn twice
                drawn[key] = True
    assert len(drawn) == 2 * 3 * 5  # everything drawn once
    for item in (i for work in parts for i in work):  # consecutive leads: one slice to read
        assert item.lead_indices == tuple(range(item.lead_indices[0], item.lead_indices[-1] + 1))
    loads = [sum(len(item.lead_indices) for item in work) for work in parts]
    assert abs(loads[0] - loads[1]) <= 1
    # Fixed classes: each part draws some leads of the field.
    for variable in ("2m_temperature", "10m_wind"):
        shares = [
            [i for i in work if i.kind == "forecast" and i.variable == variable] for work in parts
        ]
        assert all(len(share) == 1 and len(share[0].lead_indices) in (2, 3) for share in shares)
    # Scales fitted to the run (error maps; 700 hPa has no fixed classes) need every lead.
    for item in (i for work in parts for i in work):
        if item.kind == "error" or item.level == 700:
            assert item.lead_indices == tuple(range(5))
    assert [len(work) for work in product_parts(8, 1, variables)].count(0) == 5


def test_parts_together_draw_the_same_maps(offline_cartopy: Path, tmp_path: Path) -> None:
    forecast = make_forecast(steps=3, resolution=10.0)
    truth = make_forecast(steps=2, resolution=10.0, shift=0.4, seed=1)
    variables = [("2m_temperature", None), ("10m_wind", None), ("temperature", 850)]
    whole = render_forecast_products(
        forecast, tmp_path / "whole", truth=truth, variables=variables, workers=1
    )
    split = []
    for part in range(2):
        split += render_part(
            forecast, tmp_path / "parts", part=part, parts=2, truth=truth, variables=variables
        )
    assert sorted(split, key=str) == sorted(whole, key=str)
    for product in whole:  # same scales, same pixels: the same file
        assert (tmp_path / "parts" / product.path).read_bytes() == (
            tmp_path / "whole" / product.path
        ).read_bytes()
