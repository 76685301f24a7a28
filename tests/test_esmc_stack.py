"""ESM C across the stack: as the sequence side of protfusion's fusions (built from config sections) and through
``apps/embed.py`` in this process.

Independent truths: the fusion's own parts run separately (serial fusion = ``[sequence ‖ structure(sequence
features)]``, ESM-GearNet's ``series`` branch); transformers' ``EsmcModel`` on the weights the app loads from a
transformers directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from protdata import ProteinBatch, load_chains
from protdata.testing import shared_data

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

pytestmark = pytest.mark.numerics

TINY = {"num_layers": 4, "embed_dim": 32, "attention_heads": 4}
GEARNET = {"type": "gearnet", "hidden_dims": [16, 16, 16]}


@pytest.fixture(scope="module")
def proteins() -> list[Any]:
    """Two real chains of 20 and 76 residues (Trp-cage 1l2y, 2axd)."""
    fold = shared_data("foldseek", "structures")
    return [load_chains(fold / "1l2y.cif")[0], load_chains(fold / "2axd.cif")[0]]


@pytest.fixture(scope="module")
def batch(proteins: list[Any]) -> ProteinBatch:
    return ProteinBatch.collate(proteins)


def build(config: dict[str, Any]) -> Any:
    import protfusion

    torch.manual_seed(0)
    return protfusion.build(config).eval()


def test_esmc_is_the_sequence_side_of_a_serial_fusion(batch):
    from protenc_seq import ESMCEncoder

    fusion = build(
        {"type": "serial", "sequence": {"type": "esmc", "architecture": TINY}, "structure": GEARNET}
    )
    assert isinstance(fusion.sequence, ESMCEncoder)
    with torch.no_grad():
        out = fusion(batch)
        seq = fusion.sequence(batch)
        struct = fusion.structure(batch, node_features=seq.residue)
    assert torch.equal(out.residue, torch.cat([seq.residue, struct.residue], dim=-1))
    assert torch.equal(out.protein, torch.cat([seq.protein, struct.protein], dim=-1))
    assert fusion.output_dim == 32 + struct.residue.shape[-1]


@pytest.mark.parametrize("kind", ["parallel", "cross", "token"])
def test_esmc_in_the_other_fusions(batch, kind):
    """Parallel / cross / token fusion build from an ``esmc`` section and train end to end (token fusion: the
    schedule comes from ESM C's depth, 4 blocks for 3 GearNet layers)."""
    fusion = build({"type": kind, "sequence": {"type": "esmc", "architecture": TINY}, "structure": GEARNET})
    fusion.train()
    out = fusion(batch)
    assert out.residue.shape[:2] == (2, 76) and torch.isfinite(out.residue).all()
    out.protein.sum().backward()
    grads = [p.grad for p in fusion.sequence.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_token_fusion_schedule_reads_esmc_depth():
    from protfusion import TokenFusionConfig

    config = TokenFusionConfig.model_validate(
        {"type": "token", "sequence": {"type": "esmc", "architecture": TINY}, "structure": GEARNET}
    )
    assert config.sequence.num_layers == 4 and config.structure_input_width() == 32
    with pytest.raises(ValueError, match="inject_every"):
        TokenFusionConfig.model_validate(
            {
                "type": "token",
                "sequence": {"type": "esmc", "architecture": TINY},
                "structure": GEARNET,
                "inject_every": 3,  # 3 GearNet layers after blocks 3, 6, 9 of a 4-block ESM C
            }
        )


#: An ``encoder`` section for apps: a 2-block ESM C read from a transformers directory (``%`` the directory).
SECTION = "{type: esmc, architecture: {num_layers: 2, embed_dim: 32, attention_heads: 4}, checkpoint: %s}"


def test_embed_app_runs_an_esmc_directory(esmc_hf_dir, tmp_path, capsys):
    """``apps/embed.py`` with an ``encoder: {type: esmc, checkpoint: <transformers dir>}`` section = transformers'
    ``EsmcModel`` mean over residues."""
    import embed
    import pyarrow.parquet as pq
    import transformers
    from app_testing import run_main

    hf, directory = esmc_hf_dir
    records = [("1l2y", "NLYIQWLKDGGPSSGRPPPS"), ("pep", "MKVLAAGIVGLLLAYSRQ")]
    fasta = tmp_path / "seqs.fasta"
    fasta.write_text("".join(f">{n}\n{s}\n" for n, s in records))
    status, stdout, stderr = run_main(
        embed.main,
        [
            "--config",
            str(APPS / "configs" / "embed" / "esm2.yaml"),
            f"encoder={SECTION % directory}",
            "--device",
            "cpu",
            "--input",
            str(fasta),
            "--output",
            str(tmp_path / "emb.parquet"),
        ],
        capsys,
    )
    assert status == 0, stderr
    assert "embedded 2 proteins (32-d, mean pooling" in stdout
    table = pq.read_table(tmp_path / "emb.parquet")
    tok = transformers.EsmcTokenizer()
    for (_, seq), got in zip(records, table.column("embedding").to_pylist()):
        with torch.no_grad():
            ids = tok(seq, return_tensors="pt")["input_ids"]
            want = hf.esmc(input_ids=ids).last_hidden_state[0, 1:-1].mean(0)
        torch.testing.assert_close(
            torch.tensor(got, dtype=torch.float64), want.double(), atol=1e-5, rtol=1e-5
        )
    assert table.column("id").to_pylist() == [n for n, _ in records]


@pytest.mark.parametrize(
    "head", [{"type": "multi_label", "num_labels": "auto"}, {"type": "function_caller", "pooling": "cls"}]
)
def test_esmc_under_a_prottasks_head_saves_and_reloads(proteins, tmp_path, head):
    """A task model on an ESM C encoder (the Function Caller head pooling ESM C's ``<cls>``) predicts, saves and
    reloads through the ``esmc`` type to identical predictions."""
    from protdata.pretrained import load_pretrained
    from protenc_seq import ESMCConfig, ESMCEncoder
    from prottasks.task_model import TaskModel

    torch.manual_seed(0)
    encoder = ESMCEncoder(ESMCConfig(**TINY), cls_output=True)
    model = TaskModel.from_encoder(encoder, head, labels=["GO:1", "GO:2", "GO:3"]).eval()
    scores = model.predict(proteins)
    assert scores.shape == (2, 3)
    model.save_pretrained(tmp_path / "task")
    back = load_pretrained(tmp_path / "task")
    assert isinstance(back.encoder, ESMCEncoder)
    assert np.array_equal(back.predict(proteins), scores)


def test_score_app_scores_with_an_esmc_directory(esmc_hf_dir, tmp_path, capsys):
    """``apps/score.py`` (masked marginals, BLAT_ECOLX, offset 24) with an ESM C section = log P(mt) - log P(wt)
    from transformers' logits with ``<mask>`` at the site, log-softmax over all 64 outputs."""
    import csv

    import score
    import transformers
    from app_testing import run_main

    hf, directory = esmc_hf_dir
    csv_path = shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv")
    wt_path = shared_data("dms", "BLAT_ECOLX_wildtype.txt")
    lines = [ln.strip() for ln in wt_path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    wild_type = lines[0]
    out = tmp_path / "scores.csv"
    status, _, stderr = run_main(
        score.main,
        [
            "--config",
            str(APPS / "configs" / "score" / "esm2_masked_marginal.yaml"),
            f"encoder={SECTION % directory}",
            "device=cpu",
            f"data.csv={csv_path}",
            "data.offset=24",
            f"wild_type={wt_path}",
            "data.label_column=2500",
            "data.limit=40",
            "--output",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40
    ids = transformers.EsmcTokenizer()(wild_type, return_tensors="pt")["input_ids"]
    vocab = transformers.EsmcTokenizer().get_vocab()
    for row in rows[::7]:
        mutant = row["mutant"]
        site = int(mutant[1:-1]) - 24 + 1  # token position after <cls>
        masked = ids.clone()
        masked[0, site] = vocab["<mask>"]
        with torch.no_grad():
            logp = torch.log_softmax(hf(input_ids=masked).logits[0, site].double(), -1)
        want = float(logp[vocab[mutant[-1]]] - logp[vocab[mutant[0]]])
        assert abs(float(row["score"]) - want) <= 1e-4, mutant


def test_mlm_pretraining_objective_trains_esmc(esmc_hf_dir, proteins):
    """prottasks' MLM objective on an ESM C encoder (``type: esmc`` passes the objective check): its loss is the
    cross-entropy of transformers' logits on the corrupted tokens at the selected sites, random replacements
    come from the 33 real tokens only, and gradients reach the encoder."""
    from protdata import ProteinBatch
    from protenc_seq import ESMCEncoder, SequenceEncoderConfig
    from prottasks.objectives.pretraining import build_pretraining_model

    hf, directory = esmc_hf_dir
    encoder = ESMCEncoder.from_pretrained(directory)
    config = SequenceEncoderConfig(type="esmc", architecture=encoder.model.config, checkpoint=str(directory))
    model = build_pretraining_model(encoder, {"type": "mlm"}, encoder_config=config)
    batch = ProteinBatch.collate(proteins)
    out = model(batch, torch.Generator().manual_seed(3))
    inputs, labels = out.details["inputs"], out.details["labels"]
    selected = labels != -100
    assert int(selected.sum()) > 0 and int(inputs.max()) < 33
    with torch.no_grad():
        logits = hf(input_ids=inputs, attention_mask=inputs.ne(1).long()).logits
    want = torch.nn.functional.cross_entropy(logits[selected].double(), labels[selected])
    assert abs(float(out.loss.detach()) - float(want)) <= 1e-4
    out.loss.backward()
    assert encoder.model.layers[0].attn.qkv_proj.weight.grad.abs().sum() > 0
