"""Write an AlphaFold-DB-style tar (``AF-<accession>-F1-model_v4.{cif,pdb}.gz`` members) from real structure files,
repeated under new member names, plus bad members — the input of the preprocessing tests and benchmark.

AlphaFold DB bulk downloads (``UP000005640_9606_HUMAN_v4.tar`` …) are uncompressed tars of gzip-compressed model
files (Varadi et al., NAR 2022); the bad members are what a damaged download or a hostile archive holds.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

#: bad member kinds written by :func:`write_afdb_style_tar` (name → what it is)
BAD_MEMBERS = {
    "AF-BAD000001-F1-model_v4.cif.gz": "truncated gzip stream",
    "AF-BAD000002-F1-model_v4.pdb.gz": "gzip of text that is no structure",
    "AF-BAD000003-F1-model_v4.cif.gz": "empty file",
    "../AF-BAD000004-F1-model_v4.pdb.gz": "path escaping the archive",
}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def write_afdb_style_tar(
    path: str | os.PathLike[str],
    structures: Sequence[str | os.PathLike[str]],
    n_members: int,
    *,
    bad_every: int | None = None,
    json_every: int | None = None,
    unsafe: bool = True,
) -> list[str]:
    """Write ``n_members`` structure members cycling through ``structures`` (gzip, AFDB names ``AF-X<i>-F1-…``);
    after every ``bad_every`` members one of :data:`BAD_MEMBERS` (in turn), after every ``json_every`` a PAE-style
    ``.json`` member (not a structure: ignored); ``unsafe=False`` leaves out the member escaping the archive.
    Returns the member names in archive order."""
    payloads = []
    for s in structures:
        p = Path(s)
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        ext = "cif" if ".cif" in p.name else "pdb"
        payloads.append((ext, gzip.compress(raw, mtime=0)))
    bad = [b for b in BAD_MEMBERS if unsafe or not b.startswith("..")]
    names: list[str] = []
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(n_members):
            ext, data = payloads[i % len(payloads)]
            name = f"AF-X{i:07d}-F1-model_v4.{ext}.gz"
            _add(tar, name, data)
            names.append(name)
            if bad_every and (i + 1) % bad_every == 0:
                kind = bad[(i // bad_every) % len(bad)]
                good = payloads[0][1]
                content = {0: good[: len(good) // 2], 1: gzip.compress(b"not a structure\n" * 10), 2: b""}
                name = kind.replace("000", f"{i:03d}", 1)
                _add(tar, name, content.get(list(BAD_MEMBERS).index(kind), good))
                names.append(name)
            if json_every and (i + 1) % json_every == 0:
                name = f"AF-X{i:07d}-F1-predicted_aligned_error_v4.json.gz"
                _add(tar, name, gzip.compress(b'[{"pae": []}]', mtime=0))
                names.append(name)
    return names
