"""The one-step GraphCast network: stack fields on grid nodes, encode-process-decode, unstack.

Works in whatever units and dtype it is given (the wrappers normalise and cast to bf16).
Channel order (SPEC §10.3): input fields in sorted-name order, then forcing fields in
sorted-name order; within a variable its non-batch/lat/lon dims are flattened in canonical
order (time oldest first, then level in task order). Grid nodes are lat-major. The output is
unstacked the same way (§10.4), one time step per call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from forecast import variables
from forecast.model.chunking import ChunkPlan
from forecast.model.config import ModelConfig, TaskConfig
from forecast.model.predictor_base import Fields, Predictor
from forecast.model.typed_graph_net import EdgeIndex, GraphNetwork, as_bits
from forecast.model.xarray_jax import dims_of_array

_GRID_DIMS = ("batch", "lat", "lon")


class GraphArrays(NamedTuple):
    """The three GraphCast graphs as arrays (a pytree, passed to the jitted step)."""

    grid_node_features: jax.Array  # float32 [N_grid, 3]
    mesh_node_features: jax.Array  # float32 [N_mesh, 3]
    grid2mesh: EdgeIndex
    mesh: EdgeIndex
    mesh2grid: EdgeIndex
    # Optional `GraphCast.embed_edges()` output (grid2mesh, mesh, mesh2grid), each [E, 1, L]
    # or None (computed in the step): step-invariant, so a rollout computes it once.
    edge_embeddings: tuple[jax.Array | None, jax.Array, jax.Array | None] | None = None
    # Optional `GraphCast.edge_products()` output (grid2mesh, mesh2grid), chunked only: the
    # grid edges' share of their first edge-MLP layer, also step-invariant.
    edge_products: tuple[jax.Array, jax.Array] | None = None

    @classmethod
    def from_graphs(cls, graphs: Any) -> GraphArrays:
        """From a `forecast.model.graphs.GraphCastGraphs` (numpy arrays)."""

        def edge_index(edge_set: Any) -> EdgeIndex:
            return EdgeIndex(
                senders=np.asarray(edge_set.senders, np.int32),
                receivers=np.asarray(edge_set.receivers, np.int32),
                features=np.asarray(edge_set.features, np.float32),
            )

        return cls(
            grid_node_features=np.asarray(graphs.grid_node_features, np.float32),
            mesh_node_features=np.asarray(graphs.mesh_node_features, np.float32),
            grid2mesh=edge_index(graphs.grid2mesh),
            mesh=edge_index(graphs.mesh),
            mesh2grid=edge_index(graphs.mesh2grid),
        )


def num_output_channels(task_config: TaskConfig) -> int:
    """Decoder width: one channel per surface target, one per level per atmospheric target."""
    levels = len(task_config.pressure_levels)
    return sum(levels if variables.is_atmospheric(n) else 1 for n in task_config.target_variables)


class GraphCast(Predictor):
    """GraphCast's encoder–processor–decoder for one 6 h step (call inside `hk.transform`).

    Args:
      model_config: network shape.
      task_config: targets and levels (decides the output channels).
      graphs: the graph arrays for the data's grid.
      grid_lat: latitudes (degrees) of the grid rows, for the loss's area weights (uniform
        weights without them).
      fuse_edge_first_layer: see `typed_graph_net.SplitLinear` (faster, equivalent up to bf16
        rounding).
      float32_accumulation: every linear layer a float32-accumulated `SplitLinear` (faster
        on CPU, equivalent up to bf16 rounding); False: the reference's `hk.Linear`.
      chunks: run the grid stages (encoder, decoder) in chunks of grid nodes; `graphs` must
        then be padded by `chunking.pad_graphs` with the same plan. Exact: see
        `typed_graph_net.GraphNetwork`.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        task_config: TaskConfig,
        graphs: GraphArrays,
        *,
        grid_lat: np.ndarray | None = None,
        fuse_edge_first_layer: bool = True,
        float32_accumulation: bool = True,
        chunks: ChunkPlan | None = None,
    ) -> None:
        self._graphs = graphs
        self._chunks = chunks
        levels = np.asarray(task_config.pressure_levels, np.float64)
        # GraphCast weighs levels in proportion to pressure, mean 1.
        self._level_weights = levels / levels.mean()
        self._lat_weights = None if grid_lat is None else _area_weights(grid_lat)
        self._targets = tuple(sorted(task_config.target_variables))
        self._num_levels = len(task_config.pressure_levels)
        common = dict(
            latent_size=model_config.latent_size,
            hidden_layers=model_config.hidden_layers,
            fuse_edge_first_layer=fuse_edge_first_layer,
            float32_accumulation=float32_accumulation,
        )
        self._encoder = GraphNetwork(
            num_steps=1,
            edge_set="grid2mesh",
            sender_set="grid_nodes",
            receiver_set="mesh_nodes",
            embed_nodes=True,
            output_size=None,
            f32_aggregation=True,
            name="grid2mesh_gnn",
            chunk_size=None if chunks is None else chunks.grid_nodes,
            edge_chunk_size=None if chunks is None else chunks.grid2mesh_edges,
            **common,
        )
        self._processor = GraphNetwork(
            num_steps=model_config.gnn_msg_steps,
            edge_set="mesh",
            sender_set="mesh_nodes",
            receiver_set="mesh_nodes",
            embed_nodes=False,
            output_size=None,
            f32_aggregation=False,
            name="mesh_gnn",
            late_aggregates=chunks is not None,
            **common,
        )
        self._decoder = GraphNetwork(
            num_steps=1,
            edge_set="mesh2grid",
            sender_set="mesh_nodes",
            receiver_set="grid_nodes",
            embed_nodes=False,
            output_size=num_output_channels(task_config),
            f32_aggregation=False,
            name="mesh2grid_gnn",
            chunk_size=None if chunks is None else chunks.grid_nodes,
            **common,
        )

    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        """One step; forcings hold one time (the target time). Returns `(B, 1, ...)` fields."""
        batch, num_lat, num_lon = _grid_shape(inputs)
        dtype = next(iter(inputs.values())).dtype
        # Chunked, the grid inputs are stacked as bf16 bits: XLA's CPU backend would otherwise
        # hold the stacking's copies in float32 (0.75 GB each at 0.25°; see `as_bits`).
        packed = as_bits if self._chunks is not None else lambda values: values
        data = jnp.concatenate(
            [
                _stack({n: packed(v) for n, v in inputs.items()}, batch, num_lat, num_lon),
                _stack({n: packed(v) for n, v in forcings.items()}, batch, num_lat, num_lon),
            ],
            axis=-1,
        )
        num_grid = num_lat * num_lon
        # [B, lat, lon, C] → [N_grid, B, C], lat-major node order.
        grid_data = jnp.transpose(data, (1, 2, 0, 3)).reshape(num_grid, batch, -1)
        graphs = self._graphs
        # Chunked: the graphs are padded to whole chunks, and so are the data (zero rows).
        num_nodes = graphs.grid_node_features.shape[0]
        if num_nodes != num_grid:
            if self._chunks is None or num_nodes != self._chunks.padded_grid_nodes:
                raise ValueError(f"graphs have {num_nodes} grid nodes, the data {num_grid}")
            grid_data = jnp.pad(grid_data, ((0, num_nodes - num_grid), (0, 0), (0, 0)))
        grid_struct = jnp.broadcast_to(
            graphs.grid_node_features.astype(dtype)[:, None, :], (num_nodes, batch, 3)
        )
        num_mesh = graphs.mesh_node_features.shape[0]
        mesh_struct = jnp.broadcast_to(
            graphs.mesh_node_features.astype(dtype)[:, None, :], (num_mesh, batch, 3)
        )
        grid_nodes = jnp.concatenate([grid_data, packed(grid_struct)], axis=-1)
        # Mesh nodes carry no data: zeros padded to the grid-node width (SPEC §15.8).
        mesh_nodes = jnp.concatenate(
            [jnp.zeros((num_mesh, batch, grid_data.shape[-1]), dtype), mesh_struct], axis=-1
        )
        embedded = graphs.edge_embeddings or (None, None, None)
        products = graphs.edge_products or (None, None)
        latents = self._encoder(
            {"grid_nodes": grid_nodes, "mesh_nodes": mesh_nodes},
            graphs.grid2mesh,
            embedded[0],
            products[0],
        )
        mesh_latents = self._processor(
            {"mesh_nodes": latents["mesh_nodes"]}, graphs.mesh, embedded[1]
        )
        decoded = self._decoder(
            {"mesh_nodes": mesh_latents["mesh_nodes"], "grid_nodes": latents["grid_nodes"]},
            graphs.mesh2grid,
            embedded[2],
            products[1],
        )
        return self._unstack(decoded["grid_nodes"][:num_grid], batch, num_lat, num_lon)

    def embed_edges(self, dtype: jnp.dtype) -> tuple[jax.Array | None, jax.Array, jax.Array | None]:
        """Edge embeddings of the three graphs, for `GraphArrays.edge_embeddings`.

        They depend only on the weights and the graph structure, not on the data. Chunked,
        only the mesh's are precomputed: the grid edges' would be `[E, L]` arrays of several
        GB at 0.25°, so each chunk embeds its own edges (None in the tuple).
        """
        graphs = self._graphs
        mesh = self._processor.embed_edges(graphs.mesh.features.astype(dtype))
        if self._chunks is not None:
            return (None, mesh, None)
        return (
            self._encoder.embed_edges(graphs.grid2mesh.features.astype(dtype)),
            mesh,
            self._decoder.embed_edges(graphs.mesh2grid.features.astype(dtype)),
        )

    def edge_products(self, dtype: jnp.dtype) -> tuple[jax.Array, jax.Array]:
        """The grid edges' first-layer shares, for `GraphArrays.edge_products` (chunked only).

        `[E, 1, L]` per grid graph (bf16 as uint16 bits): 4.8 GB at 0.25°, computed a chunk
        of edges at a time.
        """
        if self._chunks is None:
            raise ValueError("edge products are for the chunked grid stages")
        graphs = self._graphs
        per_node = graphs.mesh2grid.senders.shape[0] // self._chunks.padded_grid_nodes
        return (
            self._encoder.edge_products(
                graphs.grid2mesh.features.astype(dtype), self._chunks.grid2mesh_edges
            ),
            self._decoder.edge_products(
                graphs.mesh2grid.features.astype(dtype), self._chunks.grid_nodes * per_node
            ),
        )

    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        """Weighted MSE of one step (see `weighted_mse`); targets in this model's units."""
        return weighted_mse(
            self(inputs, forcings),
            targets,
            lat_weights=self._lat_weights,
            level_weights=self._level_weights,
        )

    def _unstack(self, output: jax.Array, batch: int, num_lat: int, num_lon: int) -> Fields:
        grid = output.reshape(num_lat, num_lon, batch, -1)
        fields = {}
        start = 0
        for name in self._targets:
            atmospheric = variables.is_atmospheric(name)
            size = self._num_levels if atmospheric else 1
            chunk = grid[..., start : start + size]
            start += size
            if atmospheric:
                # (lat, lon, B, L) → (B, time=1, L, lat, lon)
                fields[name] = jnp.transpose(chunk, (2, 3, 0, 1))[:, None]
            else:
                fields[name] = jnp.transpose(chunk, (2, 3, 0, 1))
        if start != grid.shape[-1]:
            raise ValueError(f"decoder produced {grid.shape[-1]} channels, targets need {start}")
        return fields


