"""Helpers for the GraphCast model tests: vector-A graphs, tiny configs, random data/checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables
from forecast.model import build, checkpoint, normalization
from forecast.model.config import ModelConfig, TaskConfig
from forecast.model.graphcast import GraphArrays
from forecast.model.graphs import EdgeSet, GraphCastGraphs, build_graphs
from forecast.model.xarray_jax import dataset_to_fields


def float32_trig_matches_reference(vectors_dir: Path) -> bool:
    """Whether numpy's float32 arccos here gives vector A's mesh latitudes bit for bit.

    numpy evaluates float32 arccos/arctan2/sin/cos with AVX-512 (SVML) kernels where the CPU
    has them and with libm elsewhere; the two differ by an ulp on some inputs. The reference
    vectors were made on an AVX-512 machine: bit-exactness against them can be checked only
    where this holds (elsewhere those tests skip, saying why, and ulp-level tests run).
    """
    from forecast.model import icosahedral_mesh

    z = np.load(vectors_dir / "A" / "intermediates.npz")
    lat, _ = icosahedral_mesh.vertices_to_lat_lon(z["finest_mesh_vertices"])
    return bool(np.array_equal(lat, z["mesh_nodes_lat"]))


def require_reference_float32_trig(vectors_dir: Path) -> None:
    """Skips a bit-exactness test on a CPU whose float32 trigonometry differs from the one
    the reference vectors were made on (see `float32_trig_matches_reference`)."""
    import pytest

    if not float32_trig_matches_reference(vectors_dir):
        pytest.skip(
            "numpy's float32 arccos on this CPU (no AVX-512) differs by an ulp from the "
            "machine the reference vectors were made on: bit-exactness is not checkable here"
        )


def vector_a_graphs(vectors_dir: Path) -> GraphCastGraphs:
    """Config A's graphs exactly as the reference built them (`intermediates.npz`)."""
    z = np.load(vectors_dir / "A" / "intermediates.npz")

    def edge_set(prefix: str) -> EdgeSet:
        return EdgeSet(
            senders=z[f"{prefix}_senders"],
            receivers=z[f"{prefix}_receivers"],
            features=z[f"{prefix}_edge_features"],
            normaliser=1.0,
        )

    return GraphCastGraphs(
        grid_lat=np.arange(-90, 91, 4, dtype=np.float32),
        grid_lon=np.arange(0, 360, 4, dtype=np.float32),
        mesh_lat=z["mesh_nodes_lat"],
        mesh_lon=z["mesh_nodes_lon"],
        grid_node_features=z["grid_node_structural_features"],
        mesh_node_features=z["mesh_node_structural_features"],
        grid2mesh=edge_set("grid2mesh"),
        mesh=edge_set("mesh"),
        mesh2grid=edge_set("mesh2grid"),
        query_radius=float(z["query_radius"]),
    )


def tiny_model_config(*, mesh_size: int = 1, latent_size: int = 8) -> ModelConfig:
    """A model small enough to compile in seconds (resolution 0: any grid)."""
    return ModelConfig(
        resolution=0.0,
        mesh_size=mesh_size,
        latent_size=latent_size,
        gnn_msg_steps=2,
        hidden_layers=1,
        radius_query_fraction_edge_length=0.6,
    )


def synthetic_batch(
    task: TaskConfig,
    stats: normalization.NormStats,
    *,
    lat: np.ndarray,
    lon: np.ndarray,
    num_times: int,
    init: str = "2026-11-15T00:00",
    seed: int = 0,
    with_tisr: bool = False,
) -> xr.Dataset:
    """Example-batch-layout data: mean + 0.5·stddev·noise for every non-derived input/target.

    TISR is left out unless `with_tisr` (then it is mean + noise too), so it gets derived.
    """
    rng = np.random.default_rng(seed)
    levels = np.asarray(task.pressure_levels, np.int32)
    names = dict.fromkeys(task.input_variables + task.target_variables)
    data_vars = {}
    for name in names:
        if name.startswith(("year_progress", "day_progress")):
            continue
        if name == "toa_incident_solar_radiation" and not with_tisr:
            continue
        mean, std = stats.mean[name], stats.stddev[name]
        if name in variables.STATIC_VARS:
            dims, shape = ("lat", "lon"), (lat.size, lon.size)
        elif variables.is_atmospheric(name):
            dims = ("batch", "time", "level", "lat", "lon")
            shape = (1, num_times, levels.size, lat.size, lon.size)
            mean, std = mean[:, None, None], std[:, None, None]
        else:
            dims, shape = ("batch", "time", "lat", "lon"), (1, num_times, lat.size, lon.size)
        values = mean + 0.5 * std * rng.standard_normal(shape)
        if name == "total_precipitation_6hr":
            values = np.abs(values)
        data_vars[name] = (dims, values.astype(np.float32))
    datetimes = pd.date_range(init, periods=num_times, freq="6h")
    return xr.Dataset(
        data_vars,
        coords={
            "lat": lat.astype(np.float32),
            "lon": lon.astype(np.float32),
            "level": levels,
            "time": (datetimes - datetimes[0]).to_numpy(),
            "datetime": (("batch", "time"), datetimes.to_numpy()[None]),
        },
        attrs={"source": "synthetic", "synthetic": 1},
    )


def random_checkpoint(
    path: Path,
    model_config: ModelConfig,
    task: TaskConfig,
    stats: normalization.NormStats,
    *,
    lat: np.ndarray,
    lon: np.ndarray,
    seed: int = 0,
) -> checkpoint.CheckPoint:
    """Writes a randomly initialised checkpoint for `task` on the grid `lat`×`lon`."""
    from forecast.model import extraction

    graphs = GraphArrays.from_graphs(
        build_graphs(
            lat,
            lon,
            mesh_size=model_config.mesh_size,
            radius_query_fraction_edge_length=model_config.radius_query_fraction_edge_length,
        )
    )
    batch = synthetic_batch(task, stats, lat=lat, lon=lon, num_times=3)
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(batch, task, slice("6h", "6h"))
    params = build.init_params(
        model_config,
        task,
        stats,
        graphs,
        dataset_to_fields(inputs, task.input_variables),
        dataset_to_fields(forcings, task.forcing_variables),
        seed=seed,
    )
    ckpt = checkpoint.CheckPoint(
        params=params,
        model_config=model_config,
        task_config=task,
        description="random test weights",
        license="CC0",
    )
    checkpoint.save(path, ckpt)
    return ckpt
