"""The contact preset (``apps/configs/finetune/contact/esm2.yaml``) end to end on the shared real PDB chains: the
finetune app trains its frozen-encoder contact head (tiny random ESM-2, 3 x 16) and the held-out long-range P@L/5
beats the sequence-separation baseline; the logged test precisions equal an independent recomputation on the
exported best model (``TaskModel.predict`` + :mod:`prottasks.metrics`' labels and P@L); bad inputs (a residue without
Cβ / Cα, a structure without any, no structures at all) are masked, left out and counted, or one ``error:`` line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import finetune  # noqa: E402

from protdata import Protein, ProteinBatch, load_chains  # noqa: E402
from protdata.constants import ATOM_CA, ATOM_CB  # noqa: E402
from protdata.errors import DatasetError  # noqa: E402
from protdata.testing import shared_data  # noqa: E402
from prottasks.metrics import contact_labels, contact_precisions, sequence_separation_scores  # noqa: E402

PRESET = APPS / "configs" / "finetune" / "contact" / "esm2.yaml"
TINY = ["encoder.preset=null", "encoder.architecture={num_layers: 3, embed_dim: 16, attention_heads: 2}"]
#: A copy of 1mr1D (it would leak into the held-out chains); ``wrong_hydrogens`` (no protein chain) stays in the
#: folder: the app skips and reports it.
DUPLICATE = "1mr1D_failing"


@pytest.fixture(scope="module")
def chains() -> list[Protein]:
    folder = shared_data("structures", "experimental_mdanalysis_dssp")
    files = [
        f for f in sorted(folder.glob("*.pdb.gz")) if not f.name.startswith((DUPLICATE, "wrong_hydrogens"))
    ]
    return [p for f in files for p in load_chains(f, format="pdb")]


@pytest.fixture(scope="module")
def contact_run(tmp_path_factory: pytest.TempPathFactory, chains: list[Protein]) -> dict:
    from protenc_seq import ESM2, ESM2Config, save_safetensors

    tmp = tmp_path_factory.mktemp("contact")
    folder = shared_data("structures", "experimental_mdanalysis_dssp")
    structures = tmp / "structures"
    structures.mkdir()
    for f in folder.glob("*.pdb.gz"):
        if not f.name.startswith(DUPLICATE):
            (structures / f.name).symlink_to(f)
    splits = {
        "train": [p.id for i, p in enumerate(chains) if i % 4 in (0, 2)],
        "valid": [p.id for p in chains[1::4]],
        "test": [p.id for p in chains[3::4]],
    }
    for name, ids in splits.items():
        (tmp / f"{name}.txt").write_text("\n".join(ids) + "\n")
    torch.manual_seed(0)
    esm = save_safetensors(
        ESM2(ESM2Config(num_layers=3, embed_dim=16, attention_heads=2)), tmp / "esm2.safetensors"
    )
    argv = [
        "--config",
        str(PRESET),
        *TINY,
        *[f"data.splits.{s}={tmp / f'{s}.txt'}" for s in splits],
        "data.batch_size=4",
        "head.projection_dim=16",
        "train.epochs=null",
        "train.max_steps=100",
        "train.log_every=10",
        "train.num_threads=1",
        "evaluation.every_steps=50",
        f"data.cache_dir={tmp / 'cache'}",
        f"output_root={tmp / 'runs'}",
        "--no-progress",
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ESM2_650M", str(esm))
        mp.setenv("CONTACT_STRUCTURES", str(structures))
        status, out, err = _run(argv)
    assert status == 0, err
    (run_dir,) = (tmp / "runs").glob("contact-esm2-*")
    return {"dir": run_dir, "splits": splits, "out": out, "err": err, "tmp": tmp}


def _run(argv: list[str]) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = finetune.main(argv)
        except SystemExit as exc:
            status = int(exc.code or 0)
    return status, out.getvalue(), err.getvalue()


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _baseline(proteins: list[Protein]) -> dict[str, float]:
    items = []
    for p in proteins:
        contacts, valid = contact_labels(p)
        items.append((sequence_separation_scores(len(p)), contacts, valid))
    return contact_precisions(items)


def test_preset_learns_contacts_above_the_sequence_separation_baseline(contact_run, chains) -> None:
    from protdata.pretrained import load_pretrained

    err = contact_run["err"]
    assert "data: train 25, valid 13, test 12 proteins" in err, err
    assert "1 structure files skipped (first: " in err and "wrong_hydrogens" in err  # no protein chain
    assert "2 residues of 2 structures have no Cβ (Cα for Gly): masked" in err  # 1i8nA, 2xr6A
    records = _records(contact_run["dir"])
    evals = [r for r in records if "valid_long_P@L/5" in r]
    assert [r["step"] for r in evals] == [50, 100]
    keys = {f"{r}_P@L{k}" for r in ("short", "medium", "long") for k in ("", "/2", "/5")} | {"loss"}
    assert all(f"{s}_{k}" in evals[-1] for s in ("valid", "test") for k in keys)
    best = max(evals, key=lambda r: r["valid_long_P@L/5"])
    selected = json.loads((contact_run["dir"] / "best" / "config.json").read_text())["selected"]
    assert selected == {"metric": "valid_long_P@L/5", "value": best["valid_long_P@L/5"], "step": best["step"],
                        "mode": "max"}  # fmt: skip

    # independent recomputation on the exported best model: labels and P@L of prottasks.metrics (NumPy)
    model = load_pretrained(contact_run["dir"] / "best")
    assert model.kind == "contact"
    held_out = [p for p in chains if p.id in set(contact_run["splits"]["test"])]
    maps = model.predict(held_out, batch_size=4)
    assert [m.shape for m in maps] == [(len(p), len(p)) for p in held_out]
    assert all(np.allclose(m, m.T) and ((m >= 0) & (m <= 1)).all() for m in maps)
    ours = contact_precisions([(m, *contact_labels(p)) for m, p in zip(maps, held_out)])
    for key, value in ours.items():
        assert best[f"test_{key}"] == pytest.approx(value, abs=1e-9), key
    base = _baseline(held_out)
    for key in ours:
        print(f"{key:>14}: head {ours[key]:.3f}  sequence separation {base[key]:.3f}")
    # measured (Intel Xeon, 1 thread; seeds of the tiny encoder / head 0-3): long P@L/5 0.077-0.11 vs 0.031;
    # the bound is half the smallest head-room seen
    assert base["long_P@L/5"] == pytest.approx(0.031, abs=0.002)
    assert ours["long_P@L/5"] > base["long_P@L/5"] + 0.02


def test_the_encoder_stays_frozen(contact_run) -> None:
    """Only the head's weights change: the exported ESM-2 tensors are the tiny checkpoint's."""
    from safetensors.torch import load_file

    start = load_file(contact_run["tmp"] / "esm2.safetensors")
    best = load_file(contact_run["dir"] / "best" / "model.safetensors")
    encoder = {k.removeprefix("encoder.model."): v for k, v in best.items() if k.startswith("encoder.model.")}
    assert set(encoder) == set(start)
    assert all(torch.equal(encoder[k], start[k]) for k in start)
    assert any(k.startswith("head.") for k in best)


def _without(protein: Protein, residues: list[int], atoms: tuple[int, ...]) -> Protein:
    coords, mask = protein.coords.copy(), protein.atom_mask.copy()
    for i in residues:
        for a in atoms:
            coords[i, a] = np.nan
            mask[i, a] = False
    return Protein(protein.id, protein.sequence, coords=coords, atom_mask=mask)


def test_missing_contact_atoms_are_masked_or_left_out(chains) -> None:
    from protdata.pretrained import build_model
    from prottasks import TaskModel
    from prottasks.data.contacts import contact_table, scorable_pairs
    from prottasks.data.labelled import ProteinPool
    from prottasks.data.sources import ContactLabels

    a, b = chains[0], chains[1]
    holes = [5, 6, 40]
    a_holes = _without(a, holes, (ATOM_CA, ATOM_CB))  # neither Cβ nor Cα: masked residues
    b_empty = _without(b, list(range(len(b))), (ATOM_CA, ATOM_CB))  # no contact atom at all: left out
    table = contact_table(ProteinPool([], _Store([a_holes, b_empty])), ContactLabels())
    assert list(table.targets) == [a.id] and table.kind == "contact"
    assert any(
        "1 structures with fewer than 1 residue pairs" in line and b.id in line for line in table.report
    )
    _, valid = contact_labels(a_holes)
    assert (~valid).sum() >= len(holes)
    # brute force: pairs i < j, both valid, j - i >= 6
    n = len(valid)
    assert scorable_pairs(valid) == sum(valid[i] and valid[j] for i in range(n) for j in range(i + 6, n))

    torch.manual_seed(0)
    architecture = {"num_layers": 1, "embed_dim": 16, "attention_heads": 2}
    encoder = build_model({"type": "esm2", "architecture": architecture})
    model = TaskModel.from_encoder(encoder, {"type": "contact", "projection_dim": 8})
    batch = ProteinBatch.collate([a_holes, chains[2]])
    out = model(batch, targets=torch.zeros(2))  # the data's placeholders: labels from the coordinates
    assert torch.isfinite(out.loss)
    assert not out.targets.pairs[0, holes].any() and not out.targets.pairs[0, :, holes].any()
    with pytest.raises(DatasetError, match="no structure has a scorable residue pair"):
        contact_table(ProteinPool([], _Store([b_empty])), ContactLabels())
    with pytest.raises(DatasetError, match="contact labels come from 3D structures"):
        contact_table(ProteinPool([a], None), ContactLabels())


class _Store:
    """A minimal protein store (the structure cache's interface) over proteins in memory."""

    def __init__(self, proteins: list[Protein]) -> None:
        self.proteins = proteins
        self.ids = [p.id for p in proteins]
        self.lengths = np.array([len(p) for p in proteins])

    def __len__(self) -> int:
        return len(self.proteins)

    def __getitem__(self, i: int) -> Protein:
        return self.proteins[i]


def test_contact_labels_without_structures_is_one_error_line(tmp_path: Path, monkeypatch) -> None:
    fasta = shared_data("function", "cafa_like_sequences.fasta")
    monkeypatch.setenv("ESM2_650M", "unused")
    argv = ["--config", str(PRESET), *TINY, "encoder.checkpoint=null", "data.structures=[]",
            f"data.sequences=[{fasta}]", f"output_root={tmp_path / 'runs'}", "--no-progress"]  # fmt: skip
    status, _, err = _run(argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: data.structures: contact labels come from 3D structures"), err
    assert not (tmp_path / "runs").exists() or not any(
        (tmp_path / "runs").glob("contact-esm2-*/model.safetensors")
    )


def test_selection_metric_must_be_a_contact_metric() -> None:
    from engine.errors import ConfigError
    from engine.finetuning import FinetuneConfig, selection

    from protdata.configfile import load_config

    config = load_config(FinetuneConfig, PRESET)
    assert selection(config) == ("valid_long_P@L/5", "max")
    bad = load_config(FinetuneConfig, PRESET, ["evaluation.metric=valid_fmax"])
    with pytest.raises(ConfigError, match=r"valid_long_P@L/5"):
        selection(bad)
    assert math.isfinite(config.optimizer.lr)


def test_esm_attention_regression_trains_in_the_app(contact_run) -> None:
    """``head={type: attention_contact}``: ESM's logistic regression on the frozen attention maps, same data and
    evaluation (a short run: it logs every contact metric and exports the best model)."""
    tmp = contact_run["tmp"]
    argv = [
        "--config",
        str(PRESET),
        *TINY,
        "head={type: attention_contact}",
        *[f"data.splits.{s}={tmp / f'{s}.txt'}" for s in ("train", "valid", "test")],
        "data.batch_size=4",
        "train.epochs=null",
        "train.max_steps=4",
        "train.num_threads=1",
        "evaluation.every_steps=4",
        "name=contact-attention",
        f"data.cache_dir={tmp / 'cache'}",
        f"output_root={tmp / 'runs-attention'}",
        "--no-progress",
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ESM2_650M", str(tmp / "esm2.safetensors"))
        mp.setenv("CONTACT_STRUCTURES", str(tmp / "structures"))
        status, _, err = _run(argv)
    assert status == 0, err
    (run_dir,) = (tmp / "runs-attention").glob("contact-attention-*")
    (record,) = [r for r in _records(run_dir) if "valid_long_P@L/5" in r]
    assert 0 <= record["test_long_P@L/5"] <= 1 and math.isfinite(record["valid_loss"])
    config = json.loads((run_dir / "best" / "config.json").read_text())["config"]
    assert config["head"]["type"] == "attention_contact" and config["kind"] == "contact"
