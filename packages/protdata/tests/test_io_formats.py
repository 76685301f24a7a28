"""Formats, compression and sources: the same structure read from PDB, mmCIF, BinaryCIF, gzip, bytes or a file
object gives identical proteins.

Truths: the plain mmCIF file itself (BinaryCIF is written from it by biotite, PDB by gemmi's writer, gzip by
Python's gzip), and Foldseek's naming rule (structcreatedb.cpp ``remove_extension``).
"""

from __future__ import annotations

import gzip
import io

import gemmi
import numpy as np
import pytest

from protdata import Protein, load_chains
from protdata.errors import UnknownFormatError
from protdata.io import entry_stem, format_from_name, sniff_format
from protdata.testing import shared_data


def assert_same_proteins(a: list[Protein], b: list[Protein], *, source: bool = False) -> None:
    assert [p.id for p in a] == [p.id for p in b]
    for p, q in zip(a, b):
        assert p.sequence == q.sequence
        assert p.chain_ids == q.chain_ids and p.model == q.model
        np.testing.assert_array_equal(p.atom_mask, q.atom_mask)
        np.testing.assert_array_equal(p.coords, q.coords)
        np.testing.assert_array_equal(p.residue_number, q.residue_number)
        np.testing.assert_array_equal(p.insertion_code, q.insertion_code)
        np.testing.assert_array_equal(p.b_factor, q.b_factor)
        assert (p.plddt is None) == (q.plddt is None)
        if source:
            assert p.source == q.source


def _cif(name: str):
    return shared_data("foldseek", "structures", f"{name}.cif")


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("1aki.cif", "1aki"),
        ("1abc.cif.gz", "1abc"),
        ("3bww.masked.pdb", "3bww.masked"),
        ("d1asha_", "d1asha_"),
        ("AF-P1-F1-model_v4.pdb.gz", "AF-P1-F1-model_v4"),
        ("dir/sub/x.bcif", "x"),
        (".hidden", ".hidden"),
    ],
)
def test_entry_stem_follows_foldseek(name: str, stem: str) -> None:
    assert entry_stem(name) == stem


def test_format_from_extension_and_content() -> None:
    assert format_from_name("a.PDB.gz") == "pdb"
    assert format_from_name("a.ent") == "pdb"
    assert format_from_name("1abc.pdb1") == "pdb"
    assert format_from_name("a.mmcif") == "mmcif"
    assert format_from_name("a.bcif.gz") == "bcif"
    assert format_from_name("d1asha_") is None
    assert sniff_format(shared_data("structures", "scop_globins", "d1asha_").read_bytes()) == "pdb"
    assert sniff_format(_cif("1aki").read_bytes()) == "mmcif"
    assert sniff_format(b"hello world\n") is None


def test_gzip_equals_plain_and_is_detected_by_magic(tmp_path) -> None:
    plain = load_chains(_cif("1igy"))
    gz = tmp_path / "1igy.cif.gz"
    gz.write_bytes(gzip.compress(_cif("1igy").read_bytes()))
    assert_same_proteins(load_chains(gz), plain)
    misnamed = tmp_path / "1igy.cif"  # gzip content without a .gz name
    misnamed.write_bytes(gz.read_bytes())
    assert_same_proteins(load_chains(misnamed), plain)


def test_bytes_and_file_objects(tmp_path) -> None:
    ref = load_chains(_cif("5zng"))
    data = _cif("5zng").read_bytes()
    assert_same_proteins(load_chains(data, name="5zng.cif"), ref)
    assert_same_proteins(load_chains(io.BytesIO(gzip.compress(data)), name="5zng.cif.gz"), ref)
    with open(_cif("5zng"), "rb") as handle:
        assert_same_proteins(load_chains(handle), ref, source=True)
    # no name: the content decides the format, the id stem is "input"
    assert [p.id for p in load_chains(data)] == ["input_A", "input_C"]


def test_extensionless_scop_files_are_pdb() -> None:
    (p,) = load_chains(shared_data("structures", "scop_globins", "d1asha_"))
    assert p.id.startswith("d1asha__") and len(p) > 100


def test_unknown_format(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some text\nnothing structural\n")
    with pytest.raises(UnknownFormatError, match=r"notes\.txt: not a PDB, mmCIF or BinaryCIF"):
        load_chains(path)


def _cif_to_bcif(path) -> bytes:
    """Every category of an mmCIF file as BinaryCIF (typed columns, masks, biotite's compressed encodings)."""
    from biotite.structure.io import pdbx

    cif = pdbx.CIFFile.read(str(path))
    out = pdbx.BinaryCIFFile()
    for block_name, block in cif.items():
        bblock = pdbx.BinaryCIFBlock()
        for cat_name, category in block.items():
            columns = {}
            for col_name, column in category.items():
                text = column.as_array(str)
                mask = None if column.mask is None else column.mask.array
                present = text if mask is None else text[mask == 0]
                data = text
                for dtype in (np.int64, np.float64):
                    try:
                        present.astype(dtype)
                    except ValueError:
                        continue
                    data = np.zeros(len(text), dtype=dtype)
                    keep = slice(None) if mask is None else mask == 0
                    data[keep] = present.astype(dtype)
                    break
                columns[col_name] = pdbx.BinaryCIFColumn(pdbx.BinaryCIFData(data), mask)
            bblock[cat_name] = pdbx.BinaryCIFCategory(columns)
        out[block_name] = bblock
    buffer = io.BytesIO()
    pdbx.compress(out).write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["1aki", "1igy", "3o5r", "2axd"])
def test_binarycif_equals_mmcif(tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.bcif"
    path.write_bytes(_cif_to_bcif(_cif(name)))
    assert sniff_format(path.read_bytes()) == "bcif"
    assert_same_proteins(load_chains(path, model="all"), load_chains(_cif(name), model="all"))
    gz = tmp_path / f"{name}.bcif.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert_same_proteins(load_chains(gz), load_chains(_cif(name)))
    # bytes without an extension: BinaryCIF recognised by content
    assert_same_proteins(load_chains(path.read_bytes(), name=name), load_chains(_cif(name)))


@pytest.mark.parametrize("name", ["1aki", "1igy", "3o5r", "5zng"])
def test_pdb_written_from_mmcif_gives_same_proteins(tmp_path, name: str) -> None:
    """gemmi writes PDB (TER after each polymer, HETATM flags kept); reading it back gives the same proteins."""
    st = gemmi.read_structure(str(_cif(name)), merge_chain_parts=False)
    st.setup_entities()
    path = tmp_path / f"{name}.pdb"
    st.write_pdb(str(path))
    assert_same_proteins(load_chains(path), load_chains(_cif(name)))
