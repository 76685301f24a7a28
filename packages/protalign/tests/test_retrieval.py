"""Retrieval metrics against scikit-learn (single relevant item) and brute-force ranking (duplicate texts),
and the random-ranking expectation against exhaustive enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from protalign.retrieval import (
    cross_modal_retrieval,
    first_relevant_rank,
    random_ranking_expectation,
    retrieval_metrics,
    text_groups,
)

pytestmark = pytest.mark.numerics


def test_single_relevant_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(40, 12))
    truth = rng.integers(0, 12, size=40)
    relevant = np.eye(12, dtype=bool)[truth]
    result = retrieval_metrics(torch.from_numpy(scores), torch.from_numpy(relevant), ks=(1, 3, 5))
    for k in (1, 3, 5):
        expected = metrics.top_k_accuracy_score(truth, scores, k=k, labels=np.arange(12))
        assert result.recall[k] == pytest.approx(expected)
    # with one relevant label per query, label-ranking average precision is the reciprocal rank
    assert result.mrr == pytest.approx(metrics.label_ranking_average_precision_score(relevant, scores))


def _brute_rank(scores: list[float], relevant: list[bool]) -> int:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], relevant[i]))  # ties: irrelevant first
    return 1 + next(pos for pos, i in enumerate(order) if relevant[i])


def test_duplicate_texts_against_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    texts = ["a", "b", "a", "c", "b", "d", "a"]
    protein = torch.randn(7, 5, generator=g)
    text = torch.randn(7, 5, generator=g)
    distinct, group, first = text_groups(texts)
    assert (
        distinct == ["a", "b", "c", "d"]
        and group.tolist() == [0, 1, 0, 2, 1, 3, 0]
        and first.tolist() == [0, 1, 3, 5]
    )
    result = cross_modal_retrieval(protein, text, texts, ks=(1, 2))
    # protein -> text: the gallery has each distinct text once (embedded by its first occurrence)
    ranks = []
    for i in range(7):
        scores = [float(protein[i] @ text[first[t]]) for t in range(4)]
        ranks.append(_brute_rank(scores, [texts[i] == distinct[t] for t in range(4)]))
    assert result["protein_to_text"].ranks.tolist() == ranks
    assert result["protein_to_text"].mrr == pytest.approx(np.mean([1 / r for r in ranks]))
    # text -> protein: one query per distinct text; every protein paired with it is relevant
    ranks = []
    for t in range(4):
        scores = [float(text[first[t]] @ protein[i]) for i in range(7)]
        ranks.append(_brute_rank(scores, [texts[i] == distinct[t] for i in range(7)]))
    assert result["text_to_protein"].ranks.tolist() == ranks
    assert result["text_to_protein"].recall[2] == pytest.approx(np.mean([r <= 2 for r in ranks]))


def test_ties_count_against_the_query() -> None:
    scores = torch.zeros(2, 5)
    relevant = torch.tensor([[True, False, False, False, False], [False, True, True, False, False]])
    assert first_relevant_rank(scores, relevant).tolist() == [5, 4]  # constant scores: worst possible rank


@pytest.mark.parametrize(("n", "r"), [(6, 1), (6, 2), (5, 5), (7, 3)])
def test_chance_by_enumerating_permutations(n: int, r: int) -> None:
    ks = tuple(range(1, n + 1))
    recall, mrr = random_ranking_expectation(n, r, ks)
    ranks = []
    for order in itertools.permutations(range(n)):
        ranks.append(1 + min(pos for pos, item in enumerate(order) if item < r))  # items 0..r-1 are relevant
    ranks = np.array(ranks)
    for k in ks:
        assert recall[k] == pytest.approx((ranks <= k).mean())
    assert mrr == pytest.approx((1 / ranks).mean())


def test_chance_in_result() -> None:
    relevant = torch.eye(10, dtype=torch.bool)
    result = retrieval_metrics(torch.randn(10, 10), relevant)
    assert result.chance["R@1"] == pytest.approx(0.1) and result.chance["R@10"] == pytest.approx(1.0)
    assert result.chance["MRR"] == pytest.approx(sum(1 / i for i in range(1, 11)) / 10)
    assert set(result.as_dict("p2t/")) == {"p2t/R@1", "p2t/R@5", "p2t/R@10", "p2t/MRR"}
    assert math.isclose(result.recall[10], 1.0)


def test_errors() -> None:
    with pytest.raises(ValueError, match="at least one relevant"):
        first_relevant_rank(torch.zeros(2, 3), torch.tensor([[True, False, False], [False] * 3]))
    with pytest.raises(ValueError, match="must be equal"):
        first_relevant_rank(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="texts"):
        cross_modal_retrieval(torch.zeros(3, 2), torch.zeros(3, 2), ["a", "b"])
