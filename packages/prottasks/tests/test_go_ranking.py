"""Top-k ranking with names / namespaces and the DAG-consistent predicted subgraph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from prottasks.errors import OntologyError
from prottasks.go import predicted_subgraph, top_k


@pytest.fixture(scope="module")
def vocabulary(ontology) -> list[str]:
    mf = ontology.terms_in("MFO")
    leaf = next(t for t in mf if len(ontology.ancestors(t)) > 6 and not ontology.children[t])
    return list(dict.fromkeys([leaf, *sorted(ontology.ancestors(leaf)), *mf[:200:7]]))


def test_top_k(ontology, vocabulary):
    rng = np.random.default_rng(0)
    scores = rng.random(len(vocabulary))
    ranked = top_k(scores, vocabulary, ontology, k=5)
    assert [r.score for r in ranked] == sorted(scores, reverse=True)[:5]
    for r in ranked:
        assert r.name == ontology.names[r.term] and r.namespace == "molecular_function"
        assert scores[vocabulary.index(r.term)] == r.score
    assert str(ranked[0]).startswith(f"{ranked[0].score:.4f}: {ranked[0].term}")


def test_propagated_ranking_puts_parents_first(ontology, vocabulary):
    scores = np.zeros(len(vocabulary))
    scores[0] = 0.9  # the leaf; its ancestors get 0.9 after propagation
    ranked = top_k(scores, vocabulary, ontology, k=len(vocabulary), propagate=True)
    top = {r.term for r in ranked if r.score == 0.9}
    assert top == {vocabulary[0]} | (ontology.ancestors(vocabulary[0]) & set(vocabulary))


def test_predicted_subgraph_is_dag_consistent(ontology, vocabulary):
    rng = np.random.default_rng(3)
    scores = rng.random(len(vocabulary))
    graph = predicted_subgraph(scores, vocabulary, ontology, top_p=0.4)
    assert nx.is_directed_acyclic_graph(graph) and graph.number_of_nodes() > 3
    for child, parent in graph.edges:
        assert parent in ontology.ancestors(child)
        assert graph.nodes[child]["score"] <= graph.nodes[parent]["score"]
    assert all(graph.nodes[t]["score"] > 0.4 for t in graph)
    kept = set(graph)
    for t in kept:  # closed under ancestors within the vocabulary
        assert ontology.ancestors(t) & set(vocabulary) <= kept
    assert all(graph.nodes[t]["name"] == ontology.names[t] for t in graph)
    best = {a: max([scores[i]] + [scores[j] for j, d in enumerate(vocabulary) if a in ontology.ancestors(d)])
            for i, a in enumerate(vocabulary)}  # fmt: skip
    assert kept == {a for a, s in best.items() if s > 0.4}


def test_bad_scores(ontology, vocabulary):
    with pytest.raises(OntologyError, match="one protein's scores"):
        top_k(np.zeros((2, len(vocabulary))), vocabulary, ontology)
    with pytest.raises(OntologyError, match="NaN"):
        top_k(np.full(len(vocabulary), np.nan), vocabulary, ontology)
