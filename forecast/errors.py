"""Errors raised by the science library, so callers can tell transient from permanent faults."""


class ForecastError(Exception):
    """Base of every error the forecast library raises on purpose."""


class DataUnavailableError(ForecastError):
    """Data is not (yet) available or a service failed transiently: retrying may help."""


class InvalidInputError(ForecastError):
    """Input is wrong (missing variable, wrong grid, NaN, corrupt file): retrying will not help.

    The message names the variable, time or file at fault.
    """


class CheckpointError(InvalidInputError):
    """A checkpoint file is unreadable or inconsistent with the data it is asked to run on."""
