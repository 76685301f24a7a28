"""Cross-modal retrieval metrics: protein → text and text → protein, Recall@k and MRR.

Duplicate texts are common (74 distinct texts among the 100 Swiss-Prot sample entries: orthologues share a
description). Retrieval therefore works on *distinct* texts: the text gallery holds each distinct text once, a
protein's relevant text is the one equal to its own, and a text query's relevant proteins are all proteins
paired with that text. A query's rank is the 1-based position of its best-ranked relevant item; Recall@k is the
fraction of queries whose rank is ≤ k and MRR the mean of 1/rank. Ties are broken against the query (an
irrelevant candidate scoring exactly as high as the best relevant one ranks ahead of it), so a degenerate model
that scores everything equally gets the worst rank, not the best.

``chance`` gives the exact expectation of each metric under a uniformly random ranking (a query with ``r``
relevant among ``n`` candidates: ``P(rank > k) = C(n−r, k)/C(n, k)``), the baseline a learning test compares to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

DEFAULT_KS = (1, 5, 10)


@dataclass
class RetrievalResult:
    """``recall[k]``, ``mrr``, per-query ``ranks`` (1-based) and the random-ranking expectation ``chance``."""

    recall: dict[int, float]
    mrr: float
    ranks: np.ndarray
    chance: dict[str, float] = field(default_factory=dict)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        out = {f"{prefix}R@{k}": v for k, v in self.recall.items()}
        out[f"{prefix}MRR"] = self.mrr
        return out


def first_relevant_rank(scores: Tensor, relevant: Tensor) -> Tensor:
    """``(Q, C)`` scores and bool relevance -> ``(Q,)`` 1-based rank of each query's best relevant candidate.

    rank = 1 + #{irrelevant candidates scoring ≥ the best relevant score} (ties against the query).
    """
    if scores.shape != relevant.shape or scores.dim() != 2:
        raise ValueError(
            f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} must be equal (Q, C)"
        )
    if not bool(relevant.any(dim=1).all()):
        raise ValueError("every query needs at least one relevant candidate")
    scores = scores.float()
    best = scores.masked_fill(~relevant, float("-inf")).amax(dim=1, keepdim=True)  # (Q, 1)
    ahead = (scores >= best) & ~relevant  # (Q, C)
    return 1 + ahead.sum(dim=1)


def random_ranking_expectation(n: int, r: int, ks: Sequence[int]) -> tuple[dict[int, float], float]:
    """Expected Recall@k and reciprocal rank of the first of ``r`` relevant items among ``n``, randomly ranked."""
    # P(first relevant is beyond position i) = Π_{j<i} (n − r − j)/(n − j)
    survive = np.ones(n + 1)
    for i in range(1, n + 1):
        survive[i] = survive[i - 1] * max(n - r - (i - 1), 0) / (n - (i - 1))
    p_first = survive[:-1] - survive[1:]  # P(rank = i), i = 1..n
    recall = {k: float(1.0 - survive[min(k, n)]) for k in ks}
    mrr = float((p_first / np.arange(1, n + 1)).sum())
    return recall, mrr


def retrieval_metrics(scores: Tensor, relevant: Tensor, ks: Sequence[int] = DEFAULT_KS) -> RetrievalResult:
    """Recall@k, MRR and their random-ranking expectation for ``(Q, C)`` scores and bool relevance."""
    ranks = first_relevant_rank(scores, relevant).cpu().numpy()
    recall = {k: float((ranks <= k).mean()) for k in ks}
    n = relevant.shape[1]
    counts = relevant.sum(dim=1).cpu().numpy()
    chance: dict[str, float] = {f"R@{k}": 0.0 for k in ks}
    chance["MRR"] = 0.0
    for r, q in zip(*np.unique(counts, return_counts=True)):
        rec, mrr = random_ranking_expectation(n, int(r), ks)
        for k in ks:
            chance[f"R@{k}"] += rec[k] * q / len(counts)
        chance["MRR"] += mrr * q / len(counts)
    return RetrievalResult(recall=recall, mrr=float((1.0 / ranks).mean()), ranks=ranks, chance=chance)


def text_groups(texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Distinct texts (first-occurrence order), each pair's distinct-text index ``(P,)`` and each distinct
    text's first pair index ``(T,)``."""
    index: dict[str, int] = {}
    group = np.empty(len(texts), dtype=np.int64)
    first: list[int] = []
    for i, text in enumerate(texts):
        if text not in index:
            index[text] = len(first)
            first.append(i)
        group[i] = index[text]
    return list(index), group, np.asarray(first, dtype=np.int64)


def cross_modal_retrieval(
    protein: Tensor, text: Tensor, texts: Sequence[str], ks: Sequence[int] = DEFAULT_KS
) -> dict[str, RetrievalResult]:
    """Protein → text and text → protein retrieval over ``P`` pairs.

    ``protein`` ``(P, D)`` and ``text`` ``(P, D)`` are the embeddings of pair ``i`` (normalised, or any scores
    by dot product); ``texts`` the raw texts, which define duplicates. Each distinct text is embedded by its
    first occurrence. Returns ``{"protein_to_text": ..., "text_to_protein": ...}``.
    """
    if protein.shape[0] != text.shape[0] or len(texts) != protein.shape[0]:
        raise ValueError(
            f"{protein.shape[0]} proteins, {text.shape[0]} text embeddings and {len(texts)} texts"
        )
    _, group, first = text_groups(texts)
    gallery = text[torch.as_tensor(first, device=text.device)]  # (T, D)
    scores = protein.float() @ gallery.float().t()  # (P, T)
    g = torch.as_tensor(group, device=scores.device)
    relevant = g[:, None] == torch.arange(len(first), device=scores.device)[None, :]  # (P, T)
    return {
        "protein_to_text": retrieval_metrics(scores, relevant, ks),
        "text_to_protein": retrieval_metrics(scores.t(), relevant.t(), ks),
    }
