"""The web layer's error hierarchy: raised by services, translated once at the edge."""


class ApplicationError(Exception):
    """A request the service refuses, with a message fit for the user."""


class RunStateError(ApplicationError):
    """A run cannot make the asked status change (e.g. a finished run marked running)."""


class DuplicateRunError(ApplicationError):
    """The cycle already has a run (one run per init time, predictor and data source)."""

    def __init__(self, message: str, *, run=None) -> None:
        super().__init__(message)
        self.run = run


class RunClaimedError(RunStateError):
    """Another live flow is in charge of the run."""


class RunDataMissingError(ApplicationError):
    """A run's data (forecast file, scores) does not exist (yet)."""
