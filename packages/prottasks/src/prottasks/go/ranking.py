"""Top-k GO terms with names and namespaces, and the DAG-consistent predicted subgraph (the ESM2 Function
Caller's ``predict-rank.py`` and ``predict-subgraph.py``, andrewdalpino/esm2-function-classifier).

``top_k`` ranks a protein's scores (optionally max-propagated first, so the ranking is DAG-consistent).
``predicted_subgraph`` keeps the terms whose *propagated* score exceeds ``top_p`` (the seed's ``--top_p``;
strictly greater, as the seed) — a set closed under ancestors within the vocabulary, since a parent scores at
least as high as its children — and links each kept term to its nearest kept ancestors (through terms outside
the vocabulary when needed). Edges point child → parent, as in ``obonet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from prottasks.errors import OntologyError
from prottasks.go.ontology import GeneOntology
from prottasks.go.propagate import TermDag


@dataclass(frozen=True)
class RankedTerm:
    """One ranked prediction."""

    term: str
    name: str
    namespace: str
    score: float

    def __str__(self) -> str:
        return f"{self.score:.4f}: {self.term} {self.name} ({self.namespace})"


def _one_protein(scores: Any, terms: Sequence[str]) -> np.ndarray:
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().numpy()
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(terms),):
        raise OntologyError(None, f"expected one protein's scores of shape ({len(terms)},), got {s.shape}")
    if not np.isfinite(s).all():
        raise OntologyError(None, "scores contain NaN or infinite values")
    return s


def top_k(
    scores: Any, terms: Sequence[str], ontology: GeneOntology, k: int = 10, *, propagate: bool = False
) -> list[RankedTerm]:
    """The ``k`` best terms of one protein (``scores`` ``(C,)`` over ``terms``), best first; ties keep the
    vocabulary order. ``propagate`` max-propagates first (a parent then ranks at least as high as its child)."""
    s = _one_protein(scores, terms)
    if propagate:
        s = TermDag(ontology, terms).propagate_scores(s)[0]
    order = np.argsort(-s, kind="stable")[: max(k, 0)]
    return [
        RankedTerm(terms[i], ontology.name(terms[i]), ontology.namespace(terms[i]), float(s[i]))
        for i in order
    ]


def predicted_subgraph(
    scores: Any,
    terms: Sequence[str],
    ontology: GeneOntology,
    top_p: float = 0.5,
    *,
    dag: TermDag | None = None,
) -> nx.DiGraph:
    """The DAG-consistent subgraph of one protein's predictions (module docstring).

    Nodes carry ``score`` (propagated), ``name`` and ``namespace``; an edge ``child → parent`` links a kept term
    to each nearest kept ancestor. ``dag`` reuses a prebuilt :class:`TermDag` over ``terms``.
    """
    s = _one_protein(scores, terms)
    dag = dag or TermDag(ontology, terms)
    propagated = dag.propagate_scores(s)[0]
    kept = {terms[i]: float(propagated[i]) for i in np.flatnonzero(propagated > top_p)}
    graph = nx.DiGraph()
    for t, score in kept.items():
        graph.add_node(t, score=score, name=ontology.name(t), namespace=ontology.namespace(t))
    for t in kept:
        stack, seen = list(ontology.parents[t]), set()
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            if p in kept:
                graph.add_edge(t, p)
            else:
                stack.extend(ontology.parents[p])
    return graph
