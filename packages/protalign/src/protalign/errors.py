"""The exceptions protalign raises.

Bad *records* (ProtAnno pairs, JSONL lines) are reported with protdata's :class:`~protdata.errors.RecordError`
(file, line, reason), as protdata's own readers do. Everything protalign-specific is a :class:`ProtalignError`
(a :class:`~protdata.errors.ProtdataError`, hence a ``ValueError``) whose message names the thing that is wrong.
"""

from __future__ import annotations

from os import PathLike

from protdata.errors import ProtdataError


class ProtalignError(ProtdataError):
    """Bad input or configuration for protalign.

    Raised as ``ProtalignError(message)`` (the message names what is wrong; ``source`` is ``None`` and ``reason``
    the message) or, like every :class:`~protdata.errors.ProtdataError`, as ``ProtalignError(source, reason)``.
    """

    def __init__(
        self,
        source_or_message: str | PathLike[str] | None,
        reason: str | None = None,
        *,
        line: int | None = None,
    ) -> None:
        if reason is not None:
            super().__init__(source_or_message, reason, line=line)
            return
        message = str(source_or_message)
        ValueError.__init__(self, message)
        self.source, self.reason, self.line = None, message, line


class TextEncoderError(ProtalignError):
    """A text-encoder directory is missing, incomplete or unreadable (the message names the path and file)."""


class LabelTableError(ProtalignError):
    """A zero-shot label table (ProtST ``*.tsv``) or prompt file is malformed (file, line, reason)."""


class EmbeddingFileError(ProtalignError):
    """An embedding file is not one protalign wrote, or its arrays and ids disagree."""


class PairFileError(ProtalignError):
    """A pair file is missing, is a directory, or no usable protein–text pair is left (the message names the
    source's key and path)."""
