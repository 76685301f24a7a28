"""pLDDT of AlphaFold DB models (from the B-factor column) against independent records of it.

Truths: foldcomp's per-residue pLDDT table for its test model (``foldcomp__test_af.plddt.tsv``) and the ModelCIF
``_ma_qa_metric_local`` loop that AlphaFold DB writes into its mmCIF files alongside the B-factors.
"""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from protdata import load_chains
from protdata.testing import shared_data

AFDB = ("structures", "alphafold_db")


def test_plddt_matches_foldcomp_table() -> None:
    fields = shared_data(*AFDB, "foldcomp__test_af.plddt.tsv").read_text().split("\t")
    expected = np.array([float(x) for x in fields[2].split(",")], dtype=np.float32)
    assert int(fields[1]) == len(expected) == 28
    (p,) = load_chains(shared_data(*AFDB, "foldcomp__test_af.pdb"))
    assert p.plddt is not None
    # foldcomp's table is its own lossy round trip of the pLDDT: equal to within 0.05
    np.testing.assert_allclose(p.plddt, expected, atol=0.051)
    assert np.abs(p.plddt - expected).mean() < 0.03


@pytest.mark.parametrize("name", ["dpam__O05012.cif", "dpam__O05023.cif"])
def test_mmcif_plddt_matches_ma_qa_metric_local(name: str) -> None:
    path = shared_data(*AFDB, name)
    block = gemmi.cif.read_file(str(path)).sole_block()
    metric = {
        int(row.str(0)): float(row.str(1))
        for row in block.find("_ma_qa_metric_local.", ["label_seq_id", "metric_value"])
    }
    (p,) = load_chains(path)
    assert p.plddt is not None and len(metric) == len(p)
    np.testing.assert_allclose(p.plddt, [metric[int(n)] for n in p.residue_number], atol=5e-3)


@pytest.mark.parametrize(
    "name",
    [
        "chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb",  # AlphaFold DB header
        "chainsaw__AF-A0A0A9LVA1-F1-model_v4.pdb",  # no header: recognised by its AlphaFold DB name
        "graphein__alphafold_structure.pdb",  # no header, hydrogens
        "dpam__O05011.pdb",
        "merizo__AF-Q96HM7-F1-model_v4.pdb",
    ],
)
def test_predicted_models_are_recognised(name: str) -> None:
    (p,) = load_chains(shared_data(*AFDB, name))
    assert p.plddt is not None
    np.testing.assert_array_equal(p.plddt, p.b_factor)
    assert p.plddt.min() >= 0 and p.plddt.max() <= 100
    (q,) = load_chains(shared_data(*AFDB, name), plddt=False)
    assert q.plddt is None


def test_experimental_structures_have_no_plddt_unless_forced() -> None:
    path = shared_data("structures", "experimental_mini3di", "8crb.pdb")
    assert all(p.plddt is None for p in load_chains(path))
    forced = load_chains(path, plddt=True)
    assert all(p.plddt is not None and np.array_equal(p.plddt, p.b_factor) for p in forced)
    with pytest.raises(ValueError, match="plddt"):
        load_chains(path, plddt="yes")  # type: ignore[arg-type]
