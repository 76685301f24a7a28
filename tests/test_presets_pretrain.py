"""The pretraining presets in ``apps/configs/pretrain/``: every preset loads, holds the seed's hyper-parameters and
builds (with tiny widths) into a model that trains on real structures.

Independent truth: the seed values below are transcribed by hand from the seeds' own config files (cited per
value: DeepGraphLearning/ESM-GearNet@bc90557, DeepGraphLearning/GearNet@28bf75f, kalifadan/FusionProt@012d217,
westlake-repl/SaProt; summarised in /work/shared/reference/seed-systems.md §1.3, §2.2, §5.3), never read back from
the YAML. SaProt's learning-rate schedule is checked against ``Esm2LRScheduler.get_lr`` transcribed from
``utils/lr_scheduler.py``.

Files and directories whose names start with ``_`` are fragments (shared sections that presets ``extends``);
every other ``*.yaml`` is a runnable preset. Both are found by glob, so new files are covered.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

from engine.builders import build_encoder, load_encoder_weights  # noqa: E402
from engine.pretraining import PretrainConfig, build_pretraining_model  # noqa: E402

from protdata import ProteinBatch  # noqa: E402
from protdata.configfile import dump_yaml, load_config  # noqa: E402
from protdata.foldseek import with_3di  # noqa: E402
from protdata.io import load_many  # noqa: E402
from protdata.transforms import build_transform  # noqa: E402
from protenc_seq import ESM2, ESM2Config, save_huggingface, save_safetensors  # noqa: E402
from protfusion.encoders import (  # noqa: E402
    FUSION_TYPES,
    SEQUENCE_TYPES,
    needs_3di,
    sequence_config,
    without_checkpoint,
)
from prottasks.objectives import pretrained_encoder  # noqa: E402
from prottasks.optim import lr_multiplier, parameter_groups  # noqa: E402

PRESETS = APPS / "configs" / "pretrain"
DEMO = APPS / "data" / "demo_structures"
#: Two of the shipped PDB chains (79 and 83 residues).
DEMO_FILES = [DEMO / "3a4rA.pdb.gz", DEMO / "2cviA.pdb.gz"]


def _is_fragment(path: Path) -> bool:
    return any(part.startswith("_") for part in path.relative_to(PRESETS).parts)


ALL_FILES = sorted(PRESETS.rglob("*.yaml"))
RUNNABLE = [p for p in ALL_FILES if not _is_fragment(p)]
FRAGMENTS = [p for p in ALL_FILES if _is_fragment(p)]


def _rel(path: Path) -> str:
    return str(path.relative_to(PRESETS))


# ------------------------------------------------------------------------------------------- seed values
#: ESM-GearNet@bc90557 config/pretrain/<key>_esm_gearnet.yaml — task keys, dataset.transform, engine.batch_size,
#: optimizer.lr (seed-systems.md §1.3 table, lines 75-80).
ESM_GEARNET_OBJECTIVES: dict[str, dict[str, Any]] = {
    "attr": {
        "objective": {"type": "residue_type_prediction", "mask_rate": 0.15, "num_mlp_layer": 2},
        "crop": (100, True),  # TruncateProtein random: True, max_length: 100
        "batch_size": 96,
        "lr": 2.0e-4,
    },
    "distance": {
        "objective": {"type": "distance_prediction", "num_sample": 256, "num_mlp_layer": 2},
        "crop": (100, True),
        "batch_size": 96,
        "lr": 2.0e-4,
    },
    "angle": {
        "objective": {"type": "angle_prediction", "num_sample": 512, "num_class": 8, "num_mlp_layer": 2},
        "crop": (100, True),
        "batch_size": 96,
        "lr": 2.0e-4,
    },
    "dihedral": {
        "objective": {"type": "dihedral_prediction", "num_sample": 512, "num_class": 8, "num_mlp_layer": 2},
        "crop": (100, True),
        "batch_size": 96,
        "lr": 2.0e-4,
    },
    "mc": {
        # crop_funcs [SubsequenceNode 50]; noise_funcs [IdentityNode, RandomEdgeMask 0.15]; τ 0.07, 2-layer MLP
        "objective": {
            "type": "multiview_contrast",
            "crops": [{"type": "subsequence_crop", "max_length": 50}],
            "noises": [{"type": "identity"}, {"type": "random_edge_mask", "mask_rate": 0.15}],
            "tau": 0.07,
            "num_mlp_layer": 2,
        },
        "crop": None,  # ProteinView only: no truncation
        "batch_size": 48,
        "lr": 2.0e-4,
    },
    "siamdiff": {
        # num_mlp_layer 3, sigma_begin 1e-3, sigma_end 0.1, num_noise_level 100, gamma 0.5; NoiseTransform sigma 0.3
        "objective": {
            "type": "siamdiff",
            "num_mlp_layer": 3,
            "sigma_begin": 1.0e-3,
            "sigma_end": 0.1,
            "num_noise_level": 100,
            "gamma": 0.5,
            "conformer_sigma": 0.3,
            "use_mi": True,
        },
        "crop": (150, True),  # TruncateProtein max_length: 150, random: True
        "batch_size": 16,
        "lr": 1.0e-4,
    },
}
#: GearNet's structure_model in every ESM-GearNet / FusionProt / GearNet config (seed-systems.md §1.1 line 31).
GEARNET_6X512 = {
    "hidden_dims": [512] * 6,
    "batch_norm": True,
    "concat_hidden": True,
    "short_cut": True,
    "readout": "sum",
    "num_relation": 7,
}
#: GearNet@28bf75f config/pretrain/<file>_gearnet_edge.yaml: Adam lr 1.0e-3, batch 96 (dis: 128), 50 epochs.
GEARNET_EDGE: dict[str, dict[str, Any]] = {
    "attr": {"objective": "attr", "batch_size": 96},
    "distance": {"objective": "distance", "batch_size": 128},  # dis_gearnet_edge.yaml batch_size: 128
    "angle": {"objective": "angle", "batch_size": 96},
    "dihedral": {"objective": "dihedral", "batch_size": 96},
    "mc": {"objective": "mc", "batch_size": 96},
}
#: mc_gearnet_edge.yaml crop_funcs: SubsequenceNode 50 + SubspaceNode (residue, min_neighbor 15, min_radius 15.0).
GEARNET_EDGE_MC_CROPS = [
    {"type": "subsequence_crop", "max_length": 50},
    {"type": "subspace_crop", "entity_level": "residue", "min_neighbor": 15, "min_radius": 15.0},
]
#: FusionProt@012d217 config/pretrain/<key>_esm_gearnet.yaml (seed-systems.md §2.2 "Pretraining"): batch per GPU,
#: gradient_interval, lr 2.0e-4 in all three.
FUSIONPROT: dict[str, dict[str, Any]] = {
    "attr": {"batch_size": 64, "accumulation": 1},
    "mc": {"batch_size": 16, "accumulation": 4},
    "siamdiff": {"batch_size": 4, "accumulation": 16},
}
#: SaProt config/pretrain/saprot.yaml + dataset/saprot/saprot_foldseek_dataset.py (seed-systems.md §5.3).
SAPROT = {
    "seed": 20000812,
    "init_lr": 0.0,
    "max_lr": 4.0e-4,
    "final_lr": 4.0e-5,
    "warmup_steps": 2000,
    "start_decay_after_n_steps": 150000,
    "end_decay_after_n_steps": 1500000,
    "betas": (0.9, 0.98),
    "weight_decay": 0.01,
    "batch_size": 8,
    "max_steps": 1000000,
    "max_length": 1024,
    "mask_ratio": 0.15,
}


def _expected_presets() -> dict[str, str]:
    """Preset file (relative) -> family, for every preset the seeds define."""
    out = {}
    for fusion in ("serial", "parallel", "cross"):
        for key in ESM_GEARNET_OBJECTIVES:
            out[f"esm_gearnet/{fusion}/{key}.yaml"] = "esm_gearnet"
    for key in GEARNET_EDGE:
        out[f"gearnet_edge/{key}.yaml"] = "gearnet_edge"
    for key in FUSIONPROT:
        out[f"fusionprot/{key}.yaml"] = "fusionprot"
    out["saprot/mlm_650m.yaml"] = "saprot"
    return out


EXPECTED = _expected_presets()


def _load(rel: str, overrides: list[str] = ()) -> PretrainConfig:
    return load_config(PretrainConfig, PRESETS / rel, list(overrides))


def _dump(section: Any) -> Any:
    return section.model_dump() if hasattr(section, "model_dump") else section


def _assert_subset(expected: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    for key, value in expected.items():
        assert key in actual, f"{where}: no key {key}"
        got = actual[key]
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-12), f"{where}.{key}: {got} != seed {value}"
        else:
            assert got == value, f"{where}.{key}: {got!r} != seed {value!r}"


def _check_crop(config: PretrainConfig, crop: tuple[int, bool] | None) -> None:
    if crop is None:
        assert config.data.transform is None
    else:
        assert config.data.transform.type == "truncate"
        assert (config.data.transform.max_length, config.data.transform.random) == crop


def _check_esm2_650m(seq: Any, variable: str) -> None:
    arch = seq.esm2_config()
    # ESM-2-650M: esm2_t33_650M_UR50D, 33 layers, 1280-d, 20 heads (seed-systems.md §1.1 line 28)
    assert (arch.num_layers, arch.embed_dim, arch.attention_heads) == (33, 1280, 20)
    assert seq.checkpoint == "${" + variable + "}"


# --------------------------------------------------------------------------------------------- the tests
def test_presets_are_found_and_every_fragment_is_used() -> None:
    assert {_rel(p) for p in RUNNABLE} == set(EXPECTED), "a preset without seed values, or a missing preset"
    used: set[Path] = set()

    def walk(path: Path) -> None:
        data = yaml.safe_load(path.read_text()) or {}
        parents = data.get("extends", [])
        for parent in [parents] if isinstance(parents, str) else parents:
            target = (path.parent / parent).resolve()
            used.add(target)
            walk(target)

    for preset in RUNNABLE:
        walk(preset)
    unused = [_rel(f) for f in FRAGMENTS if f.resolve() not in used]
    assert not unused, f"fragments no preset extends: {unused}"


@pytest.mark.parametrize("rel", [r for r, f in EXPECTED.items() if f == "esm_gearnet"])
def test_esm_gearnet_presets_hold_the_seed_values(rel: str) -> None:
    fusion, key = rel.split("/")[1], Path(rel).stem
    config = _load(rel)
    seed = ESM_GEARNET_OBJECTIVES[key]
    _assert_subset(seed["objective"], _dump(config.objective), "objective")
    _check_crop(config, seed["crop"])
    assert config.data.batch_size == seed["batch_size"]
    assert config.optimizer.type == "adam" and config.optimizer.lr == pytest.approx(seed["lr"])
    assert config.optimizer.weight_decay == 0.0  # optimizer: {class: Adam, lr} only
    assert config.train.epochs == 50 and config.train.max_steps is None  # train.num_epoch: 50
    assert config.seed == 1024  # script/pretrain.py --seed default
    assert config.data.sources == ["${AFDB_DIR}"]  # dataset: AlphaFoldDB
    # fix_sequence_model: True -> ESM-2 frozen during all pretraining (util.py: requires_grad = False)
    assert config.optimizer.lr_ratios == {"encoder.sequence": 0.0}
    assert config.deepspeed.gradient_accumulation_steps == 1 and config.scheduler.type == "constant"
    assert config.encoder.type == fusion
    _check_esm2_650m(config.encoder.sequence, "ESM2_650M")
    assert config.encoder.structure.type == "gearnet"
    _assert_subset(GEARNET_6X512, _dump(config.encoder.structure), "encoder.structure")
    # serial: GearNet input_dim 1280 (ESM residue features); parallel / cross: 21-d one-hot (§1.1 line 32)
    assert config.encoder.structure_config().input_dim == (1280 if fusion == "serial" else 21)
    if fusion == "cross":  # cross_dim 512; SelfAttentionBlock(512, num_heads=8, dropout=0.1) (§1.2 line 67)
        assert (config.encoder.cross_dim, config.encoder.num_heads, config.encoder.dropout) == (512, 8, 0.1)


@pytest.mark.parametrize("rel", [r for r, f in EXPECTED.items() if f == "gearnet_edge"])
def test_gearnet_edge_presets_hold_the_seed_values(rel: str) -> None:
    key = Path(rel).stem
    config = _load(rel)
    seed = ESM_GEARNET_OBJECTIVES[GEARNET_EDGE[key]["objective"]]
    objective = dict(seed["objective"])
    if key == "mc":
        objective["crops"] = GEARNET_EDGE_MC_CROPS
    _assert_subset(objective, _dump(config.objective), "objective")
    _check_crop(config, seed["crop"])
    assert config.data.batch_size == GEARNET_EDGE[key]["batch_size"]
    assert config.optimizer.type == "adam" and config.optimizer.lr == pytest.approx(1.0e-3)
    assert config.optimizer.lr_ratios == {}  # structure-only: nothing frozen
    assert config.train.epochs == 50
    assert config.encoder.type == "gearnet_edge"
    # input_dim 21, edge_input_dim 59, num_angle_bin 8 (seed-systems.md §1.1 line 33)
    _assert_subset(
        {**GEARNET_6X512, "input_dim": 21, "edge_input_dim": 59, "num_angle_bin": 8},
        _dump(config.encoder),
        "encoder",
    )


@pytest.mark.parametrize("rel", [r for r, f in EXPECTED.items() if f == "fusionprot"])
def test_fusionprot_presets_hold_the_seed_values(rel: str) -> None:
    key = Path(rel).stem
    config = _load(rel)
    seed = ESM_GEARNET_OBJECTIVES[key]  # FusionProt's task sections equal ESM-GearNet's (§2.2)
    _assert_subset(seed["objective"], _dump(config.objective), "objective")
    _check_crop(config, seed["crop"])
    assert config.data.batch_size == FUSIONPROT[key]["batch_size"]
    assert config.deepspeed.gradient_accumulation_steps == FUSIONPROT[key]["accumulation"]
    assert config.optimizer.type == "adam" and config.optimizer.lr == pytest.approx(2.0e-4)
    assert config.optimizer.lr_ratios == {"encoder.sequence": 0.0}  # fix_sequence_model: True
    assert config.train.epochs == 50
    assert config.encoder.type == "token"
    _check_esm2_650m(config.encoder.sequence, "ESM2_650M")
    _assert_subset(GEARNET_6X512, _dump(config.encoder.structure), "encoder.structure")
    assert config.encoder.seed_token_relation is True  # token edges share relation 1 (§2.1)


def _esm2_lr_scheduler(step: int) -> float:
    """SaProt ``utils/lr_scheduler.py`` ``Esm2LRScheduler.get_lr`` with the pretraining config's arguments."""
    s = SAPROT
    if step <= s["warmup_steps"]:
        return s["init_lr"] + step / s["warmup_steps"] * (s["max_lr"] - s["init_lr"])
    if step <= s["start_decay_after_n_steps"]:
        return s["max_lr"]
    if step <= s["end_decay_after_n_steps"]:
        portion = (step - s["start_decay_after_n_steps"]) / (
            s["end_decay_after_n_steps"] - s["start_decay_after_n_steps"]
        )
        return s["max_lr"] - portion * (s["max_lr"] - s["final_lr"])
    return s["final_lr"]


