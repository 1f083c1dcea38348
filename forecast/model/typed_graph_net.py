"""Typed graph network blocks (MLP, MLP+LayerNorm, encode/process/decode) as haiku modules.

One `GraphNetwork` is a graph with up to two node sets and one directed edge set
(senders → receivers). It optionally embeds its nodes, always embeds its edges, runs
message-passing steps with residuals and optionally decodes the receiver nodes (SPEC §11).
GraphCast uses three: `grid2mesh_gnn` (encoder), `mesh_gnn` (processor), `mesh2grid_gnn`
(decoder).

Parameter paths are exactly those of DeepMind's checkpoints, e.g.
`grid2mesh_gnn/~_networks_builder/processor_edges_0_grid2mesh_mlp/~/linear_0` (`w`, `b`) and
`.../processor_edges_0_grid2mesh_layer_norm` (`scale`, `offset`): every block is created in
the `_networks_builder` method, MLP layers in the MLP's constructor.

All arrays are laid out `[items, batch, features]`.
"""

from __future__ import annotations

from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np


class EdgeIndex(NamedTuple):
    """One directed edge set as arrays (a pytree, so it can be a jit argument)."""

    senders: jax.Array  # int32 [num_edges]
    receivers: jax.Array  # int32 [num_edges]
    features: jax.Array  # float [num_edges, 4], already normalised


class SplitLinear(hk.Module):
    """`hk.Linear` whose input is a concatenation of blocks, multiplied block by block.

    For an edge MLP the input is `edges ⊕ nodes[senders] ⊕ nodes[receivers]`. Multiplying the
    node latents by their weight block *before* gathering costs O(nodes·L²) instead of
    O(edges·L²) and never materialises the [edges, 3L] concatenation. The partial products are
    accumulated in float32 and rounded once, like a single matmul of the concatenation.
    Parameters (`w` [in, out], `b` [out]) and their initialisers are those of `hk.Linear`.
    """

    def __init__(self, output_size: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, blocks: list[tuple[jax.Array, jax.Array | None]]) -> jax.Array:
        """Args: blocks: `(values [n, B, f], gather indices [E] or None)` per input block."""
        input_size = sum(values.shape[-1] for values, _ in blocks)
        dtype = blocks[0][0].dtype
        w = hk.get_parameter(
            "w",
            [input_size, self.output_size],
            dtype,
            init=hk.initializers.TruncatedNormal(stddev=1.0 / np.sqrt(input_size)),
        )
        b = hk.get_parameter("b", [self.output_size], dtype, init=jnp.zeros)
        total = None
        start = 0
        for values, indices in blocks:
            size = values.shape[-1]
            part = jnp.dot(values, w[start : start + size], preferred_element_type=jnp.float32)
            start += size
            if indices is not None:
                part = part[indices]
            total = part if total is None else total + part
        return total.astype(dtype) + b


class MLP(hk.Module):
    """Linear layers with swish between them (not after the last); names `linear_<k>`."""

    def __init__(self, output_sizes: list[int], *, split_first: bool, name: str) -> None:
        super().__init__(name=name)
        first = SplitLinear if split_first else hk.Linear
        self.layers = [first(output_sizes[0], name="linear_0")] + [
            hk.Linear(size, name=f"linear_{k}") for k, size in enumerate(output_sizes[1:], 1)
        ]

    def __call__(self, x) -> jax.Array:
        """Args: x: an array, or SplitLinear blocks when built with `split_first`."""
        for k, layer in enumerate(self.layers):
            if k:
                x = jax.nn.swish(x)
            x = layer(x)
        return x


class Block:
    """MLP optionally followed by LayerNorm over features (eps 1e-5, learned scale/offset)."""

    def __init__(self, mlp: MLP, layer_norm: hk.LayerNorm | None) -> None:
        self.mlp = mlp
        self.layer_norm = layer_norm

    def __call__(self, x) -> jax.Array:
        y = self.mlp(x)
        return self.layer_norm(y) if self.layer_norm is not None else y


