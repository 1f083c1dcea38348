"""Long GraphCast rollouts with memory flat in lead time, on CPU or GPU unchanged.

Edge embeddings depend only on the weights and the graphs, so they are computed once per grid
and passed in (`GraphArrays.edge_embeddings`). One jitted function performs one 6 h step *and*
slides the input window:
`step(params, graphs, window, forcing_k) -> (prediction_k, next_window)`. It is called once per
lead: the window stays on the device and its buffers are donated to the next window, each
prediction is copied to host memory right away, and forcings travel to the device one frame
at a time. Device memory is therefore one window + one step's activations whatever the
number of steps (the reference's chunked rollout keeps every lead's outputs on the device and
grows with lead time). Only one shape is ever compiled, so a 40-step run costs one compile.

Compilation cache: `enable_compilation_cache()` (called by `Rollout`) points JAX's persistent
cache at `$GCF_JAX_CACHE_DIR` (default `$GCF_VAR_DIR/jax_cache`, i.e. `<repo>/var/jax_cache`),
so a daily job in a fresh process loads the compiled step instead of recompiling.

XLA memory settings users rely on are honoured because they are read by JAX itself at
start-up — set them in the environment before the process starts (see docs/model.md):

* `XLA_PYTHON_CLIENT_PREALLOCATE=false` — do not grab 75 % of GPU memory up front;
* `XLA_PYTHON_CLIENT_ALLOCATOR=platform` — allocate/free exactly what is used (slower, but
  lowest footprint, for tight GPUs);
* `XLA_PYTHON_CLIENT_MEM_FRACTION=.5` — cap the preallocated share.

Nothing here sets or overrides them; `memory_settings()` reports them for logs.
"""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import haiku as hk
import jax
import numpy as np
import xarray as xr
from jax.experimental.compilation_cache import compilation_cache

from forecast import variables
from forecast.errors import CheckpointError, InvalidInputError
from forecast.model import (
    autoregressive,
    build,
    checkpoint,
    chunking,
    extraction,
    normalization,
)
from forecast.model.graphcast import GraphArrays
from forecast.model.xarray_jax import dataset_to_fields, dims_of_array

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
GraphsProvider = Callable[[np.ndarray, np.ndarray], Any]
XLA_MEMORY_VARIABLES = (
    "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_PYTHON_CLIENT_ALLOCATOR",
    "XLA_PYTHON_CLIENT_MEM_FRACTION",
)


def default_cache_dir() -> Path:
    """`$GCF_JAX_CACHE_DIR`, else `$GCF_VAR_DIR/jax_cache`, else `<repo>/var/jax_cache`."""
    if os.environ.get("GCF_JAX_CACHE_DIR"):
        return Path(os.environ["GCF_JAX_CACHE_DIR"])
    var_dir = os.environ.get("GCF_VAR_DIR") or Path(__file__).resolve().parents[2] / "var"
    return Path(var_dir) / "jax_cache"


def enable_compilation_cache(cache_dir: str | Path | None = None) -> Path:
    """Turns on JAX's persistent compilation cache (idempotent) and returns its directory."""
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != str(path):
        jax.config.update("jax_compilation_cache_dir", str(path))
        # JAX opens the cache once per process: re-open it if the directory changed.
        compilation_cache.reset_cache()
    # Cache every compile: the step is compiled once per process, and even small models pay
    # seconds of compile time that a daily job should not repeat.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def memory_settings() -> dict[str, str]:
    """The XLA memory environment variables in effect (for logs and run records)."""
    return {name: os.environ.get(name, "") for name in XLA_MEMORY_VARIABLES}