def test_saprot_preset_holds_the_seed_values() -> None:
    config = _load("saprot/mlm_650m.yaml")
    assert config.seed == SAPROT["seed"]
    assert config.encoder.type == "saprot" and config.encoder.checkpoint == "${SAPROT_650M_AF2}"
    arch = config.encoder.esm2_config()
    # SaProt_650M_AF2: ESM-2 650M architecture (33 layers, 1280-d), 446-token vocabulary (§5.1, §5.3)
    assert (arch.num_layers, arch.embed_dim, arch.vocab, arch.vocab_size) == (33, 1280, "saprot", 446)
    # 15 %; 80 % '#'+3Di, 10 % random token, 10 % unchanged; redrawn until >= 1 selected (§5.3 line 237)
    assert _dump(config.objective) == {
        "type": "mlm",
        "mask_rate": SAPROT["mask_ratio"],
        "mask_prob": 0.8,
        "random_prob": 0.1,
        "min_selected": 1,
    }
    opt = config.optimizer
    assert (opt.type, opt.betas, opt.weight_decay, opt.no_decay_norm_and_bias) == (
        "adamw",
        SAPROT["betas"],
        SAPROT["weight_decay"],
        True,
    )
    assert config.data.batch_size == SAPROT["batch_size"]
    assert config.train.max_steps == SAPROT["max_steps"]
    assert config.data.transform.max_length == SAPROT["max_length"] and not config.data.transform.random
    assert config.deepspeed.gradient_accumulation_steps == 1  # accumulate_grad_batches: 1
    for step in (0, 1, 1000, 2000, 2001, 100000, 150000, 150001, 600000, 1499999, 1500000, 1500001, 1600000):
        ours = opt.lr * lr_multiplier(step, config.scheduler, config.train.max_steps)
        assert ours == pytest.approx(_esm2_lr_scheduler(step), rel=1e-9, abs=1e-15), step


