"""Where the archive-scale commands run their Dask graphs: a LocalCluster or a given scheduler.

`forecast climatology` and `forecast stats` read archives larger than memory. By default they
start a LocalCluster of worker processes, each with a memory limit (Dask spills to disk, then
pauses a worker, before the limit); `--scheduler tcp://host:8786` sends the same graph to a
running multi-host cluster (`dask scheduler` / `dask worker` on each host) instead. The
archive path must then be readable by every worker at the same path.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import Iterator


def add_dask_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds --scheduler, --workers, --memory-limit."""
    group = parser.add_argument_group("Dask")
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler (default: start a LocalCluster)",
    )
    group.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    group.add_argument(
        "--memory-limit", default="2GiB", help="LocalCluster memory limit per worker"
    )


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, *, workers: int = 2, memory_limit: str = "2GiB"
) -> Iterator[object]:
    """A `distributed.Client` on `scheduler`, or on a LocalCluster it starts and stops."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    import dask

    with (
        tempfile.TemporaryDirectory(prefix="forecast-dask-") as spill,
        # The scheduler's scratch space too (else /tmp/dask-scratch-space is left behind).
        dask.config.set({"temporary-directory": spill}),
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            memory_limit=memory_limit,
            processes=True,
            dashboard_address=None,
            local_directory=spill,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
