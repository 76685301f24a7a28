"""Every fine-tuning preset under apps/configs/finetune/: it loads, its hyper-parameters equal the seed's (values
transcribed by hand from /work/shared/reference/seed-systems.md, line numbers cited), every hyper-parameter line
names its source in a comment, and — with tiny widths — it builds and runs one forward / backward pass on two real
enzyme chains with their real nrPDB-EC labels.

The expected values below are NOT read from the presets or the engine: they are the seed report's numbers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

APPS = Path(__file__).resolve().parents[1] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.errors import ConfigError  # noqa: E402
from engine.finetuning import FinetuneConfig, build_task_model, selection  # noqa: E402

from protdata import ProteinBatch  # noqa: E402
from protdata.configfile import load_config  # noqa: E402
from protdata.testing import shared_data  # noqa: E402
from protdata.transforms import inference_transform  # noqa: E402
from protfusion.encoders import sequence_config  # noqa: E402
from prottasks.data import LabelTable  # noqa: E402
from prottasks.optim import parameter_groups  # noqa: E402

PRESETS = APPS / "configs" / "finetune"
FILES = sorted(p for p in PRESETS.rglob("*.yaml") if "_base" not in p.parts)
BASES = sorted((PRESETS / "_base").glob("*.yaml"))
#: ATOM3D presets (PSR, MSP: their own data and heads; test_atom3d_presets_are_the_seeds); the rest are EC / GO.
ATOM3D_FILES = [p for p in FILES if p.name in ("psr.yaml", "msp.yaml")]
#: Contact prediction (its own data and head; test_contact_preset_is_the_seeds).
CONTACT_FILES = [p for p in FILES if p.parent.name == "contact"]
EC_GO_FILES = [p for p in FILES if p not in ATOM3D_FILES and p not in CONTACT_FILES]

# ------------------------------------------------------------------ the seeds, from seed-systems.md
#: nrPDB label counts — §1.4 line 85: "EC (... 538 labels), GO-MF/BP/CC (... 489/1,943/320 labels)", test_cutoff 0.95.
NUM_LABELS = {"ec": 538, "go_mf": 489, "go_bp": 1943, "go_cc": 320}
TEST_CUTOFF = 0.95  # line 85
ESM_GEARNET = {  # §1.1
    "optimizer": ("adam", 1e-4),  # line 57: "Optimiser: Adam lr 1e-4"
    "sequence_lr_ratio": 0.1,  # line 57: "sequence_model_lr_ratio: 0.1"
    "plateau": (0.6, 5),  # line 58: "ReduceLROnPlateau factor 0.6 patience 5 on valid f1_max"
    "batch_size": 2,  # line 59: "EC/GO/PSR batch_size 2 per GPU × 4 GPUs"
    "epochs": 50,  # line 59: "Epochs: EC/GO 50"
    "truncate": 550,  # line 60: "EC/GO TruncateProtein max_length 550 (prefix kept)"
    "seed": 1024,  # line 61: "--seed default 1024"
    "num_mlp_layer": 3,  # line 54: "num_mlp_layer: 3"
    "metric": "valid_fmax",  # line 54: "model selection f1_max on valid"
    "gearnet": ([512] * 6, 7),  # line 31: "hidden_dims: [512]*6 ... num_relation: 7"
    "graph": (
        2,
        10.0,
        5,
        10,
        5,
    ),  # lines 39-41: sequential 2; radius 10.0 min_distance 5; KNN k 10 min_distance 5
    "esm": (33, 1280),  # line 28: "ESM-2-650M (esm2_t33_650M_UR50D, output_dim 1280 ...)"
    "cross": (512, 8, 0.1),  # line 67: "cross_dim: 512 ... SelfAttentionBlock(512, num_heads=8, dropout=0.1)"
}
FUSIONPROT = {  # §2.2 line 130, §2.1 lines 116-120
    "optimizer": ("adamw", 2e-5, (0.9, 0.98), 0.01),  # "AdamW lr 2e-5, betas (0.9, 0.98), weight_decay 0.01"
    "plateau": (0.6, 5),  # "ReduceLROnPlateau 0.6/5"
    "batch_size": 2,  # "batch 2 × 4 GPUs"
    "accumulation": 8,  # "gradient_interval: 8"
    "sequence_lr_ratio": 0.08,  # "sequence_model_lr_ratio: 0.08"
    "epochs": 100,  # "100 epochs"
    "truncate": 1024,  # "TruncateProtein max_length 1024"
    "inject_every": 5,  # line 116: "inject_step = 5"
    "token_std": 0.01,  # line 118: "init N(0, 0.01²)"
}
FUNCTION_CALLER = {  # §4.1-4.2 lines 194-202
    "base_model": (6, 320),  # line 202: "--base_model (... facebook/esm2_t6_8M_UR50D [default] ...)"
    "optimizer": ("adamw", 5e-4),  # line 200/202: "AdamW (--learning_rate 5e-4 ...)"
    "batch_size": 16,  # line 202: "--batch_size 16"
    "accumulation": 4,  # line 202: "--gradient_accumulation_steps 4"
    "clipping": 1.0,  # line 202: "--max_gradient_norm 1.0"
    "epochs": 30,  # line 202: "--num_epochs 30"
    "eval_every_epochs": 2,  # line 202: "--eval_interval 2"
    "context": 1026,  # line 202: "--context_length 1026" (<cls> + 1,024 residues + <eos>)
    "unfreeze": 0,  # line 200/202: "--unfreeze_last_k_layers k ... (default 0 → head only)"
    "min_count": 1,  # line 195: "first-seen order, no frequency cut-off"
    "valid_split": (0.1, 42),  # line 194: "train_test_split(test_size=0.1, ..., seed=42)"
}
#: ESM-2's window in residues — line 28: "Max input 1022 residues" (1,024 tokens with <cls> / <eos>).
ESM2_WINDOW = 1022
SAPROT = {  # §5.5 lines 250-254
    "optimizer": (
        "adamw",
        2e-5,
        (0.9, 0.98),
        0.01,
    ),  # line 250: "AdamW 0.9/0.98 wd 0.01, ... constant lr 2e-5"
    "plddt": 70.0,  # line 250: "plddt_threshold 70"
    "ec": (8, 1, 100),  # line 253: EC "8×8×1, 100"
    "go": (4, 2, 100),  # line 254: GO "4×8×2, 100"
    "model": (33, 1280),  # line 238: "650M = 33 layers, 1280-d"
}

# ---------------------------------------------------------------------------------- tiny widths
TINY_SEQUENCE = "{num_layers: 3, embed_dim: 16, attention_heads: 2}"
TINY_SAPROT = "{num_layers: 3, embed_dim: 16, attention_heads: 2, vocab: saprot}"


def tiny_overrides(config: FinetuneConfig) -> list[str]:
    """Shrink a preset's encoder (the seed widths would be 650M parameters) and drop its pretrained weights."""
    out: list[str] = []
    seq = sequence_config(config.encoder)
    if seq is not None:
        at = "encoder" if seq is config.encoder else "encoder.sequence"
        arch = TINY_SAPROT if seq.type == "saprot" else TINY_SEQUENCE
        out += [f"{at}.preset=null", f"{at}.architecture={arch}", f"{at}.checkpoint=null"]
    if config.encoder.type in ("serial", "parallel", "cross", "token"):
        out.append("encoder.structure.hidden_dims=[16,16]")
    if config.encoder.type == "cross":
        out += ["encoder.cross_dim=16", "encoder.num_heads=2"]
    if config.encoder.type == "token":
        out.append("encoder.inject_every=null")  # 3 sequence layers, 2 GearNet layers: derived step 1
    return out