# ------------------------------------------------------------------------------------ tiny builds on real data
TINY_LAYERS = 3  # token fusion: injections after sequence layers 1 and 2 of 3 (2 GearNet layers)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """Tiny models: one intra-op thread is fastest (and immune to other processes on a shared CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ESM2]]:
    """A tiny random ESM-2 (our safetensors) and SaProt (a Hugging Face directory, as SaProt ships) on disk."""
    root = tmp_path_factory.mktemp("weights")
    out = {}
    torch.manual_seed(7)
    esm = ESM2(ESM2Config(num_layers=TINY_LAYERS, embed_dim=16, attention_heads=2))
    out["esm"] = (save_safetensors(esm, root / "esm2_tiny.safetensors"), esm)
    saprot = ESM2(ESM2Config(num_layers=TINY_LAYERS, embed_dim=16, attention_heads=2, vocab="saprot"))
    save_huggingface(saprot, root / "saprot_tiny")
    out["saprot"] = (root / "saprot_tiny", saprot)
    return out


@pytest.fixture(scope="module")
def demo_proteins() -> list:
    result = load_many([str(p) for p in DEMO_FILES])
    assert len(result.proteins) == 2
    return result.proteins


def _tiny_overrides(config: PretrainConfig) -> list[str]:
    enc = config.encoder
    out: list[str] = []
    seq = sequence_config(enc)
    if seq is not None:
        key = "encoder" if enc.type in SEQUENCE_TYPES else "encoder.sequence"
        vocab = ", vocab: saprot" if seq.type == "saprot" else ""
        arch = f"{{num_layers: {TINY_LAYERS}, embed_dim: 16, attention_heads: 2{vocab}}}"
        out += [f"{key}.preset=null", f"{key}.architecture={arch}"]
    structure = enc if enc.type not in SEQUENCE_TYPES and enc.type not in FUSION_TYPES else None
    structure = getattr(enc, "structure", structure)
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
    return out


