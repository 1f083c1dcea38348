"""atomic_output: all or nothing, readable by others, nothing left behind on failure."""

from __future__ import annotations

import os
import stat

import pytest

from forecast.io.atomic import atomic_output, atomic_write_text, leftover_temporaries


def test_file_replaced_whole_and_world_readable(tmp_path):
    target = tmp_path / "sub" / "forecast.nc"
    old_umask = os.umask(0o077)
    try:
        atomic_write_text(target, "first")
        with atomic_output(target) as tmp:
            tmp.write_text("second")
            assert target.read_text() == "first"  # readers still see the old file
    finally:
        os.umask(old_umask)
    assert target.read_text() == "second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert leftover_temporaries(tmp_path) == []


def test_failure_keeps_old_file_and_removes_temporary(tmp_path):
    target = tmp_path / "map.png"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert leftover_temporaries(tmp_path) == []


def test_directory_output_replaces_tree(tmp_path):
    target = tmp_path / "forecast.zarr"
    with atomic_output(target, directory=True) as tmp:
        (tmp / "a").write_text("1")
    with atomic_output(target, directory=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    with pytest.raises(ValueError), atomic_output(target, directory=True) as tmp:
        (tmp / "c").write_text("3")
        raise ValueError("bad")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert leftover_temporaries(tmp_path) == []
