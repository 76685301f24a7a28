"""prottasks.objectives.pretraining: which objective fits which encoder, encoder + objective from configs, and
starting a pretraining model from saved weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinyMLM, TinySequenceEncoder
from safetensors.torch import save_file

from protdata import ProteinBatch
from protdata.errors import ProtdataError, WeightsError
from prottasks.errors import ObjectiveConfigError
from prottasks.objectives import (
    OBJECTIVE_WEIGHTS,
    AnglePrediction,
    DistancePrediction,
    MaskedLMObjective,
    ResidueTypePrediction,
    SiamDiff,
    build_pretraining_model,
    check_combination,
    load_initial_weights,
    parse_objective_config,
    pretrained_encoder,
)

#: The six ESM-GearNet pretraining objectives (Zhang et al., ICLR 2023 / ESM-GearNet configs).
ESM_GEARNET = (
    "residue_type_prediction",
    "distance_prediction",
    "angle_prediction",
    "dihedral_prediction",
    "multiview_contrast",
    "siamdiff",
)


def _objective(kind: str) -> object:
    return parse_objective_config({"type": kind})


def test_objective_configs_validate_without_torch() -> None:
    code = (
        "import sys; from prottasks.objectives import ObjectiveConfig, check_combination, parse_objective_config;"
        "parse_objective_config({'type': 'siamdiff'}); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_which_objective_fits_which_encoder() -> None:
    gearnet = SimpleNamespace(type="gearnet")
    esm2 = SimpleNamespace(type="esm2")
    cdconv = SimpleNamespace(type="cdconv")
    fused_cdconv = SimpleNamespace(type="serial", structure=SimpleNamespace(type="cdconv"))
    for kind in ESM_GEARNET:
        check_combination(gearnet, _objective(kind))  # every ESM-GearNet objective trains a graph encoder
    for kind in ("mlm", "residue_type_prediction", "multiview_contrast"):
        check_combination(esm2, _objective(kind))
    for kind in ("residue_type_prediction", "multiview_contrast", "siamdiff"):
        check_combination(cdconv, _objective(kind))
    with pytest.raises(
        ObjectiveConfigError, match=r"^objective\.type=mlm with encoder\.type=gearnet: mlm trains"
    ):
        check_combination(gearnet, _objective("mlm"))
    for kind in ("distance_prediction", "siamdiff"):
        with pytest.raises(
            ObjectiveConfigError, match=rf"^objective\.type={kind} with encoder\.type=esm2: .*only"
        ):
            check_combination(esm2, _objective(kind))
    with pytest.raises(
        ObjectiveConfigError, match=r"angle_prediction with encoder\.type=cdconv: .* cdconv builds"
    ):
        check_combination(cdconv, _objective("angle_prediction"))
    with pytest.raises(
        ProtdataError, match=r"with model\.type=serial: .* model\.structure\.type=cdconv builds"
    ):
        check_combination(fused_cdconv, _objective("dihedral_prediction"), encoder_key="model")


def test_encoder_and_each_esm_gearnet_objective_train(batch: ProteinBatch) -> None:
    for kind in ESM_GEARNET:
        torch.manual_seed(0)
        encoder = TinyGraphEncoder()
        model = build_pretraining_model(
            encoder, {"type": kind}, encoder_config=SimpleNamespace(type="gearnet")
        )
        assert pretrained_encoder(model) is encoder
        out = model(batch, torch.Generator().manual_seed(0))
        assert torch.isfinite(out.loss), kind
        out.loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters()), kind
    assert isinstance(build_pretraining_model(TinyGraphEncoder(), {"type": "siamdiff"}), SiamDiff)
    with pytest.raises(ObjectiveConfigError, match=r"siamdiff with encoder\.type=esm2"):
        build_pretraining_model(
            TinySequenceEncoder(), {"type": "siamdiff"}, encoder_config=SimpleNamespace(type="esm2")
        )


class _SequenceEncoderWithLM(TinySequenceEncoder):
    """A sequence encoder that offers a masked-language-model view, as protenc-seq's encoders do."""

    def __init__(self, lm_head: bool = True) -> None:
        super().__init__()
        self.lm_head = lm_head

    def masked_lm(self) -> torch.nn.Module:
        if not self.lm_head:
            raise ValueError("this sequence encoder has no LM head")
        mlm = TinyMLM("esm")
        mlm.encoder = self  # the MLM trains the encoder itself
        return mlm


def test_mlm_trains_the_encoders_masked_lm_view() -> None:
    encoder = _SequenceEncoderWithLM()
    model = build_pretraining_model(encoder, {"type": "mlm"})
    assert isinstance(model, MaskedLMObjective) and pretrained_encoder(model) is encoder
    mlm = TinyMLM("esm")
    assert build_pretraining_model(mlm, {"type": "mlm"}).model is mlm  # already a masked language model
    with pytest.raises(
        ObjectiveConfigError, match=r"^encoder\.checkpoint: this sequence encoder has no LM head$"
    ):
        build_pretraining_model(_SequenceEncoderWithLM(lm_head=False), {"type": "mlm"})
    with pytest.raises(
        ObjectiveConfigError, match=r"mlm needs a masked language model .* not TinyGraphEncoder"
    ):
        build_pretraining_model(TinyGraphEncoder(), {"type": "mlm"})


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


def test_initial_weights_from_a_run_a_whole_model_or_an_encoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = _randomised(build_pretraining_model(TinyGraphEncoder(), {"type": "distance_prediction"}))
    state = {k: v.contiguous() for k, v in trained.state_dict().items()}
    run = tmp_path / "run"
    run.mkdir()  # a saved run: the encoder's model.safetensors + the heads beside it
    save_file(
        {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")},
        str(run / "model.safetensors"),
    )
    save_file({k: v for k, v in state.items() if not k.startswith("encoder.")}, str(run / OBJECTIVE_WEIGHTS))
    fresh = build_pretraining_model(TinyGraphEncoder(), {"type": "distance_prediction"})
    note = load_initial_weights(fresh, run)
    assert note.startswith("init_from: loaded ") and "head tensors from" in note
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k]), k
    whole = tmp_path / "whole.safetensors"  # an older whole-model export: encoder and heads in one file
    save_file(state, str(whole))
    again = build_pretraining_model(TinyGraphEncoder(), {"type": "distance_prediction"})
    assert "under 'encoder.'" in load_initial_weights(again, whole, key="start")
    assert all(torch.equal(v, state[k]) for k, v in again.state_dict().items())
    other = build_pretraining_model(TinyGraphEncoder(), {"type": "residue_type_prediction"})
    heads_before = {k: v.clone() for k, v in other.state_dict().items() if not k.startswith("encoder.")}
    assert load_initial_weights(other, run).endswith("the objective's heads start fresh")  # another objective
    assert all(torch.equal(other.state_dict()[k], v) for k, v in heads_before.items())
    assert isinstance(other, ResidueTypePrediction) and not isinstance(
        other, (AnglePrediction, DistancePrediction)
    )
    wider = build_pretraining_model(TinyGraphEncoder(dim=32), {"type": "distance_prediction"})
    with pytest.raises(WeightsError, match=r"^init_from: .*model\.safetensors: wrong-size weights: "):
        load_initial_weights(wider, run)