@pytest.mark.parametrize("preset", RUNNABLE, ids=_rel)
def test_every_preset_builds_and_trains_on_real_structures(
    preset: Path,
    tiny_checkpoints: dict[str, tuple[Path, ESM2]],
    demo_proteins: list,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config = load_config(PretrainConfig, preset)
    seq = sequence_config(config.encoder)
    tiny = None
    if seq is not None and seq.checkpoint is not None:
        # the preset names its weights with an environment variable: point it at a tiny checkpoint
        match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", seq.checkpoint)
        assert match, (
            f"{_rel(preset)}: sequence weights must be an environment variable, not {seq.checkpoint!r}"
        )
        path, tiny = tiny_checkpoints["saprot" if seq.type == "saprot" else "esm"]
        monkeypatch.setenv(match.group(1), str(path))
    config = load_config(PretrainConfig, preset, _tiny_overrides(config))
    saved = (
        tmp_path / "config.yaml"
    )  # a run's saved config (what --resume reads) loads back to the same config
    saved.write_text(dump_yaml(config))
    assert load_config(PretrainConfig, saved) == config
    torch.manual_seed(0)
    model = build_pretraining_model(config)
    encoder = pretrained_encoder(model)
    if tiny is not None:  # the weights came from the file the variable names
        sequence = encoder if config.encoder.type in SEQUENCE_TYPES else encoder.sequence
        for name, value in tiny.state_dict().items():
            torch.testing.assert_close(sequence.model.state_dict()[name], value, rtol=0, atol=0)

    # the preset's crop on two real chains (+ 3Di strings for SaProt), one step of training
    transform = build_transform(config.data.transform) if config.data.transform is not None else None
    proteins = [
        transform(p, np.random.default_rng(i)) if transform else p for i, p in enumerate(demo_proteins)
    ]
    if needs_3di(config.encoder):
        proteins = with_3di(proteins)
    batch = ProteinBatch.collate(proteins)
    groups = parameter_groups(model, config.optimizer)  # applies lr_ratios (ratio 0 = frozen)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert sum(len(g["params"]) for g in groups) == len(trainable)
    model.train()
    out = model(batch, generator=torch.Generator().manual_seed(1))
    assert math.isfinite(float(out.loss.detach())), out.metrics
    out.loss.backward()
    for name, p in model.named_parameters():
        if name in frozen:
            assert p.grad is None, f"{name} is frozen by optimizer.lr_ratios but got a gradient"
    grads = [p.grad for _, p in trainable if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    if config.optimizer.lr_ratios.get("encoder.sequence") == 0:
        assert frozen and all(n.startswith("encoder.sequence.") for n in frozen)

    # the pretraining export's encoder part loads into the encoder alone, as fine-tuning starts from it
    from safetensors.torch import save_file

    export = tmp_path / "model.safetensors"
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(export))
    fresh = build_encoder(without_checkpoint(config.encoder), load_checkpoint=False)
    note = load_encoder_weights(fresh, export)
    assert "loaded" in note
    for name, value in fresh.state_dict().items():
        torch.testing.assert_close(value, encoder.state_dict()[name], rtol=0, atol=0)
