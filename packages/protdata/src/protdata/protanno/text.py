"""ProtAnno text: build it from the four UniProt properties, split it back into property sub-texts.

ProtCLIP (diaoshaoyou/ProtCLIP ``protclip/sampling.py``) writes a record's text as
``"PROTEIN NAME: " + name + "."`` followed by ``" " + column`` for each non-empty UniProt column among
*Function [CC]*, *Subcellular location [CC]* and *Sequence similarities*; those columns already carry their
``FUNCTION:`` / ``SUBCELLULAR LOCATION:`` / ``SIMILARITY:`` prefixes (and ECO evidence tags).

Its prototype local contrast (``FSTPretrainTask.build_dataset``) splits the text back into four
sub-texts at the markers ``PROTEIN NAME``, ``FUNCTION``, ``SUBCELLULAR LOCATION``, ``SIMILARITY``:
:func:`split_text` reproduces that split exactly, including its quirks: each marker is located with
``str.find`` (its first occurrence anywhere in the text, case-sensitive), the first sub-text is everything
before the first marker found (the ``PROTEIN NAME`` marker itself is never searched), sub-texts keep their
surrounding spaces, and a missing property becomes the placeholder ``"<MARKER>:"``.
"""

from __future__ import annotations

#: Property markers in ProtCLIP's order (``text_attributes``).
PROPERTY_MARKERS: tuple[str, str, str, str] = (
    "PROTEIN NAME",
    "FUNCTION",
    "SUBCELLULAR LOCATION",
    "SIMILARITY",
)
NAME_PREFIX = "PROTEIN NAME: "


def build_text(
    protein_name: str | None,
    function: str | None = None,
    subcellular_location: str | None = None,
    similarity: str | None = None,
) -> str:
    """ProtCLIP's record text: ``"PROTEIN NAME: " + name + "."`` then ``" " + column`` per non-empty column.

    ``function`` / ``subcellular_location`` / ``similarity`` are the UniProt columns *with* their prefixes,
    e.g. ``"FUNCTION: Seed storage protein."``; ``None`` and ``""`` mean absent.
    """
    text = NAME_PREFIX + (protein_name or "") + "."
    for column in (function, subcellular_location, similarity):
        if column:
            text += " " + column
    return text


def split_text(text: str) -> tuple[str, str, str, str]:
    """The four property sub-texts of ``text`` (name, function, location, similarity), as ProtCLIP splits it.

    Sub-text ``k`` runs from marker ``k`` (found with ``text.find``) to the next *found* marker in marker
    order, or to the end; the name sub-text runs from the start. A marker that is not found gives the
    placeholder ``"<MARKER>:"``. Slices are taken verbatim (spaces kept); when markers occur out of order a
    slice can be empty, exactly as in ProtCLIP.
    """
    found = [(k, text.find(PROPERTY_MARKERS[k])) for k in range(1, len(PROPERTY_MARKERS))]
    cuts = [0] + [index for _, index in found if index != -1] + [len(text)]
    parts = [text[cuts[0] : cuts[1]]]
    j = 1
    for k, index in found:
        if index == -1:
            parts.append(PROPERTY_MARKERS[k] + ":")
        else:
            parts.append(text[cuts[j] : cuts[j + 1]])
            j += 1
    return parts[0], parts[1], parts[2], parts[3]


def parse_properties(text: str) -> dict[str, str | None]:
    """The four properties of a ProtCLIP text, as the record fields hold them.

    ``protein_name`` is the name sub-text without its ``PROTEIN NAME:`` prefix and the one ``.`` that
    :func:`build_text` appends (``None`` if the text does not start with the prefix); the other three are the
    stripped sub-texts with their prefixes (``None`` for a placeholder).
    """
    name_part, *columns = (part.strip() for part in split_text(text))
    name: str | None = None
    if name_part.startswith(NAME_PREFIX.strip()):
        name = name_part[len(NAME_PREFIX.strip()) :].strip()
        name = name[:-1] if name.endswith(".") else name
    values = [
        None if column == marker + ":" else column for column, marker in zip(columns, PROPERTY_MARKERS[1:])
    ]
    return {
        "protein_name": name,
        "function": values[0],
        "subcellular_location": values[1],
        "similarity": values[2],
    }