class Rollout:
    """A loaded GraphCast (checkpoint + stats) that rolls out forecasts step by step.

    Args:
      ckpt: the checkpoint.
      stats: normalisation statistics for its levels.
      identity: `checkpoint`, `checkpoint_sha256`, `checkpoint_description` for forecasts.
      graphs_provider: `(lat, lon) -> GraphCastGraphs`; default builds (and caches in
        `graphs_cache_dir`) with `forecast.model.graphs.load_or_build_graphs`.
      graphs_cache_dir: where built graphs are cached.
      fuse_edge_first_layer: see `typed_graph_net.SplitLinear`.
      float32_accumulation: every linear layer accumulates its bf16 products in float32 and
        rounds once (`typed_graph_net.SplitLinear`), as accelerators do; XLA's CPU backend
        ran such a dot 1.5–1.7× faster than the reference's bf16-out `hk.Linear` on an
        AVX512_BF16 CPU. Results differ from the reference's by bf16 noise.
      precompute_edge_embeddings: embed edges once per grid instead of every step. Same
        operations, but XLA rounds the stored bf16 embedding where inside one step it may keep
        excess precision, so results move by bf16 noise. With these three options False the
        rollout is bit-identical to the reference on CPU.
      compilation_cache_dir: persistent JAX cache (default: `default_cache_dir()`).
      spill_dir: when set, the forecast's host arrays are memory-mapped files created (and
        unlinked at once) in this directory instead of anonymous memory. A 10-day 0.25°/37-level
        forecast is ~37 GB; file-backed pages are written back and dropped by the kernel, so
        resident memory stays bounded whatever the lead count. Use a real disk, not tmpfs.
      grid_chunk_size: grid nodes per chunk of the encoder/decoder (`chunking`); None or 0
        decides from `memory_budget_bytes`: unchunked when the step's estimated peak fits,
        else the largest chunk that fits. The choice is logged and kept in `chunk_plan`.
      memory_budget_bytes: memory one step may use (None: a share of what the device has
        available now: host RAM on CPU, the allocator's free memory on GPU).
      precompute_edge_products: chunked and fused only: compute the grid edges' first-layer
        shares once per grid (`GraphCast.edge_products`, 4.8 GB at 0.25°) instead of in
        every step: 38 instead of 51 s a step at 0.25° on 2 cores. None: when the memory
        estimate with them fits the budget (`chunking.choose_plan`).
    """

    def __init__(
        self,
        ckpt: checkpoint.CheckPoint,
        stats: normalization.NormStats,
        *,
        identity: dict[str, str] | None = None,
        graphs_provider: GraphsProvider | None = None,
        graphs_cache_dir: str | Path | None = None,
        fuse_edge_first_layer: bool = True,
        float32_accumulation: bool = True,
        precompute_edge_embeddings: bool = True,
        compilation_cache_dir: str | Path | None = None,
        spill_dir: str | Path | None = None,
        grid_chunk_size: int | None = None,
        memory_budget_bytes: int | None = None,
        precompute_edge_products: bool | None = None,
    ) -> None:
        self.checkpoint = ckpt
        self._edge_products = precompute_edge_products if fuse_edge_first_layer else False
        self._grid_chunk_size = grid_chunk_size
        self._memory_budget = memory_budget_bytes
        self.chunk_plan: chunking.ChunkPlan | None = None
        self._spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.stats = stats
        self.identity = identity or {}
        self._graphs_provider = graphs_provider or self._default_graphs
        self._graphs_cache_dir = graphs_cache_dir
        self._fuse = fuse_edge_first_layer
        self._float32_accumulation = float32_accumulation
        self._precompute = precompute_edge_embeddings
        cache = enable_compilation_cache(compilation_cache_dir)
        logger.info(
            "GraphCast rollout on %s; XLA memory settings %s; compilation cache %s",
            jax.devices()[0],
            memory_settings(),
            cache,
        )
        self._params = None
        self._grid_key: tuple | None = None
        self._graphs: GraphArrays | None = None
        self._step = None
        # Seconds spent building graphs and in each step of the last run (for logs/bench).
        self.graphs_seconds = 0.0
        self.step_seconds: list[float] = []

    @classmethod
    def from_files(
        cls,
        checkpoint_path: str | Path,
        stats_dir: str | Path,
        *,
        graphs_cache_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> Rollout:
        """Loads a checkpoint (official `.npz` layout) and the stats directory."""
        ckpt = checkpoint.load(checkpoint_path)
        stats = normalization.load_stats(stats_dir, ckpt.task_config.pressure_levels)
        identity = {
            "checkpoint": Path(checkpoint_path).name,
            "checkpoint_sha256": checkpoint.file_sha256(checkpoint_path),
            "checkpoint_description": ckpt.description,
        }
        return cls(ckpt, stats, identity=identity, graphs_cache_dir=graphs_cache_dir, **kwargs)

    def forecast_from_init(
        self, dataset: xr.Dataset, *, steps: int, progress: ProgressCallback | None = None
    ) -> xr.Dataset:
        """Rolls out `steps` leads from the dataset's last time; see `run` for the result."""
        inputs, forcings = extraction.extract_inputs_and_forcings_at_init(
            dataset, self.checkpoint.task_config, steps
        )
        return self.run(inputs, forcings, progress=progress)

    def run(
        self,
        inputs: xr.Dataset,
        forcings: xr.Dataset,
        *,
        progress: ProgressCallback | None = None,
    ) -> xr.Dataset:
        """One step per forcing time, each prediction fed back.

        Args:
          inputs: the input window (as `extraction` returns it).
          forcings: forcings at the target times `(batch, time, ...)`, lead times 6 h, 12 h, ….
          progress: called as `progress(k, N)` after step k.

        Returns:
          Predictions with dims `(time, batch, [level,] lat, lon)` like the reference's, `time`
          = the forcings' lead times.

        Raises:
          InvalidInputError / CheckpointError: inputs that do not fit the checkpoint.
        """
        task = self.checkpoint.task_config
        lat = np.asarray(inputs["lat"].values)
        lon = np.asarray(inputs["lon"].values)
        input_fields = dataset_to_fields(inputs, task.input_variables)
        forcing_fields = dataset_to_fields(forcings, task.forcing_variables)
        self._check_grid(lat, lon)
        self._check_width(input_fields, {n: v[:, :1] for n, v in forcing_fields.items()})
        static = [n for n in task.input_variables if "time" not in inputs[n].dims]
        autoregressive.validate_feedback(
            task.input_variables, static, task.target_variables, task.forcing_variables
        )
        self._prepare(lat, lon)
        num_steps = forcings.sizes["time"]
        self.step_seconds = []
        window = jax.device_put(input_fields)
        # Host arrays `(time, B, ...)` for the whole forecast, filled lead by lead (no copies).
        outputs: dict[str, np.ndarray] = {}
        for k in range(num_steps):
            forcing_k = {name: values[:, k : k + 1] for name, values in forcing_fields.items()}
            started = time.perf_counter()
            prediction, window = self._step(self._params, self._graphs, window, forcing_k)
            # Copy to host now: nothing of past leads stays on the device.
            host = jax.device_get(prediction)
            del prediction
            self.step_seconds.append(time.perf_counter() - started)
            for name, values in host.items():
                if name not in outputs:
                    outputs[name] = self._allocate(
                        (num_steps,) + values.shape[:1] + values.shape[2:], values.dtype
                    )
                outputs[name][k] = values[:, 0]
                _drop_written_pages(outputs[name])
            if progress is not None:
                progress(k + 1, num_steps)
        del window
        fields = {name: outputs[name] for name in task.target_variables}
        coords = {"lat": inputs["lat"], "lon": inputs["lon"], "time": forcings["time"].values}
        if "level" in inputs.coords:
            coords["level"] = inputs["level"]
        result = xr.Dataset(
            {name: (_time_first(name, values.ndim), values) for name, values in fields.items()}
        )
        return result.assign_coords({k: v for k, v in coords.items() if k in result.dims})

    def _allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A host array for a whole forecast variable: in memory, or spilled to `spill_dir`."""
        if self._spill_dir is None:
            return np.empty(shape, dtype)
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._spill_dir, suffix=".npy") as handle:
            # Unlinked when the `with` ends; the mapping keeps the data until the array is freed.
            return np.lib.format.open_memmap(handle.name, mode="w+", dtype=dtype, shape=shape)

    def _prepare(self, lat: np.ndarray, lon: np.ndarray) -> None:
        key = (lat.tobytes(), lon.tobytes())
        if self._params is None:
            self._params = jax.device_put(self.checkpoint.params)
        if self._grid_key != key:
            started = time.perf_counter()
            graphs = GraphArrays.from_graphs(self._graphs_provider(lat, lon))
            self.chunk_plan = chunking.choose_plan(
                chunking.GraphSizes.of(
                    graphs,
                    latent=self.checkpoint.model_config.latent_size,
                    channels=self._channels(),
                ),
                chunk_size=self._grid_chunk_size,
                budget_bytes=self._memory_budget,
                edge_products=self._edge_products,
            )
            if self.chunk_plan is not None:
                graphs = chunking.pad_graphs(graphs, self.chunk_plan)
            graph_arrays = jax.device_put(graphs)
            if self._precompute:
                graph_arrays = graph_arrays._replace(
                    edge_embeddings=self._embed_edges(graph_arrays)
                )
            if self.chunk_plan is not None and self.chunk_plan.edge_products:
                graph_arrays = graph_arrays._replace(
                    edge_products=self._embed_edges(graph_arrays, products=True)
                )
            # JAX dispatches asynchronously: wait, so the figure (and the first step's)
            # counts the embeddings and edge products where they are computed.
            self._graphs = jax.block_until_ready(graph_arrays)
            self.graphs_seconds = time.perf_counter() - started
            logger.info("graphs ready in %.1f s", self.graphs_seconds)
            self._grid_key = key
            self._step = self._compile_step(lat)

    def _embed_edges(self, graphs: GraphArrays, *, products: bool = False) -> tuple:
        """The step-invariant edge embeddings (or grid-edge products), once per grid."""
        ckpt = self.checkpoint

        def embed(graphs):
            return build.build_edge_embedder(
                ckpt.model_config,
                ckpt.task_config,
                graphs,
                fuse_edge_first_layer=self._fuse,
                float32_accumulation=self._float32_accumulation,
                chunks=self.chunk_plan,
                products=products,
            )()

        apply = hk.without_apply_rng(hk.transform(embed)).apply
        return jax.jit(apply)(self._params, graphs)

    def _compile_step(self, lat: np.ndarray):
        ckpt = self.checkpoint

        def one_step(graphs, window, forcing_k):
            predictor = build.build_one_step(
                ckpt.model_config,
                ckpt.task_config,
                self.stats,
                graphs,
                grid_lat=lat,
                fuse_edge_first_layer=self._fuse,
                float32_accumulation=self._float32_accumulation,
                chunks=self.chunk_plan,
            )
            return predictor(window, forcing_k)

        transformed = hk.without_apply_rng(hk.transform(one_step))

        def step(params, graphs, window, forcing_k):
            prediction = transformed.apply(params, graphs, window, forcing_k)
            return prediction, autoregressive.next_window(window, prediction, forcing_k)

        # The window is donated: the next window reuses its device buffers.
        return jax.jit(step, donate_argnums=(2,))

    def _channels(self) -> int:
        """Input + output channels per grid node (for the memory model)."""
        module = "grid2mesh_gnn/~_networks_builder/encoder_nodes_grid_nodes_mlp/~/linear_0"
        last = self.checkpoint.model_config.hidden_layers
        decoder = f"mesh2grid_gnn/~_networks_builder/decoder_nodes_grid_nodes_mlp/~/linear_{last}"
        params = self.checkpoint.params
        inputs = int(params[module]["w"].shape[0]) if module in params else 0
        outputs = int(params[decoder]["w"].shape[1]) if decoder in params else 0
        return inputs + outputs

    def _check_grid(self, lat: np.ndarray, lon: np.ndarray) -> None:
        """A checkpoint with a resolution (> 0) runs only on grids of that spacing.

        The network itself would run on any grid, but weights trained at 1° produce garbage
        at 4°; a resolution of 0 in the checkpoint means "any grid".
        """
        resolution = float(self.checkpoint.model_config.resolution)
        if resolution <= 0:
            return
        for name, axis in (("lat", lat), ("lon", lon)):
            if axis.size < 2:
                raise InvalidInputError(f"grid {name} has fewer than 2 points")
            spacing = np.abs(np.diff(axis.astype(np.float64)))
            if np.abs(spacing - resolution).max() > 1e-3 * resolution:
                raise InvalidInputError(
                    f"wrong grid for the checkpoint: {name} spacing "
                    f"{float(np.median(spacing)):g}° but the checkpoint's resolution is "
                    f"{resolution:g}°"
                )

    def _check_width(self, inputs: dict, forcings: dict) -> None:
        """Compares the stacked input width with the checkpoint's encoder, naming the cause.

        `forcings` hold one target time (one step's worth of channels).
        """
        module = "grid2mesh_gnn/~_networks_builder/encoder_nodes_grid_nodes_mlp/~/linear_0"
        weights = self.checkpoint.params.get(module, {}).get("w")
        if weights is None:
            raise CheckpointError(f"checkpoint has no parameter {module}:w")
        channels = {}
        for fields in (inputs, forcings):
            for name, values in fields.items():
                dims = dims_of_array(name, values.ndim)
                channels[name] = channels.get(name, 0) + int(
                    np.prod(
                        [
                            s
                            for d, s in zip(dims, values.shape, strict=True)
                            if d not in ("batch", "lat", "lon")
                        ]
                    )
                )
        width = sum(channels.values()) + 3
        expected = int(weights.shape[0])
        if width != expected:
            detail = ", ".join(f"{n}={c}" for n, c in sorted(channels.items()))
            raise InvalidInputError(
                f"inputs give {width} channels per grid node but the checkpoint expects "
                f"{expected} (levels {len(self.checkpoint.task_config.pressure_levels)}; "
                f"channels per variable: {detail})"
            )

    def _default_graphs(self, lat: np.ndarray, lon: np.ndarray) -> Any:
        from forecast.model.graphs import load_or_build_graphs

        config = self.checkpoint.model_config
        return load_or_build_graphs(
            lat,
            lon,
            mesh_size=config.mesh_size,
            radius_query_fraction_edge_length=config.radius_query_fraction_edge_length,
            mesh2grid_edge_normalization_factor=config.mesh2grid_edge_normalization_factor,
            cache_dir=self._graphs_cache_dir,
        )


def _time_first(name: str, ndim: int) -> tuple[str, ...]:
    dims = (
        ("batch", "time", "level", "lat", "lon")
        if variables.is_atmospheric(name)
        else ("batch", "time", "lat", "lon")
    )
    dims = ("time", "batch") + dims[2:]
    if len(dims) != ndim:
        raise ValueError(f"prediction {name!r} has rank {ndim}, expected {len(dims)}")
    return dims


def _drop_written_pages(array: np.ndarray) -> None:
    """Writes a spilled (memory-mapped) array's dirty pages back and drops them from this
    process's resident set, so resident memory stays flat over a long rollout (the kernel
    would reclaim them anyway, but they count in RSS, which the memory limits watch). The
    pages stay in the page cache; reading the forecast afterwards maps them back in."""
    mapping = getattr(array, "_mmap", None)
    if mapping is None:
        return
    mapping.flush()
    mapping.madvise(mmap.MADV_DONTNEED)
