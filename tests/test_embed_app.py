"""apps/embed.py on real structure files (../shared/data/structures) and a FASTA file written from them.

Independent truths: fair-esm's own ESM2 (``representations`` of the last layer, mean over residues, the ``<cls>``
row) on the same weights, saved as a fair-esm ``.pt``; for SaProt and an exported GearNet, the encoder's forward
in this process (the Python API) on the same proteins in one batch. Output files are read back with readers that
are not the app's (protalign.export.load_embeddings, safetensors, pyarrow). Bad files in a directory are skipped
and counted; bad input is one ``error:`` line, exit status 2, and no output file."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from protdata.testing import shared_data

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import embed  # noqa: E402
from app_testing import corrupted_cafa, fair_esm_checkpoint, randomize_, run_main  # noqa: E402

PRESETS = APPS / "configs" / "embed"
TINY = "{num_layers: 2, embed_dim: 32, attention_heads: 4}"
TOL = dict(atol=1e-5, rtol=1e-5)
#: Four real single-chain PDB entries (MDAnalysisTests' DSSP set, 85-126 residues).
GOOD = ["1ahsA.pdb.gz", "1dx5I.pdb.gz", "1i8nA.pdb.gz", "1lpbA.pdb.gz"]


@pytest.fixture(scope="module")
def fair_esm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    """A random fair-esm ESM2 (2 layers, 32-d) and its weights as a fair-esm ``.pt`` (fair-esm's file layout)."""
    return fair_esm_checkpoint(tmp_path_factory, seed=5)


def fair_esm_features(model: Any, alphabet: Any, sequence: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(residues (L, D), <cls> (D,))`` of fair-esm's last layer (``extract.py --repr_layers 2``)."""
    tokens = alphabet.get_batch_converter()([("p", sequence)])[2]
    with torch.no_grad():
        rep = model(tokens, repr_layers=[model.num_layers])["representations"][model.num_layers][0]
    return rep[1 : len(sequence) + 1], rep[0]


@pytest.fixture(scope="module")
def structures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """A directory with the four real entries and three bad files (a PDB without a protein chain from the same
    real set, a truncated gzip, a garbled PDB); and the four proteins as protdata loads them."""
    from protdata import load_chains

    root = tmp_path_factory.mktemp("structures")
    for name in GOOD:
        shutil.copy(shared_data("structures", "experimental_mdanalysis_dssp", name), root / name)
    shutil.copy(shared_data("structures", "experimental_mdanalysis_dssp", "wrong_hydrogens.pdb.gz"), root)
    (root / "truncated.pdb.gz").write_bytes((root / GOOD[0]).read_bytes()[:2000])
    (root / "garbled.pdb").write_text("ATOM      1  CA  ALA A   1      xx.xxx  1.000\n")
    proteins = [load_chains(root / name)[0] for name in GOOD]
    return root, proteins


def run_app(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``apps/embed.py`` in this process: ``(exit status, stdout, stderr)``."""
    return run_main(embed.main, argv, capsys)


def esm_args(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("ESM2_650M", str(checkpoint))
    preset = str(PRESETS / "esm2.yaml")
    return ["--config", preset, "encoder.preset=null", f"encoder.architecture={TINY}", "--device", "cpu"]


# ------------------------------------------------------------------------------------------------- ESM-2
def test_esm2_fasta_to_parquet_equals_fair_esm(fair_esm, structures, tmp_path, monkeypatch, capsys) -> None:
    """A gzipped FASTA of the real chains → Parquet (mean + per-residue) = fair-esm's last layer."""
    import pyarrow.parquet as pq

    model, alphabet, checkpoint = fair_esm
    _, proteins = structures
    fasta = tmp_path / "chains.fasta.gz"
    with gzip.open(fasta, "wt") as handle:
        handle.writelines(f">{p.id} from {p.source}\n{p.sequence}\n" for p in proteins)
    out = tmp_path / "emb.parquet"
    status, stdout, stderr = run_app(
        [*esm_args(checkpoint, monkeypatch), "--input", str(fasta), "--output", str(out), "per_residue=true"],
        capsys,
    )
    assert status == 0, stderr
    assert stdout.startswith("embedded 4 proteins (32-d, mean pooling")
    table = pq.read_table(out)
    assert table.column_names == ["id", "source", "length", "embedding", "residue_embedding"]
    assert table.column("id").to_pylist() == [p.id for p in proteins]  # input order
    assert table.column("length").to_pylist() == [len(p) for p in proteins]
    for p, mean, rows in zip(
        proteins, table.column("embedding").to_pylist(), table.column("residue_embedding").to_pylist()
    ):
        residues, _ = fair_esm_features(model, alphabet, p.sequence)
        torch.testing.assert_close(torch.tensor(rows), residues, **TOL)
        torch.testing.assert_close(torch.tensor(mean), residues.mean(0), **TOL)
    assert table.schema.metadata[b"pooling"] == b"mean"


def test_esm2_directory_to_safetensors_cls_skips_bad_files(
    fair_esm, structures, tmp_path, monkeypatch, capsys
) -> None:
    """A directory with four real entries and three bad files → safetensors in protalign's embedding layout:
    <cls> pooling and residue rows = fair-esm's; the bad files are skipped, named and counted."""
    from safetensors import safe_open

    from protalign.export import load_embeddings

    model, alphabet, checkpoint = fair_esm
    root, proteins = structures
    out = tmp_path / "deep" / "emb.safetensors"
    status, stdout, stderr = run_app(
        [
            *esm_args(checkpoint, monkeypatch),
            "-i",
            str(root),
            "-o",
            str(out),
            "pooling=cls",
            "per_residue=true",
        ],
        capsys,
    )
    assert status == 0, stderr
    assert "from 7 files" in stdout and "skipped 3 ->" in stdout
    for bad in ("wrong_hydrogens.pdb.gz", "truncated.pdb.gz", "garbled.pdb"):
        assert f"{root / bad}:" in stderr
    loaded = load_embeddings(out)  # protalign.export's own reader: the same file layout
    assert loaded.protein_ids == [p.id for p in proteins] and loaded.metadata["pooling"] == "cls"
    with safe_open(str(out), framework="pt") as handle:
        residue, offsets = handle.get_tensor("residue"), handle.get_tensor("residue_offsets")
        lengths = handle.get_tensor("lengths")
    assert lengths.tolist() == [len(p) for p in proteins] and offsets.tolist()[-1] == residue.shape[0]
    for i, p in enumerate(proteins):
        residues, cls = fair_esm_features(model, alphabet, p.sequence)
        torch.testing.assert_close(loaded.protein[i], cls, **TOL)
        torch.testing.assert_close(residue[offsets[i] : offsets[i + 1]], residues, **TOL)


def test_long_proteins_cropped_or_skipped(fair_esm, structures, tmp_path, monkeypatch, capsys) -> None:
    """A real 2,073-residue Swiss-Prot sequence: ``on_long: crop`` (the preset; extract.py truncates to 1,022) embeds
    its first 1,022 residues = fair-esm on them, and counts it; ``on_long: error`` skips that protein alone and
    names it, the others in its batch are still embedded."""
    from safetensors import safe_open

    from protdata import read_fasta

    model, alphabet, checkpoint = fair_esm
    _, proteins = structures
    long = next(
        p for p in read_fasta(shared_data("function", "cafa_like_sequences.fasta")) if p.id == "P31696"
    )
    fasta = tmp_path / "mixed.fasta"
    fasta.write_text("".join(f">{p.id}\n{p.sequence}\n" for p in [*proteins[:2], long]))
    args = [*esm_args(checkpoint, monkeypatch), "-i", str(fasta), "max_tokens=100000"]  # all in one batch

    out = tmp_path / "crop.safetensors"
    status, stdout, stderr = run_app([*args, "-o", str(out), "per_residue=true"], capsys)
    assert status == 0, stderr
    assert "1 cropped to the encoder's window" in stdout
    assert "note: cropped 1 protein longer than 1022 residues to 1022" in stderr.splitlines()
    with safe_open(str(out), framework="pt") as handle:
        offsets, protein = handle.get_tensor("residue_offsets"), handle.get_tensor("protein")
        assert handle.get_tensor("lengths").tolist() == [len(proteins[0]), len(proteins[1]), 2073]
    assert (offsets[3] - offsets[2]).item() == 1022
    residues, _ = fair_esm_features(model, alphabet, long.sequence[:1022])
    torch.testing.assert_close(protein[2], residues.mean(0), **TOL)

    out = tmp_path / "error.safetensors"
    status, stdout, stderr = run_app([*args, "-o", str(out), "encoder.on_long=error"], capsys)
    assert status == 0, stderr
    assert "embedded 2 proteins" in stdout and "skipped 1" in stdout
    assert "P31696" in stderr and "1022" in stderr
    with safe_open(str(out), framework="pt") as handle:
        assert json.loads(handle.metadata()["protein_ids"]) == [p.id for p in proteins[:2]]


def test_bad_fasta_record_skipped_not_the_file_and_crops_reported_once(
    fair_esm, tmp_path, monkeypatch, capsys
) -> None:
    """Issue 11 on the real CAFA-like FASTA with record 10 corrupted: the other 146 are embedded (= fair-esm), the
    bad record is named with file, line and reason and counted; the 9 proteins over 1,022 residues fall into several
    batches but their crop is reported once, with the total; ``--strict`` makes the skip exit 2 with no output; a
    file whose every record is bad is exit 2 too."""
    import pyarrow.parquet as pq

    model, alphabet, checkpoint = fair_esm
    fasta, records = corrupted_cafa(tmp_path, {10})
    kept = [r for k, r in enumerate(records) if k != 10]
    bad_id = records[10][0]
    out = tmp_path / "emb.parquet"
    args = [*esm_args(checkpoint, monkeypatch), "-i", str(fasta)]
    status, stdout, stderr = run_app([*args, "-o", str(out)], capsys)
    assert status == 0, stderr
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [pid for pid, _ in kept]  # every good record, in file order
    residues, _ = fair_esm_features(model, alphabet, records[11][1])  # the record after the bad one
    torch.testing.assert_close(
        torch.tensor(table.column("embedding").to_pylist()[10]), residues.mean(0), **TOL
    )
    reason = f"SequenceError: record {bad_id!r}: digit '1' in a sequence line at column 5"
    assert f"skipped {fasta}, line 22: {reason}" in stderr.splitlines()
    assert "skipped 1" in stdout
    n_long = sum(len(seq) > 1022 for _, seq in kept)
    assert n_long == 9
    crop_lines = [line for line in stderr.splitlines() if "cropped" in line]
    assert crop_lines == [f"note: cropped {n_long} proteins longer than 1022 residues to 1022"], stderr
    assert f"{n_long} cropped to the encoder's window" in stdout

    strict_out = tmp_path / "strict" / "emb.parquet"
    strict_out.parent.mkdir()
    status, _, stderr = run_app([*args, "-o", str(strict_out), "--strict"], capsys)
    assert status == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: inputs: 1 input(s) skipped and --strict is set: ")
    assert f"{fasta}, line 22: {reason}" in line
    assert list(strict_out.parent.iterdir()) == []

    all_bad, _ = corrupted_cafa(tmp_path, set(range(len(records))), "all_bad.fasta")
    status, _, stderr = run_app(
        [*esm_args(checkpoint, monkeypatch), "-i", str(all_bad), "-o", str(out)], capsys
    )
    assert status == 2
    (line,) = stderr.strip().splitlines()
    assert f"every input was skipped ({len(records)})" in line and "all_bad.fasta, line 2" in line


def test_cuda_on_a_cpu_machine_names_the_device_option(fair_esm, tmp_path, monkeypatch, capsys) -> None:
    """Issue 11: ``--device cuda`` without CUDA names embed's own option and says CUDA is not available."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, _, checkpoint = fair_esm
    fasta, _ = corrupted_cafa(tmp_path, set())
    argv = [*esm_args(checkpoint, monkeypatch), "-i", str(fasta), "-o", str(tmp_path / "e.parquet")]
    status, _, stderr = run_app([*argv, "--device", "cuda"], capsys)
    assert status == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: --device cuda") and "CUDA is not available" in line, line
    assert not (tmp_path / "e.parquet").exists()


# ------------------------------------------------------------------------------------------------ SaProt
def test_saprot_structures_equal_python_api(structures, tmp_path, monkeypatch, capsys) -> None:
    """SaProt on AlphaFold models (pLDDT < 70 → '#') and PDB entries = the SaProt encoder's forward in this process
    on the same proteins with their Foldseek 3Di strings; without structures (FASTA) the numbers change."""
    from safetensors.torch import load_file

    from protdata import ProteinBatch, load_chains
    from protdata.foldseek import with_3di
    from protenc_seq import ESM2, ESM2Config, SaProtEncoder, save_huggingface

    torch.manual_seed(0)
    network = randomize_(ESM2(ESM2Config(num_layers=2, embed_dim=32, attention_heads=4, vocab="saprot")), 9)
    save_huggingface(network, tmp_path / "saprot_tiny")
    monkeypatch.setenv("SAPROT_650M_AF2", str(tmp_path / "saprot_tiny"))
    root, _ = structures
    files = [
        shared_data("structures", "alphafold_db", "chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb"),
        shared_data("structures", "alphafold_db", "foldcomp__test_af.pdb"),
        root / GOOD[2],
        root / GOOD[3],
    ]
    args = ["--config", str(PRESETS / "saprot.yaml"), "encoder.preset=null", "--device", "cpu"]
    args.append("encoder.architecture={num_layers: 2, embed_dim: 32, attention_heads: 4, vocab: saprot}")
    out = tmp_path / "saprot.safetensors"
    status, _, stderr = run_app([*args, *(f"--input={f}" for f in files), "--output", str(out)], capsys)
    assert status == 0, stderr
    got = load_file(str(out))["protein"]

    proteins = with_3di([load_chains(f)[0] for f in files])
    assert proteins[0].plddt is not None and (proteins[0].plddt < 70).any()
    encoder = SaProtEncoder(network).eval()  # plddt_threshold 70, as in the preset
    with torch.no_grad():
        reference = encoder(ProteinBatch.collate(proteins)).protein
    torch.testing.assert_close(got, reference, **TOL)

    fasta = tmp_path / "seqs.fa"
    fasta.write_text("".join(f">{p.id}\n{p.sequence}\n" for p in proteins))
    status, _, stderr = run_app(
        [*args, "--input", str(fasta), "--output", str(tmp_path / "aa.safetensors")], capsys
    )
    assert status == 0 and "SaProt sees '#'" in stderr
    assert (load_file(str(tmp_path / "aa.safetensors"))["protein"] - got).abs().max() > 1e-3


# ------------------------------------------------------------------------------------------ GearNet export
@pytest.fixture(scope="module")
def gearnet_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A pretraining model (GearNet 2 x 16 + residue-type head) exported the way apps/pretrain.py exports it,
    with non-trivial batch-norm statistics."""
    from engine.pretraining import PretrainConfig, build_pretraining_model

    from prottasks.export import export_model
    from prottasks.objectives import pretrained_encoder

    config = PretrainConfig.model_validate({"encoder": {"type": "gearnet", "hidden_dims": [16, 16]}})
    torch.manual_seed(3)
    model = build_pretraining_model(config)
    gen = torch.Generator().manual_seed(4)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=gen))
            module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=gen))
    directory = tmp_path_factory.mktemp("export")
    metadata = {"app": "pretrain", "run_config": config.model_dump(mode="json")}
    export_model(model, model.state_dict(), directory, metadata, pretrained_encoder)
    return directory, model.encoder.eval()


