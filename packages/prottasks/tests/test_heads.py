"""Task heads on real globins with a tiny encoder: losses equal their formulas (NumPy), fall when trained, the
regression normalisation follows TorchDrug / SaProt, MSP pools exactly the mutated residues, the Function Caller
head freezes / unfreezes the right parameters, and bad targets are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from prottasks_tiny import TinyGraphEncoder, TinySequenceEncoder

from protdata import ProteinBatch
from prottasks.errors import LabelError, TaskInputError
from prottasks.heads import (
    FunctionCallerHead,
    MSPHead,
    MultiLabelHead,
    PairHead,
    RegressionHead,
    SingleLabelHead,
)
from prottasks.heads.msp import mutated_positions

pytestmark = pytest.mark.numerics


def _train(step_fn, params, steps: int = 30) -> list[float]:
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in params if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(steps):
        loss = step_fn()
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture()
def batch(globins) -> ProteinBatch:
    return ProteinBatch.collate(globins)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_multilabel_head(batch):
    torch.manual_seed(0)
    head = MultiLabelHead(TinyGraphEncoder(), num_labels=6)
    assert [layer.out_features for layer in head.mlp.layers] == [16, 16, 6]  # num_mlp_layer 3
    targets = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 1], [1, 1, 0, 0, 0, 0]])
    out = head(batch, targets)
    p, y = _sigmoid(out.output.detach().double().numpy()), targets.numpy()
    assert out.loss.item() == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-5)
    losses = _train(lambda: head(batch, targets).loss, head.parameters(), steps=60)
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(LabelError, match="protein 0, label 1: value 2"):
        head(batch, torch.tensor([[1, 2, 0, 0, 0, 0]] * 4))
    with pytest.raises(LabelError, match=r"expected \(4, 6\)"):
        head(batch, torch.zeros(4, 5))


def test_single_label_head(batch):
    head = SingleLabelHead(TinySequenceEncoder(), num_classes=3)
    targets = torch.tensor([0, 2, 1, 2])
    out = head(batch, targets)
    logits = out.output.detach().double().numpy()
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert out.loss.item() == pytest.approx(-np.mean(logp[np.arange(4), targets.numpy()]), rel=1e-5)
    assert out.metrics["accuracy"] == np.mean(logits.argmax(1) == targets.numpy())
    losses = _train(lambda: head(batch, targets).loss, head.parameters())
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(LabelError, match=r"protein 1: class 3 is outside 0\.\.2"):
        head(batch, torch.tensor([0, 3, 1, 1]))


def test_regression_standard_normalisation(batch):
    head = RegressionHead(TinySequenceEncoder())
    with pytest.raises(TaskInputError, match="call fit"):
        head(batch)
    train = np.array([0.31, 0.52, 0.47, 0.88, 0.12, 0.66])
    head.fit(train)
    assert float(head.shift) == pytest.approx(train.mean()) and float(head.scale) == pytest.approx(
        train.std(ddof=1)
    )
    targets = torch.tensor([0.4, 0.7, 0.2, 0.9])
    out = head(batch, targets)
    pred = out.output.detach().double().numpy()
    z_pred = (pred - train.mean()) / train.std(ddof=1)
    z_true = (targets.numpy() - train.mean()) / train.std(ddof=1)
    assert out.loss.item() == pytest.approx(np.mean((z_pred - z_true) ** 2), rel=1e-4)
    assert out.metrics["mae"] == pytest.approx(np.mean(np.abs(pred - targets.numpy())), rel=1e-5)
    losses = _train(lambda: head(batch, targets).loss, head.parameters())
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(LabelError, match="target 1 is nan"):
        head(batch, torch.tensor([0.4, float("nan"), 0.2, 0.9]))


def test_regression_minmax_thermostability(batch):
    head = RegressionHead(TinySequenceEncoder(), normalization="minmax", minmax_bounds=(40.0, 67.0))
    out = head(batch, torch.tensor([45.0, 60.0, 52.0, 41.0]))
    z = (out.output.detach().numpy() - 40.0) / 27.0
    expected = np.mean((z - (np.array([45.0, 60.0, 52.0, 41.0]) - 40.0) / 27.0) ** 2)
    assert out.loss.item() == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="hi > lo"):
        RegressionHead(TinySequenceEncoder(), normalization="minmax", minmax_bounds=(5.0, 1.0))


def test_pair_head(batch, globins):
    head = PairHead(TinySequenceEncoder())
    assert [(layer.in_features, layer.out_features) for layer in head.mlp.layers] == [(32, 32), (32, 2)]
    other = ProteinBatch.collate(globins[::-1])
    targets = torch.tensor([1, 0, 0, 1])
    losses = _train(lambda: head(batch, other, targets).loss, head.parameters())
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(TaskInputError, match="4 first proteins but 2 second"):
        head(batch, ProteinBatch.collate(globins[:2]))


def test_msp_pools_the_mutated_residues(globins):
    wt = ProteinBatch.collate(globins[:2])
    seqs = [globins[0].sequence, globins[1].sequence]
    mutant_seqs = [s[:10] + ("A" if s[10] != "A" else "G") + s[11:] for s in seqs]
    mutant_seqs[1] = mutant_seqs[1][:30] + ("W" if mutant_seqs[1][30] != "W" else "Y") + mutant_seqs[1][31:]
    mt = ProteinBatch.collate([p.replace(sequence=s) for p, s in zip(globins[:2], mutant_seqs)])
    mutated = mutated_positions(wt, mt)
    offsets = wt.offsets.tolist()
    assert torch.nonzero(mutated).squeeze(-1).tolist() == [10, offsets[1] + 10, offsets[1] + 30]
    enc = TinySequenceEncoder()
    head = MSPHead(enc)
    assert len(head.mlp.layers) == 1  # num_mlp_layer 1: Linear(2D -> 1)
    logit = head(wt, mt).output
    h_wt, h_mt = enc(wt).residue, enc(mt).residue
    manual = torch.stack([
        torch.cat([h_wt[0, 10], h_mt[0, 10]]),
        torch.cat([h_wt[1, [10, 30]].mean(0), h_mt[1, [10, 30]].mean(0)]),
    ])  # fmt: skip
    assert torch.allclose(logit, head.mlp(manual).squeeze(-1), atol=1e-6)
    losses = _train(lambda: head(wt, mt, torch.tensor([1.0, 0.0])).loss, head.parameters())
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(TaskInputError, match="identical to its wild type"):
        head(wt, wt)


def test_function_caller_head(batch):
    enc = TinySequenceEncoder(num_layers=3)
    head = FunctionCallerHead(enc, num_labels=5, unfreeze_last_k_layers=1)
    trainable = {name for name, p in head.named_parameters() if p.requires_grad}
    assert trainable == {"encoder.layers.2.weight", "encoder.layers.2.bias", "dense.weight", "dense.bias",
                         "out_proj.weight", "out_proj.bias"}  # fmt: skip
    head.freeze_encoder()
    assert not any(p.requires_grad for p in enc.parameters())
    head.unfreeze_last_k(3)
    assert all(p.requires_grad for layer in enc.layers for p in layer.parameters())
    with pytest.raises(ValueError, match="the encoder has 3"):
        head.unfreeze_last_k(4)
    everything = FunctionCallerHead(TinySequenceEncoder(), num_labels=5, unfreeze_last_k_layers=None)
    assert all(p.requires_grad for p in everything.parameters())
    # <cls> -> dense -> tanh -> out (dropout 0)
    out = head(batch).output
    cls = enc(batch).extras["cls"]
    assert torch.allclose(out, head.out_proj(torch.tanh(head.dense(cls))), atol=1e-6)
    targets = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 0, 0, 0, 1]])
    losses = _train(lambda: head(batch, targets).loss, head.parameters())
    assert losses[-1] < losses[0]
    with pytest.raises(TypeError, match="exposes no transformer layers"):
        FunctionCallerHead(TinyGraphEncoder(), num_labels=2, unfreeze_last_k_layers=1)


def test_build_heads_from_mappings():
    from pydantic import ValidationError

    from prottasks.heads import build_head

    enc = TinySequenceEncoder()
    assert isinstance(build_head({"type": "multi_label", "num_labels": 538}, enc), MultiLabelHead)
    reg = build_head({"type": "regression", "normalization": "minmax", "minmax_bounds": [40, 67]}, enc)
    assert float(reg.shift) == 40.0 and float(reg.scale) == 27.0
    fc = build_head({"type": "function_caller", "num_labels": 10, "unfreeze_last_k_layers": 0}, enc)
    assert not any(p.requires_grad for p in enc.parameters()) and fc.dense.weight.requires_grad
    with pytest.raises(ValidationError, match="num_label"):
        build_head({"type": "multi_label", "num_label": 5}, enc)


def test_head_kind_of_configs_and_mappings() -> None:
    """The task kind each head config makes (what the labels must be), from a model or a plain mapping."""
    from prottasks.heads.configs import (
        AttentionContactHeadConfig,
        FunctionCallerHeadConfig,
        MultiLabelHeadConfig,
        head_kind,
    )

    assert head_kind(MultiLabelHeadConfig(num_labels=3)) == "multi_label"
    assert head_kind(FunctionCallerHeadConfig(num_labels=3, problem="single_label")) == "single_label"
    assert head_kind({"type": "function_caller"}) == "multi_label"  # the Function Caller's default problem
    assert head_kind(AttentionContactHeadConfig()) == "contact"
    assert head_kind({"type": "regression"}) == "regression"
