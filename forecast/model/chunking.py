"""Memory-budgeted chunking of the grid stages: how many grid nodes per chunk, and the padding.

At 0.25° the grid↔mesh stages dominate memory: 1 038 240 grid nodes, 1.6 M grid2mesh and
3.1 M mesh2grid edges, each edge activation `[E, 512]` in bf16 alone 1.6–3.2 GB, several
alive at once. `typed_graph_net.GraphNetwork(chunk_size=...)` processes them a chunk of grid
nodes (and their edges) at a time, exactly (see its docstring). This module decides the
chunk size from the memory available (host RAM on CPU from `/proc/meminfo`, the device's
allocator statistics on GPU) or takes it as given, and pads the graphs to whole chunks.

The memory model (`step_bytes`) is a linear estimate per grid node, per edge and per mesh
edge of one jitted step's peak, fitted to peak RSS measured on CPU (see docs/model.md); it
errs on the high side so an automatic plan stays inside its budget.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import jax
import numpy as np

from forecast.errors import InvalidInputError

logger = logging.getLogger(__name__)

# Share of the available memory an automatic plan may use (the rest: the process's other
# arrays, the host copy of the forecast, the allocator's slack, other processes).
AVAILABLE_FRACTION = 0.7
# Chunk sizes are multiples of this (vector-friendly; bounds padding to < this per chunk).
CHUNK_ALIGNMENT = 256
MIN_CHUNK = 1024


@dataclasses.dataclass(frozen=True)
class _BytesPer:
    """Bytes of one step's peak per unit (fitted on CPU, bf16 network; see docs/model.md)."""

    grid_node_channel: int  # window in and out (f32), the host copy, the stacked inputs
    grid_node_latent: int  # grid latents: the embedding, its update, the decoder's input
    edge_latent_in_flight: int  # a grid edge's activations while its chunk (or stage) runs
    mesh_edge_latent: int  # the processor's edge activations (never chunked)


# Unchunked, XLA's CPU backend holds the grid arrays in float32; chunked, they stay bf16
# bits (`typed_graph_net.as_bits`). Fitted at 0.25° to XLA's buffer assignment and peak RSS
# (chunked: 9.0 GB estimated, 8.0 GB measured, docs/model.md); unchunked to 1.0° RSS.
_UNCHUNKED = _BytesPer(
    grid_node_channel=12, grid_node_latent=6, edge_latent_in_flight=32, mesh_edge_latent=16
)
_CHUNKED = _BytesPer(
    grid_node_channel=9, grid_node_latent=4, edge_latent_in_flight=16, mesh_edge_latent=12
)
_BASELINE_BYTES = 1500 * 2**20  # runtime, compiled code, parameters (1.8 GB at 1.0°)
_BYTES_PER_EDGE_PRODUCT = 2  # per grid edge and latent channel (bf16), `edge_products`


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """How the grid stages are split.

    Attributes:
      grid_nodes: grid nodes per chunk (the encoder's grid embedding and update, the decoder).
      grid2mesh_edges: grid2mesh edges per chunk (about the same number of chunks).
      num_grid_nodes: the real grid node count (the graphs are padded past it).
      edge_products: the grid edges' first-layer shares are computed once and kept
        (`GraphCast.edge_products`: 2 bytes per grid edge and latent channel) instead of
        being computed by every chunk of every step.
    """

    grid_nodes: int
    grid2mesh_edges: int
    num_grid_nodes: int
    edge_products: bool = False

    @property
    def num_chunks(self) -> int:
        return math.ceil(self.num_grid_nodes / self.grid_nodes)

    @property
    def padded_grid_nodes(self) -> int:
        return self.num_chunks * self.grid_nodes


def plan_for_chunk_size(
    chunk_size: int, *, num_grid_nodes: int, num_grid2mesh_edges: int
) -> ChunkPlan:
    """The plan for `chunk_size` grid nodes per chunk (grid2mesh edges in as many chunks)."""
    if chunk_size < 1:
        raise ValueError(f"grid chunk size must be positive, got {chunk_size}")
    chunk_size = min(chunk_size, num_grid_nodes)
    num_chunks = math.ceil(num_grid_nodes / chunk_size)
    # Even chunks: the same count, minimal padding.
    chunk_size = math.ceil(num_grid_nodes / num_chunks)
    edge_chunk = math.ceil(num_grid2mesh_edges / num_chunks)
    return ChunkPlan(chunk_size, edge_chunk, num_grid_nodes)


def available_memory_bytes(device: jax.Device | None = None) -> tuple[int, str]:
    """Memory a step may use now, and where the figure comes from (for the log).

    GPU/TPU: the allocator's `bytes_limit − bytes_in_use`. CPU: `MemAvailable` of
    /proc/meminfo (the kernel's estimate of what can be allocated without swapping).
    """
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            free = int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
            return free, f"{device.platform} memory_stats (limit − in use)"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024, "/proc/meminfo MemAvailable"
    raise OSError("cannot read the available memory: /proc/meminfo has no MemAvailable")