def task_of(path: Path) -> str:
    return re.search(r"(ec|go_bp|go_mf|go_cc)\.yaml$", path.name).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def ec_labels() -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The 538 EC numbers (annotation file line 2) and every chain's ECs, read with the csv module."""
    import csv

    path = shared_data("ec_go_benchmark", "deepfri", "nrPDB-EC_2020.04_annot.tsv")
    with path.open() as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[1], {r[0]: tuple(r[1].split(",")) for r in rows[3:] if r}


@pytest.fixture(scope="module")
def proteins() -> list:
    """Two real enzyme chains with structures: 1DIX-A (4.6.1.-) and 1XSO-A (1.15.1.1) of nrPDB-EC's training split."""
    from protdata.foldseek import with_3di
    from protdata.io import load_chains

    a = load_chains(shared_data("foldseek", "structures", "1dix.cif"))[0]
    b = load_chains(shared_data("structures", "experimental_mini3di", "1xso.pdb"))[0]
    assert (a.id, b.id) == ("1dix_A", "1xso_A")
    return with_3di([a, b])  # SaProt's structure tokens (the app computes them for SaProt presets too)


def test_every_preset_is_found_and_every_base_is_used() -> None:
    names = {str(p.relative_to(PRESETS)) for p in FILES}
    for fusion in ("serial", "parallel", "cross"):
        for task in NUM_LABELS:
            assert f"esm_gearnet/{fusion}_{task}.yaml" in names
    assert {f"fusionprot/{t}.yaml" for t in NUM_LABELS} <= names
    assert {f"saprot/{t}.yaml" for t in NUM_LABELS} <= names
    assert {f"function_caller/{t}.yaml" for t in ("go_bp", "go_mf", "go_cc")} <= names
    used = set()
    for p in [*FILES, *BASES]:
        m = re.search(r"^extends: \[(.*)\]$", p.read_text(), re.M)
        if m:
            used |= {(p.parent / e.strip()).resolve() for e in m.group(1).split(",")}
    assert {b.resolve() for b in BASES} <= used, "a _base fragment no preset extends"


