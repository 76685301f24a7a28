"""protdata.atomic: a failed write leaves the old file; files get the permissions of a plain open()."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from protdata.atomic import atomic_path, temp_dir, write_json_atomic, write_text_atomic


def test_write_replaces_and_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]  # no temporary left behind
    write_json_atomic(target, {"x": [1, 2]})
    assert json.loads(target.read_text()) == {"x": [1, 2]}


def test_permissions_follow_the_umask_like_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    write_text_atomic(atomic, "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    os.mkdir(tmp_path / "plain_dir")
    made = temp_dir(tmp_path, ".tmp-")
    assert stat.S_IMODE(made.stat().st_mode) == stat.S_IMODE((tmp_path / "plain_dir").stat().st_mode)
