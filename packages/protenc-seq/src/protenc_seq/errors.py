"""The exceptions protenc-seq raises for bad input.

Both are :class:`protdata.errors.ProtdataError` subclasses (hence ``ValueError``), so ``except ProtdataError``
catches every bad-input error of the stack. Messages name the sequence (index and id) and the residue position,
or the checkpoint file and the tensor, and say what is wrong.
"""

from __future__ import annotations

from protdata.errors import ProtdataError, SequenceError


class InputSequenceError(SequenceError):
    """A sequence given to an encoder cannot be tokenised (bad letter, empty, too long for the window)."""


class CheckpointError(ProtdataError):
    """A checkpoint file or directory is unreadable, truncated, of an unknown layout or of the wrong size."""


class MutationError(ProtdataError):
    """A mutation string is malformed or does not match the wild-type sequence."""
