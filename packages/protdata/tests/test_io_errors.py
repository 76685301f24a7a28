"""Bad input: every case raises a protdata.errors.ProtdataError subclass whose message names the file and reason."""

from __future__ import annotations

import gzip

import pytest

from protdata import load_chains
from protdata.errors import (
    InvalidCoordinatesError,
    MissingAtomsError,
    NoProteinChainError,
    ProtdataError,
    StructureParseError,
    UnknownFormatError,
)
from protdata.testing import shared_data


def _pdb_text() -> str:
    return shared_data("structures", "experimental_mini3di", "8crb.pdb").read_text()


def _cif_text() -> str:
    return shared_data("foldseek", "structures", "1aki.cif").read_text()


def _raises(path, error: type[ProtdataError], match: str) -> ProtdataError:
    with pytest.raises(error, match=match) as info:
        load_chains(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize("content", [b"", b"\n   \n", gzip.compress(b"")])
@pytest.mark.parametrize("suffix", [".pdb", ".cif", ".bcif", ""])
def test_empty_file(tmp_path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(content)
    _raises(path, StructureParseError, "empty file")


def test_truncated_gzip(tmp_path) -> None:
    path = tmp_path / "8crb.pdb.gz"
    path.write_bytes(gzip.compress(_pdb_text().encode())[:500])
    _raises(path, StructureParseError, "corrupt or truncated gzip")


def test_truncated_pdb_line(tmp_path) -> None:
    text = _pdb_text()
    cut = text.index("\nATOM", 5000) + 40  # in the middle of an ATOM record, before the coordinates end
    path = tmp_path / "8crb.pdb"
    path.write_text(text[:cut])
    _raises(path, StructureParseError, r"invalid PDB: .*too short")


def test_garbled_pdb_coordinates(tmp_path) -> None:
    lines = _pdb_text().splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if line.startswith("ATOM")) + 50
    lines[i] = lines[i][:33] + "x#" + lines[i][35:]
    path = tmp_path / "8crb.pdb"
    path.write_text("".join(lines))
    err = _raises(path, StructureParseError, "coordinates are not numbers")
    assert err.line == i + 1 and f"line {i + 1}" in str(err)


def test_binary_garbage_with_pdb_extension(tmp_path) -> None:
    path = tmp_path / "junk.pdb"
    path.write_bytes(bytes(range(256)) * 8)
    _raises(path, StructureParseError, "binary content")


def test_pdb_without_atoms(tmp_path) -> None:
    path = tmp_path / "header_only.pdb"
    path.write_text(
        "".join(line for line in _pdb_text().splitlines(True) if line.startswith(("HEADER", "REMARK")))
    )
    _raises(path, StructureParseError, "no atoms")


def test_truncated_mmcif(tmp_path) -> None:
    text = _cif_text()
    path = tmp_path / "1aki.cif"
    path.write_text(text[: text.index("ATOM   500") + 30])  # mid-row in the atom_site loop
    _raises(path, StructureParseError, "invalid mmCIF.*Wrong number of values")


def test_garbled_mmcif_syntax(tmp_path) -> None:
    path = tmp_path / "1aki.cif"
    path.write_text(_cif_text().replace("'", "", 1))  # an unbalanced quote
    _raises(path, StructureParseError, "invalid mmCIF")


def test_garbled_mmcif_coordinate(tmp_path) -> None:
    text = _cif_text()
    row = text.index("ATOM   100 ")
    line = text[row : text.index("\n", row)]
    fields = line.split()
    fields[10] = "12.3x5"  # Cartn_x
    path = tmp_path / "1aki.cif"
    path.write_text(text.replace(line, " ".join(fields), 1))
    _raises(path, InvalidCoordinatesError, r"chain A residue \d+ atom \w+: coordinate is not a finite number")


def test_mmcif_without_atom_site(tmp_path) -> None:
    path = tmp_path / "meta.cif"
    path.write_text("data_x\n_entry.id X\n_struct.title 'no coordinates'\n")
    _raises(path, StructureParseError, "no atoms")


def test_no_protein_chain_rna(tmp_path) -> None:
    _raises(
        shared_data("foldseek", "structures", "4gxy.cif"), NoProteinChainError, "passes the foldseek-legacy"
    )


def test_no_protein_chain_ligands_and_water_only(tmp_path) -> None:
    text = shared_data("structures", "experimental_mini3di", "1xso.pdb").read_text()  # Cu, Zn, waters
    path = tmp_path / "ligands.pdb"
    path.write_text("".join(line for line in text.splitlines(True) if line.startswith("HETATM")) + "END\n")
    _raises(path, NoProteinChainError, "no (residue|protein chain)")


def test_short_peptide_is_reported_as_dropped(tmp_path) -> None:
    path = tmp_path / "tripeptide.pdb"
    lines = [line for line in _pdb_text().splitlines(True) if line.startswith("ATOM") and line[21] == "A"]
    numbers = sorted({int(line[22:26]) for line in lines})[:3]
    path.write_text("".join(line for line in lines if int(line[22:26]) in numbers) + "END\n")
    _raises(path, NoProteinChainError, r"A: 3 residue\(s\) \(Foldseek skips chains of 3 or fewer\)")


def test_chain_without_any_ca(tmp_path) -> None:
    """A protein chain whose CA atoms are all missing is an error, even when another chain is fine."""
    text = _pdb_text()
    keep = [
        line
        for line in text.splitlines(True)
        if not (line.startswith(("ATOM", "HETATM")) and line[21] == "B" and line[12:16] == " CA ")
    ]
    path = tmp_path / "8crb.pdb"
    path.write_text("".join(keep))
    _raises(path, MissingAtomsError, r"chain without any Cα atom: chain B \(model 1\)")


def test_unknown_format(tmp_path) -> None:
    path = tmp_path / "table.tsv"
    path.write_text("a\tb\n1\t2\n")
    _raises(path, UnknownFormatError, r"\(\.tsv; content not recognised\)")


def test_corrupt_binarycif(tmp_path) -> None:
    path = tmp_path / "x.bcif"
    path.write_bytes(b"\x83\xa7version\xa50.3.0\xa7encoder\xa1x\xaadataBlocks\x91\x82")  # cut MessagePack
    _raises(path, StructureParseError, "invalid BinaryCIF")


def test_errors_are_value_errors() -> None:
    assert issubclass(ProtdataError, ValueError)
