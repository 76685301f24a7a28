"""ProteinGym's per-assay metrics on the real BLAT_ECOLX scan (fitness column ``2500``, the scan's own EVmutation
/ VAE predictions as model scores): Spearman against SciPy, NDCG@10% against a brute-force loop over ProteinGym's
formula and against scikit-learn's ``ndcg_score`` with min-max gains, top-10% recall against a brute-force
percentile, AUC against scikit-learn; assays in ProteinGym's file format read back with the wild type of the
shared ``BLAT_ECOLX_wildtype.txt``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from protdata.testing import shared_data
from prottasks.data.proteingym import (
    benchmark_assays,
    list_assays,
    read_proteingym_assay,
    summary_csv,
    wild_type_from_mutants,
)
from prottasks.errors import MetricInputError, TableError
from prottasks.metrics.proteingym import proteingym_metrics, proteingym_ndcg, top_recall


def blat_columns(*names: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """The BLAT mutants (numbered from 24) and the float columns ``names`` of the rows that have all of them."""
    with open(shared_data("dms", "BLAT_ECOLX_Ranganathan2015.csv"), newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.DictReader(f) if all(r[n].strip() for n in names)]
    return [r["mutant"] for r in rows], {n: np.array([float(r[n]) for r in rows]) for n in names}


def brute_ndcg(y: np.ndarray, s: np.ndarray, top: float = 10) -> float:
    """ProteinGym's calc_ndcg written out: min-max gains, rank by descending score, k = floor(n * top / 100)."""
    n = len(y)
    k = math.floor(n * top / 100)
    lo, hi = min(y), max(y)
    gains = [(v - lo) / (hi - lo) for v in y]
    by_score = sorted(range(n), key=lambda i: -s[i])
    dcg = sum(gains[i] / math.log2(rank + 1) for rank, i in enumerate(by_score, 1) if rank <= k)
    ideal = sorted(gains, reverse=True)
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, 1) if rank <= k)
    return dcg / idcg


def brute_percentile(x: np.ndarray, q: float) -> float:
    """The q-th percentile with linear interpolation between the sorted values (NumPy's default, by hand)."""
    xs = sorted(x)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (pos - lo)


def test_metrics_on_blat_against_independent_implementations() -> None:
    from sklearn.metrics import ndcg_score, roc_auc_score

    _, cols = blat_columns(
        "2500", "mutation_effect_prediction_independent", "mutation_effect_prediction_vae_1"
    )
    y = cols["2500"]
    assert len(y) > 4000
    compared = 0
    for name in ("mutation_effect_prediction_independent", "mutation_effect_prediction_vae_1"):
        s = cols[name]
        bins = (y > np.median(y)).astype(float)
        m = proteingym_metrics(s, y, bins)
        assert m.number_mutants == len(y)
        assert m.spearman == pytest.approx(spearmanr(s, y).statistic, abs=1e-12)
        assert m.ndcg == pytest.approx(brute_ndcg(y, s), abs=1e-12)
        k = math.floor(len(y) / 10)
        if len(np.unique(s)) == len(s):  # scikit-learn averages tied scores; ProteinGym does not
            gains = (y - y.min()) / (y.max() - y.min())
            assert m.ndcg == pytest.approx(ndcg_score(gains[None], s[None], k=k), abs=1e-12)
            compared += 1
        y90, s90 = brute_percentile(y, 90), brute_percentile(s, 90)
        true_top = [v > y90 for v in y]
        model_top = [v > s90 for v in s]
        recall = sum(a and b for a, b in zip(true_top, model_top)) / sum(true_top)
        assert m.top_recall == pytest.approx(recall, abs=1e-12)
        assert m.auc == pytest.approx(roc_auc_score(bins, s), abs=1e-12)
        assert 0.1 < m.spearman < 0.9 and 0 < m.ndcg < 1 and 0 < m.top_recall < 1  # informative predictors
    assert compared == 1  # the VAE's scores have no ties


def test_ndcg_edge_cases_follow_proteingym() -> None:
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5, 0.2])
    s_bad = np.arange(12.0)[::-1]  # the best-scored variant has gain 0
    assert proteingym_ndcg(y, s_bad) == 0.0  # k = floor(12 / 10) = 1, its gain is 0: ProteinGym returns 0
    assert proteingym_ndcg(y, y) == pytest.approx(1.0)
    assert math.isnan(proteingym_ndcg(y[:9], np.arange(9.0)))  # constant fitness: no gains at all
    assert proteingym_ndcg(y[7:], np.arange(5.0)) == 0.0  # k = floor(5 / 10) = 0
    assert math.isnan(top_recall(np.ones(20), np.arange(20.0)))  # nothing above the 90th percentile
    with pytest.raises(MetricInputError, match="lengths differ"):
        proteingym_metrics([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(MetricInputError, match="0/1"):
        proteingym_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0, 1, 2])


