"""BinaryCIF → gemmi CIF document, so that BinaryCIF goes through exactly the same gemmi path as mmCIF.

gemmi has no BinaryCIF reader. biotite's :class:`~biotite.structure.io.pdbx.BinaryCIFFile` decodes the
MessagePack container and its column encodings (fixed point, run length, delta, string arrays, …); every category
of the first data block is then copied into a :class:`gemmi.cif.Document` with ``Block.set_mmcif_category``.
Masked values keep their CIF meaning ('.' inapplicable, '?' missing); numbers are written with the shortest
representation of their decoded dtype, so ``12.345`` stored as float32 reads back as the text ``12.345``.
"""

from __future__ import annotations

import io

import gemmi
import numpy as np

from protdata.errors import StructureParseError


def bcif_to_document(data: bytes, source: str) -> gemmi.cif.Document:
    """Decode BinaryCIF ``data`` into a gemmi CIF document (all blocks, all categories)."""
    from biotite.structure.io.pdbx import BinaryCIFFile

    try:
        bcif = BinaryCIFFile.read(io.BytesIO(data))
        doc = gemmi.cif.Document()
        for block_name, bblock in bcif.items():
            block = doc.add_new_block(block_name or "unnamed")
            for cat_name, category in bblock.items():
                block.set_mmcif_category(f"_{cat_name}.", _category_values(category))
    except StructureParseError:
        raise
    except Exception as exc:  # msgpack / encoding errors come in many types
        raise StructureParseError(source, f"invalid BinaryCIF ({type(exc).__name__}: {exc})") from exc
    if len(doc) == 0:
        raise StructureParseError(source, "BinaryCIF file without data blocks")
    return doc


def _category_values(category) -> dict[str, list]:
    """``{column: values}`` for ``set_mmcif_category``: str per value, None for '?' and False for '.'."""
    values: dict[str, list] = {}
    for col_name, column in category.items():
        array = np.asarray(column.data.array)
        text = array.astype(str).astype(object)  # shortest repr for the decoded dtype (float32 stays short)
        if column.mask is not None:
            mask = np.asarray(column.mask.array)
            text[mask == 1] = False  # MaskValue.INAPPLICABLE -> '.'
            text[mask == 2] = None  # MaskValue.MISSING -> '?'
        values[col_name] = text.tolist()
    return values
