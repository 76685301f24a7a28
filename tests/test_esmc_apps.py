"""ESM C through the training and inference apps (issue 15): the ESM2 Function Caller fine-tuning preset and the
masked-language-model pretraining preset run two steps on an ESM C read from a transformers ``EsmcForMaskedLM``
directory, their exports reload with the library loader, ``apps/embed.py pooling=cls`` reads ESM C's ``<cls>`` and
``apps/score.py`` scores with the pretraining export.

Independent truths: transformers' ``EsmcForMaskedLM`` / ``EsmcModel`` (the fine-tuned encoder is frozen, so its
``<cls>`` is transformers' on the directory's weights; the pretrained weights, written back into transformers' names,
give transformers' logits) and the Function Caller head written out by hand (``tanh`` dense, linear, sigmoid:
andrewdalpino/esm2-function-classifier's ``EsmClassificationHead``).

Data (``/work/shared/data``): the CAFA-like Swiss-Prot terms and sequences with the real GO release (fine-tuning),
apps/data/demo_structures (pretraining), BLAT_ECOLX (scoring).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))


from protdata.testing import fasta_by_hand, shared_data  # noqa: E402

pytestmark = pytest.mark.numerics

#: The ``encoder`` section of the runs: the 2-block ESM C of ``esmc_hf_dir`` (``%`` = its directory).
SECTION = "{type: esmc, architecture: {num_layers: 2, embed_dim: 32, attention_heads: 4}, checkpoint: %s}"
#: Two optimizer steps, one thread, no worker process.
STEPS = [
    "train.epochs=null",
    "train.max_steps=2",
    "train.log_every=1",
    "train.num_threads=1",
    "--no-progress",
]
#: CAFA-like Swiss-Prot entries with GO-MF terms: two short ones, two past 1,022 residues (the preset truncates).
CAFA_IDS = ["P29972", "P61207", "P00722", "P00533", "P49696", "O42611"]
DEMO = [
    APPS / "data" / "demo_structures" / f
    for f in ("3a4rA.pdb.gz", "2cviA.pdb.gz", "2xcjA.pdb.gz", "1lpbA.pdb.gz")
]


def one_run(out: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The run folder under ``out`` and its two logged optimizer steps (finite losses, final export written)."""
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2], records
    assert all(math.isfinite(r["loss"]) for r in steps), steps
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "config.json").is_file()
    return run_dir, records


@pytest.fixture(scope="module")
def cafa5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``${CAFA5}`` folder: the real CAFA-like terms, six real sequences and the real GO release's terms used."""
    from go_obo_text import read_obo_text, write_subset

    folder = tmp_path_factory.mktemp("cafa5")
    terms = shared_data("function", "cafa_like_terms.tsv")
    (folder / "train_terms.tsv").symlink_to(terms)
    sequences = fasta_by_hand(shared_data("function", "cafa_like_sequences.fasta"))
    (folder / "train_sequences.fasta").write_text("".join(f">{k}\n{sequences[k]}\n" for k in CAFA_IDS))
    with terms.open() as f:
        used = {row[1] for row in list(csv.reader(f, delimiter="\t"))[1:]}
    write_subset(read_obo_text(shared_data("go", "go-basic_2021-12-15.obo")), used, folder / "go-basic.obo")
    return folder


def test_function_caller_preset_fine_tunes_esmc(esmc_hf_dir, cafa5, tmp_path, capsys, monkeypatch):
    """The ESM2 Function Caller GO-MF preset with an ESM C section: two steps, then the exported model (library
    loader) predicts ``sigmoid(out(tanh(dense(<cls>))))`` with transformers' ``<cls>`` on the directory's weights
    (the preset freezes the encoder) and the exported head tensors."""
    import finetune
    from app_testing import run_main
    from safetensors.torch import load_file

    from protdata import Protein
    from protdata.pretrained import load_pretrained
    from protenc_seq import ESMCEncoder

    hf, directory = esmc_hf_dir
    monkeypatch.setenv("CAFA5", str(cafa5))
    preset = APPS / "configs" / "finetune" / "function_caller" / "go_mf.yaml"
    argv = ["--config", str(preset), f"encoder={SECTION % directory}", *STEPS, "data.batch_size=2"]
    argv += [f"data.cache_dir={tmp_path / 'cache'}", f"output_root={tmp_path / 'runs'}"]
    status, _, err = run_main(finetune.main, argv, capsys)
    assert status == 0, err
    run_dir, _ = one_run(tmp_path / "runs")

    model = load_pretrained(run_dir)
    assert isinstance(model.encoder, ESMCEncoder) and model.config.head.type == "function_caller"
    weights = load_file(str(run_dir / "model.safetensors"))
    sequences = fasta_by_hand(cafa5 / "train_sequences.fasta")
    names = ["P29972", "P61207", "P00722"]  # 269, 131 and 1,024 residues (cut to the preset's 1,022)
    scores = model.predict([Protein.from_sequence(n, sequences[n]) for n in names])
    assert scores.shape == (3, len(model.labels)) and len(model.labels) > 10

    tok = __import__("transformers").EsmcTokenizer()
    for row, name in enumerate(names):
        with torch.no_grad():
            ids = tok(sequences[name][:1022], return_tensors="pt")["input_ids"]
            cls = hf.esmc(input_ids=ids).last_hidden_state[0, 0].double()  # (D,)
        w = {k: v.double() for k, v in weights.items() if k.startswith("head.")}
        hidden = torch.tanh(w["head.dense.weight"] @ cls + w["head.dense.bias"])
        want = torch.sigmoid(w["head.out_proj.weight"] @ hidden + w["head.out_proj.bias"])
        np.testing.assert_allclose(scores[row], want.numpy(), rtol=0, atol=1e-5)


