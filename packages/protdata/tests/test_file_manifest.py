"""protdata.file_manifest: sizes and sha256 (hashlib over the bytes written) of every file, and the checks that
find a directory cut short, a truncated file, a changed byte and a missing file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from protdata.errors import ProtdataError
from protdata.file_manifest import verify_file_manifest, write_file_manifest


def _directory(tmp_path: Path) -> Path:
    d = tmp_path / "ck"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(b"abcdef")
    (d / "sub" / "b.json").write_text("{}")
    return d


def test_manifest_lists_sizes_and_digests(tmp_path: Path) -> None:
    d = _directory(tmp_path)
    written = write_file_manifest(d, "manifest.json", "fmt-x", step=3)
    on_disk = json.loads((d / "manifest.json").read_text())
    assert on_disk == written and list(on_disk) == ["format", "step", "files"]
    assert on_disk["files"] == {
        "a.bin": {"bytes": 6, "sha256": hashlib.sha256(b"abcdef").hexdigest()},
        "sub/b.json": {"bytes": 2, "sha256": hashlib.sha256(b"{}").hexdigest()},
    }
    assert verify_file_manifest(d, "manifest.json", "fmt-x")["step"] == 3


def test_damage_is_named(tmp_path: Path) -> None:
    d = _directory(tmp_path)
    with pytest.raises(ProtdataError, match=r"ck: incomplete checkpoint \(no manifest\.json"):
        verify_file_manifest(d, "manifest.json", "fmt-x", what="checkpoint")
    write_file_manifest(d, "manifest.json", "fmt-x")
    with pytest.raises(ProtdataError, match="not a protstack checkpoint manifest"):
        verify_file_manifest(d, "manifest.json", "fmt-y", what="checkpoint")
    (d / "a.bin").write_bytes(b"abcdeF")
    with pytest.raises(ProtdataError, match=r"a\.bin: corrupted checkpoint file \(sha256 differs"):
        verify_file_manifest(d, "manifest.json", "fmt-x", what="checkpoint")
    (d / "a.bin").write_bytes(b"abc")
    with pytest.raises(
        ProtdataError, match=r"a\.bin: corrupted checkpoint file \(3 bytes, the manifest says 6\)"
    ):
        verify_file_manifest(d, "manifest.json", "fmt-x", what="checkpoint")
    (d / "a.bin").unlink()
    with pytest.raises(ProtdataError, match=r"a\.bin: checkpoint file is missing"):
        verify_file_manifest(d, "manifest.json", "fmt-x", what="checkpoint")
    (d / "manifest.json").write_text("{")
    with pytest.raises(ProtdataError, match=r"manifest\.json: unreadable manifest"):
        verify_file_manifest(d, "manifest.json", "fmt-x")