def weighted_mse(
    predictions: Fields,
    targets: Fields,
    *,
    lat_weights: np.ndarray | None,
    level_weights: np.ndarray,
) -> jax.Array:
    """GraphCast-style training loss: area-, level- and variable-weighted mean squared error.

    loss = Σ_v w_v · mean_{b,t,ℓ,i,j}( a_i · p_ℓ · (pred − target)² ), with a_i the
    latitude-row area weights (cos lat, mean 1; uniform when None), p_ℓ the level weights (mean
    1) for atmospheric variables and w_v = 1, except 0.1 for the surface variables other than
    2 m temperature (the GraphCast paper's weights). Computed in float32.
    """
    total = jnp.zeros((), jnp.float32)
    for name, prediction in predictions.items():
        error = jnp.square(prediction.astype(jnp.float32) - targets[name].astype(jnp.float32))
        dims = dims_of_array(name, error.ndim)
        if lat_weights is not None:
            shape = [1] * error.ndim
            shape[dims.index("lat")] = lat_weights.size
            error = error * jnp.asarray(lat_weights.reshape(shape), jnp.float32)
        if "level" in dims:
            shape = [1] * error.ndim
            shape[dims.index("level")] = level_weights.size
            error = error * jnp.asarray(level_weights.reshape(shape), jnp.float32)
        weight = 0.1 if name in variables.TARGET_SURFACE_VARS[1:] else 1.0
        total = total + weight * jnp.mean(error)
    return total