@pytest.mark.parametrize("path", [*FILES, *BASES], ids=lambda p: str(p.relative_to(PRESETS)))
def test_every_hyper_parameter_line_names_its_source(path: Path) -> None:
    """A ``key: value`` line carries a ``#`` comment (the seed file and key), except the run name and extends."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*([A-Za-z_][\w.]*):\s*(\S.*)?$", line)
        if not m or not m.group(2) or m.group(2).startswith("#") or m.group(1) in ("name", "extends"):
            continue
        assert "#" in line, f"{path.name}, line {n}: {line.strip()!r} has no comment naming its source"


@pytest.mark.parametrize("path", EC_GO_FILES, ids=lambda p: str(p.relative_to(PRESETS)))
def test_preset_values_are_the_seeds(path: Path) -> None:
    config = load_config(FinetuneConfig, path)
    family, task = path.parent.name, task_of(path)
    assert selection(config) == ("valid_fmax", "max")
    truncate = inference_transform(config.data.transform)
    if family in ("esm_gearnet", "fusionprot", "saprot"):
        assert config.head.num_labels == NUM_LABELS[task]
        labels = config.data.labels
        assert (
            labels.type == ("nrpdb_ec" if task == "ec" else "nrpdb_go") and labels.test_cutoff == TEST_CUTOFF
        )
        if task != "ec":
            assert labels.branch == task[-2:].upper()
    if family in ("esm_gearnet", "fusionprot"):
        seed = ESM_GEARNET if family == "esm_gearnet" else FUSIONPROT
        assert config.head.type == "multi_label" and config.head.num_mlp_layer == ESM_GEARNET["num_mlp_layer"]
        assert (config.plateau.factor, config.plateau.patience) == seed["plateau"]
        assert config.plateau.mode == "min"  # torch's default: the seeds never set it
        assert config.optimizer.lr_ratios == {"encoder.sequence": seed["sequence_lr_ratio"]}
        assert config.data.batch_size == seed["batch_size"] and config.train.epochs == seed["epochs"]
        assert truncate.max_length == seed["truncate"] and config.data.transform.random is False
        assert config.seed == ESM_GEARNET["seed"] and config.scheduler.type == "constant"
        seq = config.encoder.sequence.esm2_config()
        assert (seq.num_layers, seq.embed_dim) == ESM_GEARNET["esm"]
        s = config.encoder.structure
        assert (s.hidden_dims, s.num_relation) == ESM_GEARNET["gearnet"] and s.type == "gearnet"
        assert s.batch_norm and s.concat_hidden and s.short_cut and s.readout == "sum"
        g = s.graph
        assert (g.sequential_max_distance, g.radius, g.radius_min_distance, g.knn_k, g.knn_min_distance) == (
            ESM_GEARNET["graph"]
        )
        assert (
            config.encoder.sequence.checkpoint == "${ESM2_650M}"
        )  # a local file named by the user: no download
    if family == "esm_gearnet":
        assert (config.optimizer.type, config.optimizer.lr) == ESM_GEARNET["optimizer"]
        assert config.deepspeed.gradient_accumulation_steps == 1
        fusion = path.name.split("_")[0]
        assert config.encoder.type == fusion
        if fusion == "cross":
            e = config.encoder
            assert (e.cross_dim, e.num_heads, e.dropout) == ESM_GEARNET["cross"]
    if family == "fusionprot":
        o = config.optimizer
        assert (o.type, o.lr, tuple(o.betas), o.weight_decay) == FUSIONPROT["optimizer"]
        assert config.deepspeed.gradient_accumulation_steps == FUSIONPROT["accumulation"]
        assert config.encoder.type == "token" and config.encoder.inject_every == FUSIONPROT["inject_every"]
        assert config.encoder.token_init_std == FUSIONPROT["token_std"]
    if family == "function_caller":
        seq = config.encoder.esm2_config()
        assert (
            config.encoder.type == "esm2" and (seq.num_layers, seq.embed_dim) == FUNCTION_CALLER["base_model"]
        )
        assert (config.optimizer.type, config.optimizer.lr) == FUNCTION_CALLER["optimizer"]
        assert config.data.batch_size == FUNCTION_CALLER["batch_size"]
        assert config.deepspeed.gradient_accumulation_steps == FUNCTION_CALLER["accumulation"]
        assert config.deepspeed.gradient_clipping == FUNCTION_CALLER["clipping"]
        assert config.train.epochs == FUNCTION_CALLER["epochs"]
        assert config.evaluation.every_epochs == FUNCTION_CALLER["eval_every_epochs"]
        # the seed's 1,026 tokens hold 1,024 residues; ESM-2's window is 1,022 (issue 11): the preset cuts there
        assert truncate.max_length == min(FUNCTION_CALLER["context"] - 2, ESM2_WINDOW) == 1022
        h = config.head
        assert h.type == "function_caller" and h.problem == "multi_label"
        assert h.unfreeze_last_k_layers == FUNCTION_CALLER["unfreeze"] and config.plateau is None
        labels = config.data.labels
        assert labels.type == "cafa_terms" and labels.aspect == task[-2:].upper() + "O"
        assert labels.min_count == FUNCTION_CALLER["min_count"]
        assert (config.data.splits.valid_fraction, config.data.splits.seed) == FUNCTION_CALLER["valid_split"]
    if family == "saprot":
        o = config.optimizer
        assert (o.type, o.lr, tuple(o.betas), o.weight_decay) == SAPROT[
            "optimizer"
        ] and o.no_decay_norm_and_bias
        assert config.scheduler.type == "constant" and config.plateau is None
        assert config.encoder.type == "saprot" and config.encoder.plddt_threshold == SAPROT["plddt"]
        seq = config.encoder.esm2_config()
        assert (seq.num_layers, seq.embed_dim, seq.vocab) == (*SAPROT["model"], "saprot")
        assert config.head.type == "function_caller" and config.head.unfreeze_last_k_layers is None
        batch, accumulation, epochs = SAPROT["ec" if task == "ec" else "go"]
        assert (
            config.data.batch_size == batch and config.deepspeed.gradient_accumulation_steps == accumulation
        )
        assert config.train.epochs == epochs


def test_pretrained_weights_come_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The presets name local weights through ${ESM2_650M}; unset, building is a one-line error naming the key."""
    monkeypatch.delenv("ESM2_650M", raising=False)
    config = load_config(FinetuneConfig, PRESETS / "esm_gearnet" / "serial_ec.yaml")
    table = LabelTable(kind="multi_label", labels=[f"L{i}" for i in range(538)], targets={})
    with pytest.raises(
        ConfigError, match=r"encoder\.sequence\.checkpoint: environment variable ESM2_650M is not set"
    ):
        build_task_model(config, table)


