"""Batch loading over the shared structure folders: everything loads, the deliberately broken files are skipped
with clean reasons, and nothing is dropped silently.

Truths: the folder listings themselves (every structure file accounted for), the shared data README (which files
are edge cases), and the independent biotite-based reader, which must give identical proteins for every file and
model.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from protdata.errors import NoProteinChainError
from protdata.io import LoadReport, iter_structures, load_chains, load_many
from protdata.io.biotite_reader import load_chains_biotite
from protdata.testing import shared_data

FOLDERS = (
    ("structures", "alphafold_db"),
    ("structures", "experimental_mdanalysis_dssp"),
    ("structures", "experimental_mini3di"),
    ("structures", "scop_globins"),
    ("foldseek", "structures"),
)
# wrong_hydrogens.pdb.gz (MDAnalysis DSSP edge case) holds 2 residues; 4gxy is an RNA-only entry.
EXPECTED_SKIPS = {"wrong_hydrogens.pdb.gz": "2 residue(s)", "4gxy.cif": "passes the foldseek-legacy"}
NON_STRUCTURE_SUFFIXES = (".dssp", ".json", ".tsv", ".md")


def _structure_files():
    files = []
    for parts in FOLDERS:
        folder = shared_data(*parts)
        files += [
            p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith(NON_STRUCTURE_SUFFIXES)
        ]
    return files


def test_all_shared_folders_load(caplog) -> None:
    folders = [shared_data(*parts) for parts in FOLDERS]
    files = _structure_files()
    with caplog.at_level(logging.INFO, logger="protdata.io"):
        proteins, report = load_many(folders)
    assert report.n_sources == len(files)
    assert {s.source.rsplit("/", 1)[1]: s.error for s in report.skipped} == {
        name: "NoProteinChainError" for name in EXPECTED_SKIPS
    }
    for skipped in report.skipped:
        assert EXPECTED_SKIPS[skipped.source.rsplit("/", 1)[1]] in skipped.reason
    assert report.n_loaded == len(files) - 2 and report.n_proteins == len(proteins)
    assert all(p.endswith(NON_STRUCTURE_SUFFIXES) for p in report.ignored)
    assert len({p.source for p in proteins}) == report.n_loaded
    assert report.summary() in caplog.text and "skipped 2" in caplog.text


def test_gemmi_and_biotite_readers_agree_on_every_file_and_model() -> None:
    """Two independent implementations of foldseek-3di.md §1 (gemmi object model vs biotite columns + NumPy)."""
    compared = 0
    for path in _structure_files():
        try:
            ours = load_chains(path, model="all", plddt=False)
        except NoProteinChainError:
            with pytest.raises(NoProteinChainError):
                load_chains_biotite(path, model="all")
            continue
        theirs = load_chains_biotite(path, model="all")
        assert [(p.id, p.model) for p in ours] == [(p.id, p.model) for p in theirs], path.name
        for p, q in zip(ours, theirs):
            assert p.sequence == q.sequence, p.id
            np.testing.assert_array_equal(p.atom_mask, q.atom_mask)
            np.testing.assert_allclose(p.coords, q.coords, atol=1e-4)
            np.testing.assert_array_equal(p.residue_number, q.residue_number)
            np.testing.assert_array_equal(p.insertion_code, q.insertion_code)
            np.testing.assert_allclose(p.b_factor, q.b_factor, atol=1e-3)
            compared += 1
    assert compared > 150  # 181 chains (all models) in the shared folders


def test_globs_missing_paths_and_bad_files_are_reported(tmp_path) -> None:
    bad = tmp_path / "bad.pdb"
    bad.write_text("ATOM      1  N   MET A   1\n")
    report = LoadReport()
    pattern = str(shared_data("structures", "experimental_mini3di")) + "/3bww*.pdb"
    proteins = list(
        iter_structures([pattern, bad, tmp_path / "missing.cif", tmp_path / "*.nothing"], report=report)
    )
    assert [p.id for p in proteins] == ["3bww.masked_A", "3bww_A"]
    assert report.n_loaded == 2 and report.n_skipped == 3
    reasons = {s.source: s.reason for s in report.skipped}
    assert "invalid PDB" in reasons[str(bad)]
    assert "no such file" in reasons[str(tmp_path / "missing.cif")]
    assert "no file matches" in reasons[str(tmp_path / "*.nothing")]
    text = str(report)
    assert str(bad) in text and "StructureParseError" in text


def test_batch_options_reach_the_loader() -> None:
    folder = shared_data("foldseek", "structures")
    proteins, report = load_many([folder / "1l2y.cif", folder / "2axd.cif"], model="all")
    assert len(proteins) == 38 + 12 and report.n_loaded == 2
