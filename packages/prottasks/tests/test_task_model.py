"""TaskModel: every head saves and reloads (also in a fresh process) and predicts exactly what the in-memory model
predicts on real proteins; ``predict`` returns sigmoid / softmax / de-normalised values computed independently
(NumPy, float64); the Function Caller head pools ``<cls>`` after a reload (and that differs from mean pooling),
and never falls back silently; bad configs are one-line errors naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from prottasks_tiny import TinyEncoderConfig, TinyGraphEncoder, TinyPretrainedEncoder

from protdata import ProtdataError, ProteinBatch, read_fasta
from protdata.pretrained import PretrainedFormatError, load_pretrained, read_config
from protdata.testing import shared_data
from prottasks import TaskModel, TaskModelConfig
from prottasks.errors import ProttasksError, TaskInputError
from prottasks.heads import build_head

pytestmark = pytest.mark.numerics

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def sequences():
    """12 real Swiss-Prot sequences (CAFA-style training FASTA), cut to 40-117 residues (different lengths)."""
    proteins = read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:12]
    return [p.select(slice(0, min(len(p), 40 + 7 * i))) for i, p in enumerate(proteins)]


def _encoder(seed: int = 0, **kwargs) -> TinyPretrainedEncoder:
    torch.manual_seed(seed)
    encoder = TinyPretrainedEncoder(TinyEncoderConfig(**kwargs))
    encoder.cls.data.normal_(
        0, 1
    )  # a trained <cls> offset (zero at initialisation: <cls> would equal the mean)
    return encoder


def _mutants(proteins):
    out = []
    for p in proteins:
        s = p.sequence
        out.append(p.replace(sequence=s[:10] + ("A" if s[10] != "A" else "G") + s[11:]))
    return out


HEADS = {
    "multi_label": {"type": "multi_label", "num_labels": "auto"},
    "single_label": {"type": "single_label", "num_classes": "auto", "dropout": 0.1},
    "regression": {"type": "regression", "normalization": "standard"},
    "pair": {"type": "pair"},
    "msp": {"type": "msp"},
    "function_caller": {"type": "function_caller", "num_labels": "auto", "unfreeze_last_k_layers": 1},
}
LABELS = {"multi_label": ["GO:0005515", "GO:0016020", "GO:0003677"], "single_label": ["cytoplasm", "nucleus"],
          "function_caller": ["EC:1", "EC:2", "EC:3", "EC:4"], "pair": ["no", "yes"]}  # fmt: skip


def _model(name: str) -> TaskModel:
    model = TaskModel.from_encoder(_encoder(), HEADS[name], labels=LABELS.get(name))
    torch.manual_seed(1)
    for p in model.head.parameters():  # non-trivial head weights
        p.data.normal_(0, 0.5)
    if name == "regression":
        model.fit(torch.tensor([40.0, 52.5, 61.0, 47.25, 66.0]))
    return model


def _inputs(name: str, sequences, globins):
    if name == "pair":
        return sequences[:6], sequences[6:12]
    if name == "msp":
        return globins, _mutants(globins)
    return (sequences,)


@pytest.mark.parametrize("name", list(HEADS))
def test_every_head_round_trips(name, sequences, globins, tmp_path):
    model = _model(name).eval()
    inputs = _inputs(name, sequences, globins)
    before = model.predict(*inputs)
    model.save_pretrained(tmp_path / name)
    header = read_config(tmp_path / name)
    head = header["config"]["head"]
    assert header["type"] == "task" and "auto" not in head.values()
    build_head(head, TinyPretrainedEncoder())  # build_head accepts what save writes
    loaded = load_pretrained(tmp_path / name)
    assert isinstance(loaded, TaskModel) and not loaded.training
    assert loaded.config == model.config and loaded.labels == LABELS.get(name)
    after = loaded.predict(*inputs)
    np.testing.assert_array_equal(after, before)
    assert after.shape == {"regression": (12,), "msp": (4,), "pair": (6, 2)}.get(
        name, (12, len(LABELS.get(name, [])))
    )
    if name == "regression":  # the normalisation buffers came back
        assert float(loaded.head.shift) == pytest.approx(53.35) and bool(loaded.head.fitted)


def test_predict_scores_equal_independent_formulas(sequences, globins):
    """Sigmoid / softmax / de-normalisation computed in NumPy float64 from the head's raw output."""
    for name, formula in [
        ("multi_label", lambda z: 1 / (1 + np.exp(-z))),
        ("single_label", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
        ("regression", lambda z: z),
    ]:
        model = _model(name).eval()
        batch = ProteinBatch.collate(sequences)
        with torch.no_grad():
            raw = model(batch).output.double().numpy()
        np.testing.assert_allclose(model.predict(sequences, batch_size=5), formula(raw), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.predict(batch), formula(raw), rtol=1e-5, atol=1e-6)
    # regression values are de-normalised: the MLP's output times the training std plus their mean
    model = _model("regression").eval()
    batch = ProteinBatch.collate(sequences)
    y = np.array([40.0, 52.5, 61.0, 47.25, 66.0])
    with torch.no_grad():
        z = model.head.mlp(model.encoder(batch).protein).squeeze(-1).double().numpy()
    np.testing.assert_allclose(model.predict(batch), z * y.std(ddof=1) + y.mean(), rtol=1e-5)


def test_predict_keeps_input_order_and_restores_training_mode(sequences):
    model = _model("multi_label").train()
    together = model.predict(sequences, batch_size=4)  # length-sorted batches
    one_by_one = np.concatenate([model.predict(sequences[i : i + 1]) for i in range(len(sequences))])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    assert model.training
    with pytest.raises(TaskInputError, match="takes 1 input"):
        model.predict(sequences, sequences)


def test_function_caller_reload_pools_cls_not_mean(sequences, tmp_path):
    """The 0.590-vs-0.627 bug: a reloaded Function Caller model must read <cls>, exactly as in memory."""
    model = _model("function_caller").eval()
    scores = model.predict(sequences)
    model.save_pretrained(tmp_path / "fc")
    loaded = load_pretrained(tmp_path / "fc")
    np.testing.assert_array_equal(loaded.predict(sequences), scores)
    # independent: dense/tanh/out_proj of the encoder's <cls> embedding
    batch = ProteinBatch.collate(sequences)
    with torch.no_grad():
        cls = loaded.encoder(batch).extras["cls"]
        expected = torch.sigmoid(loaded.head.out_proj(torch.tanh(loaded.head.dense(cls)))).double().numpy()
        mean = loaded.encoder(batch).protein
        mean_scores = (
            torch.sigmoid(loaded.head.out_proj(torch.tanh(loaded.head.dense(mean)))).double().numpy()
        )
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert (
        np.abs(scores - mean_scores).max() > 1e-2
    )  # mean pooling would give other scores: the test can fail
    # the same weights with pooling: protein give the mean-pooled scores
    config = json.loads((tmp_path / "fc" / "config.json").read_text())
    config["config"]["head"]["pooling"] = "protein"
    (tmp_path / "fc" / "config.json").write_text(json.dumps(config))
    np.testing.assert_allclose(load_pretrained(tmp_path / "fc").predict(sequences), mean_scores, atol=1e-6)


def test_function_caller_never_falls_back_silently(sequences):
    with pytest.raises(
        TaskInputError, match=r"encoder\.cls_output: false, but the function_caller head pools"
    ):
        TaskModel.from_encoder(
            _encoder(cls_output=False), HEADS["function_caller"], labels=LABELS["function_caller"]
        )
    config = TaskModelConfig(encoder={"type": "prottasks_tiny_sequence"}, head={"type": "function_caller",
                             "num_labels": 2, "unfreeze_last_k_layers": None})  # fmt: skip
    model = TaskModel(config, TinyGraphEncoder())  # an encoder without a <cls> output
    with pytest.raises(TaskInputError, match=r"returns no extras\['cls'\]"):
        model.predict(sequences)
    protein = TaskModel.from_encoder(_encoder(cls_output=False), {**HEADS["function_caller"], "pooling": "protein"},
                                     labels=LABELS["function_caller"])  # fmt: skip
    assert protein.predict(sequences).shape == (12, 4)


def test_config_errors_name_the_key(tmp_path):
    enc = {"type": "prottasks_tiny_sequence"}
    cases = [
        ({"encoder": enc, "head": {"type": "multi_label", "num_labels": "auto"}}, "head.num_labels: 'auto' needs the labels"),
        ({"encoder": enc, "head": {"type": "multi_label", "num_labels": 3}, "labels": ["a", "b"]}, "head.num_labels: 3, but labels lists 2"),
        ({"encoder": enc, "head": {"type": "single_label", "num_classes": 2}, "kind": "regression"}, "kind: 'regression', but a single_label head"),
        ({"encoder": enc, "head": {"type": "multi_label", "num_labels": 2}, "labels": ["a", "a"]}, "'a' is listed twice"),
        ({"encoder": {"dim": 3}, "head": {"type": "regression"}}, "encoder: the encoder config needs its 'type'"),
    ]  # fmt: skip
    for config, message in cases:
        with pytest.raises(ValueError, match=message):
            TaskModelConfig.model_validate(config)
    model = _model("multi_label")
    model.save_pretrained(tmp_path / "m")
    header = json.loads((tmp_path / "m" / "config.json").read_text())
    header["config"]["head"]["num_mlp_layer"] = "three"
    (tmp_path / "m" / "config.json").write_text(json.dumps(header))
    with pytest.raises(
        PretrainedFormatError, match=r"config.json: invalid 'task' config: head.multi_label.num_mlp_layer"
    ) as exc:
        load_pretrained(tmp_path / "m")
    assert "\n" not in str(exc.value)
    header["config"]["head"]["num_mlp_layer"] = 3
    header["config"]["encoder"]["dim"] = 0
    (tmp_path / "m" / "config.json").write_text(json.dumps(header))
    with pytest.raises(
        PretrainedFormatError, match=r"m/config.json: encoder: invalid 'prottasks_tiny_sequence' config: dim"
    ) as exc:
        load_pretrained(tmp_path / "m")
    assert issubclass(ProttasksError, ProtdataError) and isinstance(exc.value, ProtdataError)


def test_fresh_process_loads_the_same_predictions(sequences, tmp_path):
    model = _model("regression").eval()
    expected = model.predict(sequences)
    model.save_pretrained(tmp_path / "reg")
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import prottasks_tiny, numpy as np\n"
        "from protdata import read_fasta\nfrom protdata.pretrained import load_pretrained\n"
        "from protdata.testing import shared_data\n"
        "ps = read_fasta(shared_data('function', 'cafa_like_sequences.fasta'))[:12]\n"
        "ps = [p.select(slice(0, min(len(p), 40 + 7 * i))) for i, p in enumerate(ps)]\n"
        f"m = load_pretrained({str(tmp_path / 'reg')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, m.predict(ps))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_predict_truncates_to_max_length(tmp_path):
    """``max_length`` (the apps' inference truncation) cuts proteins before prediction, and is saved."""
    proteins = read_fasta(shared_data("function", "cafa_like_sequences.fasta"))[:12]
    assert max(len(p) for p in proteins) > 60
    encoder = _encoder()
    model = TaskModel.from_encoder(encoder, HEADS["multi_label"], labels=LABELS["multi_label"])
    cut = TaskModel(model.config.model_copy(update={"max_length": 60}), encoder).eval()
    cut.head.load_state_dict(model.head.state_dict())
    expected = model.predict([p.select(slice(0, min(len(p), 60))) for p in proteins])
    np.testing.assert_array_equal(cut.predict(proteins), expected)
    assert np.abs(model.predict(proteins) - expected).max() > 1e-4  # truncation changes the scores
    cut.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.config.max_length == 60
    np.testing.assert_array_equal(loaded.predict(proteins), expected)
    with pytest.raises(ValueError, match="max_length"):
        TaskModelConfig(encoder={"type": "x"}, head={"type": "regression"}, max_length=0)
