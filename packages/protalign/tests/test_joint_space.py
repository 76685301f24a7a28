"""protalign.joint_space.read_texts: ``id<TAB>text`` lines, every malformed line an error naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from protalign.errors import ProtalignError
from protalign.joint_space import read_texts


def test_reads_pairs_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "texts.tsv"
    path.write_text("a\tATP binding\n\n b \t  kinase activity \n")
    assert read_texts(path) == [("a", "ATP binding"), ("b", "kinase activity")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\tok\nno tab here\n", r"texts\.tsv.*line 2.*id<TAB>text"),
        ("a\tok\n\tmissing id\n", r"line 2"),
        ("a\tone\na\ttwo\n", r"line 2.*'a' repeats line 1"),
        ("\n\n", r"no texts"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "texts.tsv"
    path.write_text(text)
    with pytest.raises(ProtalignError, match=message):
        read_texts(path)
    with pytest.raises(ProtalignError, match="no such file"):
        read_texts(tmp_path / "missing.tsv")
