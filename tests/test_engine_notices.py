"""apps/engine/notices.py: the encoders' per-call warnings counted over a run and reported once (issue 11).

Independent truth: the real protenc-seq tokenizer run batch by batch over the real CAFA-like sequences; the
expected totals are counted from the sequence lengths themselves."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.errors import DataError  # noqa: E402
from engine.notices import Notices, report_skipped, strict_failure  # noqa: E402

from protdata import read_fasta  # noqa: E402
from protdata.testing import shared_data  # noqa: E402


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


def test_skipped_inputs_listing_and_strict_error() -> None:
    skipped = [(f"a.fasta, line {2 * i}", f"record 'p{i}': digit '1'") for i in range(23)]
    stream = io.StringIO()
    report_skipped(skipped, stream)
    lines = stream.getvalue().splitlines()
    assert (
        lines[0] == "skipped a.fasta, line 0: record 'p0': digit '1'" and lines[-1] == "… and 3 more skipped"
    )
    assert len(lines) == 21
    error = strict_failure(skipped)
    assert isinstance(error, DataError)
    assert str(error).startswith(
        "inputs: 23 input(s) skipped and --strict is set: a.fasta, line 0: record 'p0'"
    )
