"""protalign: protein–text alignment (ProtCLIP) on any protstack protein encoder.

Text encoders from local Hugging Face directories (:class:`TextEncoder`), projections, the global CLIP loss with
all-gather across ranks, ProtCLIP's protein MLM, text-to-protein fragment MLM and prototype-guided local
contrast (:class:`ProtCLIP`), cross-modal retrieval metrics, ProtST-style zero-shot classification and
embedding export. See the package README and ProtCLIP (Zhou et al., AAAI 2025;
diaoshaoyou/ProtCLIP).
"""

from protalign.config import LossWeights, ProtCLIPConfig, TextEncoderConfig
from protalign.data import ProtCLIPBatch, ProtCLIPCollator
from protalign.errors import EmbeddingFileError, LabelTableError, ProtalignError, TextEncoderError
from protalign.export import Embeddings, embed_proteins, embed_texts, load_embeddings, save_embeddings
from protalign.legacy import LEGACY_ALIGN_HINT, convert_align_export
from protalign.model import TEXT_ENCODER_DIR, ProtCLIP, ProtCLIPOutput, build_protclip
from protalign.pairs import ProteinTextPair, ProteinTextPairs
from protalign.retrieval import RetrievalResult, cross_modal_retrieval, retrieval_metrics
from protalign.text_encoder import TextEncoder, TokenizedText
from protalign.zero_shot import ZeroShotClassifier

__version__ = "0.1.0"

__all__ = [
    "LEGACY_ALIGN_HINT",
    "TEXT_ENCODER_DIR",
    "EmbeddingFileError",
    "Embeddings",
    "LabelTableError",
    "LossWeights",
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
    "load_embeddings",
    "retrieval_metrics",
    "save_embeddings",
]