def test_gearnet_export_equals_python_api(gearnet_export, structures, tmp_path, monkeypatch, capsys) -> None:
    """The encoder part of a pretraining export, on real structures: sum readout and residue rows = the exported
    model's GearNet forward in this process."""
    import pyarrow.parquet as pq

    from protdata import ProteinBatch

    directory, encoder = gearnet_export
    root, proteins = structures
    monkeypatch.setenv("GEARNET_EXPORT", str(directory))
    out = tmp_path / "gearnet.parquet"
    argv = ["--config", str(PRESETS / "gearnet_export.yaml"), "--device", "cpu", "per_residue=true"]
    status, stdout, stderr = run_app([*argv, *(f"--input={root / n}" for n in GOOD), "-o", str(out)], capsys)
    assert status == 0, stderr
    assert "readout pooling" in stdout
    with torch.no_grad():
        reference = encoder(ProteinBatch.collate(proteins))
    table = pq.read_table(out)
    torch.testing.assert_close(torch.tensor(table.column("embedding").to_pylist()), reference.protein, **TOL)
    for i, rows in enumerate(table.column("residue_embedding").to_pylist()):
        torch.testing.assert_close(torch.tensor(rows), reference.residue[i, : len(proteins[i])], **TOL)


# --------------------------------------------------------------------------------------------- bad input
def test_bad_input_is_one_line_and_writes_nothing(
    fair_esm, gearnet_export, structures, tmp_path, monkeypatch, capsys
) -> None:
    _, _, checkpoint = fair_esm
    root, _ = structures
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def bad(argv: list[str], *needles: str, out: Path = out_dir / "emb.parquet") -> None:
        status, _, stderr = run_app([*argv, "--output", str(out)], capsys)
        assert status == 2
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
        for needle in needles:
            assert needle in lines[0], lines[0]
        assert list(out_dir.iterdir()) == []  # no output, no temporary file

    esm = esm_args(checkpoint, monkeypatch)
    bad([*esm, "-i", str(tmp_path / "nope")], "inputs:", "nope: no such file or directory")
    bad([*esm, "-i", str(root), "poolng=cls"], "poolng: unknown key (did you mean 'pooling'?)")
    wrong = "{num_layers: 2, embed_dim: 64, attention_heads: 4}"
    bad(
        [*esm, "-i", str(root), f"encoder.architecture={wrong}"],
        "encoder.checkpoint:",
        "esm2_tiny.pt",
        "64 wide",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    bad([*esm, "-i", str(empty)], "inputs: no usable protein in", "no FASTA or structure files in them")
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    shutil.copy(root / "garbled.pdb", only_bad)
    bad([*esm, "-i", str(only_bad)], "no usable protein in 1 files", "garbled.pdb")
    bad([*esm, "-i", str(root)], "output:", "cannot tell the format", out=out_dir / "emb.npy")

    directory, _ = gearnet_export
    monkeypatch.setenv("GEARNET_EXPORT", str(directory))
    gearnet = ["--config", str(PRESETS / "gearnet_export.yaml"), "--device", "cpu"]
    fasta = tmp_path / "one.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQ\n")
    bad([*gearnet, "-i", str(fasta)], "reads coordinates", "one.fasta")
    # an export whose config does not fit its weights (wrong size)
    wrong_export = tmp_path / "wrong_export"
    shutil.copytree(directory, wrong_export)
    config = json.loads((wrong_export / "config.json").read_text())
    config["config"]["hidden_dims"] = [24, 24]
    (wrong_export / "config.json").write_text(json.dumps(config))
    bad(
        [*gearnet, "-i", str(root), f"export={wrong_export}"],
        "export:",
        "weights do not fit",
        "size mismatch",
    )
    # an export of the older layout: one line naming how to convert it
    (wrong_export / "config.json").write_text(json.dumps({"app": "pretrain", "config": {}}))
    bad([*gearnet, "-i", str(root), f"export={wrong_export}"], "export:", "older layout", "re-export")
    monkeypatch.delenv("GEARNET_EXPORT")
    bad([*gearnet, "-i", str(root)], "GEARNET_EXPORT is not set")