@dataclasses.dataclass(frozen=True)
class GraphSizes:
    """The counts the memory model needs."""

    grid_nodes: int
    mesh_nodes: int
    grid2mesh_edges: int
    mesh_edges: int
    mesh2grid_edges: int
    latent: int
    channels: int  # input + output channels per grid node

    @classmethod
    def of(cls, graphs, *, latent: int, channels: int) -> GraphSizes:
        """From `graphs.GraphCastGraphs` (or `GraphArrays`)."""
        return cls(
            grid_nodes=int(graphs.grid_node_features.shape[0]),
            mesh_nodes=int(graphs.mesh_node_features.shape[0]),
            grid2mesh_edges=int(graphs.grid2mesh.senders.shape[0]),
            mesh_edges=int(graphs.mesh.senders.shape[0]),
            mesh2grid_edges=int(graphs.mesh2grid.senders.shape[0]),
            latent=latent,
            channels=channels,
        )


def step_bytes(sizes: GraphSizes, plan: ChunkPlan | None) -> int:
    """Estimated peak bytes of one step, unchunked (`plan` None) or with `plan`."""
    latent = sizes.latent
    grid = sizes.grid_nodes if plan is None else plan.padded_grid_nodes
    if plan is None:
        edges_in_flight = max(sizes.grid2mesh_edges, sizes.mesh2grid_edges)
    else:
        per_node = sizes.mesh2grid_edges / sizes.grid_nodes
        edges_in_flight = max(plan.grid2mesh_edges, per_node * plan.grid_nodes)
    per = _UNCHUNKED if plan is None else _CHUNKED
    return int(
        _BASELINE_BYTES
        + grid * sizes.channels * per.grid_node_channel
        + grid * latent * per.grid_node_latent
        + edges_in_flight * latent * per.edge_latent_in_flight
        + sizes.mesh_edges * latent * per.mesh_edge_latent
        + (edge_products_bytes(sizes) if plan is not None and plan.edge_products else 0)
    )


def edge_products_bytes(sizes: GraphSizes) -> int:
    """Memory of the precomputed grid-edge products (`ChunkPlan.edge_products`)."""
    grid_edges = sizes.grid2mesh_edges + sizes.mesh2grid_edges
    return grid_edges * sizes.latent * _BYTES_PER_EDGE_PRODUCT


