"""Tokenisation against fair-esm's ``BatchConverter`` / protdata's SaProt encoder, and the bad-input policy."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import Protein, ProteinBatch, saprot
from protenc_seq import InputSequenceError
from protenc_seq.alphabet import ESM_ALPHABET, SAPROT_ALPHABET
from protenc_seq.tokenize import SequenceTokenizer


def test_esm_tokens_equal_fair_esm(cafa_records, fair_esm_batch) -> None:
    """All 147 real sequences, including the ones with Z and O (``nonstandard='keep'`` = fair-esm's tokens)."""
    records = [(n, s[:1022]) for n, s in cafa_records]
    ours = SequenceTokenizer(ESM_ALPHABET, nonstandard="keep").encode([s for _, s in records])
    ref = fair_esm_batch(records)
    for row, tokens in zip(ref, ours):
        assert row[row.ne(1)].tolist() == tokens.tolist()


def test_nonstandard_policy(cafa_records) -> None:
    name, seq = next((n, s) for n, s in cafa_records if "Z" in s)
    pos = seq.index("Z") + 1
    with pytest.raises(InputSequenceError, match=rf"sequence 0 \('{name}'\).*'Z'.*position {pos}"):
        SequenceTokenizer(ESM_ALPHABET).encode([seq], ids=[name])
    as_x = SequenceTokenizer(ESM_ALPHABET, nonstandard="x", max_residues=None).encode([seq])[0]
    assert as_x[pos] == ESM_ALPHABET.tokens.index("X")
    sa = SequenceTokenizer(SAPROT_ALPHABET, nonstandard="x", max_residues=None).encode([seq])[0]
    assert sa[pos] == saprot.UNK_ID  # SaProt has no Z token: <unk>, as SaProt's tokenizer


@pytest.mark.parametrize(
    ("seq", "pattern"),
    [
        ("MKTaYIA", r"lower-case letter 'a'.*position 4"),
        ("MKTAYIA*", r"stop codon.*position 8"),
        ("MKT-AYI", r"alignment gap '-'.*position 4"),
        ("MK.TAYI", r"alignment gap '\.'.*position 3"),
        ("MKBTAYI", r"non-standard residue 'B'.*position 3"),
        ("MKTUAYO", r"non-standard residue 'U'.*position 4 \(and 1 more"),
        ("MKT AYI", r"whitespace.*position 4"),
        ("MKT1AYI", r"character '1' \(not an amino-acid code\) at position 4"),
        ("MKTÄYI", r"non-ASCII.*position 4"),
        ("", r"empty sequence"),
    ],
)
def test_bad_input_is_named(seq: str, pattern: str) -> None:
    for alphabet in (ESM_ALPHABET, SAPROT_ALPHABET):
        with pytest.raises(InputSequenceError, match=r"sequence 1 \('bad'\): " + pattern):
            SequenceTokenizer(alphabet).encode(["MKV", seq], ids=["ok", "bad"])


def test_long_sequence_policy() -> None:
    seq = "MKV" * 400  # 1,200 residues > 1,022
    with pytest.raises(InputSequenceError, match=r"1200 residues exceed the model's window of 1022"):
        SequenceTokenizer(ESM_ALPHABET).encode([seq])
    with pytest.warns(UserWarning, match="cropped 1 sequence"):
        cropped = SequenceTokenizer(ESM_ALPHABET, on_long="crop").encode([seq])[0]
    assert len(cropped) == 1024 and cropped[-1] == ESM_ALPHABET.eos_id
    with pytest.warns(UserWarning, match="run in full"):
        full = SequenceTokenizer(ESM_ALPHABET, on_long="full").encode([seq])[0]
    assert len(full) == 1202


def test_saprot_inputs_equal_protdata_encoding() -> None:
    aa, di = "MEVQLVQYK", "DVPPDYDAV"  # Foldseek 3Di, upper case
    want = saprot.encode("".join(a + s.lower() for a, s in zip(aa, di)))
    tok = SequenceTokenizer(SAPROT_ALPHABET)
    sa_string = "".join(a + s.lower() for a, s in zip(aa, di))
    assert tok.encode([(aa, di)])[0].tolist() == want.tolist()
    assert tok.encode([sa_string])[0].tolist() == want.tolist()
    assert tok.encode(["M#EvVpQpL#VyQdYaKv"])[0].tolist() == saprot.encode("M#EvVpQpL#VyQdYaKv").tolist()
    assert tok.encode([aa])[0].tolist() == saprot.encode("".join(a + "#" for a in aa)).tolist()  # AA only
    with pytest.raises(InputSequenceError, match="odd length"):
        tok.encode(["M#E"])
    with pytest.raises(InputSequenceError, match=r"3Di letter 'z' of residue 2"):
        tok.encode([("MK", "dz")])
    with pytest.raises(InputSequenceError, match="has 2 letters but 3Di string has 3"):
        tok.encode([("MK", "ddd")])


def test_protein_batch_masking_and_structure() -> None:
    proteins = [
        Protein(
            id="a",
            sequence="MKVL",
            structure_tokens="DPVA",
            plddt=np.array([90, 50, 80, 95], dtype=np.float32),
            residue_masked=np.array([False, False, True, False]),
        ),
        Protein.from_sequence("b", "GAX"),
    ]
    batch = ProteinBatch.collate(proteins)
    esm_ids = SequenceTokenizer(ESM_ALPHABET).encode_batch(batch)
    t = ESM_ALPHABET.tokens
    assert [t[i] for i in esm_ids[0]] == ["<cls>", "M", "K", "<mask>", "L", "<eos>"]
    assert [t[i] for i in esm_ids[1]] == ["<cls>", "G", "A", "X", "<eos>"]
    sa_ids = SequenceTokenizer(SAPROT_ALPHABET).encode_batch(batch)
    want0 = saprot.encode(saprot.structure_aware_sequence(proteins[0], mask_residues=True))
    assert sa_ids[0].tolist() == want0.tolist()  # "MdK##vLa": pLDDT 50 -> '#', masked residue -> '#v'
    assert [saprot.TOKENS[i] for i in sa_ids[1][1:-1]] == ["G#", "A#", "<unk>"]
