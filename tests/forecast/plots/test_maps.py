"""Field and error maps: valid PNGs, real content, offline coastlines, labels, units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from forecast.errors import InvalidInputError
from forecast.plots import maps
from forecast.plots.maps import MapCanvas, render_error_map, render_field_map, weighted_rmse
from forecast.plots.styles import STANDARD_GRAVITY, STYLES, style_for
from tests.forecast.plots.factories import make_forecast

# Sharp on a 1440-px screen: a global map is about 1400 px wide.
MIN_WIDTH = 1000


def _field(ds: xr.Dataset, name: str, step: int = 0, level: int | None = None) -> xr.DataArray:
    field = ds[name].isel(time=step)
    if level is not None:
        field = field.sel(level=level)
    field.attrs.update(ds.attrs)
    return field


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= MIN_WIDTH or image.size[1] >= 700
        return np.asarray(image.convert("RGB")).astype(np.int16)


def _canvas_for(field: xr.DataArray, **kwargs) -> MapCanvas:
    style = style_for(str(field.name), None)
    canvas = MapCanvas(field["lat"].values, field["lon"].values, style=style, **kwargs)
    canvas.draw(style.to_display(field.values), title="t", caption="c")
    return canvas


def test_field_map_is_a_png_with_content(offline_cartopy: Path, tmp_path: Path) -> None:
    ds = make_forecast(resolution=2.0)
    path = render_field_map(_field(ds, "2m_temperature"), path=tmp_path / "t2m.png")
    pixels = _pixels(path)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 20  # a colour scale, not a blank figure
    # The map area is mostly coloured, not white.
    centre = pixels[150:400, 100:800]
    assert (centre.sum(axis=-1) < 3 * 245).mean() > 0.9
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed away


def test_coastlines_render_offline(
    offline_cartopy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    field = _field(make_forecast(resolution=2.0), "2m_temperature")
    with_coast = _canvas_for(field)
    assert with_coast.coastline_scale == "110m"
    coast_pixels = with_coast._overlay[0].size
    assert coast_pixels > 2000
    a = _pixels(with_coast.save(tmp_path / "with.png"))

    # The same map with the layers reported missing: no coastlines, and it says so.
    monkeypatch.setattr(maps.natural_earth, "available", lambda *layer: False)
    with pytest.warns(maps.CoastlinesUnavailableWarning):
        without = _canvas_for(field)
    assert without.coastline_scale is None
    assert maps.NO_COASTLINES_NOTE in without.texts()
    b = _pixels(without.save(tmp_path / "without.png"))
    dark = lambda p: (p.sum(axis=-1) < 150).sum()  # noqa: E731 - black coastline pixels
    assert dark(a) > dark(b) + 2000


def test_maps_render_without_shapes_and_say_so(
    cartopy_without_shapes: Path, tmp_path: Path
) -> None:
    field = _field(make_forecast(resolution=5.0), "mean_sea_level_pressure")
    with pytest.warns(maps.CoastlinesUnavailableWarning):
        canvas = _canvas_for(field)
    assert maps.NO_COASTLINES_NOTE in canvas.texts()
    _pixels(canvas.save(tmp_path / "mslp.png"))


def test_regional_grid_uses_fine_coastlines(offline_cartopy: Path, tmp_path: Path) -> None:
    ds = make_forecast(resolution=1.0, lat_range=(35.0, 60.0), lon_range=(0.0, 30.0))
    canvas = _canvas_for(_field(ds, "2m_temperature"))
    assert canvas.coastline_scale == "10m"
    x0, x1, y0, y1 = canvas.extent
    assert (y0, y1) == pytest.approx((35.0, 60.0), abs=0.6)
    assert x1 - x0 == pytest.approx(30.0, abs=1.1)
    _pixels(canvas.save(tmp_path / "europe.png"))


def test_region_across_the_date_line(offline_cartopy: Path, tmp_path: Path) -> None:
    ds = make_forecast(resolution=2.0, lat_range=(-40.0, 40.0), lon_range=(120.0, 240.0))
    canvas = _canvas_for(_field(ds, "2m_temperature"))
    assert canvas.central_longitude == pytest.approx(180.0)
    assert np.all(np.diff(canvas.lon) > 0)  # no wrap inside the map
    _pixels(canvas.save(tmp_path / "pacific.png"))


def test_region_across_greenwich(offline_cartopy: Path, tmp_path: Path) -> None:
    # Europe on a 0…360 grid: 340…30 °E is two pieces in the file, one region on the map.
    ds = make_forecast(resolution=1.0, lat_range=(30.0, 70.0), lon_range=(340.0, 390.0))
    canvas = _canvas_for(_field(ds, "mean_sea_level_pressure"))
    assert canvas.central_longitude == pytest.approx(5.0)
    # Longitudes relative to the map centre: 340 °E is 25° west of 5 °E.
    assert np.all(np.diff(canvas.lon) > 0) and canvas.lon[0] == pytest.approx(-25.0)
    assert canvas.coastline_scale == "10m"
    _pixels(canvas.save(tmp_path / "europe.png"))


@pytest.mark.parametrize("synthetic", [1, 0])
def test_synthetic_label(offline_cartopy: Path, synthetic: int) -> None:
    field = _field(make_forecast(resolution=5.0, synthetic=synthetic), "2m_temperature")
    canvas = _canvas_for(field, synthetic=bool(field.attrs["synthetic"]))
    assert (maps.SYNTHETIC_LABEL in canvas.texts()) == bool(synthetic)


def test_titles_carry_init_lead_and_valid_time(offline_cartopy: Path, tmp_path: Path) -> None:
    ds = make_forecast(resolution=5.0, steps=4, init_time="2026-11-16T12:00:00")
    field = _field(ds, "geopotential", step=3, level=500)
    caption = maps.time_caption(
        init_time=ds.attrs["init_time"], valid_time=field["time"].values, lead_hours=24
    )
    assert caption == "Init Mon 16 Nov 2026 12 UTC   T+024 h\nValid Tue 17 Nov 2026 12 UTC"
    path = render_field_map(field, path=tmp_path / "z500.png")
    _pixels(path)


def test_error_map_title_has_hand_computed_rmse(offline_cartopy: Path, tmp_path: Path) -> None:
    truth = _field(make_forecast(resolution=5.0), "2m_temperature")
    forecast = truth + 2.0  # 2 K too warm everywhere
    forecast.name = truth.name
    forecast.attrs.update(truth.attrs)
    style = style_for("2m_temperature")
    assert maps.error_title(style, 2.0) in _error_canvas_title(forecast, truth)
    path = render_error_map(forecast, truth, path=tmp_path / "err.png")
    pixels = _pixels(path)
    # A uniform +2 K error is drawn in one warm (reddish) colour: red > blue over the map.
    centre = pixels[200:350, 200:700]
    assert (centre[..., 0] > centre[..., 2]).mean() > 0.8


def _error_canvas_title(forecast: xr.DataArray, truth: xr.DataArray) -> str:
    style = style_for(str(forecast.name))
    difference = style.difference_to_display(forecast.values - truth.values)
    return maps.error_title(style, weighted_rmse(difference, forecast["lat"].values))


def test_weighted_rmse_by_hand() -> None:
    lat = np.array([0.0, 60.0])
    difference = np.array([[1.0, 1.0], [3.0, 3.0]])
    # cell areas: sin 30° − sin −30° = 1, sin 90° − sin 30° = 0.5: sqrt((2·1 + 2·0.5·9) / 3)
    assert weighted_rmse(difference, lat) == pytest.approx(np.sqrt(11 / 3))
    difference[1, 1] = np.nan
    assert weighted_rmse(difference, lat) == pytest.approx(np.sqrt((2 + 4.5) / 2.5))
    # Descending latitudes (ERA5's native order) give the same weights per row.
    assert weighted_rmse(difference[::-1], lat[::-1]) == pytest.approx(np.sqrt((2 + 4.5) / 2.5))


@pytest.mark.parametrize(
    ("variable", "level", "archive", "display"),
    [
        ("2m_temperature", None, 273.15, 0.0),
        ("mean_sea_level_pressure", None, 101325.0, 1013.25),
        ("geopotential", 500, STANDARD_GRAVITY * 5520.0, 552.0),
        ("temperature", 850, 263.15, -10.0),
        ("total_precipitation_6hr", None, 0.0042, 4.2),
        ("10m_wind", None, 12.5, 12.5),
    ],
)
def test_unit_conversions(variable: str, level: int | None, archive: float, display: float) -> None:
    style = style_for(variable, level)
    assert float(style.to_display(np.array(archive))) == pytest.approx(display)


def test_display_units() -> None:
    units = {key: style.units for key, style in STYLES.items()}
    assert units == {
        ("2m_temperature", None): "°C",
        ("mean_sea_level_pressure", None): "hPa",
        ("10m_wind", None): "m/s",
        ("geopotential", 500): "dam",
        ("temperature", 850): "°C",
        ("total_precipitation_6hr", None): "mm",
    }


def test_differences_ignore_offsets() -> None:
    style = style_for("2m_temperature")
    assert style.units == "°C"
    assert float(style.difference_to_display(np.array(1.5))) == pytest.approx(1.5)
    assert float(style_for("mean_sea_level_pressure").difference_to_display(np.array(250.0))) == 2.5


def test_fixed_colour_scale_across_frames(offline_cartopy: Path) -> None:
    ds = make_forecast(resolution=5.0, steps=2)
    style = style_for("2m_temperature")
    canvas = MapCanvas(ds["lat"].values, ds["lon"].values, style=style)
    canvas.draw(style.to_display(ds["2m_temperature"].values[0]), title="a")
    first = canvas.scale.bounds
    canvas.draw(style.to_display(ds["2m_temperature"].values[1]) + 10.0, title="b")
    assert canvas.scale.bounds == first and (first[0], first[-1]) == (-48.0, 48.0)


def test_wind_map_draws_arrows(offline_cartopy: Path, tmp_path: Path) -> None:
    ds = make_forecast(resolution=2.0)
    u, v = _field(ds, "10m_u_component_of_wind"), _field(ds, "10m_v_component_of_wind")
    speed = np.hypot(u, v).rename("10m_wind")
    speed.attrs.update(ds.attrs)
    canvas = MapCanvas(ds["lat"].values, ds["lon"].values, style=style_for("10m_wind"))
    canvas.draw(speed.values, title="w", u=u.values, v=v.values)
    n_arrows = canvas.arrow_count
    assert 200 < n_arrows < 2000  # subsampled, not one per grid cell
    path = render_field_map(speed, path=tmp_path / "wind.png", wind=(u, v))
    _pixels(path)


def test_bad_fields_are_named(offline_cartopy: Path, tmp_path: Path) -> None:
    ds = make_forecast(resolution=5.0)
    with pytest.raises(InvalidInputError, match="2m_temperature"):
        render_field_map(ds["2m_temperature"], path=tmp_path / "x.png")  # still has `time`
    truth = make_forecast(resolution=10.0)
    with pytest.raises(InvalidInputError, match="grid"):
        render_error_map(
            _field(ds, "2m_temperature"), _field(truth, "2m_temperature"), path=tmp_path / "e.png"
        )
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize(
    "bounds",
    [
        tuple(float(b) for b in np.arange(-48, 49, 4)),
        tuple(float(b) for b in np.arange(-0.8, 0.81, 0.1)),
        (0.1, 0.5, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 30.0, 50.0),
    ],
)
def test_classes_match_numpy_digitize(bounds) -> None:
    from forecast.plots.scales import ColourScale

    scale = ColourScale(bounds, "RdBu_r")
    rng = np.random.default_rng(1)
    values = rng.normal(0, bounds[-1], 20_000).astype(np.float32)
    values[:3] = [np.nan, bounds[0] - 1, bounds[-1] + 1]
    expected = np.digitize(values, bounds)
    expected[~np.isfinite(values)] = len(bounds) + 1
    got = scale.classify(values)
    # Only values within float32 rounding of a boundary may land in the neighbouring class.
    differ = got.astype(int) != expected
    near = np.min(np.abs(values[:, None] - np.asarray(bounds)[None, :]), axis=1) < 1e-5
    assert not (differ & ~near).any()


def test_difference_scale_is_symmetric_and_fitted() -> None:
    from forecast.plots.scales import difference_scale

    rng = np.random.default_rng(2)
    errors = rng.normal(0, 0.2, 100_000)
    scale = difference_scale(errors)
    assert scale.bounds[0] == -scale.bounds[-1]
    # Fitted to the data (|e| 99th percentile ≈ 0.52), not a fixed ±10.
    assert 0.5 <= scale.bounds[-1] <= 1.0
    assert len(scale.bounds) <= 17


def test_saved_palette_keeps_class_colours_exact_and_is_close_elsewhere(
    offline_cartopy: Path, tmp_path: Path
) -> None:
    ds = make_forecast(resolution=2.0)
    style = style_for("mean_sea_level_pressure")
    canvas = MapCanvas(ds["lat"].values, ds["lon"].values, style=style, footer="footer")
    canvas.draw(style.to_display(ds["mean_sea_level_pressure"].values[0]), title="MSLP")
    drawn = np.asarray(canvas.image()).astype(int)
    with Image.open(canvas.save(tmp_path / "mslp.png")) as image:
        assert image.mode == "P" and len(image.getpalette()) <= 3 * 255
        saved = np.asarray(image.convert("RGB")).astype(int)
    error = np.abs(saved - drawn).sum(axis=-1)
    # Class colours, contour ink and paper are palette entries of their own: kept exactly.
    exact = np.vstack([canvas._lut, np.asarray(maps._INKS)]).astype(int)
    is_exact = (drawn[:, :, None, :] == exact[None, None]).all(-1).any(-1)
    assert is_exact.mean() > 0.5 and error[is_exact].max() == 0
    # Antialiasing (coastlines, text) gets its nearest entry: close, not equal.
    assert error.mean() < 1.5 and np.percentile(error, 99.9) < 40


def test_same_frame_same_png_whatever_was_drawn_before(
    offline_cartopy: Path, tmp_path: Path
) -> None:
    ds = make_forecast(resolution=2.0, steps=2)
    style = style_for("2m_temperature")
    frames = [style.to_display(ds["2m_temperature"].values[i]) for i in range(2)]

    def saved(order: list[int], name: str) -> bytes:
        canvas = MapCanvas(ds["lat"].values, ds["lon"].values, style=style)
        for i in order:
            canvas.draw(frames[i], title="T2m", caption=f"lead {i}")
            path = canvas.save(tmp_path / f"{name}-{i}.png")
        return path.read_bytes()

    # The palette belongs to the canvas, not to the first frame it saved.
    assert saved([0, 1], "a") == saved([1], "b")
