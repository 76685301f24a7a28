"""apps/score.py on the real deep mutational scans of ../shared/data/dms, with tiny random ESM-2 / SaProt models
saved in the formats the app reads. Independent truths: fair-esm's own ESM2 run with fair-esm's
examples/variant-prediction formulas (masked-marginals, wt-marginals) on the same weights; transformers'
EsmForMaskedLM with SaProt's structure-aware masking (seed-systems.md §5.4) on the 3Di string the Foldseek binary
wrote; scipy.stats.spearmanr on the written CSV. Bad input is one ``error:`` line, exit status 2, nothing written."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from protdata.testing import shared_data

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))

import score  # noqa: E402
from app_testing import fair_esm_checkpoint, randomize_, run_main  # noqa: E402

PRESETS = APPS / "configs" / "score"
TINY = "{num_layers: 2, embed_dim: 32, attention_heads: 4}"
TINY_SAPROT = "{num_layers: 2, embed_dim: 32, attention_heads: 4, vocab: saprot}"
TOL = 1e-4


# ----------------------------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def fair_esm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    """A random fair-esm ESM2 (2 layers, 32-d) and the same weights as a fair-esm ``.pt`` in fair-esm's layout
    (``{"model": encoder.sentence_encoder.-prefixed state, "cfg": {"model": Namespace}}``)."""
    return fair_esm_checkpoint(tmp_path_factory, seed=7)


def fair_masked_marginals(model: Any, alphabet: Any, sequence: str, positions: list[int]) -> dict[int, Any]:
    """fair-esm predict.py ``masked-marginals``: token position ``t`` masked on its own, log-softmax at it
    (``{t: (V,)}`` for the given token positions; predict.py loops over every position, one pass each)."""
    tokens = alphabet.get_batch_converter()([("wt", sequence)])[2]  # (1, T)
    out = {}
    with torch.no_grad():
        for start in range(0, len(positions), 32):
            idx = torch.tensor(positions[start : start + 32])
            masked = tokens.repeat(len(idx), 1)
            masked[torch.arange(len(idx)), idx] = alphabet.mask_idx
            logp = torch.log_softmax(model(masked)["logits"], dim=-1)  # (b, T, V)
            out.update({int(t): row for t, row in zip(idx, logp[torch.arange(len(idx)), idx])})
    return out


def fair_wt_marginals(model: Any, alphabet: Any, sequence: str) -> torch.Tensor:
    """fair-esm predict.py ``wt-marginals``: one unmasked pass, ``(L + 2, V)`` log-softmax."""
    tokens = alphabet.get_batch_converter()([("wt", sequence)])[2]
    with torch.no_grad():
        return torch.log_softmax(model(tokens)["logits"], dim=-1)[0]


def label_row(mutant: str, sequence: str, token_probs: Any, alphabet: Any, offset: int) -> float:
    """fair-esm predict.py's ``label_row`` (summed over the sites of a multi-mutant)."""
    total = 0.0
    for part in mutant.split(":"):
        wt, idx, mt = part[0], int(part[1:-1]) - offset, part[-1]
        assert sequence[idx] == wt
        row = token_probs[1 + idx]  # (V,) at the token after <cls>
        total += float(row[alphabet.get_idx(mt)] - row[alphabet.get_idx(wt)])
    return total


