"""protalign: protein–text alignment (ProtCLIP) on any protstack protein encoder.

Text encoders from local Hugging Face directories (:class:`TextEncoder`), projections, the global CLIP loss with
all-gather across ranks, ProtCLIP's protein MLM, text-to-protein fragment MLM and prototype-guided local
contrast (:class:`ProtCLIP`), cross-modal retrieval metrics, ProtST-style zero-shot classification and
embedding export. See the package README and ProtCLIP (Zhou et al., AAAI 2025;
diaoshaoyou/ProtCLIP).
"""

from protdata._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "LEGACY_ALIGN_HINT",
    "TEXT_ENCODER_DIR",
    "EmbeddingFileError",
    "Embeddings",
    "JointProteinEncoder",
    "LabelTableError",
    "LossWeights",
    "PairDataConfig",
    "PairFileError",
    "PairSource",
    "PairTable",
    "PairTrainingData",
    "ProtCLIP",
    "ProtCLIPBatch",
    "ProtCLIPCollator",
    "ProtCLIPConfig",
    "ProtCLIPOutput",
    "ProtalignError",
    "ProteinTextPair",
    "ProteinTextPairs",
    "RetrievalResult",
    "TextEncoder",
    "TextEncoderConfig",
    "TextEncoderError",
    "TokenizedText",
    "ZeroShotClassifier",
    "build_protclip",
    "convert_align_export",
    "cross_modal_retrieval",
    "embed_proteins",
    "embed_texts",
    "iter_json_lines",
    "load_embeddings",
    "load_pairs",
    "prepare_pair_data",
    "read_texts",
    "retrieval_metrics",
    "save_embeddings",
    "vector_scalars",
    "write_text_embeddings",
]

# public name -> defining module, imported on first use (protdata._lazy)
_EXPORTS = {
    "JointProteinEncoder": "protalign.joint_space",
    "read_texts": "protalign.joint_space",
    "write_text_embeddings": "protalign.joint_space",
    "LossWeights": "protalign.config",
    "ProtCLIPConfig": "protalign.config",
    "TextEncoderConfig": "protalign.config",
    "ProtCLIPBatch": "protalign.data",
    "ProtCLIPCollator": "protalign.data",
    "EmbeddingFileError": "protalign.errors",
    "LabelTableError": "protalign.errors",
    "ProtalignError": "protalign.errors",
    "TextEncoderError": "protalign.errors",
    "Embeddings": "protalign.export",
    "embed_proteins": "protalign.export",
    "embed_texts": "protalign.export",
    "load_embeddings": "protalign.export",
    "save_embeddings": "protalign.export",
    "LEGACY_ALIGN_HINT": "protalign.legacy",
    "convert_align_export": "protalign.legacy",
    "TEXT_ENCODER_DIR": "protalign.model",
    "ProtCLIP": "protalign.model",
    "ProtCLIPOutput": "protalign.model",
    "build_protclip": "protalign.model",
    "ProteinTextPair": "protalign.pairs",
    "ProteinTextPairs": "protalign.pairs",
    "RetrievalResult": "protalign.retrieval",
    "cross_modal_retrieval": "protalign.retrieval",
    "retrieval_metrics": "protalign.retrieval",
    "TextEncoder": "protalign.text_encoder",
    "TokenizedText": "protalign.text_encoder",
    "ZeroShotClassifier": "protalign.zero_shot",
    "PairDataConfig": "protalign.config",
    "PairSource": "protalign.config",
    "PairFileError": "protalign.errors",
    "PairTable": "protalign.pair_files",
    "load_pairs": "protalign.pair_files",
    "PairTrainingData": "protalign.pair_loading",
    "prepare_pair_data": "protalign.pair_loading",
    "iter_json_lines": "protdata.protanno.jsonl",
    "vector_scalars": "protalign.distributed",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
