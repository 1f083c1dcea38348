"""The CDS client wrapper against the local CDS, through the real `cdsapi` client."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import xarray as xr

from forecast.data import lexicon
from forecast.data.cds import (
    CdsAuthenticationError,
    CdsClient,
    CdsConfigurationError,
    CdsDataNotYetAvailableError,
    CdsJobFailedError,
    CdsRequestRejectedError,
    CdsUnavailableError,
    RetryPolicy,
    resolve_configuration,
)
from forecast.data.requests import Era5Request
from forecast.errors import DataUnavailableError, InvalidInputError

pytestmark = pytest.mark.network

REQUEST = Era5Request(
    lexicon.PRESSURE_LEVELS_DATASET,
    ("temperature", "geopotential"),
    (500, 850),
    "2026-11-15",
    ("00:00", "06:00"),
    10.0,
)


def test_retrieves_a_cds_netcdf_and_reports_progress(make_client, local_cds, tmp_path):
    events = []
    path = make_client(progress=events.append).retrieve(REQUEST, tmp_path / "a.part")

    with xr.open_dataset(path) as ds:
        assert set(ds.data_vars) == {"t", "z"}
        assert list(ds["pressure_level"].values) == [850.0, 500.0]
        assert ds["latitude"].values[0] == 90.0  # descending, as the CDS writes it
        assert ds.sizes["valid_time"] == 2
    stages = [e.stage for e in events]
    assert stages[0] == "submitted"
    assert "successful" in stages and stages[-1] == "downloaded"
    assert events[-1].bytes_done == events[-1].bytes_total == path.stat().st_size
    assert local_cds.counts["submit"] == 1
    assert local_cds.submitted[0]["inputs"]["pressure_level"] == ["500", "850"]


def test_configuration_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CDSAPI_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("CDSAPI_KEY", "abc-token")
    assert resolve_configuration() == ("http://127.0.0.1:9/api", "abc-token")

    monkeypatch.delenv("CDSAPI_URL")
    monkeypatch.delenv("CDSAPI_KEY")
    rc = tmp_path / "cdsapirc"
    rc.write_text("url: http://127.0.0.1:9/api/\nkey: rc-token\n")
    monkeypatch.setenv("CDSAPI_RC", str(rc))
    assert resolve_configuration() == ("http://127.0.0.1:9/api", "rc-token")

    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "absent"))
    with pytest.raises(CdsConfigurationError, match="CDSAPI_URL"):
        resolve_configuration()
    with pytest.raises(CdsConfigurationError, match="old 'UID:KEY'"):
        resolve_configuration("http://127.0.0.1:9/api", "1234:abcd")


def test_503s_are_retried_within_the_budget(make_client, local_cds, tmp_path):
    client = make_client()
    client.datastores  # noqa: B018 - connect first so the faults hit the retrieval itself
    local_cds.faults.unavailable = 3
    path = client.retrieve(REQUEST, tmp_path / "a.part")
    assert path.stat().st_size > 0
    assert local_cds.faults.unavailable == 0


def test_dropped_connections_are_retried(make_client, local_cds, tmp_path):
    client = make_client()
    client.datastores  # noqa: B018
    local_cds.faults.drop = 3
    assert client.retrieve(REQUEST, tmp_path / "a.part").stat().st_size > 0
    assert local_cds.faults.drop == 0


def test_a_persistent_outage_becomes_data_unavailable_after_the_budget(
    make_client, local_cds, tmp_path
):
    client = make_client(retry=RetryPolicy(tries=3, sleep_min=0.01, sleep_max=0.02))
    client.datastores  # noqa: B018
    local_cds.faults.unavailable = 1000
    with pytest.raises(CdsUnavailableError, match="503") as caught:
        client.retrieve(REQUEST, tmp_path / "a.part")
    assert isinstance(caught.value, DataUnavailableError)
    assert local_cds.counts["process"] == 3  # exactly the budget, then it stopped


def test_a_bad_key_is_reported_as_an_authentication_error(make_client, tmp_path):
    with pytest.raises(CdsAuthenticationError, match="401.*Authentication failed"):
        make_client(key="not-the-key").retrieve(REQUEST, tmp_path / "a.part")


def test_licence_not_accepted_is_an_authentication_error(make_client, local_cds, tmp_path):
    local_cds.faults.licence_accepted = False
    with pytest.raises(CdsAuthenticationError, match="403.*licences"):
        make_client().retrieve(REQUEST, tmp_path / "a.part")


def test_an_invalid_request_is_rejected_at_submission(make_client, tmp_path):
    bad = Era5Request(
        lexicon.SINGLE_LEVELS_DATASET, ("2m_temperature",), (), "2026-11-15", ("00:00",), 10.0
    )
    # Era5Request cannot express an unknown variable, so send the raw body the same way.
    from forecast.data.cds import _translated

    client = make_client()
    body = bad.to_cds() | {"variable": ["no_such_variable"]}
    with pytest.raises(CdsRequestRejectedError, match="400.*no_such_variable") as caught:
        with _translated("submitting"):
            client.datastores.submit(bad.dataset, body)
    assert isinstance(caught.value, InvalidInputError)


def test_a_rejected_job_says_why(make_client, local_cds, tmp_path):
    local_cds.faults.reject = 1
    with pytest.raises(CdsRequestRejectedError, match="rejected.*too large"):
        make_client().retrieve(REQUEST, tmp_path / "a.part")


def test_a_failed_job_carries_the_cds_message(make_client, local_cds, tmp_path):
    local_cds.faults.fail = 1
    with pytest.raises(CdsJobFailedError, match="failed.*MARS server error") as caught:
        make_client().retrieve(REQUEST, tmp_path / "a.part")
    assert not isinstance(caught.value, DataUnavailableError)


def test_data_not_published_yet_is_transient(make_client, local_cds, tmp_path):
    late = Era5Request(
        lexicon.SINGLE_LEVELS_DATASET, ("2m_temperature",), (), "2026-11-17", ("00:00",), 10.0
    )
    with pytest.raises(CdsDataNotYetAvailableError, match="latest date available") as caught:
        make_client().retrieve(late, tmp_path / "a.part")
    assert isinstance(caught.value, DataUnavailableError)


def test_a_truncated_download_is_resumed_with_a_range_request(make_client, local_cds, tmp_path):
    whole = make_client().retrieve(REQUEST, tmp_path / "whole.part").read_bytes()
    local_cds.faults.truncate = 2
    events = []
    path = make_client(progress=events.append).retrieve(REQUEST, tmp_path / "cut.part")
    assert path.read_bytes() == whole
    assert local_cds.faults.truncate == 0
    assert local_cds.counts["download_resumed"] == 2  # each cut resumed with Range
    assert not (tmp_path / "cut.part.json").exists()  # resume metadata cleaned up


def test_truncation_without_range_support_restarts_cleanly(make_client, local_cds, tmp_path):
    whole = make_client().retrieve(REQUEST, tmp_path / "whole.part").read_bytes()
    local_cds.faults.ranges = False
    local_cds.faults.truncate = 1
    assert make_client().retrieve(REQUEST, tmp_path / "cut.part").read_bytes() == whole
    assert local_cds.counts["download_resumed"] == 0


def test_endless_truncation_is_refused_and_the_part_resumes_later(make_client, local_cds, tmp_path):
    whole = make_client().retrieve(REQUEST, tmp_path / "whole.part").read_bytes()
    local_cds.faults.truncate = 1000
    part = tmp_path / "cut.part"
    with pytest.raises(CdsUnavailableError, match="stopped at .* bytes"):
        make_client().retrieve(REQUEST, part)
    assert 0 < part.stat().st_size < len(whole)
    local_cds.faults.truncate = 0
    local_cds.reset_counts()
    assert make_client().retrieve(REQUEST, part).read_bytes() == whole
    assert local_cds.counts["download_resumed"] == 1  # continued the kept part


def test_a_slow_queue_reports_queued_then_running(make_client, local_cds, tmp_path):
    local_cds.faults.queue_seconds = 0.3
    local_cds.faults.run_seconds = 0.2
    events = []
    make_client(progress=events.append).retrieve(REQUEST, tmp_path / "a.part")
    stages = [e.stage for e in events]
    assert stages.index("accepted") < stages.index("running") < stages.index("successful")
    assert local_cds.counts["status"] >= 3


def test_a_queue_timeout_gives_up_with_data_unavailable(make_client, local_cds, tmp_path):
    local_cds.faults.queue_seconds = 5.0
    retry = RetryPolicy(tries=2, sleep_min=0.01, sleep_max=0.05, poll_min=0.02, queue_timeout=0.3)
    with pytest.raises(CdsUnavailableError, match="still accepted"):
        make_client(retry=retry).retrieve(REQUEST, tmp_path / "a.part")


def test_an_unconnected_client_makes_no_request(local_cds):
    CdsClient(local_cds.url, local_cds.key)
    assert local_cds.counts["total"] == 0


def test_collection_end_is_the_availability_horizon(make_client, local_cds):
    end = make_client().collection_end(lexicon.SINGLE_LEVELS_DATASET)
    assert end.replace(tzinfo=None) == local_cds.available_until


def test_concurrent_clients_do_not_interfere(make_client, tmp_path):
    results = {}

    def run(i: int) -> None:
        results[i] = make_client().retrieve(REQUEST, tmp_path / f"{i}.part").read_bytes()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and results[0] == results[1] == results[2]


def test_times_are_whole_hours():
    with pytest.raises(InvalidInputError, match="whole hours"):
        Era5Request(
            lexicon.SINGLE_LEVELS_DATASET, ("2m_temperature",), (), "2026-11-15", ("00:30",)
        )
    assert dt.datetime(2026, 11, 15) in REQUEST.datetimes