def test_mlm_preset_pretrains_esmc_and_the_export_scores(esmc_hf_dir, tmp_path, capsys, monkeypatch):
    """The MLM pretraining preset (SaProt's recipe) with an ESM C section: two steps; the export loads into an ESM C
    encoder whose logits are transformers' on the exported weights; ``apps/score.py export=<run>`` scores with
    it (log P(mt) - log P(wt) at a masked site, transformers' logits on those weights)."""
    import pretrain
    import score
    import transformers
    from app_testing import run_main
    from safetensors.torch import load_file

    from protdata.pretrained import load_pretrained
    from protenc_seq import ESMCEncoder
    from protenc_seq.esmc import ours_to_hf

    hf, directory = esmc_hf_dir
    preset = APPS / "configs" / "pretrain" / "saprot" / "mlm_650m.yaml"
    argv = ["--config", str(preset), f"encoder={SECTION % directory}", "scheduler.warmup_steps=1", *STEPS]
    argv += ["data.num_workers=0", "data.batch_size=2", "data.sources=[" + ",".join(map(str, DEMO)) + "]"]
    argv += [f"data.cache_dir={tmp_path / 'cache'}", f"output_root={tmp_path / 'runs'}"]
    status, _, err = run_main(pretrain.main, argv, capsys)
    assert status == 0, err
    run_dir, records = one_run(tmp_path / "runs")
    assert all(r["num_selected"] >= 1 for r in records if "loss" in r)

    encoder = load_pretrained(run_dir)
    assert isinstance(encoder, ESMCEncoder)
    weights = load_file(str(run_dir / "model.safetensors"))
    ours = {k.removeprefix("model."): v for k, v in weights.items()}
    start = hf.state_dict()
    trained = ours_to_hf(ours)
    assert not torch.equal(trained["lm_head.dense.weight"], start["lm_head.dense.weight"])  # it trained
    config = transformers.EsmcConfig(
        vocab_size=64, hidden_size=32, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4
    )
    after = transformers.EsmcForMaskedLM(config).eval()
    after.load_state_dict({**trained, **{k: v for k, v in start.items() if k not in trained}})

    tok = transformers.EsmcTokenizer()
    wt_path = shared_data("dms", "BLAT_ECOLX_wildtype.txt")
    lines = [ln.strip() for ln in wt_path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    ids = tok(lines[0], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = after(input_ids=ids).logits.double()
        got = encoder.model(ids).logits.double()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)

    out = tmp_path / "scores.csv"
    status, _, err = run_main(
        score.main,
        [
            "--config",
            str(APPS / "configs" / "score" / "esm2_masked_marginal.yaml"),
            "encoder=null",
            f"export={run_dir}",
            "device=cpu",
            f"data.csv={shared_data('dms', 'BLAT_ECOLX_Ranganathan2015.csv')}",
            "data.offset=24",
            f"wild_type={wt_path}",
            "data.label_column=2500",
            "data.limit=12",
            "--output",
            str(out),
        ],
        capsys,
    )
    assert status == 0, err
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12
    vocab = tok.get_vocab()
    for row in rows[::5]:
        mutant = row["mutant"]
        site = int(mutant[1:-1]) - 24 + 1  # token position after <cls>
        masked = ids.clone()
        masked[0, site] = vocab["<mask>"]
        with torch.no_grad():
            logp = torch.log_softmax(after(input_ids=masked).logits[0, site].double(), -1)
        assert abs(float(row["score"]) - float(logp[vocab[mutant[-1]]] - logp[vocab[mutant[0]]])) <= 1e-4, (
            mutant
        )


def test_embed_app_cls_pooling_reads_esmc_cls(esmc_hf_dir, tmp_path, capsys):
    """``apps/embed.py pooling=cls`` with an ESM C section = transformers' final-layer ``<cls>`` hidden state."""
    import embed
    import pyarrow.parquet as pq
    import transformers
    from app_testing import run_main

    hf, directory = esmc_hf_dir
    records = [("1l2y", "NLYIQWLKDGGPSSGRPPPS"), ("pep", "MKVLAAGIVGLLLAYSRQ")]
    fasta = tmp_path / "seqs.fasta"
    fasta.write_text("".join(f">{n}\n{s}\n" for n, s in records))
    argv = ["--config", str(APPS / "configs" / "embed" / "esm2.yaml"), f"encoder={SECTION % directory}"]
    argv += [
        "pooling=cls",
        "--device",
        "cpu",
        "--input",
        str(fasta),
        "--output",
        str(tmp_path / "emb.parquet"),
    ]
    status, stdout, stderr = run_main(embed.main, argv, capsys)
    assert status == 0, stderr
    assert "cls pooling" in stdout, stdout
    table = pq.read_table(tmp_path / "emb.parquet")
    tok = transformers.EsmcTokenizer()
    for (_, seq), got in zip(records, table.column("embedding").to_pylist()):
        with torch.no_grad():
            want = hf.esmc(input_ids=tok(seq, return_tensors="pt")["input_ids"]).last_hidden_state[0, 0]
        torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), want.double(), atol=1e-5, rtol=0)