def write_assay(path: Path, mutants: list[str], wild_type: str, scores: np.ndarray, offset: int) -> None:
    """A ProteinGym substitution file: mutants renumbered from 1, the mutated sequences, score and bin."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mutant", "mutated_sequence", "DMS_score", "DMS_score_bin"])
        cut = np.median(scores)
        for mutant, score in zip(mutants, scores):
            seq, parts = list(wild_type), []
            for part in mutant.split(":"):
                wt, pos, mt = part[0], int(part[1:-1]) - offset + 1, part[-1]
                assert seq[pos - 1] == wt
                seq[pos - 1] = mt
                parts.append(f"{wt}{pos}{mt}")
            w.writerow([":".join(parts), "".join(seq), repr(float(score)), int(score > cut)])


def blat_wild_type() -> str:
    text = shared_data("dms", "BLAT_ECOLX_wildtype.txt").read_text().splitlines()
    return "".join(line.strip() for line in text if line.strip() and not line.startswith("#"))


def test_assays_folder_wild_type_summary_and_skips(tmp_path: Path) -> None:
    """Two assays (BLAT singles; doubles made of pairs of them) and a broken one: the wild type read off each
    file is the shared one; a row that disagrees with its sequence names its line; the summary's rows are the
    metrics of each assay and the Average row their mean; the broken assay is skipped and listed."""
    mutants, cols = blat_columns("2500", "mutation_effect_prediction_independent")
    wild_type = blat_wild_type()
    y, s = cols["2500"][:400], cols["mutation_effect_prediction_independent"][:400]
    write_assay(tmp_path / "A_singles.csv", mutants[:400], wild_type, y, 24)
    pairs = [
        (i, j) for i in range(0, 400, 7) for j in range(3, 400, 11) if mutants[i][1:-1] != mutants[j][1:-1]
    ]
    pairs = pairs[:150]
    doubles = [f"{mutants[i]}:{mutants[j]}" for i, j in pairs]
    y2 = np.array([y[i] + y[j] for i, j in pairs])
    write_assay(tmp_path / "B_doubles.csv", doubles, wild_type, y2, 24)
    (tmp_path / "C_broken.csv").write_text("mutant,DMS_score\nA1P,0.3\n")  # no mutated_sequence column
    assert [p.name for p in list_assays(tmp_path)] == ["A_singles.csv", "B_doubles.csv", "C_broken.csv"]
    assay = read_proteingym_assay(tmp_path / "B_doubles.csv")
    assert assay.wild_type == wild_type and assay.mutants[0].count(":") == 1

    model = {m: v for m, v in zip((f"{m[0]}{int(m[1:-1]) - 23}{m[-1]}" for m in mutants[:400]), s)}

    def score(a):  # the scan's own predictions, summed over the sites of a multi-mutant
        return [sum(model[p] for p in m.split(":")) for m in a.mutants]

    result = benchmark_assays(list_assays(tmp_path), score)
    assert list(result.metrics) == ["A_singles", "B_doubles"]
    assert len(result.skipped) == 1 and "C_broken.csv" in result.skipped[0][0]
    assert "no column 'mutated_sequence'" in result.skipped[0][1]
    s2 = np.array([s[i] + s[j] for i, j in pairs])
    rows = list(csv.DictReader(summary_csv(result).splitlines()))
    assert [r["DMS_id"] for r in rows] == ["A_singles", "B_doubles", "Average"]
    for row, (yy, ss) in zip(rows, [(y, s), (y2, s2)]):
        assert int(row["number_mutants"]) == len(yy)
        assert float(row["Spearman"]) == pytest.approx(spearmanr(ss, yy).statistic, rel=1e-5)
        assert float(row["NDCG"]) == pytest.approx(brute_ndcg(yy, ss), rel=1e-5)
    for column in ("Spearman", "NDCG", "Top_recall", "AUC", "number_mutants"):
        assert float(rows[2][column]) == pytest.approx(
            (float(rows[0][column]) + float(rows[1][column])) / 2, rel=1e-5
        )
    with pytest.raises(TableError, match="mutated_sequence"):
        benchmark_assays(list_assays(tmp_path), score, strict=True)

    # a row whose sequence disagrees with its mutant: the error names the file and line
    text = (tmp_path / "A_singles.csv").read_text().splitlines()
    mutant, seq, *rest = text[5].split(",")
    text[5] = ",".join([mutant, seq[:-1] + ("A" if seq[-1] != "A" else "C"), *rest])
    (tmp_path / "A_singles.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(TableError, match=r"A_singles\.csv, line 6: mutated_sequence is not the wild type"):
        read_proteingym_assay(tmp_path / "A_singles.csv")
    with pytest.raises(TableError, match=r"x\.csv, line 3: mutant 'Q1P': the wild type has A at 1"):
        wild_type_from_mutants(["A1P", "Q1P"], ["PK", "PK"], tmp_path / "x.csv", [2, 3])
