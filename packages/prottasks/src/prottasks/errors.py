"""The exceptions prottasks raises for bad input.

Every error is a :class:`ProttasksError` (a ``ValueError``) whose message names the source (file and line, the
protein, the label) and says what is wrong, so a bad label file or a malformed batch never ends in a crash deep
inside torch.
"""

from __future__ import annotations

from protdata.errors import ProtdataError


class ProttasksError(ProtdataError):
    """Bad input to prottasks. ``source`` names the file / protein / array, ``reason`` says what is wrong; the
    message is ``"<source>[, line N]: <reason>"`` (the same error shape as protdata's, whose subclass this is)."""


class LabelError(ProttasksError):
    """A label is outside the task's vocabulary, a label set is empty, or a label file is malformed."""


class TableError(ProttasksError):
    """A table (CSV / TSV: a deep mutational scan, its wild type) is missing, malformed, or lacks a column."""


class OntologyError(ProttasksError):
    """An ontology file is malformed, or a term is unknown / obsolete without a replacement."""


class MetricInputError(ProttasksError):
    """Arrays given to a metric have the wrong shape, dtype or values (NaN scores, non-binary labels)."""


class TaskInputError(ProttasksError):
    """A batch or encoder cannot be used by an objective or head (no coordinates, no edges, wrong sizes)."""


class ObjectiveConfigError(ProttasksError):
    """A pretraining objective cannot train the encoder it is given (e.g. MLM on a structure encoder)."""
