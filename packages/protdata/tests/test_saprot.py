"""SaProt structure-aware vocabulary: ids as in westlake-repl/SaProt ``utils/constants.py``."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import Protein, saprot
from protdata.errors import ProtdataError
from protdata.testing import shared_data


def test_vocabulary_layout() -> None:
    assert saprot.VOCAB_SIZE == 446
    assert saprot.TOKENS[:8] == ("<cls>", "<pad>", "<eos>", "<unk>", "<mask>", "Ap", "Ay", "An")
    assert saprot.TOKENS[-1] == "##" and saprot.TOKENS[5 + 21 - 1] == "A#"
    # id = 5 + 21 * aa_index + struct_index for every pair
    for i, a in enumerate(saprot.AA_VOCAB):
        for j, s in enumerate(saprot.STRUCT_VOCAB):
            assert saprot.TOKENS[5 + 21 * i + j] == a + s == saprot.TOKENS[saprot.token_id(a, s)]


def test_readme_example_tokens() -> None:
    ids = saprot.encode("M#EvVpQpL#VyQdYaKv")
    assert len(ids) == 11  # logits [1, 11, 446] in SaProt's README
    assert [saprot.TOKENS[i] for i in ids[1:-1]] == ["M#", "Ev", "Vp", "Qp", "L#", "Vy", "Qd", "Ya", "Kv"]
    assert saprot.decode(ids) == "M#EvVpQpL#VyQdYaKv"


def test_structure_aware_sequence_plddt_and_masking() -> None:
    p = Protein(
        id="x",
        sequence="MKVX",
        structure_tokens="DPVL",
        plddt=np.array([90, 50, 70, 80], dtype=np.float32),
        residue_masked=np.array([False, False, True, False]),
    )
    assert saprot.structure_aware_sequence(p) == "MdK#VvXl"
    assert saprot.structure_aware_sequence(p, plddt_threshold=None) == "MdKpVvXl"
    assert saprot.structure_aware_sequence(p, mask_residues=True) == "MdK##vXl"
    assert saprot.structure_aware_sequence(Protein.from_sequence("y", "MK")) == "M#K#"
    assert saprot.encode("Xl", add_special=False).tolist() == [saprot.UNK_ID]


def test_read_structure_tokens_matches_foldseek_binary() -> None:
    """1aki chain A: the 3Di string ``foldseek createdb`` wrote (lower case; no pLDDT, so nothing masked)."""
    path = shared_data("foldseek", "structures", "1aki.cif")
    records = shared_data("foldseek", "foldseek_3di.fasta").read_text().split(">")
    want = next(r for r in records if r.startswith("1aki_A ")).split("\n", 1)[1].replace("\n", "")
    found = saprot.read_structure_tokens(path, chain="A")
    assert found.tokens == want.lower() and found.masked == 0 and found.chain_id == "A"
    assert len(found.sequence) == 129 and found.describe() == "1aki.cif chain A (129 residues)"
    found.check_sequence(found.sequence)
    changed = found.sequence[:9] + ("A" if found.sequence[9] != "A" else "G") + found.sequence[10:]
    with pytest.raises(ProtdataError, match=rf"first difference at residue 11 \({changed[9]} vs "):
        found.check_sequence(changed, offset=2)
    with pytest.raises(ProtdataError, match=r"lengths 128 vs 129"):
        found.check_sequence(found.sequence[:-1])
    with pytest.raises(ProtdataError, match=r"1aki\.cif: no protein chain 'Z'"):
        saprot.read_structure_tokens(path, chain="Z")
    with pytest.raises(ProtdataError, match=r"nope\.pdb: no such file"):
        saprot.read_structure_tokens(path.parent / "nope.pdb")


def test_read_structure_tokens_masks_low_plddt() -> None:
    """An AlphaFold model: '#' exactly where foldcomp's per-residue pLDDT table is below the threshold (SaProt
    issue #33); the other letters are the unmasked 3Di string."""
    folder = shared_data("structures", "alphafold_db")
    plddt = [float(v) for v in (folder / "foldcomp__test_af.plddt.tsv").read_text().split()[2].split(",")]
    path = folder / "foldcomp__test_af.pdb"
    plain = saprot.read_structure_tokens(path, plddt_threshold=None)
    masked = saprot.read_structure_tokens(path)  # default threshold 70
    low = [p < 70 for p in plddt]
    assert len(plddt) == len(masked.tokens) == 28 and 0 < sum(low) < 28
    assert [t == "#" for t in masked.tokens] == low and plain.masked == 0 and masked.masked == sum(low)
    assert all(m == p for m, p, lo in zip(masked.tokens, plain.tokens, low) if not lo)
    assert "8 with pLDDT below the threshold" in masked.describe()
