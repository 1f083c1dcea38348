"""`forecast inspect CHECKPOINT`: print a checkpoint's configs and size as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from forecast.model import checkpoint
from forecast.model.config import to_dict


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Registers `inspect`."""
    parser = subparsers.add_parser(
        "inspect", help="print a GraphCast checkpoint's configs as JSON", description=__doc__
    )
    parser.add_argument("checkpoint", help="checkpoint file in the official .npz layout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Loads the checkpoint (no JAX needed) and writes the JSON summary to stdout."""
    ckpt = checkpoint.load(args.checkpoint)
    summary = {
        "checkpoint": str(args.checkpoint),
        "sha256": checkpoint.file_sha256(args.checkpoint),
        "model_config": to_dict(ckpt.model_config),
        "task_config": to_dict(ckpt.task_config),
        "description": ckpt.description,
        "license": ckpt.license,
        "parameter_count": ckpt.num_parameters(),
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
