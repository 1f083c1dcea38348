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
    """`hk.Linear` accumulated in float32, whose input may be a concatenation of blocks.

    For an edge MLP the input is `edges ⊕ nodes[senders] ⊕ nodes[receivers]`. Multiplying the
    node latents by their weight block *before* gathering costs O(nodes·L²) instead of
    O(edges·L²) and never materialises the [edges, 3L] concatenation. The partial products are
    accumulated in float32 and rounded once, like a single matmul of the concatenation.
    Given one array it is a plain linear layer with that rounding: a bf16 matmul with float32
    accumulation and one rounding of the result, as accelerators do it. On XLA's CPU backend
    (measured on an AVX512_BF16 CPU) that is also 1.5–1.7× faster than `hk.Linear`'s bf16-out
    dot, whose results differ from it by one bf16 unit here and there.
    Parameters (`w` [in, out], `b` [out]) and their initialisers are those of `hk.Linear`.
    """

    def __init__(self, output_size: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.output_size = output_size

    def parameters(self, input_size: int, dtype: jnp.dtype) -> tuple[jax.Array, jax.Array]:
        """`(w [input_size, out], b [out])`, created on first use like `hk.Linear`'s."""
        w = hk.get_parameter(
            "w",
            [input_size, self.output_size],
            dtype,
            init=hk.initializers.TruncatedNormal(stddev=1.0 / np.sqrt(input_size)),
        )
        b = hk.get_parameter("b", [self.output_size], dtype, init=jnp.zeros)
        return w, b

    def __call__(self, blocks: jax.Array | list[tuple[jax.Array, jax.Array | None]]) -> jax.Array:
        """Args: blocks: an array, or `(values [n, B, f], gather indices [E] or None)` per
        input block."""
        if not isinstance(blocks, list):
            blocks = [(blocks, None)]
        input_size = sum(values.shape[-1] for values, _ in blocks)
        dtype = blocks[0][0].dtype
        w, b = self.parameters(input_size, dtype)
        total = None
        start = 0
        for values, indices in blocks:
            size = values.shape[-1]
            part = partial_product(values, w[start : start + size])
            start += size
            if indices is not None:
                part = part[indices]
            total = part if total is None else total + part
        return total.astype(dtype) + b


def partial_product(values: jax.Array, w_block: jax.Array) -> jax.Array:
    """One input block's share of a `SplitLinear`, accumulated (and kept) in float32."""
    return jnp.dot(values, w_block, preferred_element_type=jnp.float32)


class MLP(hk.Module):
    """Linear layers with swish between them (not after the last); names `linear_<k>`.

    `float32_accumulation` makes every layer a `SplitLinear` (float32 accumulation, one
    rounding); `split_first` needs the first one to be, for its blocks.
    """

    def __init__(
        self, output_sizes: list[int], *, split_first: bool, float32_accumulation: bool, name: str
    ) -> None:
        super().__init__(name=name)
        linear = SplitLinear if float32_accumulation else hk.Linear
        first = SplitLinear if split_first else linear
        self.layers = [first(output_sizes[0], name="linear_0")] + [
            linear(size, name=f"linear_{k}") for k, size in enumerate(output_sizes[1:], 1)
        ]

    def __call__(self, x) -> jax.Array:
        """Args: x: an array, or SplitLinear blocks when built with `split_first`."""
        return self.after_first_layer(self.layers[0](x))

    def after_first_layer(self, x: jax.Array) -> jax.Array:
        """The layers after `linear_0`, given its output (callers that compute it in parts)."""
        for layer in self.layers[1:]:
            x = layer(jax.nn.swish(x))
        return x


class Block:
    """MLP optionally followed by LayerNorm over features (eps 1e-5, learned scale/offset)."""

    def __init__(self, mlp: MLP, layer_norm: hk.LayerNorm | None) -> None:
        self.mlp = mlp
        self.layer_norm = layer_norm

    def __call__(self, x) -> jax.Array:
        return self.after_first_layer(self.mlp.layers[0](x))

    def after_first_layer(self, x: jax.Array) -> jax.Array:
        """The block given its first linear layer's output (see `MLP.after_first_layer`)."""
        y = self.mlp.after_first_layer(x)
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
      float32_accumulation: every linear layer accumulates in float32 and rounds once
        (`SplitLinear`); False: `hk.Linear`, the reference's bf16 dots.
      name: module name (`grid2mesh_gnn`, ...).
      chunk_size: process the large node set in chunks of this many nodes (`hk.scan`), so
        only one chunk's edge and hidden activations exist at a time. Needs `num_steps == 1`
        (GraphCast's encoder and decoder) and a node count divisible by it (pad first). The
        large set is the sender set when it is embedded (the encoder: edges then go in chunks
        of `edge_chunk_size`, summed into the receivers) and otherwise the receiver set (the
        decoder: each receiver must have the same number k of edges, stored receiver-major,
        so a node chunk owns a contiguous run of k·chunk_size edges). Exact: the same
        operations per row and the same order of every sum as unchunked.
      edge_chunk_size: edges per chunk in the encoder case (edge count divisible by it; pad
        edges with receiver index = number of receivers, which are dropped).
      late_aggregates: start each message-passing step's aggregate from the receivers' own
        (zeroed) latents rather than a constant zero array, so it cannot be allocated before
        the step runs. XLA's CPU scheduler otherwise materialises all 16 processor steps'
        float32 aggregates at the start of the step (1.3 GB at mesh 6, alive at the step's
        peak). Same sums; used with the chunked grid stages, whose peak this is.
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
        float32_accumulation: bool = False,
        chunk_size: int | None = None,
        edge_chunk_size: int | None = None,
        late_aggregates: bool = False,
    ) -> None:
        super().__init__(name=name)
        self._late_aggregates = late_aggregates
        if chunk_size is not None and num_steps != 1:
            raise ValueError(f"{name}: chunking needs one message-passing step, not {num_steps}")
        if chunk_size is not None and embed_nodes and edge_chunk_size is None:
            raise ValueError(f"{name}: chunking an embedded sender set needs edge_chunk_size")
        self._chunk_size = chunk_size
        self._edge_chunk_size = edge_chunk_size
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
        self._float32_accumulation = float32_accumulation

    def __call__(
        self,
        nodes: dict[str, jax.Array],
        edges: EdgeIndex,
        edge_embedding: jax.Array | None = None,
        edge_products: jax.Array | None = None,
    ) -> dict[str, jax.Array]:
        """Runs the network.

        Args:
          nodes: node set name → features or latents `[num_nodes, B, F]`.
          edges: the edge set (features `[E, 4]`, broadcast over batch).
          edge_embedding: `embed_edges(edges.features)` computed beforehand (it depends only
            on the weights and the graph, so a rollout computes it once); None computes it.
          edge_products: `edge_products(edges.features)` computed beforehand (chunked and
            fused only): the edges' whole share of the first edge-MLP layer, so a chunk runs
            neither the edge embedding nor that share's matmul.

        Returns:
          Node set name → latents `[num_nodes, B, L]`; with `output_size`, the receiver set's
          entry is the decoded output `[num_nodes, B, output_size]` instead.
        """
        blocks = self._networks_builder()
        if edge_products is not None and (self._chunk_size is None or not self._fuse):
            raise ValueError(f"{self.name}: edge products need the chunked, fused network")
        if self._chunk_size is not None:
            if self._embed_nodes:
                return self._encode_in_chunks(blocks, nodes, edges, edge_embedding, edge_products)
            return self._decode_in_chunks(blocks, nodes, edges, edge_embedding, edge_products)
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

    def edge_products(self, features: jax.Array, chunk: int) -> jax.Array:
        """The edges' share of the first edge-MLP layer, `embed_edges(features) @ W_edges`.

        Like the embedding it depends only on the weights and the graph, and it is most of an
        edge's work in the one-step grid networks: precomputed, a chunk adds the sender and
        receiver shares to it and goes on. Computed `chunk` edges at a time (the edge count
        must be a multiple). Rounded once to the data dtype, so a step's first-layer sum
        rounds one more time than when it is computed in the step (bf16 noise).

        Returns:
          `[E, 1, L]`; bf16 results as their uint16 bits (see `as_bits`).
        """
        blocks = self._networks_builder()
        dtype = features.dtype
        latent = self._latent
        w_edge, _, _, _ = self._first_layer_weights(
            blocks["processor_edges_0"], (latent, latent, latent), dtype
        )
        num_edges = features.shape[0]
        _check_divisible(self.name, "edges", num_edges, chunk)

        def products_chunk(carry, chunk_features):
            embedding = self._embed_edges(blocks, chunk_features)
            return carry, as_bits(partial_product(embedding, w_edge).astype(dtype))

        _, products = hk.scan(products_chunk, None, features.reshape(num_edges // chunk, chunk, -1))
        return products.reshape(num_edges, 1, latent)

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
                    [
                        node_input,
                        self._aggregate(new_edges, receivers, node_input.shape[0], node_input),
                    ],
                    axis=-1,
                )
            new_nodes[node_set] = blocks[f"processor_nodes_{step}_{node_set}"](node_input)
        nodes = {s: nodes[s] + new_nodes[s] for s in self._node_sets}
        return nodes, edge_latents + new_edges

    def _aggregate(
        self,
        messages: jax.Array,
        receivers: jax.Array,
        num_nodes: int,
        receiver_latents: jax.Array | None = None,
    ) -> jax.Array:
        dtype = messages.dtype
        if self._f32_aggregation:
            messages = messages.astype(jnp.float32)
        if self._late_aggregates and receiver_latents is not None:
            # Zeros that depend on this step's data (see `late_aggregates`); NaN latents
            # would give NaN sums, as they give NaN messages anyway.
            start = (receiver_latents * 0).astype(messages.dtype)
            summed = start.at[receivers].add(messages, mode="drop")
        else:
            summed = jax.ops.segment_sum(messages, receivers, num_segments=num_nodes)
        return summed.astype(dtype)

    def _sum_per_receiver(self, messages: jax.Array, per_node: int) -> jax.Array:
        """`_aggregate` of receiver-major edges, `per_node` per receiver: `[E, B, L]` → `[E /
        per_node, B, L]`.

        The same additions in the same order as the segment sum (its zero start adds
        nothing), as `per_node` strided adds: XLA's CPU scatter-add of bf16 rows is a serial
        loop, 6× slower (2.7 s a step at 0.25°).
        """
        dtype = messages.dtype
        if self._f32_aggregation:
            messages = messages.astype(jnp.float32)
        grouped = messages.reshape(-1, per_node, *messages.shape[1:])
        summed = grouped[:, 0]
        for k in range(1, per_node):
            summed = summed + grouped[:, k]
        return summed.astype(dtype)

    def _edge_latents(self, blocks, features, embedding, batch: int, dtype) -> jax.Array:
        """One chunk's edge latents `[E_c, B, L]`: the precomputed rows, or embedded here."""
        if embedding is None:
            embedding = self._embed_edges(blocks, features.astype(dtype))
        return jnp.broadcast_to(embedding.astype(dtype), (embedding.shape[0], batch, self._latent))

    def _edge_share(self, blocks, x: dict, w_edge: jax.Array, batch: int, dtype) -> jax.Array:
        """One chunk's edge share of the fused first layer (float32): precomputed or computed."""
        if "products" in x:
            return from_bits(x["products"], dtype).astype(jnp.float32)
        edge_latents = self._edge_latents(
            blocks, x.get("features"), x.get("embedding"), batch, dtype
        )
        return partial_product(edge_latents, w_edge)

    def _first_layer_weights(self, edge_mlp: Block, sizes: tuple[int, int, int], dtype):
        """`SplitLinear` weight blocks (edges, senders, receivers) and bias of an edge MLP."""
        w, b = edge_mlp.mlp.layers[0].parameters(sum(sizes), dtype)
        e, s = sizes[0], sizes[0] + sizes[1]
        return w[:e], w[e:s], w[s:], b

    def _encode_in_chunks(self, blocks, nodes, edges, edge_embedding, edge_products):
        """The encoder case of `chunk_size` (large sender set, embedded; one step)."""
        big, small = self._sender_set, self._receiver_set
        chunk, edge_chunk = self._chunk_size, self._edge_chunk_size
        num_big, batch, width = nodes[big].shape
        num_small = nodes[small].shape[0]
        num_edges = edges.senders.shape[0]
        _check_divisible(self.name, "nodes", num_big, chunk)
        _check_divisible(self.name, "edges", num_edges, edge_chunk)
        # The grid inputs may arrive as bits already (`as_bits`); the mesh nodes never do.
        dtype = nodes[small].dtype

        def embed_chunk(carry, x):
            return carry, as_bits(blocks[f"encoder_nodes_{big}"](from_bits(x, dtype)))

        _, big_latents = hk.scan(
            embed_chunk,
            None,
            as_bits(nodes[big]).reshape(num_big // chunk, chunk, batch, width),
        )
        # Stored (see `as_bits`) until the end of this network.
        big_latents = big_latents.reshape(num_big, batch, self._latent)
        small_latents = blocks[f"encoder_nodes_{small}"](nodes[small])

        edge_mlp = blocks["processor_edges_0"]
        if self._fuse:
            w_edge, w_sender, w_receiver, bias = self._first_layer_weights(
                edge_mlp, (self._latent, self._latent, self._latent), dtype
            )
            # The receivers are few: their share is computed once, as unchunked.
            receiver_part = partial_product(small_latents, w_receiver)
        aggregate_dtype = jnp.float32 if self._f32_aggregation else dtype
        num_chunks = num_edges // edge_chunk
        xs = {
            "senders": edges.senders.reshape(num_chunks, edge_chunk),
            "receivers": edges.receivers.reshape(num_chunks, edge_chunk),
        }
        xs.update(_edge_inputs(edges, edge_embedding, edge_products, num_chunks, edge_chunk))

        def messages_chunk(aggregate, x):
            senders, receivers = x["senders"], x["receivers"]
            senders_latents = from_bits(jnp.take(big_latents, senders, axis=0), dtype)
            if self._fuse:
                # Same three float32 partial products, added in the same order, as SplitLinear.
                total = self._edge_share(blocks, x, w_edge, batch, dtype)
                total = total + partial_product(senders_latents, w_sender)
                total = total + jnp.take(receiver_part, receivers, axis=0, mode="clip")
                messages = edge_mlp.after_first_layer(total.astype(dtype) + bias)
            else:
                edge_latents = self._edge_latents(
                    blocks, x.get("features"), x.get("embedding"), batch, dtype
                )
                receivers_latents = jnp.take(small_latents, receivers, axis=0, mode="clip")
                messages = edge_mlp(
                    jnp.concatenate([edge_latents, senders_latents, receivers_latents], axis=-1)
                )
            # Scatter-add in edge order, chunk after chunk: the same additions in the same
            # order as one segment_sum; padding edges (receiver = num_small) are dropped.
            aggregate = aggregate.at[receivers].add(messages.astype(aggregate_dtype), mode="drop")
            return aggregate, None

        aggregate, _ = hk.scan(
            messages_chunk, jnp.zeros((num_small, batch, self._latent), aggregate_dtype), xs
        )
        small_input = jnp.concatenate([small_latents, aggregate.astype(dtype)], axis=-1)
        small_latents = small_latents + blocks[f"processor_nodes_0_{small}"](small_input)

        def update_chunk(k, latents):
            # In place (a loop carry updated slice by slice): one [N, B, L] buffer, not two.
            x = from_bits(jax.lax.dynamic_slice_in_dim(latents, k * chunk, chunk), dtype)
            x = x + blocks[f"processor_nodes_0_{big}"](x)
            return jax.lax.dynamic_update_slice_in_dim(latents, as_bits(x), k * chunk, 0)

        big_latents = hk.fori_loop(0, num_big // chunk, update_chunk, big_latents)
        return {big: from_bits(big_latents, dtype), small: small_latents}

    def _decode_in_chunks(self, blocks, nodes, edges, edge_embedding, edge_products):
        """The decoder case of `chunk_size` (large receiver set, k edges each; one step)."""
        big, small = self._receiver_set, self._sender_set
        chunk = self._chunk_size
        num_big, batch, _ = nodes[big].shape
        num_edges = edges.senders.shape[0]
        _check_divisible(self.name, "nodes", num_big, chunk)
        _check_divisible(self.name, "edges", num_edges, num_big)
        per_node = num_edges // num_big
        num_chunks = num_big // chunk
        dtype = nodes[big].dtype
        small_latents = nodes[small]
        # Receivers of a chunk's edges, local to the chunk (edges are receiver-major).
        local_receivers = np.repeat(np.arange(chunk, dtype=np.int32), per_node)

        edge_mlp = blocks["processor_edges_0"]
        if self._fuse:
            w_edge, w_sender, w_receiver, bias = self._first_layer_weights(
                edge_mlp, (self._latent, self._latent, self._latent), dtype
            )
            sender_part = partial_product(small_latents, w_sender)
        xs = {
            "latents": as_bits(nodes[big]).reshape(num_chunks, chunk, batch, self._latent),
            "senders": edges.senders.reshape(num_chunks, chunk * per_node),
        }
        xs.update(_edge_inputs(edges, edge_embedding, edge_products, num_chunks, chunk * per_node))

        def decode_chunk(carry, x):
            latents, senders = from_bits(x["latents"], dtype), x["senders"]
            if self._fuse:
                total = self._edge_share(blocks, x, w_edge, batch, dtype)
                total = total + jnp.take(sender_part, senders, axis=0)
                total = total + partial_product(latents, w_receiver)[local_receivers]
                messages = edge_mlp.after_first_layer(total.astype(dtype) + bias)
            else:
                edge_latents = self._edge_latents(
                    blocks, x.get("features"), x.get("embedding"), batch, dtype
                )
                messages = edge_mlp(
                    jnp.concatenate(
                        [
                            edge_latents,
                            jnp.take(small_latents, senders, axis=0),
                            latents[local_receivers],
                        ],
                        axis=-1,
                    )
                )
            aggregate = self._sum_per_receiver(messages, per_node)
            node_input = jnp.concatenate([latents, aggregate], axis=-1)
            latents = latents + blocks[f"processor_nodes_0_{big}"](node_input)
            if self._output_size is not None:
                latents = blocks["decoder"](latents)
            return carry, latents

        _, outputs = hk.scan(decode_chunk, None, xs)
        # The sender set's self-update (discarded by GraphCast, kept for the same parameters).
        small_latents = small_latents + blocks[f"processor_nodes_0_{small}"](small_latents)
        return {big: outputs.reshape(num_big, batch, -1), small: small_latents}

    def _networks_builder(self) -> dict[str, Block]:
        # Blocks are created in this method so their paths carry `~_networks_builder`.
        latent, hidden = self._latent, self._hidden

        def block(name: str, *, out: int | None = None, norm: bool = True, split=False) -> Block:
            sizes = [latent] * hidden + [out or latent]
            mlp = MLP(
                sizes,
                split_first=split,
                float32_accumulation=self._float32_accumulation,
                name=f"{name}_mlp",
            )
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


def _edge_inputs(edges, embedding, products, num_chunks: int, edge_chunk: int) -> dict:
    """The per-chunk edge inputs of a chunk loop: precomputed products, embeddings or features."""
    if products is not None:
        return {"products": products.reshape(num_chunks, edge_chunk, 1, -1)}
    if embedding is not None:
        return {"embedding": embedding.reshape(num_chunks, edge_chunk, 1, -1)}
    return {"features": edges.features.reshape(num_chunks, edge_chunk, -1)}


def as_bits(values: jax.Array) -> jax.Array:
    """A large bf16 array as its bits (uint16) while chunk loops read or write it (public:
    `GraphCast` stacks the chunked grid inputs as bits too).

    XLA's CPU backend computes bf16 in float32 and its float normalisation widens whole loop
    states and loop inputs to float32 (the grid latents alone: 2 GB per copy at 0.25°, with a
    transposed copy beside it). Integers are left alone, so the array stays 2 bytes per value
    and each chunk is widened inside the loop (`from_bits`). The bits, hence values, are
    unchanged; it also pins the stored values to bf16 rounding, as the reference's arrays are.
    """
    if values.dtype != jnp.bfloat16:
        return values
    return jax.lax.bitcast_convert_type(values, jnp.uint16)


def from_bits(values: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """The inverse of `as_bits`: bf16 values from their bits (other arrays as they are)."""
    if values.dtype != jnp.uint16:
        return values
    return jax.lax.bitcast_convert_type(values, dtype)


def _check_divisible(network: str, what: str, count: int, chunk: int) -> None:
    if count % chunk:
        raise ValueError(f"{network}: {count} {what} are not a multiple of the chunk ({chunk})")
