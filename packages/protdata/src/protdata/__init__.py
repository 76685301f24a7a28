"""protdata: protein structures, sequences and text records in; ``Protein`` / ``ProteinBatch`` out.

The one data contract of protstack (see the package README): loaders build :class:`Protein` objects,
transforms modify them, :meth:`ProteinBatch.collate` batches them, and every encoder returns an
:class:`EncoderOutput`.
"""

from protdata.batch import ProteinBatch
from protdata.constants import NUM_RESIDUE_TYPES, RESIDUE_LETTERS
from protdata.encoder import EncoderOutput, ProteinEncoder, masked_mean
from protdata.errors import ProtdataError
from protdata.protein import Protein

__version__ = "0.1.0"

__all__ = [
    "NUM_RESIDUE_TYPES",
    "RESIDUE_LETTERS",
    "EncoderOutput",
    "ProtdataError",
    "Protein",
    "ProteinBatch",
    "ProteinEncoder",
    "masked_mean",
]

# --- structure I/O (protdata.io) -------------------------------------------------------------------------
from protdata.io import load_chains

__all__ += ["load_chains"]
# --- FASTA / sequences --------------------------------------------------------------------------------------
from protdata.fasta import (  # noqa: E402
    FastaPolicy,
    FastaRecord,
    FastaReport,
    FastaSkip,
    iter_fasta,
    read_fasta,
    read_fasta_records,
)

__all__ += [
    "FastaPolicy",
    "FastaRecord",
    "FastaReport",
    "FastaSkip",
    "iter_fasta",
    "read_fasta",
    "read_fasta_records",
]
# --- SaProt vocabulary, ProtAnno, transforms ----------------------------------------------------------------
from protdata import protanno, transforms  # noqa: E402
from protdata.protanno import ProtAnnoRecord  # noqa: E402

__all__ += ["ProtAnnoRecord", "protanno", "transforms"]
# --- saved models (protdata.pretrained: finds encoder packages by entry point, never imports them) --------
from protdata.pretrained import load_pretrained, save_pretrained  # noqa: E402

__all__ += ["load_pretrained", "save_pretrained"]
