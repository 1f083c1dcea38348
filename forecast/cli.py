"""The `forecast` console script: one subcommand per module in `forecast/commands/`.

Each command module defines `add_parser(subparsers)` which registers its parser and sets
`func(args) -> int`. Errors from the library (`ForecastError`) become a one-line message on
stderr; nothing else is caught. Exit codes:

* 0 — done;
* 1 — the data, files or checkpoint are at fault (`InvalidInputError`, `CheckpointError`):
  fix them, retrying will not help;
* 2 — usage: an unknown option, a missing or malformed argument (argparse's own code), or
  arguments that make no sense together (`forecast.commands.UsageError`);
* 75 — the data are not available yet or a server failed transiently (`DataUnavailableError`;
  EX_TEMPFAIL of sysexits.h): retry later.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from forecast.commands import UsageError
from forecast.errors import DataUnavailableError, ForecastError

# Imported lazily by name so `forecast inspect` does not pay for JAX start-up of `train`, etc.
COMMANDS = (
    "inspect",
    "predict",
    "run",
    "fetch",
    "score",
    "climatology",
    "train",
    "synth",
    "stats",
    "doctor",
)

EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 75


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps each command's docstring as written and shows every real default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "%(default)" in text
            or action.required
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; defaults are shown in each command's help."""
    from forecast.io.cf import package_version

    parser = argparse.ArgumentParser(
        prog="forecast",
        description=__doc__.splitlines()[0],
        epilog="exit codes: 0 done, 1 bad data/files/checkpoint, 2 usage, 75 data not "
        "available yet (retry later)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"forecast.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"forecast.commands.{name}":
                raise
            continue  # command not built yet
        module.add_parser(subparsers)
    for subparser in subparsers.choices.values():
        subparser.formatter_class = HelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit code (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed them
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"forecast {args.command}: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DataUnavailableError as exc:
        print(f"forecast {args.command}: error: {exc} (retry later)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except ForecastError as exc:
        print(f"forecast {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_DATA


if __name__ == "__main__":
    sys.exit(main())
