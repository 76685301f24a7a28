"""Errors protenc-struct raises for input it cannot encode.

Bad coordinates are reported with protdata's own types (:class:`protdata.errors.InvalidCoordinatesError`,
:class:`protdata.errors.MissingAtomsError`), naming the protein and the residue. Everything else that is wrong
with what a caller hands an encoder (node features of the wrong shape, a protein too short for a model) is a
:class:`StructureInputError`. All are :class:`protdata.errors.ProtdataError` subclasses (hence ``ValueError``),
so ``except ProtdataError`` catches every bad-input error of the stack.
"""

from __future__ import annotations

from os import PathLike

from protdata.errors import ProtdataError


class StructureInputError(ProtdataError):
    """Input that a structure encoder or graph builder cannot use; the message says which protein and why.

    Raised with the message alone (``StructureInputError("...")``); ``source`` optionally names a file.
    """

    def __init__(self, reason: str, *, source: str | PathLike[str] | None = None) -> None:
        super().__init__(source, reason)
        if source is None:
            self.args = (reason,)  # the message is the reason alone (no "<input>:" prefix)
