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


class LengthWarning(UserWarning):
    """Sequences of one call longer than the model's window: ``count`` of them, ``max_residues`` the window,
    ``names`` the first ones. Raised as a warning once per call (per batch); an app that runs many batches counts
    them and reports the total once (:class:`protenc_seq.notices.Notices`)."""

    def __init__(self, message: str, count: int, max_residues: int, names: list[str]) -> None:
        super().__init__(message)
        self.count = count
        self.max_residues = max_residues
        self.names = names


class CroppedSequencesWarning(LengthWarning):
    """``on_long="crop"``: ``count`` sequences were cut to their first ``max_residues`` residues."""


class LongSequencesWarning(LengthWarning):
    """``on_long="full"``: ``count`` sequences longer than the ``max_residues`` window ran in full."""


class SequenceWindowError(ProtdataError):
    """A crop longer than a sequence encoder's window while the encoder refuses long proteins (``on_long:
    error``): the first long protein would stop a run."""
