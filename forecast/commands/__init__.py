"""Subcommands of the `forecast` console script, one module each."""
