"""Time and peak memory to build the GraphCast graphs for the official grids.

Each configuration runs in a fresh process so that its peak RSS is its own. Reports the whole
`build_graphs` call, its stages (mesh, grid2mesh, mesh2grid face query, edge features) and the
`.npz` cache write/read. Prints figures and optionally writes them as JSON.

    .venv/bin/python bench/graphs.py [--configs 1.0:5 0.25:6] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def _grid(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    lat = np.linspace(-90, 90, round(180 / resolution) + 1).astype(np.float32)
    lon = (np.arange(round(360 / resolution)) * resolution).astype(np.float32)
    return lat, lon


def _measure(resolution: float, mesh_size: int, queue: multiprocessing.Queue) -> None:
    from forecast.model import graphs, grid_mesh_graphs, icosahedral_mesh, spatial_features

    lat, lon = _grid(resolution)
    start, cpu_start = time.perf_counter(), time.process_time()
    g = graphs.build_graphs(lat, lon, mesh_size=mesh_size, radius_query_fraction_edge_length=0.6)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    stages = {}
    t = time.perf_counter()
    meshes = icosahedral_mesh.mesh_hierarchy(mesh_size)
    multimesh = icosahedral_mesh.merge_meshes(meshes)
    stages["mesh"] = time.perf_counter() - t
    node_lat, node_lon = grid_mesh_graphs.grid_node_lat_lon(lat, lon)
    positions = grid_mesh_graphs.lat_lon_to_positions(node_lat, node_lon)
    radius = grid_mesh_graphs.max_edge_length(meshes[-1]) * 0.6
    t = time.perf_counter()
    grid_mesh_graphs.grid2mesh_edges(positions, multimesh.vertices, radius)
    stages["grid2mesh"] = time.perf_counter() - t
    t = time.perf_counter()
    grid_mesh_graphs.mesh2grid_face_index(positions, meshes[-1])
    stages["mesh2grid_faces"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, sender, receiver in (
        ("grid2mesh", (node_lat, node_lon), (g.mesh_lat, g.mesh_lon)),
        ("mesh", (g.mesh_lat, g.mesh_lon), (g.mesh_lat, g.mesh_lon)),
        ("mesh2grid", (g.mesh_lat, g.mesh_lon), (node_lat, node_lon)),
    ):
        edges = getattr(g, name)
        spatial_features.relative_edge_vectors(
            *sender, *receiver, senders=edges.senders, receivers=edges.receivers
        )
    stages["edge_features"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graphs.npz"
        t = time.perf_counter()
        graphs.save_graphs(g, path)
        stages["cache_write"] = time.perf_counter() - t
        t = time.perf_counter()
        graphs.load_graphs(path)
        stages["cache_read"] = time.perf_counter() - t
        cache_mb = path.stat().st_size / 2**20

    queue.put(
        {
            "grid": f"{resolution}deg",
            "mesh_size": mesh_size,
            "grid_nodes": g.num_grid_nodes,
            "mesh_nodes": g.num_mesh_nodes,
            "edges": {n: getattr(g, n).num_edges for n in ("grid2mesh", "mesh", "mesh2grid")},
            "build_seconds": round(total, 2),
            "build_cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(peak_mb),
            "cache_mb": round(cache_mb, 1),
            "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["1.0:5", "0.25:6"],
        help="resolution:mesh_size pairs (default: the two official grids)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    results = []
    for spec in args.configs:
        resolution, mesh_size = spec.split(":")
        queue = context.Queue()
        proc = context.Process(target=_measure, args=(float(resolution), int(mesh_size), queue))
        proc.start()
        result = queue.get()
        proc.join()
        results.append(result)
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in result["stage_seconds"].items())
        print(
            f"{result['grid']:>8} mesh {result['mesh_size']}: build {result['build_seconds']:.2f} s"
            f" ({result['build_cpu_seconds']:.2f} s CPU),"
            f" peak RSS {result['peak_rss_mb']} MB, cache {result['cache_mb']} MB; {stages}"
        )

    import scipy
    import trimesh

    record = {
        "benchmark": "graphs",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
        },
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "trimesh": trimesh.__version__,
        },
        "results": results,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
