"""The local open-data server speaks the protocol of ECMWF's: paths, indexes, byte ranges."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import requests

from devtools.local_opendata import opendata_format
from tests.devtools.opendata_fixtures import GRID_DEG, NEWEST

pytestmark = pytest.mark.network


def _url(server, cycle: dt.datetime, step: int = 0, ext: str = "grib2", stream: str = "oper"):
    return (
        f"{server.url}/{cycle:%Y%m%d}/{cycle:%H}z/ifs/0p25/{stream}/"
        f"{cycle:%Y%m%d%H}0000-{step}h-{stream}-fc.{ext}"
    )


def test_index_lines_point_at_decodable_grib2_messages(local_opendata):
    import eccodes

    index = requests.get(_url(local_opendata, NEWEST, ext="index"), timeout=10)
    assert index.status_code == 200
    entries = [json.loads(line) for line in index.text.splitlines()]
    assert {e["param"] for e in entries if e["levtype"] == "pl"} == {"gh", "t", "u", "v", "w", "q"}
    assert {e["levelist"] for e in entries if e["param"] == "t"} == {
        str(x) for x in opendata_format.LEVELS
    }
    two_m = next(e for e in entries if e["param"] == "2t")
    assert two_m | {"_offset": 0, "_length": 0} == {
        "domain": "g", "date": "20261130", "time": "0600", "expver": "0001", "class": "od",
        "type": "fc", "stream": "oper", "step": "0", "levtype": "sfc", "param": "2t",
        "_offset": 0, "_length": 0,
    }  # fmt: skip
    start, end = two_m["_offset"], two_m["_offset"] + two_m["_length"] - 1
    part = requests.get(
        _url(local_opendata, NEWEST), headers={"Range": f"bytes={start}-{end}"}, timeout=10
    )
    assert part.status_code == 206
    assert part.headers["Content-Range"].startswith(f"bytes {start}-{end}/")
    message = eccodes.codes_new_from_message(part.content)
    try:
        assert eccodes.codes_get(message, "shortName") == "2t"
        assert eccodes.codes_get(message, "packingType") == "grid_ccsds"
        # Latitudes descending from the pole, longitudes from −180° (GRIB2 stores longitudes
        # unsigned: 180°, then 180 + Δ … through 179.75°, as the real files read).
        assert eccodes.codes_get(message, "latitudeOfFirstGridPointInDegrees") == 90
        assert eccodes.codes_get(message, "jScansPositively") == 0
        assert eccodes.codes_get(message, "longitudeOfFirstGridPointInDegrees") == 180
        assert eccodes.codes_get(message, "longitudeOfLastGridPointInDegrees") == 180 - GRID_DEG
        assert eccodes.codes_get(message, "Ni") == round(360 / GRID_DEG)
        values = eccodes.codes_get_values(message)
        assert 180 < values.min() < values.max() < 330  # kelvin
    finally:
        eccodes.codes_release(message)


def test_several_ranges_come_back_as_multipart_byteranges(local_opendata):
    entries = [
        json.loads(line)
        for line in requests.get(
            _url(local_opendata, NEWEST, ext="index"), timeout=10
        ).text.splitlines()
    ]
    ranges = ",".join(f"{e['_offset']}-{e['_offset'] + e['_length'] - 1}" for e in entries[:3])
    reply = requests.get(
        _url(local_opendata, NEWEST), headers={"Range": f"bytes={ranges}"}, timeout=10
    )
    assert reply.status_code == 206
    assert reply.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert reply.content.count(b"Content-Range: bytes ") == 3


def test_a_cycle_appears_only_after_its_publication_delay(local_opendata):
    later = NEWEST + dt.timedelta(hours=6)
    assert requests.head(_url(local_opendata, later), timeout=10).status_code == 404
    local_opendata.now = later + local_opendata.publication_delay
    assert requests.head(_url(local_opendata, later), timeout=10).status_code == 200


def test_06_and_18_utc_cycles_before_ifs_50r1_live_under_scda(local_opendata):
    old = dt.datetime(2026, 4, 30, 6)
    local_opendata.now = old + dt.timedelta(hours=8)
    assert requests.head(_url(local_opendata, old, stream="scda"), timeout=10).status_code == 200
    assert requests.head(_url(local_opendata, old, stream="oper"), timeout=10).status_code == 404


def test_withheld_parameters_are_missing_from_file_and_index(local_opendata):
    local_opendata.faults.withheld[NEWEST] = {"q"}
    text = requests.get(_url(local_opendata, NEWEST, ext="index"), timeout=10).text
    assert '"param": "q"' not in text and '"param": "t"' in text


def test_grid_matches_the_synthetic_world(local_opendata):
    lat, lon = opendata_format.grid(GRID_DEG)
    assert lat[0] == 90 and lat[-1] == -90 and np.all(np.diff(lat) < 0)
    assert lon[0] == -180 and lon[-1] == 180 - GRID_DEG
