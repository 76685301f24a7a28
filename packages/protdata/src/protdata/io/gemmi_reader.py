"""Structure bytes → ``gemmi.Structure``, read the way Foldseek's bundled gemmi 0.5.1 reads them.

Follows ``GemmiWrapper::load`` (Foldseek src/strucclustutils/GemmiWrapper.cpp) with gemmi 0.7.5:

* mmCIF: ``cif::read_memory`` then ``make_structure`` on the first block (two blocks with ``_atom_site`` are an
  error), after Foldseek's fix for AlphaFold 3's unparsable ``_citation.title`` line. Chain parts are **not**
  merged: like gemmi's C++ reader (and unlike Python's ``gemmi.read_structure``, whose ``merge_chain_parts``
  defaults to True) a new chain starts whenever ``auth_asym_id`` changes between consecutive atom rows
  (Foldseek ``createdb``, gemmi mmcif.hpp:615-619).
* BinaryCIF: decoded by biotite into a gemmi CIF document (:mod:`protdata.io.bcif`), then as mmCIF.
* PDB: ``read_pdb``. gemmi 0.7.5 rejects some files 0.5.1 reads (an ANISOU record not right after its atom, a
  malformed REMARK), so a failed parse is retried on the coordinate records alone (ATOM, HETATM, TER, MODEL,
  ENDMDL, END), which are all 0.5.1 used for residues.
* PDB coordinate fields are checked (:mod:`protdata.io.pdb_check`): gemmi reads garbled ones as 0.
* Entity types are those of gemmi 0.5.1 (:mod:`protdata.io.entity_types`).

Known deviation: gemmi 0.5.1 required ``_atom_site.occupancy`` and ``B_iso_or_equiv`` (a file without them gave
Foldseek no atoms); 0.7.5 reads such files, and so do we.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gemmi

from protdata.errors import StructureParseError
from protdata.io.bcif import bcif_to_document
from protdata.io.entity_types import (
    CifEntityTypes,
    needs_ter_replay,
    pdb_ter_entity_types,
    replayed_chain_types,
)
from protdata.io.formats import RawStructure
from protdata.io.pdb_check import garbled_coordinate_line

# Foldseek GemmiWrapper.cpp (load): AlphaFold 3 writes a _citation.title that gemmi cannot parse; Foldseek comments
# the line out when the title text below follows it.
_AF3_TITLE = b"Accurate structure prediction of biomolecular interactions with AlphaFold 3\n"
_COORD_RECORDS = re.compile(rb"^(?:ATOM|HETATM|TER|MODEL|ENDMDL|END)\b.*$\n?", re.MULTILINE | re.IGNORECASE)

ChainTypes = Callable[[int, int, Sequence[gemmi.Residue]], list]


@dataclass
class ParsedStructure:
    """A gemmi structure plus what the reader needs besides it."""

    structure: gemmi.Structure
    raw: RawStructure
    block: gemmi.cif.Block | None  #: the mmCIF/BinaryCIF data block (None for PDB)
    chain_types: ChainTypes  #: (model index, chain index, residues) -> gemmi-0.5.1 entity type per residue


def parse_structure(raw: RawStructure) -> ParsedStructure:
    """Parse ``raw`` with gemmi (raises :class:`~protdata.errors.StructureParseError` on garbled input)."""
    if raw.format == "pdb":
        return _parse_pdb(raw)
    if raw.format == "bcif":
        doc = bcif_to_document(raw.data, raw.source)
    else:
        doc = _read_cif(raw)
    return _from_cif_document(doc, raw)


def _read_cif(raw: RawStructure) -> gemmi.cif.Document:
    data = raw.data
    at = data.find(_AF3_TITLE)
    if at >= 0:
        line_start = data.rfind(b"\n", 0, at) + 1
        if data.startswith(b"_citation.title", line_start):
            data = data[:line_start] + b"# " + data[line_start + 2 :]
    try:
        return gemmi.cif.read_string(data)
    except (RuntimeError, ValueError) as exc:
        raise StructureParseError(raw.source, f"invalid mmCIF: {_short(exc)}") from exc


def _from_cif_document(doc: gemmi.cif.Document, raw: RawStructure) -> ParsedStructure:
    if len(doc) == 0:
        raise StructureParseError(raw.source, "mmCIF file without a data block")
    for i in range(1, len(doc)):  # gemmi make_structure(doc): coordinates only in the first block
        if doc[i].find_values("_atom_site.id"):
            raise StructureParseError(raw.source, f"coordinates in more than one data block (block {i + 1})")
    block = doc[0]
    try:
        st = gemmi.make_structure_from_block(block)
    except (RuntimeError, ValueError) as exc:
        raise StructureParseError(raw.source, f"invalid mmCIF atom_site: {_short(exc)}") from exc
    types = CifEntityTypes(block, st)
    return ParsedStructure(st, raw, block, lambda _m, _c, residues: types.chain_types(residues))


def _parse_pdb(raw: RawStructure) -> ParsedStructure:
    data = raw.data
    try:
        st = gemmi.read_pdb_string(data)
    except (RuntimeError, ValueError) as exc:
        coords = b"".join(m.group(0) for m in _COORD_RECORDS.finditer(data))
        try:
            st = gemmi.read_pdb_string(coords) if coords else None
        except (RuntimeError, ValueError):
            st = None
        if st is None:
            raise StructureParseError(raw.source, f"invalid PDB: {_short(exc)}") from exc
        data = coords
    line = garbled_coordinate_line(raw.data)
    if line is not None:
        raise StructureParseError(raw.source, "coordinates are not numbers (garbled record)", line=line)
    if needs_ter_replay(data, st):
        replay = pdb_ter_entity_types(data)
        parts = [len(model) for model in st]
        if parts == [len(m) for m in replay]:
            return ParsedStructure(
                st, raw, None, lambda m, c, residues: replayed_chain_types(residues, *replay[m][c])
            )
    return ParsedStructure(st, raw, None, lambda _m, _c, residues: [r.entity_type for r in residues])


def _short(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."
