"""SaProt structure-aware vocabulary: ids as in westlake-repl/SaProt ``utils/constants.py``."""

from __future__ import annotations

import numpy as np

from protdata import Protein, saprot


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
