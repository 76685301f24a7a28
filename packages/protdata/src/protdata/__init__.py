"""protdata: protein structures, sequences and text records in; ``Protein`` / ``ProteinBatch`` out.

The one data contract of protstack (see the package README): loaders build :class:`Protein` objects,
transforms modify them, :meth:`ProteinBatch.collate` batches them, and every encoder returns an
:class:`EncoderOutput`.
"""

from protdata._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "NUM_RESIDUE_TYPES",
    "RESIDUE_LETTERS",
    "ConfigFileError",
    "EncoderOutput",
    "FastaPolicy",
    "FastaRecord",
    "FastaReport",
    "FastaSkip",
    "InputError",
    "InputReport",
    "PackedProteins",
    "ProtAnnoRecord",
    "ProtdataError",
    "Protein",
    "ProteinBatch",
    "ProteinEncoder",
    "build_structure_cache",
    "configfile",
    "encode_proteins",
    "iter_fasta",
    "iter_inputs",
    "length_batches",
    "load_chains",
    "load_pretrained",
    "masked_mean",
    "open_dataset",
    "protanno",
    "read_fasta",
    "read_fasta_records",
    "read_inputs",
    "save_pretrained",
    "seed_micro_batch",
    "transforms",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "seed_micro_batch": "protdata.seeding",
    "ConfigFileError": "protdata.configfile",
    "configfile": "protdata.configfile",
    "ProteinBatch": "protdata.batch",
    "NUM_RESIDUE_TYPES": "protdata.constants",
    "RESIDUE_LETTERS": "protdata.constants",
    "EncoderOutput": "protdata.encoder",
    "ProteinEncoder": "protdata.encoder",
    "masked_mean": "protdata.encoder",
    "ProtdataError": "protdata.errors",
    "Protein": "protdata.protein",
    "load_chains": "protdata.io",
    "FastaPolicy": "protdata.fasta",
    "FastaRecord": "protdata.fasta",
    "FastaReport": "protdata.fasta",
    "FastaSkip": "protdata.fasta",
    "iter_fasta": "protdata.fasta",
    "read_fasta": "protdata.fasta",
    "read_fasta_records": "protdata.fasta",
    "protanno": "protdata.protanno",
    "transforms": "protdata.transforms",
    "ProtAnnoRecord": "protdata.protanno",
    "load_pretrained": "protdata.pretrained",
    "save_pretrained": "protdata.pretrained",
    "PackedProteins": "protdata.packed",
    "open_dataset": "protdata.dataset",
    "build_structure_cache": "protdata.structure_cache",
    "InputError": "protdata.inputs",
    "InputReport": "protdata.inputs",
    "read_inputs": "protdata.inputs",
    "iter_inputs": "protdata.inputs",
    "length_batches": "protdata.encoding",
    "encode_proteins": "protdata.encoding",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