def run_app(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``apps/score.py`` in this process: ``(exit status, stdout, stderr)``."""
    return run_main(score.main, argv, capsys)


def read_scores(path: Path, column: str = "score") -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def blat() -> tuple[Path, Path, str]:
    csv_path = shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv")
    wt_path = shared_data("dms", "BLAT_ECOLX_wildtype.txt")
    lines = [ln.strip() for ln in wt_path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return csv_path, wt_path, lines[0]


def esm_preset_args(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ESM-2 preset with its weights variable pointing at the tiny checkpoint (architecture overridden)."""
    monkeypatch.setenv("ESM2_650M", str(checkpoint))
    return [
        "--config",
        str(PRESETS / "esm2_masked_marginal.yaml"),
        "encoder.preset=null",
        f"encoder.architecture={TINY}",
        "device=cpu",
    ]


# ------------------------------------------------------------------------------------------------- ESM-2
@pytest.mark.numerics
def test_blat_masked_marginal_equals_fair_esm(fair_esm, tmp_path, monkeypatch, capsys) -> None:
    """The first 1,200 BLAT_ECOLX single mutants (64 positions; offset 24, wild type from the txt) = fair-esm's
    masked-marginals; the reported Spearman = scipy's on the written CSV."""
    from scipy.stats import spearmanr

    model, alphabet, checkpoint = fair_esm
    csv_path, wt_path, wild_type = blat()
    out = tmp_path / "blat.csv"
    status, stdout, stderr = run_app(
        [
            *esm_preset_args(checkpoint, monkeypatch),
            f"data.csv={csv_path}",
            "data.offset=24",
            f"wild_type={wt_path}",
            "data.label_column=2500",
            "data.limit=1200",  # fair-esm's reference costs one pass per position: 64 positions, not 263
            "--output",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    rows = read_scores(out)
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        original = list(csv.DictReader(handle))
    assert len(original) == 4996 and len(rows) == 1200
    assert all(r["mutant"] == o["mutant"] and r["2500"] == o["2500"] for r, o in zip(rows, original))

    positions = sorted({1 + int(r["mutant"][1:-1]) - 24 for r in rows})  # token positions (after <cls>)
    table = fair_masked_marginals(model, alphabet, wild_type, positions)
    expected = np.array([label_row(r["mutant"], wild_type, table, alphabet, 24) for r in rows])
    got = np.array([float(r["score"]) for r in rows])
    assert expected.std() > 0.1
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)

    rho = spearmanr(got, [float(r["2500"]) for r in rows]).statistic
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["spearman"] == pytest.approx(rho, abs=1e-9)
    assert summary["scored"] == summary["labelled"] == 1200 and summary["rows_in_file"] == 4996
    assert summary["skipped"] == []
    assert f"Spearman rho {rho:.4f} vs '2500' (n=1200)" in stdout


@pytest.mark.numerics
def test_gb1_full_sequences_wt_marginal_equals_fair_esm(fair_esm, tmp_path, monkeypatch, capsys) -> None:
    """mavenn's GB1 table gives full variant sequences (``x``) and messy names (``"WT, WT , T02Q"``): substitutions
    are read off against the wild type; wt-marginal scores = fair-esm's wt-marginals; Spearman vs ``y`` = scipy."""
    from scipy.stats import spearmanr

    model, alphabet, checkpoint = fair_esm
    csv_path = shared_data("dms", "mavenn_nisthal_gb1_data.csv")
    with open(csv_path, newline="") as handle:
        original = list(csv.DictReader(handle))
    length = len(original[0]["x"])
    wild_type = "".join(Counter(r["x"][i] for r in original).most_common(1)[0][0] for i in range(length))
    out = tmp_path / "gb1.csv"
    status, _, stderr = run_app(
        [
            *esm_preset_args(checkpoint, monkeypatch),
            f"data.csv={csv_path}",
            "data.sequence_column=x",
            "data.label_column=y",
            "data.offset=2",  # the names number the first residue 2 (T02A)
            f"wild_type={wild_type}",
            "method=wt_marginal",
            "--output",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    rows = read_scores(out)
    assert len(rows) == 813
    table = fair_wt_marginals(model, alphabet, wild_type)
    for r in rows:
        sites = [(w, i, v) for i, (w, v) in enumerate(zip(wild_type, r["x"])) if w != v]
        assert len(sites) == 1
        w, i, v = sites[0]
        assert r["derived_mutant"] == f"{w}{i + 2}{v}"
        assert r["name"].split(",")[-1].strip() == f"{w}{i + 2:02d}{v}"  # agrees with mavenn's own name
        expected = float(table[1 + i, alphabet.get_idx(v)] - table[1 + i, alphabet.get_idx(w)])
        assert abs(float(r["score"]) - expected) <= TOL
    rho = spearmanr([float(r["score"]) for r in rows], [float(r["y"]) for r in rows]).statistic
    assert json.loads(out.with_suffix(".json").read_text())["spearman"] == pytest.approx(rho, abs=1e-9)


# ------------------------------------------------------------------------------------------------ SaProt
@pytest.mark.numerics
def test_saprot_zero_shot_on_a_real_structure(tmp_path, monkeypatch, capsys) -> None:
    """SaProt structure-aware scores from a PDB entry (1aki chain A) = transformers' EsmForMaskedLM with the
    seed's rule on the 3Di string the Foldseek binary wrote for that chain: the amino-acid slot of every mutated
    site becomes '#', its 3Di letter stays; P(aa) = sum of the softmax over the 21 tokens of that amino acid."""
    transformers = pytest.importorskip("transformers")
    from protdata import load_chains, saprot

    structure = shared_data("foldseek", "structures", "1aki.cif")
    records = shared_data("foldseek", "foldseek_3di.fasta").read_text().split(">")
    foldseek_3di = next(r for r in records if r.startswith("1aki_A ")).split("\n", 1)[1].replace("\n", "")
    sequence = load_chains(structure)[0].sequence
    assert len(sequence) == len(foldseek_3di) == 129

    config = transformers.EsmConfig(
        vocab_size=446,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        position_embedding_type="rotary",
        token_dropout=True,
        mask_token_id=4,
        pad_token_id=1,
        emb_layer_norm_before=False,
        layer_norm_eps=1e-5,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    hf = randomize_(transformers.EsmForMaskedLM(config), seed=11)
    inv = hf.esm.rotary_embeddings.inv_freq
    inv.copy_(inv.half().float())
    hf.eval().save_pretrained(tmp_path / "saprot_tiny")
    monkeypatch.setenv("SAPROT_650M_AF2", str(tmp_path / "saprot_tiny"))

    rng = random.Random(3)
    aas = "ACDEFGHIKLMNPQRSTVWY"
    mutants = []
    for _ in range(24):
        i = rng.randrange(len(sequence))
        mutants.append(f"{sequence[i]}{i + 1}{rng.choice([a for a in aas if a != sequence[i]])}")
    mutants += [
        f"{sequence[2]}3A:{sequence[40]}41W",
        f"{sequence[10]}11G:{sequence[11]}12P:{sequence[99]}100D",
    ]
    table = tmp_path / "dms.csv"
    table.write_text("mutant\n" + "\n".join(mutants) + "\n")
    out = tmp_path / "saprot.csv"
    status, _, stderr = run_app(
        [
            "--config",
            str(PRESETS / "saprot_zero_shot.yaml"),
            "encoder.preset=null",
            f"encoder.architecture={TINY_SAPROT}",
            f"structure={structure}",
            "chain=A",
            f"data.csv={table}",
            "device=cpu",
            "--output",
            str(out),
        ],
        capsys,
    )
    assert status == 0, stderr
    got = [float(r["score"]) for r in read_scores(out)]

    wt_tokens = [saprot.CLS_ID] + [saprot.token_id(a, s.lower()) for a, s in zip(sequence, foldseek_3di)]
    wt_tokens.append(saprot.EOS_ID)
    for mutant, value in zip(mutants, got):
        sites = [(p[0], int(p[1:-1]) - 1, p[-1]) for p in mutant.split(":")]
        tokens = list(wt_tokens)
        for _, i, _ in sites:
            tokens[1 + i] = saprot.token_id("#", foldseek_3di[i].lower())
        with torch.no_grad():
            probs = torch.softmax(hf(torch.tensor([tokens])).logits[0], dim=-1)  # (T, 446)

        def log_p(i: int, aa: str, probs: torch.Tensor = probs) -> float:
            return float(torch.log(sum(probs[1 + i, saprot.token_id(aa, s)] for s in saprot.STRUCT_VOCAB)))

        expected = sum(log_p(i, mt) - log_p(i, wt) for wt, i, mt in sites)
        assert abs(value - expected) <= TOL, mutant
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["scored"] == len(mutants) and "spearman" not in summary
    assert any("1aki.cif chain A (129 residues)" in n for n in summary["notes"])


# --------------------------------------------------------------------------------------------- bad input
@pytest.fixture
def trimmed_blat(tmp_path: Path) -> Path:
    """The first 12 BLAT_ECOLX rows; row 7 (CSV line 8) gets a wrong wild-type letter."""
    csv_path, _, _ = blat()
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()[:13]
    fields = lines[7].split(",")
    assert fields[1][0] != "W"
    fields[1] = "W" + fields[1][1:]
    lines[7] = ",".join(fields)
    path = tmp_path / "blat_head.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _bad(capsys, argv: list[str], out: Path, *needles: str) -> None:
    status, _, stderr = run_app([*argv, "--output", str(out)], capsys)
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_bad_input_is_one_line_and_writes_nothing(
    fair_esm, trimmed_blat, tmp_path, monkeypatch, capsys
) -> None:
    _, _, checkpoint = fair_esm
    _, wt_path, _ = blat()
    base = [*esm_preset_args(checkpoint, monkeypatch), "data.offset=24", f"wild_type={wt_path}"]
    out = tmp_path / "out" / "scores.csv"
    out.parent.mkdir()
    # a wild-type letter that does not match: the CSV line is named
    _bad(
        capsys, [*base, f"data.csv={trimmed_blat}"], out, f"{trimmed_blat}: line 8:", "expects W at position"
    )
    # missing files
    _bad(capsys, [*base, f"data.csv={tmp_path / 'nope.csv'}"], out, "data.csv:", "nope.csv: no such file")
    _bad(
        capsys,
        [*base, f"data.csv={trimmed_blat}", "wild_type=missing_wt.txt"],
        out,
        "wild_type:",
        "missing_wt",
    )
    # unknown config keys (with a suggestion) and unknown columns
    _bad(
        capsys,
        [*base, f"data.csv={trimmed_blat}", "data.ofset=3"],
        out,
        "data.ofset: unknown key",
        "'offset'",
    )
    _bad(capsys, [*base, f"data.csv={trimmed_blat}", "data.label_column=fitness"], out, "no column 'fitness'")
    # a checkpoint of another size than the config's architecture
    wrong = "{num_layers: 2, embed_dim: 64, attention_heads: 4}"
    good = [*base, f"data.csv={trimmed_blat}", "data.limit=6"]  # the rows above the bad one
    _bad(
        capsys,
        [*good, f"encoder.architecture={wrong}"],
        out,
        "encoder.checkpoint:",
        "esm2_tiny.pt",
        "64 wide",
    )
    # a weights variable that is not set
    monkeypatch.delenv("ESM2_650M")
    _bad(capsys, good, out, "ESM2_650M is not set")


def test_mismatched_rows_can_be_skipped_and_counted(
    fair_esm, trimmed_blat, tmp_path, monkeypatch, capsys
) -> None:
    _, _, checkpoint = fair_esm
    _, wt_path, _ = blat()
    out = tmp_path / "scores.csv"
    args = [*esm_preset_args(checkpoint, monkeypatch), f"data.csv={trimmed_blat}", "data.offset=24"]
    status, stdout, stderr = run_app(
        [*args, f"wild_type={wt_path}", "data.on_mismatch=skip", "data.label_column=2500", "-o", str(out)],
        capsys,
    )
    assert status == 0, stderr
    rows = read_scores(out)
    assert [r["score"] == "" for r in rows] == [i == 6 for i in range(12)]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert [s["line"] for s in summary["skipped"]] == [8] and summary["labelled"] == 11
    assert "skipped line 8:" in stderr and "skipped 1;" in stdout


def test_strict_makes_a_skipped_row_an_error(fair_esm, trimmed_blat, tmp_path, monkeypatch, capsys) -> None:
    """Issue 11: ``--strict`` turns the row ``on_mismatch: skip`` would skip into exit 2, naming the CSV line; a
    table whose every row is skipped is an error however it is run."""
    _, _, checkpoint = fair_esm
    _, wt_path, _ = blat()
    out = tmp_path / "out" / "scores.csv"
    out.parent.mkdir()
    args = [*esm_preset_args(checkpoint, monkeypatch), "data.offset=24", f"wild_type={wt_path}"]
    skip = [*args, f"data.csv={trimmed_blat}", "data.on_mismatch=skip", "--strict"]
    _bad(capsys, skip, out, "--strict", f"{trimmed_blat}, line 8:", "expects W at position")
    # every row skipped (a wrong offset shifts them all): exit 2 with how many, whatever on_mismatch says
    shifted = [*args, f"data.csv={trimmed_blat}", "data.on_mismatch=skip", "data.offset=25"]
    _bad(capsys, shifted, out, "no row could be scored: all 12 rows were skipped", "line 2:")


def test_cuda_on_a_cpu_machine_names_the_device_option(trimmed_blat, tmp_path, monkeypatch, capsys) -> None:
    """Issue 11: ``--device cuda`` without CUDA names score's own option, not a training key."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, wt_path, _ = blat()
    out = tmp_path / "scores.csv"
    argv = [f"data.csv={trimmed_blat}", f"wild_type={wt_path}", "encoder={type: esm2}", "--device", "cuda"]
    _bad(capsys, argv, out, "--device cuda", "CUDA is not available", "--device cpu")
    assert "train.device" not in capsys.readouterr().err


def test_cli_exit_status(trimmed_blat: Path, tmp_path: Path) -> None:
    """The script as a person runs it: a mismatched wild-type letter is exit status 2 and one stderr line."""
    _, wt_path, _ = blat()
    proc = subprocess.run(
        [
            sys.executable,
            str(APPS / "score.py"),
            f"data.csv={trimmed_blat}",
            "data.offset=24",
            f"wild_type={wt_path}",
            "encoder={type: esm2, architecture: " + TINY + "}",  # random weights: the table fails first
            "--output",
            str(tmp_path / "s.csv"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "line 8:" in proc.stderr
    assert not (tmp_path / "s.csv").exists()


def test_presets_hold_the_seed_settings() -> None:
    """ESM-2 650M masked marginals (fair-esm predict.py: mutant column ``mutant``, offset 1, wild-type letters
    asserted); SaProt 650M AF2 structure-aware scores (every site masked in one pass, pLDDT threshold 70)."""
    from protdata.configfile import load_config

    need = ["data.csv=x.csv", "output=x.csv"]
    esm2 = load_config(score.ScoreConfig, PRESETS / "esm2_masked_marginal.yaml", need)
    arch = esm2.encoder.esm2_config()
    assert (arch.num_layers, arch.embed_dim, arch.vocab) == (33, 1280, "esm")
    assert (esm2.method, esm2.data.mutant_column, esm2.data.offset) == ("masked_marginal", "mutant", 1)
    assert esm2.encoder.checkpoint == "${ESM2_650M}" and esm2.data.on_mismatch == "error"
    sa = load_config(score.ScoreConfig, PRESETS / "saprot_zero_shot.yaml", need)
    arch = sa.encoder.esm2_config()
    assert (arch.num_layers, arch.embed_dim, arch.vocab_size) == (33, 1280, 446)
    assert (sa.method, sa.multi, sa.encoder.plddt_threshold) == ("masked_marginal", "joint", 70.0)
    assert sa.encoder.checkpoint == "${SAPROT_650M_AF2}"


# ------------------------------------------------------------------------- many assays, ProteinGym (issue 16)
def _proteingym_file(path: Path, mutants: list[str], wild_type: str, scores: list[float]) -> None:
    """A ProteinGym substitution CSV: BLAT mutants (numbered from 24) renumbered from 1 on the wild type."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mutant", "mutated_sequence", "DMS_score", "DMS_score_bin"])
        cut = float(np.median(scores))
        for mutant, score in zip(mutants, scores):
            seq, parts = list(wild_type), []
            for part in mutant.split(":"):
                pos = int(part[1:-1]) - 23
                assert seq[pos - 1] == part[0]
                seq[pos - 1] = part[-1]
                parts.append(f"{part[0]}{pos}{part[-1]}")
            writer.writerow([":".join(parts), "".join(seq), repr(score), int(score > cut)])


def _ndcg_by_hand(y: list[float], s: list[float]) -> float:
    """ProteinGym's calc_ndcg written out (min-max gains, top floor(n / 10) by descending score)."""
    k, lo, hi = len(y) // 10, min(y), max(y)
    gains = [(v - lo) / (hi - lo) for v in y]
    order = sorted(range(len(y)), key=lambda i: -s[i])[:k]
    dcg = sum(gains[i] / np.log2(rank + 2) for rank, i in enumerate(order))
    return dcg / sum(g / np.log2(rank + 2) for rank, g in enumerate(sorted(gains, reverse=True)[:k]))


@pytest.mark.numerics
def test_proteingym_folder_one_row_per_assay(fair_esm, tmp_path, monkeypatch, capsys) -> None:
    """A folder of ProteinGym CSVs (BLAT singles; doubles built from them; a broken file): each assay's scores =
    fair-esm's masked-marginals (multi-mutants: the sum of the per-mutation log-ratios, ProteinGym's rule); the
    summary's Spearman = scipy's and NDCG@10% = ProteinGym's formula by hand on the written scores; the Average row
    is their mean; the broken assay is skipped and listed; ``--strict`` makes it an error."""
    from scipy.stats import spearmanr

    model, alphabet, checkpoint = fair_esm
    csv_path, _, wild_type = blat()
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        blat_rows = list(csv.DictReader(handle))[:240]
    singles = [r["mutant"] for r in blat_rows]
    fitness = [float(r["2500"]) for r in blat_rows]
    pairs = [
        (i, j) for i in range(0, 240, 5) for j in range(2, 240, 13) if singles[i][1:-1] != singles[j][1:-1]
    ]
    pairs = pairs[:120]
    folder = tmp_path / "assays"
    folder.mkdir()
    _proteingym_file(folder / "BLAT_singles.csv", singles, wild_type, fitness)
    doubles = [f"{singles[i]}:{singles[j]}" for i, j in pairs]
    _proteingym_file(
        folder / "BLAT_doubles.csv", doubles, wild_type, [fitness[i] + fitness[j] for i, j in pairs]
    )
    (folder / "broken.csv").write_text("mutant,mutated_sequence,DMS_score\nA1P,MK,0.5\n")
    monkeypatch.setenv("ESM2_650M", str(checkpoint))
    argv = ["--config", str(PRESETS / "proteingym_esm2.yaml"), "encoder.preset=null", f"encoder.architecture={TINY}",
            "device=cpu", f"assays={folder}"]  # fmt: skip
    out = tmp_path / "summary.csv"
    status, stdout, stderr = run_app([*argv, "--output", str(out)], capsys)
    assert status == 0, stderr
    assert "scored 2 assays (masked_marginal, independent)" in stdout and "skipped 1" in stdout
    assert "skipped " in stderr and "broken.csv" in stderr

    positions = sorted({1 + int(m[1:-1]) - 24 for m in singles})  # token positions (after <cls>)
    table = fair_masked_marginals(model, alphabet, wild_type, positions)
    summary = {r["DMS_id"]: r for r in read_scores(out)}
    assert list(summary) == ["BLAT_doubles", "BLAT_singles", "Average"]
    for dms_id, mutants in (("BLAT_singles", singles), ("BLAT_doubles", doubles)):
        rows = read_scores(tmp_path / "summary_scores" / f"{dms_id}.csv")
        expected = [label_row(m, wild_type, table, alphabet, 24) for m in mutants]
        got = [float(r["score"]) for r in rows]
        np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
        y = [float(r["DMS_score"]) for r in rows]
        assert int(summary[dms_id]["number_mutants"]) == len(mutants)
        assert float(summary[dms_id]["Spearman"]) == pytest.approx(spearmanr(got, y).statistic, abs=1e-5)
        assert float(summary[dms_id]["NDCG"]) == pytest.approx(_ndcg_by_hand(y, got), abs=1e-5)
    for column in ("Spearman", "NDCG", "Top_recall", "AUC"):
        mean = (float(summary["BLAT_singles"][column]) + float(summary["BLAT_doubles"][column])) / 2
        assert float(summary["Average"][column]) == pytest.approx(mean, abs=1e-5)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["multi"] == "independent" and len(report["skipped"]) == 1
    assert "broken.csv" in report["skipped"][0]["assay"]

    strict = tmp_path / "strict" / "summary.csv"
    strict.parent.mkdir()
    _bad(
        capsys, [*argv, "--strict"], strict, "broken.csv", "mutant 'A1P' does not match its mutated_sequence"
    )
    _bad(capsys, [*argv, f"data.csv={csv_path}"], strict, "give data", "or assays")
    _bad(capsys, [*argv, "wild_type=MKV"], strict, "assays:", "wild type comes from its file")
