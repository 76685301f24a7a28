"""Recognising predicted models (AlphaFold DB and other ModelCIF files) whose B-factor column holds pLDDT.

AlphaFold DB writes the per-residue pLDDT into the B-factor column of every atom of a residue (PDB and mmCIF);
``Protein.plddt`` is the Cα B-factor, the value SaProt masks on (westlake-repl/SaProt, pLDDT < 70 → ``#``).
``plddt="auto"`` treats a file as a predicted model when

* mmCIF / BinaryCIF: it has a ModelCIF ``_ma_qa_metric_local`` loop (AlphaFold DB, ModelArchive, ColabFold);
* PDB: its HEADER/TITLE/REMARK/EXPDTA/KEYWDS records mention AlphaFold (AlphaFold DB's "ALPHAFOLD MONOMER V2.0
  PREDICTION FOR ..." title) or it has a ``pLDDT`` remark;
* any format: the file name is an AlphaFold DB name (``AF-<accession>-F<n>-model_v<k>``) or contains
  "alphafold", for the header-less copies that circulate.
"""

from __future__ import annotations

import re

import gemmi

from protdata.io.formats import RawStructure

_AFDB_NAME = re.compile(r"AF-[A-Za-z0-9]+-F\d+-model_v\d+")
_PDB_HEADER_RECORDS = (b"HEADER", b"TITLE ", b"REMARK", b"EXPDTA", b"KEYWDS", b"COMPND")
_HEADER_BYTES = 1 << 15


def is_predicted_model(raw: RawStructure, block: gemmi.cif.Block | None) -> bool:
    """Whether the B-factor column of ``raw`` holds pLDDT (see the module docstring)."""
    if _AFDB_NAME.search(raw.name) or "alphafold" in raw.name.lower():
        return True
    if block is not None:
        return len(block.find_mmcif_category("_ma_qa_metric_local.")) > 0
    for line in raw.data[:_HEADER_BYTES].splitlines():
        record = line[:6].upper()
        if record in (b"ATOM  ", b"HETATM", b"MODEL "):
            break
        if record in _PDB_HEADER_RECORDS:
            text = line.upper()
            if b"ALPHAFOLD" in text or b"PLDDT" in text:
                return True
    return False


def resolve_plddt(plddt: bool | str, raw: RawStructure, block: gemmi.cif.Block | None) -> bool:
    """``plddt`` argument → whether to fill ``Protein.plddt`` (True/False force it, "auto" detects)."""
    if plddt == "auto":
        return is_predicted_model(raw, block)
    if isinstance(plddt, bool):
        return plddt
    raise ValueError(f"plddt must be True, False or 'auto', got {plddt!r}")
