"""The `forecast` console script: one subcommand per module in `forecast/commands/`.

Each command module defines `add_parser(subparsers)` which registers its parser and sets
`func(args) -> int`. Errors from the library (`ForecastError`) become a one-line message on
stderr and a non-zero exit code; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from forecast.errors import ForecastError

# Imported lazily by name so `forecast inspect` does not pay for JAX start-up of `train`, etc.
COMMANDS = ("inspect", "predict", "fetch", "score", "climatology", "train", "synth", "stats")
COMMANDS += ("doctor",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forecast", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"forecast.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"forecast.commands.{name}":
                raise
            continue  # command not built yet
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ForecastError as exc:
        print(f"forecast {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
