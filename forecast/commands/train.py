"""`forecast train`: train or fine-tune GraphCast from a TOML/JSON config, resumably.

    forecast train --config stats/demo/train.toml
    forecast train --config finetune.json --max-steps 100    # stop early; rerun to continue

Progress bars go to stderr. A run whose state file (`<checkpoint>.train_state.npz`) exists
continues from it unless `--no-resume`. See `forecast.training.config` for the settings.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train or fine-tune GraphCast", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", required=True, type=Path, help="training config (.toml/.json)")
    parser.add_argument("--no-resume", action="store_true", help="start over, ignore saved state")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N steps")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forecast.commands.progress import step_bar
    from forecast.model.rollout import default_cache_dir
    from forecast.training.config import load_train_config
    from forecast.training.trainer import train

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = load_train_config(args.config)
    result = train(
        config,
        resume=not args.no_resume,
        max_steps=args.max_steps,
        progress=None if args.quiet else step_bar,
        graphs_cache_dir=default_cache_dir().parent / "graphs",
    )
    status = "done" if result.completed else "stopped (run again to resume)"
    print(
        f"{status}: step {result.global_step}, train loss {result.train_loss:.4f}, "
        f"validation loss {result.validation_loss}, {result.seconds:.0f} s; "
        f"checkpoint {result.checkpoint}"
    )
    return 0
