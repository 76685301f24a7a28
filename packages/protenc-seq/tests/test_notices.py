"""protenc_seq.notices: the encoders' per-call warnings counted over a run and reported once (issue 11).

Independent truth: the real protenc-seq tokenizer run batch by batch over the real CAFA-like sequences; the
expected totals are counted from the sequence lengths themselves."""

from __future__ import annotations

import io
import warnings

from protdata import read_fasta
from protdata.testing import shared_data
from protenc_seq.notices import Notices


def test_crops_of_many_batches_are_one_line_with_the_total() -> None:
    from protenc_seq.alphabet import ESM_ALPHABET
    from protenc_seq.tokenize import SequenceTokenizer

    sequences = [p.sequence for p in read_fasta(shared_data("function", "cafa_like_sequences.fasta"))]
    crop, full = (
        SequenceTokenizer(ESM_ALPHABET, on_long="crop"),
        SequenceTokenizer(ESM_ALPHABET, on_long="full"),
    )
    notices = Notices()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a user's filter: crops are still counted, other notes obey it
        with notices.capture():
            for lo in range(0, len(sequences), 8):  # 19 batches, several with a long protein
                crop.encode(sequences[lo : lo + 8])
            warnings.warn("ignored note", UserWarning, stacklevel=1)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # every repeat of the other notes counts
        with notices.capture():
            full.encode(sequences[:40])
            for _ in range(3):
                warnings.warn("3Di strings computed with the CPU backend", UserWarning, stacklevel=1)
    n_long = sum(len(s) > 1022 for s in sequences)
    n_long_40 = sum(len(s) > 1022 for s in sequences[:40])
    assert n_long == 9 and n_long_40 >= 1
    assert notices.n_cropped == n_long
    assert notices.lines() == [
        f"cropped {n_long} proteins longer than 1022 residues to 1022",
        f"{n_long_40} protein{'s' if n_long_40 > 1 else ''} longer than the 1022-residue window ran in full",
        "3Di strings computed with the CPU backend (x3)",
    ]
    stream = io.StringIO()
    notices.report(stream)
    assert stream.getvalue().splitlines() == [f"note: {line}" for line in notices.lines()]


def test_other_warning_categories_keep_python_handling() -> None:
    notices = Notices()
    with warnings.catch_warnings(record=True) as outer:
        warnings.simplefilter("always")
        with notices.capture():
            warnings.warn("old API", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in outer] == ["old API"] and notices.lines() == []