def test_presets_hold_the_seed_settings() -> None:
    """The embed presets: ESM-2 650M (33 x 1280, 20 heads) with fair-esm extract.py's mean / 1,022-residue crop /
    4,096-token batches; SaProt 650M AF2 over 446 tokens with pLDDT threshold 70; GearNet's own (sum) readout."""
    from engine.inference import CPU_MAX_TOKENS

    from protdata.configfile import load_config

    need = ["inputs=[x.fasta]", "output=x.parquet"]
    esm2 = load_config(embed.EmbedConfig, PRESETS / "esm2.yaml", need)
    arch = esm2.encoder.esm2_config()
    assert (arch.num_layers, arch.embed_dim, arch.attention_heads, arch.vocab) == (33, 1280, 20, "esm")
    assert esm2.encoder.checkpoint == "${ESM2_650M}" and esm2.encoder.on_long == "crop"
    assert esm2.pooling == "mean" and esm2.max_tokens is None and CPU_MAX_TOKENS == 4096
    sa = load_config(embed.EmbedConfig, PRESETS / "saprot.yaml", need)
    arch = sa.encoder.esm2_config()
    assert (arch.num_layers, arch.embed_dim, arch.vocab, arch.vocab_size) == (33, 1280, "saprot", 446)
    assert sa.encoder.plddt_threshold == 70.0 and sa.pooling == "mean"
    assert sa.encoder.checkpoint == "${SAPROT_650M_AF2}"
    gearnet = load_config(embed.EmbedConfig, PRESETS / "gearnet_export.yaml", need)
    assert gearnet.export == "${GEARNET_EXPORT}" and gearnet.encoder is None and gearnet.pooling == "readout"