@pytest.mark.parametrize("path", EC_GO_FILES, ids=lambda p: str(p.relative_to(PRESETS)))
def test_preset_builds_and_trains_one_step_with_tiny_widths(path: Path, proteins, ec_labels) -> None:
    torch.manual_seed(0)
    config = load_config(FinetuneConfig, path)
    config = load_config(FinetuneConfig, path, tiny_overrides(config))
    task = task_of(path)
    if task == "ec":  # the real vocabulary and the two chains' real EC numbers
        vocabulary, annotations = ec_labels
        targets = np.zeros((2, len(vocabulary)), dtype=np.float32)
        for row, chain in enumerate(("1DIX-A", "1XSO-A")):
            for ec in annotations[chain]:
                targets[row, vocabulary.index(ec)] = 1.0
        assert targets.sum() == 3  # 4.6.1.- ; 1.15.1.1, 1.15.1.-
    else:  # no GO annotations of these chains are available: any k-hot targets exercise the loss
        n = NUM_LABELS[task] if config.head.num_labels != "auto" else 50
        vocabulary = [f"GO:{i:07d}" for i in range(n)]
        targets = np.zeros((2, n), dtype=np.float32)
        targets[0, [0, 3]] = targets[1, [1]] = 1.0
    table = LabelTable(
        kind="multi_label", labels=vocabulary, targets={}, label_kind="go" if task != "ec" else "ec"
    )
    model = build_task_model(config, table)
    groups = parameter_groups(model, config.optimizer)  # the lr ratios of the preset reach real parameters
    if config.optimizer.lr_ratios:
        ((prefix, ratio),) = config.optimizer.lr_ratios.items()
        seq_ids = {id(p) for p in model.get_submodule(prefix).parameters()}
        for g in groups:
            inside = {id(p) for p in g["params"]} <= seq_ids
            assert g["lr"] == pytest.approx(config.optimizer.lr * (ratio if inside else 1.0))
    model.train()
    batch = ProteinBatch.collate(proteins)
    out = model(batch, targets=torch.from_numpy(targets))
    assert out.output.shape == (2, len(vocabulary)) and torch.isfinite(out.loss)
    out.loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = [p.grad for _, p in trainable if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    head = [p for n, p in trainable if not n.startswith("encoder.")]
    assert head and all(p.grad is not None and p.grad.abs().sum() > 0 for p in head)
    if config.head.type == "multi_label" or config.head.unfreeze_last_k_layers is None:
        encoder_grads = [p.grad for n, p in trainable if n.startswith("encoder.") and p.grad is not None]
        assert any(g.abs().sum() > 0 for g in encoder_grads)  # the encoder is fine-tuned too
    else:  # the Function Caller: encoder frozen, only the head trains (--unfreeze_last_k_layers 0)
        assert not any(n.startswith("encoder.") for n, _ in trainable)


#: ESM-GearNet config/{PSR,MSP}/esm_gearnet.yaml (DeepGraphLearning/ESM-GearNet): head, selection, epochs, batch.
ATOM3D_SEEDS = {
    "psr.yaml": ("regression", 3, ("valid_spearman", "max"), 20, 2, None),
    "msp.yaml": ("msp", 1, ("valid_auroc", "max"), 50, 1, 1000),
}


@pytest.mark.parametrize("path", ATOM3D_FILES, ids=lambda p: p.name)
def test_atom3d_presets_are_the_seeds(path: Path) -> None:
    config = load_config(FinetuneConfig, path)
    head, mlp, monitor, epochs, batch, truncate = ATOM3D_SEEDS[path.name]
    assert config.head.type == head and config.head.num_mlp_layer == mlp and selection(config) == monitor
    if head == "regression":
        assert config.head.normalization == "standard"  # task.normalization: True
    assert config.train.epochs == epochs and config.data.batch_size == batch and config.plateau is None
    assert getattr(inference_transform(config.data.transform), "max_length", None) == truncate
    assert (config.optimizer.type, config.optimizer.lr) == ESM_GEARNET["optimizer"]
    assert config.optimizer.lr_ratios == {"encoder.sequence": ESM_GEARNET["sequence_lr_ratio"]}
    assert config.encoder.type == "serial" and config.seed == ESM_GEARNET["seed"]
    assert config.data.labels.type == "atom3d" and config.data.labels.task == path.stem


def test_contact_preset_is_the_seeds() -> None:
    """westlake-repl/SaProt config/Contact/esm2.yaml: frozen ESM-2 650M, AdamW lr 1e-2 betas (0.9, 0.98) wd 0.01,
    constant lr, batch 2, 30 epochs, validation every 0.1 epoch; selection on long-range P@L/5 (issue 16)."""
    (path,) = CONTACT_FILES
    config = load_config(FinetuneConfig, path)
    assert config.head.type == "contact" and config.head.freeze_encoder
    assert (config.head.threshold, config.head.min_separation) == (8.0, 6)
    assert selection(config) == ("valid_long_P@L/5", "max") and config.data.labels.type == "contacts"
    o = config.optimizer
    assert (o.type, o.lr, tuple(o.betas), o.weight_decay) == ("adamw", 1e-2, (0.9, 0.98), 0.01)
    assert config.scheduler.type == "constant" and config.plateau is None and config.seed == 20000812
    assert config.data.batch_size == 2 and config.train.epochs == 30 and config.evaluation.every_epochs == 0.1
    seq = config.encoder.esm2_config()
    assert config.encoder.type == "esm2" and (seq.num_layers, seq.embed_dim) == ESM_GEARNET["esm"]
    assert config.encoder.checkpoint == "${ESM2_650M}"