class GraphNetwork(hk.Module):
    """Encoder (embedding), processor (message passing) and optional decoder on one graph.

    Args:
      latent_size: L.
      hidden_layers: hidden layers per MLP.
      num_steps: message-passing steps (unshared weights).
      edge_set: edge set name (`grid2mesh`, `mesh`, `mesh2grid`).
      sender_set, receiver_set: node set names (equal for the mesh graph).
      embed_nodes: embed node inputs with an MLP+LN (encoder); else they are latents already.
      output_size: if set, decode receiver latents with an MLP (no LN) to this many channels.
      f32_aggregation: sum messages in float32 (the encoder) instead of the data dtype.
      fuse_edge_first_layer: use `SplitLinear` for edge MLPs' first layer (see its docstring;
        mathematically identical, different bf16 rounding).
      name: module name (`grid2mesh_gnn`, ...).
    """

    def __init__(
        self,
        *,
        latent_size: int,
        hidden_layers: int,
        num_steps: int,
        edge_set: str,
        sender_set: str,
        receiver_set: str,
        embed_nodes: bool,
        output_size: int | None,
        f32_aggregation: bool,
        fuse_edge_first_layer: bool,
        name: str,
    ) -> None:
        super().__init__(name=name)
        self._latent = latent_size
        self._hidden = hidden_layers
        self._num_steps = num_steps
        self._edge_set = edge_set
        self._sender_set = sender_set
        self._receiver_set = receiver_set
        # Update order of node sets does not matter (each uses the pre-step latents).
        self._node_sets = tuple(dict.fromkeys((sender_set, receiver_set)))
        self._embed_nodes = embed_nodes
        self._output_size = output_size
        self._f32_aggregation = f32_aggregation
        self._fuse = fuse_edge_first_layer

    def __call__(
        self,
        nodes: dict[str, jax.Array],
        edges: EdgeIndex,
        edge_embedding: jax.Array | None = None,
    ) -> dict[str, jax.Array]:
        """Runs the network.

        Args:
          nodes: node set name → features or latents `[num_nodes, B, F]`.
          edges: the edge set (features `[E, 4]`, broadcast over batch).
          edge_embedding: `embed_edges(edges.features)` computed beforehand (it depends only
            on the weights and the graph, so a rollout computes it once); None computes it.

        Returns:
          Node set name → latents `[num_nodes, B, L]`; with `output_size`, the receiver set's
          entry is the decoded output `[num_nodes, B, output_size]` instead.
        """
        blocks = self._networks_builder()
        batch = next(iter(nodes.values())).shape[1]
        dtype = next(iter(nodes.values())).dtype
        if edge_embedding is None:
            edge_embedding = self._embed_edges(blocks, edges.features.astype(dtype))
        edge_latents = jnp.broadcast_to(
            edge_embedding.astype(dtype), (edge_embedding.shape[0], batch, self._latent)
        )
        if self._embed_nodes:
            nodes = {s: blocks[f"encoder_nodes_{s}"](nodes[s]) for s in self._node_sets}
        for step in range(self._num_steps):
            nodes, edge_latents = self._message_passing(blocks, step, nodes, edge_latents, edges)
        if self._output_size is not None:
            nodes = dict(nodes)
            nodes[self._receiver_set] = blocks["decoder"](nodes[self._receiver_set])
        return nodes

    def embed_edges(self, features: jax.Array) -> jax.Array:
        """Edge embeddings `[E, 1, L]` from structural features `[E, 4]` (in their dtype)."""
        return self._embed_edges(self._networks_builder(), features)

    def _embed_edges(self, blocks: dict[str, Block], features: jax.Array) -> jax.Array:
        return blocks["encoder_edges"](features[:, None, :])

    def _message_passing(self, blocks, step, nodes, edge_latents, edges):
        senders, receivers = edges.senders, edges.receivers
        edge_mlp = blocks[f"processor_edges_{step}"]
        if self._fuse:
            edge_input = [
                (edge_latents, None),
                (nodes[self._sender_set], senders),
                (nodes[self._receiver_set], receivers),
            ]
        else:
            edge_input = jnp.concatenate(
                [
                    edge_latents,
                    nodes[self._sender_set][senders],
                    nodes[self._receiver_set][receivers],
                ],
                axis=-1,
            )
        new_edges = edge_mlp(edge_input)
        new_nodes = {}
        for node_set in self._node_sets:
            node_input = nodes[node_set]
            if node_set == self._receiver_set:
                node_input = jnp.concatenate(
                    [node_input, self._aggregate(new_edges, edges, node_input.shape[0])], axis=-1
                )
            new_nodes[node_set] = blocks[f"processor_nodes_{step}_{node_set}"](node_input)
        nodes = {s: nodes[s] + new_nodes[s] for s in self._node_sets}
        return nodes, edge_latents + new_edges

    def _aggregate(self, messages: jax.Array, edges: EdgeIndex, num_nodes: int) -> jax.Array:
        dtype = messages.dtype
        if self._f32_aggregation:
            messages = messages.astype(jnp.float32)
        summed = jax.ops.segment_sum(messages, edges.receivers, num_segments=num_nodes)
        return summed.astype(dtype)

    def _networks_builder(self) -> dict[str, Block]:
        # Blocks are created in this method so their paths carry `~_networks_builder`.
        latent, hidden = self._latent, self._hidden

        def block(name: str, *, out: int | None = None, norm: bool = True, split=False) -> Block:
            sizes = [latent] * hidden + [out or latent]
            mlp = MLP(sizes, split_first=split, name=f"{name}_mlp")
            layer_norm = (
                hk.LayerNorm(
                    -1, create_scale=True, create_offset=True, eps=1e-5, name=f"{name}_layer_norm"
                )
                if norm
                else None
            )
            return Block(mlp, layer_norm)

        blocks = {"encoder_edges": block(f"encoder_edges_{self._edge_set}")}
        if self._embed_nodes:
            for node_set in self._node_sets:
                blocks[f"encoder_nodes_{node_set}"] = block(f"encoder_nodes_{node_set}")
        for step in range(self._num_steps):
            blocks[f"processor_edges_{step}"] = block(
                f"processor_edges_{step}_{self._edge_set}", split=self._fuse
            )
            for node_set in self._node_sets:
                name = f"processor_nodes_{step}_{node_set}"
                blocks[name] = block(name)
        if self._output_size is not None:
            blocks["decoder"] = block(
                f"decoder_nodes_{self._receiver_set}", out=self._output_size, norm=False
            )
        return blocks