def _area_weights(grid_lat: np.ndarray) -> np.ndarray:
    weights = np.cos(np.deg2rad(np.asarray(grid_lat, np.float64)))
    return weights / weights.mean()


def _grid_shape(fields: Fields) -> tuple[int, int, int]:
    for name, array in fields.items():
        dims = dims_of_array(name, array.ndim)
        if set(_GRID_DIMS) <= set(dims):
            return tuple(array.shape[dims.index(d)] for d in _GRID_DIMS)
    raise ValueError("no input field has batch, lat and lon dims")


def _stack(fields: Fields, batch: int, num_lat: int, num_lon: int) -> jax.Array:
    """Fields → `[B, lat, lon, channels]`, variables in sorted-name order."""
    parts = []
    for name in sorted(fields):
        array = fields[name]
        dims = dims_of_array(name, array.ndim)
        for dim in _GRID_DIMS:
            if dim not in dims:
                array = array[None]
                dims = (dim,) + dims
        rest = [i for i, d in enumerate(dims) if d not in _GRID_DIMS]
        array = jnp.transpose(array, [dims.index(d) for d in _GRID_DIMS] + rest)
        array = jnp.broadcast_to(array, (batch, num_lat, num_lon) + array.shape[3:])
        parts.append(array.reshape(batch, num_lat, num_lon, -1))
    return jnp.concatenate(parts, axis=-1)
