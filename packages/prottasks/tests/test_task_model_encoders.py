"""TaskModel over the real protstack encoders (built by type through the registry; prottasks imports none of
them): an ESM-2 Function Caller model reloads in a fresh process — found through the entry points alone — and
scores real sequences exactly as in memory with <cls> pooling (mean pooling scores differ); GearNet (with batch-norm
statistics) and a serial ESM-GearNet fusion round-trip on real structures. Skipped where the encoder packages are
not installed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from protdata import ProteinBatch, read_fasta
from protdata.pretrained import load_pretrained, model_types
from protdata.testing import shared_data
from prottasks import TaskModel
from prottasks.errors import TaskInputError

pytestmark = [pytest.mark.numerics, pytest.mark.slow]

ESM = {"type": "esm2", "architecture": {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}}
GEARNET = {"type": "gearnet", "hidden_dims": [16, 16]}
LABELS = ["GO:0005515", "GO:0016020", "GO:0003677", "GO:0005634"]


def _need(*types: str) -> None:
    missing = [t for t in types if t not in model_types()]
    if missing:
        pytest.skip(f"encoder types {missing} are not installed")


@pytest.fixture(scope="module")
def sequences():
    return read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:10]


def _randomise_head(model: TaskModel) -> None:
    torch.manual_seed(2)
    for p in model.head.parameters():
        p.data.normal_(0, 0.5)


def test_esm2_function_caller_reloads_in_a_fresh_process(sequences, tmp_path):
    _need("esm2")
    torch.manual_seed(0)
    config = {"encoder": {**ESM, "cls_output": True}, "labels": LABELS,
              "head": {"type": "function_caller", "num_labels": "auto", "unfreeze_last_k_layers": 1}}  # fmt: skip
    model = TaskModel(config)
    _randomise_head(model)
    model.eval()
    scores = model.predict(sequences, batch_size=4)
    model.save_pretrained(tmp_path / "fc")
    code = (
        "import sys, numpy as np\nfrom protdata import read_fasta\nfrom protdata.testing import shared_data\n"
        "from protdata.pretrained import load_pretrained\n"
        "assert 'prottasks' not in sys.modules and 'protenc_seq' not in sys.modules\n"
        f"m = load_pretrained({str(tmp_path / 'fc')!r})\n"
        "ps = read_fasta(shared_data('function', 'cafa_like_sequences.fasta'))[:10]\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, m.predict(ps, batch_size=4))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), scores)
    # the scores are <cls>-pooled: recompute from the encoder's <cls> output; mean pooling gives other scores
    loaded = load_pretrained(tmp_path / "fc")
    assert loaded.config_dict()["encoder"]["cls_output"] is True
    assert loaded.config_dict()["encoder"]["checkpoint"] is None
    head = loaded.head
    with torch.no_grad():
        out = loaded.encoder(ProteinBatch.collate(sequences))
        cls = torch.sigmoid(head.out_proj(torch.tanh(head.dense(out.extras["cls"])))).double().numpy()
        mean = torch.sigmoid(head.out_proj(torch.tanh(head.dense(out.protein)))).double().numpy()
    np.testing.assert_allclose(scores, cls, atol=1e-5)
    assert np.abs(scores - mean).max() > 1e-2


def test_esm2_without_cls_output_is_an_error():
    _need("esm2")
    with pytest.raises(TaskInputError, match=r"encoder\.cls_output: false"):
        TaskModel({"encoder": ESM, "head": {"type": "function_caller", "num_labels": 2}})


@pytest.mark.parametrize(
    ("encoder", "head"),
    [
        (GEARNET, {"type": "multi_label", "num_labels": "auto"}),
        ({"type": "serial", "sequence": {**ESM, "architecture": {**ESM["architecture"], "num_layers": 1}},
          "structure": GEARNET}, {"type": "single_label", "num_classes": "auto"}),
    ],
)  # fmt: skip
def test_structure_and_fused_encoders_round_trip(encoder, head, globins, tmp_path):
    _need(encoder["type"], "gearnet", "esm2")
    torch.manual_seed(0)
    labels = LABELS if head["type"] == "multi_label" else ["a", "b"]
    model = TaskModel({"encoder": encoder, "head": head, "labels": labels})
    _randomise_head(model)
    model.train()
    with torch.no_grad():  # batch-norm running statistics that differ from their initial values
        model(ProteinBatch.collate(globins))
    model.eval()
    scores = model.predict(globins, batch_size=2)
    model.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(globins, batch_size=2), scores)
    running = [k for k in loaded.state_dict() if k.endswith("running_mean")]
    assert running and all(torch.equal(loaded.state_dict()[k], model.state_dict()[k]) for k in running)
    assert not torch.equal(model.state_dict()[running[0]], torch.zeros_like(model.state_dict()[running[0]]))
