"""Errors protenc-struct raises for input it cannot encode.

Bad coordinates are reported with protdata's own types (:class:`protdata.errors.InvalidCoordinatesError`,
:class:`protdata.errors.MissingAtomsError`, both ``ValueError``), naming the protein and the residue. Everything
else that is wrong with what a caller hands an encoder (node features of the wrong shape, a protein too short
for a model) is a :class:`StructureInputError`.
"""

from __future__ import annotations


class StructureInputError(ValueError):
    """Input that a structure encoder or graph builder cannot use; the message says which protein and why."""
