"""Worker side of preprocessing: a chunk of members (bytes) → packed proteins + per-protein digests + skips.

Runs in the worker processes of :func:`protdata.dataset.preprocess`; everything it takes and returns is plain
data (bytes, arrays, dicts), so it crosses process boundaries by pickling *our own* objects only.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from protdata.dataset.shard import protein_digests
from protdata.dataset.sources import Member, Skip
from protdata.errors import ProtdataError, StructureParseError
from protdata.packed import PackedProteins
from protdata.protein import Protein


@dataclass(frozen=True)
class ParseOptions:
    """How members become proteins (stored in the manifest; changing any of them changes the content).

    Attributes:
        min_length: Proteins shorter than this are left out (counted as ``too_short``).
        encode_3di: Store each protein's Foldseek 3Di string (SaProt's structure tokens; van Kempen et al. 2023,
            :func:`protdata.foldseek.encode_3di`); proteins the encoder rejects are skipped and reported.
        plddt: ``"auto"`` (AlphaFold models: :mod:`protdata.io.alphafold`), True or False, as for
            :func:`protdata.load_chains`.
        residue_rule, altloc: As for :func:`protdata.load_chains` (the first model of each file is read).
    """

    min_length: int = 1
    encode_3di: bool = False
    plddt: bool | Literal["auto"] = "auto"
    residue_rule: str = "foldseek-legacy"
    altloc: str = "last"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkResult:
    """What one chunk gave: its key, packed proteins (``None`` when none), their digests, skips, counts."""

    key: tuple[int, int]
    packed: PackedProteins | None
    digests: np.ndarray
    skipped: list[dict[str, Any]] = field(default_factory=list)
    loaded: int = 0
    too_short: int = 0


def skip_record(number: int, source: str, member: str, error: str, reason: str) -> dict[str, Any]:
    """One manifest ``skipped`` entry."""
    return {"number": number, "source": source, "member": member, "error": error, "reason": reason}


def _label(m: Member) -> str:
    return f"{m.source}::{m.member}" if m.member else m.source


def _member_proteins(m: Member, options: ParseOptions) -> list[Protein]:
    """Parse one member (decompressing a foldcomp entry first)."""
    from protdata.io.loaders import load_structure

    data, name = m.data, m.name
    if m.kind == "foldcomp":
        try:
            import foldcomp
        except ImportError:  # pragma: no cover - foldcomp is a dependency of protdata
            raise StructureParseError(
                _label(m), "reading foldcomp databases needs the foldcomp package"
            ) from None
        try:
            fc_name, pdb = foldcomp.decompress(data)
        except Exception as exc:  # foldcomp raises its own error type for a corrupt entry
            raise StructureParseError(_label(m), f"foldcomp cannot decompress the entry ({exc})") from None
        name = os.path.basename(m.name or fc_name)
        data = pdb.encode("ascii", "replace")
        for ext in (".pdb", ".cif", ".ent"):
            name = name.removesuffix(ext)
        name += ".pdb"
    loaded = load_structure(
        data,
        name=name,
        label=_label(m),
        plddt=options.plddt,
        residue_rule=options.residue_rule,  # type: ignore[arg-type]
        altloc=options.altloc,  # type: ignore[arg-type]
    )
    return loaded.proteins


def parse_chunk(key: tuple[int, int], items: list[Member | Skip], options: ParseOptions) -> ChunkResult:
    """Parse the members of one chunk, in order; bad members become skip records naming source + member."""
    result = ChunkResult(key=key, packed=None, digests=np.zeros((0, 32), dtype=np.uint8))
    proteins: list[Protein] = []
    numbers: dict[int, Member] = {}
    for m in items:
        if isinstance(m, Skip):
            result.skipped.append(skip_record(m.number, m.source, m.member, m.error, m.reason))
            continue
        try:
            got = _member_proteins(m, options)
        except (ProtdataError, ValueError, RuntimeError, OSError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            result.skipped.append(skip_record(m.number, m.source, m.member, type(exc).__name__, reason))
            continue
        result.loaded += 1
        for p in got:
            numbers[id(p)] = m
        proteins.extend(got)
    if options.encode_3di and proteins:
        from protdata.foldseek import with_3di_or_skip

        def skip(p: Protein, exc: ProtdataError) -> None:
            m = numbers[id(p)]
            result.skipped.append(skip_record(m.number, m.source, m.member, type(exc).__name__, exc.reason))

        encoded = with_3di_or_skip(proteins, skip)
        proteins = encoded
    kept = [p for p in proteins if len(p) >= options.min_length]
    result.too_short = len(proteins) - len(kept)
    if kept:
        result.packed = PackedProteins.from_proteins(kept)
        result.digests = protein_digests(result.packed)
    return result
