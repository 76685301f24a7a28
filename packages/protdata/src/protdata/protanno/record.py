"""``ProtAnnoRecord``: one ProtCLIP protein–text pair with its parsed properties (Zhou et al., AAAI 2025).

A record is ``{"seq": ..., "text": ...}`` as in ProtCLIP's JSON Lines files, plus the four properties the
text is built from (protein name and the UniProt *Function*, *Subcellular location* and *Sequence
similarities* columns, each with its ``FUNCTION:`` / ``SUBCELLULAR LOCATION:`` / ``SIMILARITY:`` prefix), the
UniProt protein-existence level ``e`` and optional provenance (``id``, GO terms).

Given only ``seq`` and ``text``, the properties are parsed from the text (:func:`~protdata.protanno.text.
parse_properties`). Given properties, ``text`` must be exactly what :func:`~protdata.protanno.text.build_text`
makes of them (use :meth:`ProtAnnoRecord.from_properties` to build both).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protdata.fasta import clean_sequence
from protdata.protanno.text import PROPERTY_MARKERS, build_text, parse_properties, split_text
from protdata.protein import Protein

#: UniProt protein-existence levels (the ``PE`` line / *Protein existence* column), ProtCLIP's ``existence``.
EXISTENCE_LEVELS: dict[str, int] = {
    "Evidence at protein level": 1,
    "Evidence at transcript level": 2,
    "Inferred from homology": 3,
    "Predicted": 4,
    "Uncertain": 5,
}
_PROPERTY_FIELDS = ("protein_name", "function", "subcellular_location", "similarity")
_COLUMN_PREFIX = dict(zip(_PROPERTY_FIELDS[1:], (m + ":" for m in PROPERTY_MARKERS[1:])))
_SEQ_INVALID = re.compile(r"[^A-Z]")
_GO_ID = re.compile(r"GO:\d{7}")


def existence_level(value: str | int) -> int:
    """The existence level 1..5 of a UniProt PE value: ``1``, ``"1: Evidence at protein level"`` or
    ``"Evidence at protein level"`` (the TSV column)."""
    if isinstance(value, int) and not isinstance(value, bool):
        level = value
    else:
        text = str(value).strip().rstrip(";").strip()
        head, _, tail = text.partition(":")
        if head.strip().isdigit():
            level = int(head)
            if tail.strip() and EXISTENCE_LEVELS.get(tail.strip()) != level:
                raise ValueError(f"protein existence {value!r}: level and wording disagree")
        elif text in EXISTENCE_LEVELS:
            level = EXISTENCE_LEVELS[text]
        else:
            raise ValueError(
                f"unknown protein existence {value!r} (expected one of {list(EXISTENCE_LEVELS)})"
            )
    if not 1 <= level <= 5:
        raise ValueError(f"protein existence level {level} is outside 1..5")
    return level


class ProtAnnoRecord(BaseModel):
    """One ProtAnno record. ``occupancy`` and ``existence`` drive the property sampler.

    Attributes:
        seq: Amino acids, upper-case IUPAC protein letters (20 standard + B, Z, J, U, O, X), as UniProt gives
            them.
        text: The ProtCLIP text (``"PROTEIN NAME: ... . FUNCTION: ..."``), non-empty.
        protein_name: UniProt *Protein names* (``None`` if the text has no ``PROTEIN NAME:`` prefix).
        function: UniProt *Function [CC]* column, ``"FUNCTION: ..."``, or ``None``.
        subcellular_location: *Subcellular location [CC]*, ``"SUBCELLULAR LOCATION: ..."``, or ``None``.
        similarity: *Sequence similarities*, ``"SIMILARITY: ..."``, or ``None``.
        existence: Protein-existence level e ∈ 1..5 (1 = protein level … 5 = uncertain), ``None`` if unknown.
        id: Accession or other identifier, if known.
        go_terms: GO identifiers (``GO:0000001``) of the entry, if known.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: str
    text: str
    protein_name: str | None = None
    function: str | None = None
    subcellular_location: str | None = None
    similarity: str | None = None
    existence: int | None = Field(default=None, ge=1, le=5)
    id: str | None = None
    go_terms: tuple[str, ...] = ()

    # ------------------------------------------------------------------ validation
    @model_validator(mode="before")
    @classmethod
    def _properties_from_text(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = [name for name in _PROPERTY_FIELDS if name in data]
        text = data.get("text")
        if isinstance(text, str) and text.strip():
            if not given:
                data.update(parse_properties(text))
            else:
                props = {name: data.get(name) or None for name in _PROPERTY_FIELDS}
                expected = build_text(**props)
                if text != expected:
                    raise ValueError(
                        f"text does not match the properties given with it: expected {_clip(expected)!r}, "
                        f"got {_clip(text)!r}"
                    )
        if isinstance(data.get("existence"), str):
            data["existence"] = existence_level(data["existence"])
        return data

    @field_validator("seq")
    @classmethod
    def _check_seq(cls, seq: str) -> str:
        if not seq:
            raise ValueError("seq is empty")
        bad = _SEQ_INVALID.search(seq)
        if bad is not None:
            raise ValueError(
                f"seq has a non-protein letter {bad.group()!r} at position {bad.start() + 1} "
                "(expected upper-case amino-acid letters)"
            )
        return seq

    @field_validator("text")
    @classmethod
    def _check_text(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is empty")
        return text

    @field_validator("function", "subcellular_location", "similarity")
    @classmethod
    def _check_column(cls, value: str | None, info: Any) -> str | None:
        if not value:
            return None
        prefix = _COLUMN_PREFIX[info.field_name]
        if not value.startswith(prefix):
            raise ValueError(
                f"{info.field_name} must start with {prefix!r} (the UniProt column), got {_clip(value)!r}"
            )
        return value

    @field_validator("go_terms")
    @classmethod
    def _check_go(cls, terms: tuple[str, ...]) -> tuple[str, ...]:
        for term in terms:
            if not _GO_ID.fullmatch(term):
                raise ValueError(f"go_terms: {term!r} is not a GO identifier (GO:0000000)")
        return terms

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_properties(
        cls,
        seq: str,
        protein_name: str | None,
        function: str | None = None,
        subcellular_location: str | None = None,
        similarity: str | None = None,
        **extra: Any,
    ) -> ProtAnnoRecord:
        """A record whose ``text`` is built from the properties exactly as ProtCLIP builds it."""
        props = {
            "protein_name": protein_name,
            "function": function or None,
            "subcellular_location": subcellular_location or None,
            "similarity": similarity or None,
        }
        return cls(seq=seq, text=build_text(**props), **props, **extra)

    # ------------------------------------------------------------------ derived values
    @property
    def occupancy(self) -> int:
        """Coverage o ∈ 1..4 = 1 (the name, always counted as in ProtCLIP) + #non-empty of function,
        subcellular location, similarity."""
        return 1 + sum(bool(v) for v in (self.function, self.subcellular_location, self.similarity))

    @property
    def sub_texts(self) -> tuple[str, str, str, str]:
        """ProtCLIP's four property sub-texts of ``text`` (:func:`~protdata.protanno.text.split_text`)."""
        return split_text(self.text)

    def to_protein(self, id: str | None = None) -> Protein:
        """A sequence-only :class:`Protein` (B, Z, J, U, O mapped to ``X`` as in :mod:`protdata.fasta`)."""
        pid = id or self.id or "protanno"
        return Protein.from_sequence(pid, clean_sequence(self.seq, record=pid))


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
