"""UniProtKB flat files (Swiss-Prot ``.dat`` / ``.txt``) to :class:`UniProtEntry` and ProtAnno records.

Reads the lines ProtCLIP's ProtAnno needs (``protclip/sampling.py``) and a little provenance, following the
UniProtKB user manual's line formats: ``ID`` (entry name, status, length), ``AC`` (accessions), ``DE``
(RecName/AltName/SubName with Full/Short/EC…, ``Contains:`` / ``Includes:`` sections, ``Flags:``), ``OS`` /
``OX`` (organism), ``CC -!-`` comment blocks (every topic, continuation lines joined), ``DR GO`` (GO
annotations with aspect, term and evidence), ``PE`` (existence level), ``KW`` and the ``SQ`` block (checked
against the ``ID`` length, the ``SQ`` length and the CRC64 checksum).

Comment text is kept as UniProt renders it in its TSV columns, ``{ECO:…}`` evidence tags included:
continuation lines are joined with one space, except after a hyphen that ends a line right after a letter or
digit (a word broken at its hyphen, as in ``5-`` / ``hydroxytryptamine``), where they are joined directly.
Several blocks of one topic form the column ``"TOPIC: text; TOPIC: text"``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from protdata.errors import RecordError
from protdata.protanno.record import ProtAnnoRecord, existence_level
from protdata.protanno.report import SkipReport
from protdata.textio import PathOrFile, open_lines, source_name

_EVIDENCE = re.compile(r"\s*\{ECO:[^}]*\}")
_NAME_KEYS = ("Full", "Short", "EC", "Allergen", "Biotech", "CD_antigen", "INN")
_NAME_ITEM = re.compile(r"^(?:(RecName|AltName|SubName):\s*)?(" + "|".join(_NAME_KEYS) + r")=(.*)$")
_LINE = re.compile(r"^(?:[A-Z0-9]{2}(?: {3}|$)| {5})")


@dataclass(frozen=True)
class GoAnnotation:
    """A ``DR   GO; GO:0005886; C:plasma membrane; IDA:UniProtKB.`` line."""

    id: str
    aspect: Literal["C", "F", "P"]
    term: str
    evidence: str


@dataclass(frozen=True)
class UniProtEntry:
    """One UniProtKB entry (the fields protstack uses).

    ``comments`` maps each ``CC`` topic (``"FUNCTION"``, ``"SUBCELLULAR LOCATION"``, …) to its blocks' texts,
    in file order. ``protein_names`` renders the ``DE`` lines as UniProt's *Protein names* column does
    (``Full (Short) (EC x) (AltName Full) … [Includes: …] [Cleaved into: …]``, evidence tags removed).
    """

    entry_name: str
    accessions: tuple[str, ...]
    reviewed: bool
    description: str
    recommended_name: str | None
    protein_names: str
    flags: tuple[str, ...]
    organism: str
    taxon_id: int | None
    comments: dict[str, tuple[str, ...]]
    go: tuple[GoAnnotation, ...]
    keywords: tuple[str, ...]
    existence: int
    sequence: str
    crc64: str
    source: str
    line: int

    @property
    def accession(self) -> str:
        """The primary accession."""
        return self.accessions[0]

    def comment_column(self, topic: str) -> str | None:
        """The TSV column of one comment topic: ``"TOPIC: block; TOPIC: block"``, ``None`` if absent."""
        blocks = self.comments.get(topic, ())
        return "; ".join(f"{topic}: {block}" for block in blocks if block) or None

    def to_record(self) -> ProtAnnoRecord:
        """The ProtAnno record ProtCLIP's ``sampling.py`` builds from this entry's UniProt columns."""
        return ProtAnnoRecord.from_properties(
            seq=self.sequence,
            protein_name=self.protein_names,
            function=self.comment_column("FUNCTION"),
            subcellular_location=self.comment_column("SUBCELLULAR LOCATION"),
            similarity=self.comment_column("SIMILARITY"),
            existence=self.existence,
            id=self.accession,
            go_terms=tuple(annotation.id for annotation in self.go),
        )


def iter_uniprot(
    path_or_file: PathOrFile,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    report: SkipReport | None = None,
    verify_checksum: bool = True,
) -> Iterator[UniProtEntry]:
    """Stream the entries of a UniProtKB flat file (plain or gzip).

    A malformed entry raises :class:`~protdata.errors.RecordError` naming the file, the entry's ``ID`` line and
    the reason; with ``on_error="skip"`` it is skipped and recorded in ``report`` (or, without one, summarised
    in a :class:`UserWarning` at the end).
    """
    source = source_name(path_or_file)
    own_report = report is None
    report = SkipReport(source=source) if report is None else report
    report.source = report.source or source
    n_entries = 0
    with open_lines(path_or_file, RecordError) as lines:
        block: list[tuple[int, str]] = []
        for lineno, raw in enumerate(lines, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() and not block:
                continue
            if line.startswith("//"):
                if not block:
                    raise RecordError(source, "'//' without an entry before it", line=lineno)
                n_entries += 1
                entry = _parse_checked(block, source, on_error, report, verify_checksum)
                if entry is not None:
                    yield entry
                block = []
                continue
            if not block and not line.startswith("ID   "):
                raise RecordError(
                    source, f"expected an 'ID' line to start an entry, got {line[:40]!r}", line=lineno
                )
            block.append((lineno, line))
        if block:
            name = block[0][1][5:].split()[0] if block[0][1][5:].split() else "?"
            raise RecordError(
                source, f"entry {name!r} is not terminated by '//' (truncated file?)", line=block[0][0]
            )
    if n_entries == 0:
        raise RecordError(source, "no UniProt entries (empty file)")
    if own_report and report.count:
        warnings.warn(report.summary(), UserWarning, stacklevel=2)


def read_uniprot(path_or_file: PathOrFile, **kwargs: object) -> list[UniProtEntry]:
    """All entries of a UniProtKB flat file (see :func:`iter_uniprot`)."""
    return list(iter_uniprot(path_or_file, **kwargs))  # type: ignore[arg-type]


def _parse_checked(
    block: list[tuple[int, str]],
    source: str,
    on_error: str,
    report: SkipReport,
    verify_checksum: bool,
) -> UniProtEntry | None:
    report.total += 1
    try:
        return _parse_entry(block, source, verify_checksum)
    except ValueError as exc:
        if on_error == "raise":
            raise RecordError(source, str(exc), line=block[0][0]) from exc
        report.add(block[0][0], str(exc))
        return None


# ----------------------------------------------------------------------------------------------- one entry
def _parse_entry(block: list[tuple[int, str]], source: str, verify_checksum: bool) -> UniProtEntry:
    first = block[0][1][5:].split()
    if len(first) < 3 or not first[-1].startswith("AA"):
        raise ValueError(f"malformed ID line {block[0][1]!r}")
    entry_name = first[0]
    try:
        id_length = int(first[-2])
    except ValueError:
        raise ValueError(f"entry {entry_name}: no length in ID line {block[0][1]!r}") from None
    reviewed = first[1].rstrip(";") in ("Reviewed", "STANDARD")
    lines: dict[str, list[str]] = {}
    sequence_parts: list[str] = []
    sq_header = None
    for lineno, line in block:
        if not _LINE.match(line):
            raise ValueError(f"entry {entry_name}: malformed line {lineno}: {line[:40]!r}")
        code = line[:2]
        if code == "  ":
            if sq_header is None:
                raise ValueError(f"entry {entry_name}: sequence line {lineno} before the SQ line")
            sequence_parts.append(line)
        elif code == "SQ":
            sq_header = line
        else:
            lines.setdefault(code, []).append(line[5:])
    where = f"entry {entry_name}"
    accessions = tuple(a.strip() for text in lines.get("AC", []) for a in text.split(";") if a.strip())
    if not accessions:
        raise ValueError(f"{where}: no AC line")
    if "PE" not in lines:
        raise ValueError(f"{where}: no PE (protein existence) line")
    try:
        existence = existence_level(lines["PE"][0])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if sq_header is None:
        raise ValueError(f"{where}: no SQ (sequence) block")
    sequence, crc = _sequence(sq_header, sequence_parts, id_length, where, verify_checksum)
    description = " ".join(text.strip() for text in lines.get("DE", []))
    recommended, names, flags = _protein_names(lines.get("DE", []))
    organism = " ".join(text.strip() for text in lines.get("OS", [])).rstrip(".")
    taxon = re.search(r"NCBI_TaxID=(\d+)", " ".join(lines.get("OX", [])))
    keywords = " ".join(text.strip() for text in lines.get("KW", [])).rstrip(".")
    return UniProtEntry(
        entry_name=entry_name,
        accessions=accessions,
        reviewed=reviewed,
        description=description,
        recommended_name=recommended,
        protein_names=names,
        flags=flags,
        organism=organism,
        taxon_id=int(taxon.group(1)) if taxon else None,
        comments=_comments(lines.get("CC", [])),
        go=tuple(_go(text, where) for text in lines.get("DR", []) if text.startswith("GO;")),
        keywords=tuple(_EVIDENCE.sub("", k).strip() for k in keywords.split(";") if k.strip()),
        existence=existence,
        sequence=sequence,
        crc64=crc,
        source=source,
        line=block[0][0],
    )


def _sequence(header: str, parts: list[str], id_length: int, where: str, verify: bool) -> tuple[str, str]:
    match = re.match(r"SQ   SEQUENCE\s+(\d+) AA;\s+\d+ MW;\s+([0-9A-F]{16}) CRC64;", header)
    if match is None:
        raise ValueError(f"{where}: malformed SQ line {header!r}")
    sequence = "".join("".join(part.split()) for part in parts)
    bad = re.search(r"[^A-Z]", sequence)
    if bad:
        raise ValueError(f"{where}: non-amino-acid character {bad.group()!r} in the sequence")
    length, crc = int(match.group(1)), match.group(2)
    if not len(sequence) == length == id_length:
        raise ValueError(
            f"{where}: sequence has {len(sequence)} residues, SQ line says {length}, ID line says {id_length}"
        )
    if verify and crc64(sequence) != crc:
        raise ValueError(f"{where}: CRC64 of the sequence is {crc64(sequence)}, SQ line says {crc}")
    return sequence, crc


def _join_continued(previous: str, continuation: str) -> str:
    """Join wrapped lines: directly after a word broken at its hyphen, else with one space."""
    if not previous:
        return continuation
    if previous.endswith("-") and len(previous) > 1 and previous[-2].isalnum():
        return previous + continuation
    return previous + " " + continuation


def _comments(cc_lines: list[str]) -> dict[str, tuple[str, ...]]:
    blocks: list[list[str]] = []  # [topic, text]
    for text in cc_lines:
        if text.startswith("---"):  # the copyright box ends the comments
            break
        if text.startswith("-!- "):
            topic, _, body = text[4:].partition(":")
            blocks.append([topic.strip(), body.strip()])
        elif blocks:
            blocks[-1][1] = _join_continued(blocks[-1][1], text.strip())
    comments: dict[str, list[str]] = {}
    for topic, body in blocks:
        comments.setdefault(topic, []).append(body)
    return {topic: tuple(bodies) for topic, bodies in comments.items()}


def _go(text: str, where: str) -> GoAnnotation:
    fields = [f.strip() for f in text.rstrip(".").split(";")]
    if len(fields) < 4 or not re.fullmatch(r"GO:\d{7}", fields[1]) or fields[2][:2] not in ("C:", "F:", "P:"):
        raise ValueError(f"{where}: malformed GO cross-reference {text!r}")
    return GoAnnotation(id=fields[1], aspect=fields[2][0], term=fields[2][2:], evidence=fields[3])  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- protein names
@dataclass
class _Section:
    kind: str  # "main", "Includes", "Contains"
    groups: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # (RecName|..., [(key, v)])


def _protein_names(de_lines: list[str]) -> tuple[str | None, str, tuple[str, ...]]:
    """(RecName Full of the main section, the *Protein names* column, flags) of an entry's DE lines."""
    sections = [_Section("main")]
    flags: list[str] = []
    last: list[tuple[str, str]] | None = None  # the item list a wrapped line continues
    for raw in de_lines:
        text = raw.strip()
        if text in ("Contains:", "Includes:"):
            sections.append(_Section(text[:-1]))
            last = None
            continue
        if text.startswith("Flags:"):
            flags += [f.strip() for f in text[6:].split(";") if f.strip()]
            continue
        match = _NAME_ITEM.match(text)
        if match is None:
            if last:  # a long name wrapped onto the next line
                key, value = last[-1]
                last[-1] = (key, _join_continued(value, text))
            continue
        group_kind, key, value = match.groups()
        groups = sections[-1].groups
        if group_kind or not groups:
            groups.append((group_kind or "AltName", []))
        last = groups[-1][1]
        last.append((key, value))
    for section in sections:
        for _, items in section.groups:
            items[:] = [(key, _EVIDENCE.sub("", value.rstrip(";")).strip()) for key, value in items]
    rendered = [_render_section(section) for section in sections]
    recommended = _first_full(sections[0], "RecName")
    if not any(rendered):  # pre-2008 free-text DE line
        free = " ".join(t.strip() for t in de_lines).rstrip(".")
        return recommended, free, tuple(flags)
    names = rendered[0]
    includes = [r for s, r in zip(sections, rendered) if s.kind == "Includes" and r]
    contains = [r for s, r in zip(sections, rendered) if s.kind == "Contains" and r]
    if includes:
        names += " [Includes: " + "; ".join(includes) + "]"
    if contains:
        names += " [Cleaved into: " + "; ".join(contains) + "]"
    return recommended, names, tuple(flags)


