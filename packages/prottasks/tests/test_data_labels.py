"""Label vocabularies: labels outside the vocabulary and empty label sets are errors naming the protein, unless
explicitly skipped — and then reported."""

from __future__ import annotations

import numpy as np
import pytest

from prottasks.data import LabelVocabulary
from prottasks.errors import LabelError


@pytest.fixture()
def vocab() -> LabelVocabulary:
    return LabelVocabulary(["1.1.1.1", "2.7.11.1", "3.4.21.-"], name="EC")


def test_encode(vocab):
    matrix, rows, report = vocab.encode([["2.7.11.1"], ["1.1.1.1", "3.4.21.-", "1.1.1.1"]], ids=["a", "b"])
    np.testing.assert_array_equal(matrix, [[0, 1, 0], [1, 0, 1]])
    assert rows == [0, 1] and not report.unknown and not report.empty
    assert vocab.decode(matrix[1]) == ["1.1.1.1", "3.4.21.-"]
    np.testing.assert_array_equal(vocab.encode_classes(["3.4.21.-", "1.1.1.1"]), [2, 0])


def test_unknown_labels(vocab):
    with pytest.raises(
        LabelError, match=r"EC: label '9.9.9.9' of P12345 is not in the vocabulary \(3 labels\)"
    ):
        vocab.encode([["9.9.9.9"]], ids=["P12345"])
    matrix, rows, report = vocab.encode([["9.9.9.9", "1.1.1.1"], ["8.8.8.8"]], ids=["a", "b"], on_unknown="skip",
                                        on_empty="drop")  # fmt: skip
    assert rows == [0] and matrix.shape == (1, 3)
    assert report.unknown == {"a": ["9.9.9.9"], "b": ["8.8.8.8"]} and report.dropped == ["b"]
    assert "2 unknown labels in 2 proteins" in report.summary()
    with pytest.raises(LabelError, match="'cat' of protein 1"):
        vocab.encode_classes(["1.1.1.1", "cat"])


def test_empty_label_sets(vocab):
    with pytest.raises(LabelError, match="b has an empty label set"):
        vocab.encode([["1.1.1.1"], []], ids=["a", "b"])
    matrix, rows, report = vocab.encode([["1.1.1.1"], []], ids=["a", "b"], on_empty="keep")
    assert rows == [0, 1] and matrix[1].sum() == 0 and report.empty == ["b"]
    with pytest.raises(LabelError, match="must be a collection"):
        vocab.encode(["1.1.1.1"])


def test_bad_vocabulary():
    with pytest.raises(LabelError, match="appears twice"):
        LabelVocabulary(["a", "b", "a"])
    with pytest.raises(LabelError, match="non-empty strings"):
        LabelVocabulary(["a", ""])