# ---------------------------------------------------------------------------------------- directory output
def _by_id(table: Any) -> dict[str, tuple[list[float], list[list[float]]]]:
    ids = table.column("id").to_pylist()
    rows = zip(table.column("embedding").to_pylist(), table.column("residue_embedding").to_pylist())
    return dict(zip(ids, rows))


@pytest.fixture(scope="module")
def cafa_reference(
    fair_esm, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str], Any, list[str]]:
    """The first 40 real CAFA-like records under 400 residues embedded into one Parquet file (per residue; that
    output equals fair-esm: test_esm2_fasta_to_parquet_equals_fair_esm): ``(fasta, ids, table, argv)``."""
    import pyarrow.parquet as pq

    _, _, checkpoint = fair_esm
    root = tmp_path_factory.mktemp("cafa")
    _, records = corrupted_cafa(root, set())
    records = [r for r in records if len(r[1]) < 400][:40]
    fasta = root / "short.fasta"
    fasta.write_text("".join(f">{pid}\n{seq}\n" for pid, seq in records))
    preset = str(PRESETS / "esm2.yaml")
    argv = ["--config", preset, "encoder.preset=null", f"encoder.architecture={TINY}", "--device", "cpu"]
    argv += ["-i", str(fasta), "per_residue=true", "batch_size=2"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ESM2_650M", str(checkpoint))
        assert embed.main([*argv, "-o", str(root / "one.parquet")]) == 0
    return fasta, [pid for pid, _ in records], pq.read_table(root / "one.parquet"), argv


def assert_same_rows(directory: Path, reference: Any) -> None:
    """Every protein of ``reference`` exactly once across the parts of ``directory``, with the same values."""
    import pyarrow.parquet as pq

    table = pq.read_table(directory)
    ids = table.column("id").to_pylist()
    assert sorted(ids) == sorted(reference.column("id").to_pylist()) and len(set(ids)) == len(ids)
    got, want = _by_id(table), _by_id(reference)
    for pid, (mean, rows) in want.items():
        torch.testing.assert_close(torch.tensor(got[pid][0]), torch.tensor(mean), **TOL)
        torch.testing.assert_close(torch.tensor(got[pid][1]), torch.tensor(rows), **TOL)


def test_directory_output_equals_the_single_file(
    fair_esm, cafa_reference, tmp_path, monkeypatch, capsys
) -> None:
    """``--output DIR/``: parts of at most 16 proteins, length-sorted in windows of 12, = the one-file output;
    an existing part without ``--resume`` is one error line; ``--resume`` on a finished directory adds nothing."""
    import pyarrow.parquet as pq

    from protdata.embedding_io import MANIFEST

    _, ids, reference, argv = cafa_reference
    monkeypatch.setenv("ESM2_650M", str(fair_esm[2]))
    out = tmp_path / "emb"
    status, stdout, stderr = run_app([*argv, "-o", f"{out}/", "part_rows=16", "window=12"], capsys)
    assert status == 0, stderr
    assert stdout.startswith(f"embedded {len(ids)} proteins (32-d, mean pooling, per-residue rows for ")
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == -(-len(ids) // 16) and all(pq.ParquetFile(p).metadata.num_rows <= 16 for p in parts)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["rows"] == len(ids) and sorted(manifest["parts"]) == [p.name for p in parts]
    assert pq.read_table(parts[0]).schema.metadata[b"pooling"] == b"mean"
    assert_same_rows(out, reference)

    status, _, stderr = run_app([*argv, "-o", f"{out}/"], capsys)
    assert (
        status == 2
        and stderr.startswith("error: ")
        and "--resume" in stderr
        and len(stderr.splitlines()) == 1
    )
    status, stdout, _ = run_app(
        [*argv, "-o", str(out), "--resume"], capsys
    )  # an existing directory: no slash
    assert status == 0 and stdout.startswith("embedded 0 proteins")
    assert_same_rows(out, reference)
    status, _, stderr = run_app([*argv, "-o", str(tmp_path / "x.parquet"), "--resume"], capsys)
    assert status == 2 and "give a directory (--output DIR/)" in stderr


def _subprocess(argv: list[str], env: dict[str, str]) -> Any:
    import os
    import subprocess

    return subprocess.Popen(
        [sys.executable, str(APPS / "embed.py"), *argv],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_then_resume_writes_every_protein_once(
    fair_esm, cafa_reference, tmp_path, monkeypatch, capsys
) -> None:
    """A run killed with SIGKILL once its first part is committed (parts of 2, batches of 1), then ``--resume``:
    every protein exactly once across the parts, with the values of the uninterrupted run."""
    import signal
    import time

    _, _, checkpoint = fair_esm
    _, ids, reference, argv = cafa_reference
    out = tmp_path / "emb"
    run = [*argv, "-o", f"{out}/", "part_rows=2", "batch_size=1", "num_threads=1"]
    child = _subprocess(run, {"ESM2_650M": str(checkpoint)})
    while not (out / "part-r0-00000.parquet").exists() and child.poll() is None:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL  # killed mid-run, not finished
    assert not (out / "_manifest.json").exists()
    written = len(list(out.glob("part-r0-*.parquet")))
    assert 1 <= written < len(ids) // 2

    monkeypatch.setenv("ESM2_650M", str(checkpoint))
    status, stdout, stderr = run_app([*argv, "-o", f"{out}/", "part_rows=4", "--resume"], capsys)
    assert status == 0, stderr
    assert int(stdout.split()[1]) == len(ids) - 2 * written  # the committed parts are skipped, nothing else
    assert_same_rows(out, reference)
    assert not list(out.glob(".*.tmp"))
    assert json.loads((out / "_manifest.json").read_text())["rows"] == len(ids)


def test_two_ranks_each_embed_their_share(fair_esm, cafa_reference, tmp_path, monkeypatch, capsys) -> None:
    """torchrun's environment (RANK / WORLD_SIZE; no process group is needed) for ranks 0 and 1 in turn: rank r
    embeds the proteins at input positions ``i % 2 == r`` into its own parts; together every protein once, equal
    to the one-process run; the manifest appears when the second rank finishes and lists both ranks' parts."""
    import pyarrow.parquet as pq

    _, ids, reference, argv = cafa_reference
    out = tmp_path / "emb"
    monkeypatch.setenv("ESM2_650M", str(fair_esm[2]))
    for key, value in {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(key, value)
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))
        status, stdout, stderr = run_app([*argv, "-o", f"{out}/", "part_rows=8"], capsys)
        assert status == 0, stderr
        assert stdout.startswith(f"embedded {len(ids[rank::2])} proteins")
        share = pq.read_table([str(p) for p in sorted(out.glob(f"part-r{rank}-*.parquet"))])
        assert sorted(share.column("id").to_pylist()) == sorted(ids[rank::2])
        assert (out / "_manifest.json").exists() == (rank == 0)
    assert_same_rows(out, reference)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["rows"] == len(ids) and manifest["world_size"] == 2
    assert sorted(manifest["parts"]) == sorted(p.name for p in out.glob("part-*.parquet"))
    status, _, stderr = run_app([*argv, "-o", str(tmp_path / "one.parquet")], capsys)
    assert status == 2 and "2 ranks each write their own parts" in stderr