def _first_full(section: _Section, kind: str) -> str | None:
    for group_kind, items in section.groups:
        if group_kind == kind:
            for key, value in items:
                if key == "Full":
                    return value
    return None


def _render_section(section: _Section) -> str:
    primary = _first_full(section, "RecName") or _first_full(section, "SubName")
    if primary is None:
        return ""
    others = []
    skipped = False
    for _, items in section.groups:
        for key, value in items:
            if not skipped and key == "Full" and value == primary:
                skipped = True
                continue
            others.append(_render_item(key, value))
    return " ".join([primary, *others])


def _render_item(key: str, value: str) -> str:
    prefix = {"EC": "EC ", "Allergen": "allergen ", "CD_antigen": "CD antigen "}.get(key, "")
    return f"({prefix}{value})"


# ------------------------------------------------------------------------------------------------- CRC64
def _crc64_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        value = i
        for _ in range(8):
            value = (value >> 1) ^ 0xD800000000000000 if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_CRC64_TABLE = _crc64_table()


def crc64(sequence: str) -> str:
    """SWISS-PROT's CRC64 of a sequence (ISO 3309 polynomial, reflected, zero initial value), 16 hex digits."""
    crc = 0
    table = _CRC64_TABLE
    for byte in sequence.encode("ascii"):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return f"{crc:016X}"
