"""ProtCLIP's losses: global contrast, protein MLM, text-to-protein fragment MLM, prototype local contrast."""

from protalign.losses.clip import ClipLoss, clip_loss
from protalign.losses.fragment_mlm import FragmentDecoder
from protalign.losses.local_contrast import local_contrastive_loss
from protalign.losses.protein_mlm import MLMHead, mlm_loss

__all__ = ["ClipLoss", "FragmentDecoder", "MLMHead", "clip_loss", "local_contrastive_loss", "mlm_loss"]
