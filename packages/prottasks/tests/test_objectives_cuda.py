"""Every objective and head runs one step on a CUDA batch with a CUDA generator (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinyMLM, TinySequenceEncoder

from protdata import ProteinBatch
from protdata.foldseek import with_3di
from prottasks.heads import MultiLabelHead
from prottasks.objectives import (
    AnglePrediction,
    DihedralPrediction,
    DistancePrediction,
    MaskedLMObjective,
    MultiviewContrast,
    ResidueTypePrediction,
    SiamDiff,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("encoder_cls", [TinyGraphEncoder, TinySequenceEncoder])
@pytest.mark.parametrize(
    "objective_cls",
    [
        DistancePrediction,
        AnglePrediction,
        DihedralPrediction,
        ResidueTypePrediction,
        MultiviewContrast,
        SiamDiff,
    ],
)
def test_objective_on_cuda(cropped_globins, encoder_cls, objective_cls):
    batch = ProteinBatch.collate(cropped_globins).to("cuda")
    objective = objective_cls(encoder_cls()).cuda()
    out = objective(batch, generator=torch.Generator(device="cuda").manual_seed(0))
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss.device.type == "cuda"


def test_mlm_and_head_on_cuda(cropped_globins):
    batch = ProteinBatch.collate(with_3di(cropped_globins)).to("cuda")
    out = MaskedLMObjective(TinyMLM().cuda())(batch, generator=torch.Generator(device="cuda").manual_seed(0))
    assert torch.isfinite(out.loss)
    head = MultiLabelHead(TinySequenceEncoder(), num_labels=3).cuda()
    assert torch.isfinite(head(batch, torch.ones(len(batch), 3)).loss)