def choose_plan(
    sizes: GraphSizes,
    *,
    chunk_size: int | None = None,
    budget_bytes: int | None = None,
    device: jax.Device | None = None,
    edge_products: bool | None = False,
) -> ChunkPlan | None:
    """The chunk plan for a grid, logged with its reason. None means unchunked.

    Args:
      sizes: the grid's graph sizes and the model's widths.
      chunk_size: grid nodes per chunk, as configured (0 or None: decide from memory).
      budget_bytes: memory a step may use (None: `AVAILABLE_FRACTION` of
        `available_memory_bytes()`).
      device: the device the step runs on (default: JAX's first).
      edge_products: keep the grid edges' first-layer products (`ChunkPlan.edge_products`):
        True always when chunked, False never, None when the estimate with them fits the
        budget (faster steps for `edge_products_bytes` more memory).
    """
    source = "configured budget"
    if budget_bytes is None:
        available, source = available_memory_bytes(device)
        budget_bytes = int(available * AVAILABLE_FRACTION)
        source = f"{AVAILABLE_FRACTION:.0%} of {available / 1e9:.1f} GB from {source}"
    if chunk_size:
        plan = plan_for_chunk_size(
            chunk_size,
            num_grid_nodes=sizes.grid_nodes,
            num_grid2mesh_edges=sizes.grid2mesh_edges,
        )
        plan = _with_edge_products(sizes, plan, edge_products, budget_bytes)
        logger.info(
            "grid stages in %d chunks of %d grid nodes (%d grid2mesh edges): configured; "
            "%s; estimated step peak %.2f GB (budget %.2f GB, %s)",
            plan.num_chunks,
            plan.grid_nodes,
            plan.grid2mesh_edges,
            _describe_edge_products(sizes, plan),
            step_bytes(sizes, plan) / 1e9,
            budget_bytes / 1e9,
            source,
        )
        return plan
    unchunked = step_bytes(sizes, None)
    if unchunked <= budget_bytes:
        logger.info(
            "grid stages unchunked: estimated step peak %.2f GB within the budget %.2f GB (%s)",
            unchunked / 1e9,
            budget_bytes / 1e9,
            source,
        )
        return None
    # Kept edge products save about a third of a step at 0.25° (docs/model.md): worth more
    # than larger chunks, so the largest chunk is sought with them first.
    smallest_chunks = plan_for_chunk_size(
        MIN_CHUNK,
        num_grid_nodes=sizes.grid_nodes,
        num_grid2mesh_edges=sizes.grid2mesh_edges,
    )
    for products in (True, False) if edge_products is None else (edge_products,):
        smallest = dataclasses.replace(smallest_chunks, edge_products=products)
        fixed = step_bytes(sizes, smallest)
        room = budget_bytes - fixed
        if room > 0:
            break
    if room <= 0:
        plan = smallest
        logger.warning(
            "grid stages in %d chunks of %d grid nodes: even the smallest chunk's estimated "
            "step peak %.2f GB exceeds the budget %.2f GB (%s); running anyway",
            plan.num_chunks,
            plan.grid_nodes,
            fixed / 1e9,
            budget_bytes / 1e9,
            source,
        )
        return plan
    per_node = (step_bytes(sizes, _scaled(smallest, 2)) - fixed) / smallest.grid_nodes
    size = MIN_CHUNK + int(room / max(per_node, 1.0))
    size = max(MIN_CHUNK, size // CHUNK_ALIGNMENT * CHUNK_ALIGNMENT)
    plan = plan_for_chunk_size(
        size,
        num_grid_nodes=sizes.grid_nodes,
        num_grid2mesh_edges=sizes.grid2mesh_edges,
    )
    plan = dataclasses.replace(plan, edge_products=smallest.edge_products)
    logger.info(
        "grid stages in %d chunks of %d grid nodes (%d grid2mesh edges): %s; estimated "
        "step peak %.2f GB (unchunked %.2f GB) within the budget %.2f GB (%s)",
        plan.num_chunks,
        plan.grid_nodes,
        plan.grid2mesh_edges,
        _describe_edge_products(sizes, plan),
        step_bytes(sizes, plan) / 1e9,
        unchunked / 1e9,
        budget_bytes / 1e9,
        source,
    )
    return plan


def _with_edge_products(
    sizes: GraphSizes, plan: ChunkPlan, requested: bool | None, budget_bytes: int
) -> ChunkPlan:
    if requested is None:
        with_products = dataclasses.replace(plan, edge_products=True)
        requested = step_bytes(sizes, with_products) <= budget_bytes
    return dataclasses.replace(plan, edge_products=bool(requested))


def _describe_edge_products(sizes: GraphSizes, plan: ChunkPlan) -> str:
    if plan.edge_products:
        return f"grid-edge products kept ({edge_products_bytes(sizes) / 1e9:.2f} GB)"
    return "grid-edge products computed per chunk"


def _scaled(plan: ChunkPlan, factor: int) -> ChunkPlan:
    return dataclasses.replace(
        plan,
        grid_nodes=plan.grid_nodes * factor,
        grid2mesh_edges=plan.grid2mesh_edges * factor,
    )


def pad_graphs(graphs, plan: ChunkPlan):
    """`GraphArrays` (NumPy) padded to whole chunks of `plan`, for the chunked network.

    Grid nodes are padded with zero features to `plan.padded_grid_nodes`. grid2mesh edges
    are padded to whole edge chunks with receiver = the mesh node count (dropped by the
    scatter-add). mesh2grid edges must be receiver-major with the same number k per grid node
    (GraphCast's: the three vertices of each grid node's face); they are padded with k edges
    per padded grid node.

    Raises:
      InvalidInputError: mesh2grid edges not laid out receiver-major, k per grid node.
    """
    num_grid = plan.num_grid_nodes
    if graphs.grid_node_features.shape[0] != num_grid:
        raise ValueError(
            f"plan is for {num_grid} grid nodes, graphs have {graphs.grid_node_features.shape[0]}"
        )
    num_mesh = graphs.mesh_node_features.shape[0]
    mesh2grid = graphs.mesh2grid
    receivers = np.asarray(mesh2grid.receivers)
    per_node, remainder = divmod(receivers.size, num_grid)
    if remainder or not np.array_equal(
        receivers, np.repeat(np.arange(num_grid, dtype=receivers.dtype), per_node)
    ):
        raise InvalidInputError(
            "mesh2grid edges are not receiver-major with the same count per grid node; "
            "the chunked decoder needs that layout (rebuild the graphs with "
            "forecast.model.graphs.build_graphs)"
        )
    extra_nodes = plan.padded_grid_nodes - num_grid
    num_g2m = graphs.grid2mesh.senders.shape[0]
    extra_g2m = plan.num_chunks * plan.grid2mesh_edges - num_g2m
    grid2mesh = _pad_edges(graphs.grid2mesh, extra_g2m, receiver=num_mesh)
    mesh2grid = _pad_edges(mesh2grid, extra_nodes * per_node, receiver=num_grid)
    return graphs._replace(
        grid_node_features=np.pad(
            np.asarray(graphs.grid_node_features), ((0, extra_nodes), (0, 0))
        ),
        grid2mesh=grid2mesh,
        mesh2grid=mesh2grid,
    )


def _pad_edges(edges, extra: int, *, receiver: int):
    if extra == 0:
        return edges
    return edges._replace(
        senders=np.concatenate([np.asarray(edges.senders), np.zeros(extra, np.int32)]),
        receivers=np.concatenate([np.asarray(edges.receivers), np.full(extra, receiver, np.int32)]),
        features=np.pad(np.asarray(edges.features), ((0, extra), (0, 0))),
    )
