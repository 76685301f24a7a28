"""The exceptions protalign raises.

Bad *records* (ProtAnno pairs, JSONL lines) are reported with protdata's :class:`~protdata.errors.RecordError`
(file, line, reason), as protdata's own readers do. Everything protalign-specific is a :class:`ProtalignError`
(a ``ValueError``) whose message names the thing that is wrong.
"""

from __future__ import annotations


class ProtalignError(ValueError):
    """Bad input or configuration for protalign."""


class TextEncoderError(ProtalignError):
    """A text-encoder directory is missing, incomplete or unreadable (the message names the path and file)."""


class LabelTableError(ProtalignError):
    """A zero-shot label table (ProtST ``*.tsv``) or prompt file is malformed (file, line, reason)."""


class EmbeddingFileError(ProtalignError):
    """An embedding file is not one protalign wrote, or its arrays and ids disagree."""
