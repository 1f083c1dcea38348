"""The `forecast` subcommands, one module each (see `forecast.cli`)."""


class UsageError(Exception):
    """Arguments that parse but do not make sense together or name nothing known: exit code 2.

    Raised by a command before it touches data; `forecast.cli.main` prints it like argparse's
    own usage errors.
    """
