"""Only transient errors are retried."""

from __future__ import annotations

from prefect.states import Failed

from flows.retry import retry_only_transient
from forecast.data.cds import CdsDataNotYetAvailableError
from forecast.errors import DataUnavailableError, InvalidInputError


def test_transient_errors_are_retried():
    assert retry_only_transient(None, None, Failed(data=DataUnavailableError("not yet")))
    assert retry_only_transient(None, None, Failed(data=CdsDataNotYetAvailableError("later")))


def test_permanent_errors_and_bugs_are_not():
    assert not retry_only_transient(None, None, Failed(data=InvalidInputError("bad")))
    assert not retry_only_transient(None, None, Failed(data=RuntimeError("bug")))
