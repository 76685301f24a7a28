"""Mutant strings of a deep mutational scan: parse ``"A42G"`` / ``"A42G:L87P"`` against the wild type, or derive
them from full variant sequences (no torch: a table is checked before any model is loaded).

Positions are numbered from ``offset`` (1 by default; fair-esm ``--offset-idx``, the BLAT_ECOLX scan uses 24);
the wild-type letter of every mutation is checked against the sequence. ``""`` is the wild type itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from protenc_seq.alphabet import AMINO_ACIDS
from protenc_seq.errors import MutationError

_MUTATION = re.compile(r"^([A-Za-z])(-?\d+)([A-Za-z])$")


@dataclass(frozen=True)
class Mutation:
    """One substitution: wild type ``wt`` at sequence index ``index`` (0-based) becomes ``mt``."""

    wt: str
    index: int
    mt: str


def parse_mutant(mutant: str, sequence: str, offset: int = 1) -> tuple[Mutation, ...]:
    """Parse ``"A42G"`` or ``"A42G:L87P"`` against ``sequence`` (numbered from ``offset``).

    Raises:
        MutationError: malformed, outside the sequence, a wild-type letter that does not match, a non-standard
            residue, or the same position twice (the message names the mutant and the part).
    """
    where = f"mutant {mutant!r}"
    out = []
    for part in (p.strip() for p in mutant.split(":")):
        m = _MUTATION.match(part)
        if m is None:
            raise MutationError(where, f"{part!r} is not of the form A42G")
        wt, number, mt = m.group(1), int(m.group(2)), m.group(3)
        if wt != wt.upper() or mt != mt.upper():
            raise MutationError(where, f"{part!r} must use upper-case one-letter codes")
        index = number - offset
        if not 0 <= index < len(sequence):
            raise MutationError(
                where,
                f"position {number} is outside the sequence "
                f"(residues {offset}..{offset + len(sequence) - 1} with offset {offset})",
            )
        if sequence[index] != wt:
            raise MutationError(
                where,
                f"{part} expects {wt} at position {number} but the wild type has "
                f"{sequence[index]} there (numbering offset {offset})",
            )
        for role, letter in (("wild-type", wt), ("mutant", mt)):
            if letter not in AMINO_ACIDS:
                raise MutationError(where, f"{role} residue {letter!r} is not a standard amino acid")
        out.append(Mutation(wt, index, mt))
    indices = [mu.index for mu in out]
    if len(set(indices)) != len(indices):
        raise MutationError(where, "mutates the same position twice")
    return tuple(out)


def derive_mutant(variant: str, sequence: str, offset: int = 1) -> str:
    """The mutant string (``"A42G:L87P"``, ``""`` for the wild type) of a full ``variant`` sequence.

    Raises:
        MutationError: a length other than the wild type's, or a non-standard variant letter.
    """
    variant = variant.strip().upper()
    if len(variant) != len(sequence):
        raise MutationError(
            "variant", f"sequence of length {len(variant)}, the wild type has {len(sequence)}"
        )
    sites = [(w, i, v) for i, (w, v) in enumerate(zip(sequence, variant)) if w != v]
    odd = [v for _, _, v in sites if v not in AMINO_ACIDS]
    if odd:
        raise MutationError("variant", f"variant letter {odd[0]!r} is not a standard amino acid")
    return ":".join(f"{w}{i + offset}{v}" for w, i, v in sites)


@dataclass
class MutantRows:
    """Each row's mutant string (``""`` = the wild type itself; ``None`` = unusable) and the problems."""

    strings: list[str | None]
    #: ``(row index, reason)`` of every unusable row, in row order.
    bad: list[tuple[int, str]] = field(default_factory=list)

    @property
    def distinct(self) -> list[str]:
        """The distinct non-empty mutant strings, sorted."""
        return sorted({s for s in self.strings if s})

    def row_scores(self, scores: Sequence[float]) -> list[float | None]:
        """Each row's score from ``scores`` of :attr:`distinct` (in that order): ``0.0`` for the wild type itself
        (``""``), ``None`` for an unusable row."""
        by_mutant = {"": 0.0, **{m: float(v) for m, v in zip(self.distinct, scores, strict=True)}}
        return [None if s is None else by_mutant[s] for s in self.strings]


def check_mutants(
    cells: Sequence[str], sequence: str, offset: int = 1, *, full_sequences: bool = False
) -> MutantRows:
    """Check every row of a scan against the wild type ``sequence``: ``cells`` hold mutant strings, or (with
    ``full_sequences``) variant sequences whose substitutions are derived. Problems are collected per row, not
    raised, so a caller can report the first one or skip them."""
    rows = MutantRows([])
    for r, text in enumerate(cells):
        try:
            if full_sequences:
                mutant = derive_mutant(text, sequence, offset)
            else:
                mutant = text.strip()
                if not mutant:
                    raise MutationError("mutant ''", "empty mutant")
                parse_mutant(mutant, sequence, offset)
        except MutationError as exc:
            rows.bad.append((r, exc.reason if full_sequences else str(exc)))
            rows.strings.append(None)
            continue
        rows.strings.append(mutant)
    return rows
