"""True-path propagation of GO annotations and scores (is_a + part_of), and DAG-consistent scores.

* Annotations: a protein annotated with a term is annotated with all its ancestors (the true-path rule).
* Scores: ``s(parent) ← max(s(parent), s(child))`` from the leaves up, so that no term scores below any of its
  descendants — CAFA's ``cafaeval`` "max" propagation of predictions, and the ESM2 Function Caller's
  ``predict-subgraph`` rule ``p(ancestor) = max(p(node), p(ancestor))``: the scores are then *DAG-consistent*,
  a child never scores above its parent.

Scores are usually given over a label vocabulary that is a subset of the ontology (e.g. the 1,943 GO-BP labels).
:class:`TermDag` holds the upward closure of those terms (the terms and all their ancestors); terms outside the
vocabulary take part with score −∞ (labels: False), so a vocabulary term inherits the maximum over all of its
descendants in the vocabulary even when the path between them leaves the vocabulary.
Propagation runs level by level (longest distance from a leaf) with ``np.maximum.reduceat`` over the edges into
each level's parents — no per-term Python loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from prottasks.errors import OntologyError
from prottasks.go.ontology import GeneOntology

_ROW_CHUNK = 256


def propagate_terms(ontology: GeneOntology, terms: Iterable[str]) -> set[str]:
    """``terms`` and all their ancestors (terms must be current; resolve them first with ``normalize``)."""
    out: set[str] = set()
    for t in terms:
        if t not in ontology:
            r = ontology.resolve(t)
            raise OntologyError(
                ontology.source, f"{t} is not a current GO term ({r.status}); normalize it first"
            )
        out.add(t)
        out |= ontology.ancestors(t)
    return out


class TermDag:
    """The upward closure of ``terms`` in ``ontology``, prepared for level-wise propagation over ``terms``.

    Args:
        ontology: The ontology.
        terms: The columns of the matrices to propagate (a label vocabulary or a namespace's terms), current ids.
    """

    def __init__(self, ontology: GeneOntology, terms: Sequence[str]) -> None:
        missing = [t for t in terms if t not in ontology]
        if missing:
            raise OntologyError(ontology.source, f"not current GO terms: {', '.join(missing[:5])}"
                                + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))  # fmt: skip
        seen: set[str] = set()
        for t in terms:
            if t in seen:
                raise OntologyError(ontology.source, f"term {t} appears twice among the columns")
            seen.add(t)
        self.terms = tuple(terms)
        nodes: dict[str, int] = {}
        stack = list(dict.fromkeys(self.terms))
        while stack:
            t = stack.pop()
            if t not in nodes:
                nodes[t] = len(nodes)
                stack.extend(ontology.parents[t])
        self.nodes = tuple(nodes)
        self.column = np.array([nodes[t] for t in self.terms], dtype=np.int64)  # term column -> node
        child, parent = [], []
        for t, i in nodes.items():
            for p in ontology.parents[t]:
                child.append(i)
                parent.append(nodes[p])
        child_a, parent_a = np.array(child, dtype=np.int64), np.array(parent, dtype=np.int64)
        height = _heights(len(nodes), child_a, parent_a)
        # edges grouped by (height of parent, parent): one reduceat per level
        order = np.lexsort((parent_a, height[parent_a]))
        self._child, self._parent = child_a[order], parent_a[order]
        level = height[self._parent]
        self._levels = []
        for h in np.unique(level):
            sel = np.flatnonzero(level == h)
            p = self._parent[sel]
            starts = np.r_[0, np.flatnonzero(p[1:] != p[:-1]) + 1]
            self._levels.append((self._child[sel], p[starts], starts))

    def propagate_scores(self, scores: Any) -> np.ndarray:
        """``(N, C)`` scores over ``terms`` → max-propagated scores (a copy; float64)."""
        s = _matrix(scores, len(self.terms), "scores").astype(np.float64)
        return self._run(s, -np.inf, np.maximum)

    def propagate_labels(self, labels: Any) -> np.ndarray:
        """``(N, C)`` 0/1 labels over ``terms`` → labels closed under the true-path rule (bool)."""
        y = _matrix(labels, len(self.terms), "labels").astype(bool)
        return self._run(y, False, np.logical_or)

    def _run(self, m: np.ndarray, fill: Any, op: np.ufunc) -> np.ndarray:
        out = np.empty_like(m)
        for lo in range(0, m.shape[0], _ROW_CHUNK):
            full = np.full((min(_ROW_CHUNK, m.shape[0] - lo), len(self.nodes)), fill, dtype=m.dtype)
            full[:, self.column] = m[lo : lo + _ROW_CHUNK]
            for child, parents, starts in self._levels:
                reduced = op.reduceat(full[:, child], starts, axis=1)
                full[:, parents] = op(full[:, parents], reduced)
            out[lo : lo + _ROW_CHUNK] = full[:, self.column]
        return out

    def is_consistent(self, scores: Any) -> bool:
        """True when no term of ``terms`` scores above an ancestor of it in ``terms``."""
        s = _matrix(scores, len(self.terms), "scores")
        return bool(np.array_equal(self.propagate_scores(s), s.astype(np.float64)))


def propagate_scores(ontology: GeneOntology, scores: Any, terms: Sequence[str]) -> np.ndarray:
    """DAG-consistent max-propagation of ``scores`` ``(N, C)`` over ``terms`` (builds a :class:`TermDag`)."""
    return TermDag(ontology, terms).propagate_scores(scores)


def propagate_labels(ontology: GeneOntology, labels: Any, terms: Sequence[str]) -> np.ndarray:
    """True-path propagation of 0/1 ``labels`` ``(N, C)`` over ``terms``."""
    return TermDag(ontology, terms).propagate_labels(labels)


def _heights(n: int, child: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Longest path from a leaf to each node (leaves 0) of the child → parent DAG (Kahn's algorithm)."""
    pending = np.bincount(parent, minlength=n)  # children not yet finished
    height = np.zeros(n, dtype=np.int64)
    out_edges = np.argsort(child, kind="stable")
    out_ptr = np.r_[0, np.cumsum(np.bincount(child, minlength=n))]
    frontier = np.flatnonzero(pending == 0)
    done = 0
    while frontier.size:
        done += frontier.size
        edges = np.concatenate([out_edges[out_ptr[v] : out_ptr[v + 1]] for v in frontier])
        if edges.size == 0:
            break
        p = parent[edges]
        np.maximum.at(height, p, height[child[edges]] + 1)
        np.subtract.at(pending, p, 1)
        frontier = np.unique(p[pending[p] == 0])
    if done != n:
        raise OntologyError(None, "the is_a / part_of graph has a cycle")
    return height


def _matrix(x: Any, columns: int, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != columns:
        raise OntologyError(None, f"{name}: expected (N, {columns}) over the DAG's terms, got {a.shape}")
    return a


class GoPropagation:
    """DAG-consistent scores over a model's GO label set, which may hold alternative or obsolete ids.

    Each label is resolved to its current term (:meth:`GeneOntology.resolve`); scores are max-propagated over
    is_a / part_of through terms outside the label set (:class:`TermDag`), as CAFA's evaluator and the ESM2
    Function Caller's ``predict-subgraph`` do. Labels that resolve to one term share its score; labels the
    ontology no longer knows keep their own score and are listed in ``unresolved``.

    Args:
        ontology: The Gene Ontology.
        labels: The score columns (GO ids).
    """

    def __init__(self, ontology: GeneOntology, labels: Sequence[str]) -> None:
        self.ontology = ontology
        self.current = [self.current_of(label) for label in labels]
        self.terms = list(dict.fromkeys(t for t in self.current if t is not None))
        self.column = {t: j for j, t in enumerate(self.terms)}
        self.dag = TermDag(ontology, self.terms) if self.terms else None
        self.unresolved = [label for label, t in zip(labels, self.current) if t is None]

    def __call__(self, scores: Any) -> np.ndarray:
        """``(N, C)`` scores over the labels → DAG-consistent scores (float64, a copy)."""
        s = _matrix(scores, len(self.current), "scores").astype(np.float64)
        if self.dag is None:
            return s.copy()
        merged = np.full((s.shape[0], len(self.terms)), -np.inf)
        for j, t in enumerate(self.current):
            if t is not None:
                k = self.column[t]
                merged[:, k] = np.maximum(merged[:, k], s[:, j])
        propagated = self.dag.propagate_scores(merged)
        out = s.copy()
        for j, t in enumerate(self.current):
            if t is not None:
                out[:, j] = propagated[:, self.column[t]]
        return out

    def current_of(self, label: str) -> str | None:
        """The current term ``label`` resolves to, or ``None`` when the ontology does not know it."""
        r = self.ontology.resolve(label)
        return r.term if r.term is not None and r.term in self.ontology else None

    def name(self, label: str) -> str:
        """The name of ``label``'s current term (``""`` when unresolved)."""
        t = self.current_of(label)
        return self.ontology.name(t) if t is not None else ""

    def names(self, labels: Sequence[str]) -> dict[str, str]:
        """Label → name of its current term, for the ``labels`` the ontology knows."""
        return {x: self.ontology.name(t) for x in labels if (t := self.current_of(x)) is not None}
