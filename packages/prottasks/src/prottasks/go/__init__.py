"""The Gene Ontology: reading OBO files, resolving alt / obsolete ids, true-path propagation, DAG-consistent
scores, top-k ranking and CAFA annotation / prediction files."""

from prottasks.go.annotations import Annotations, read_cafa_terms, write_predictions
from prottasks.go.ontology import (
    NAMESPACES,
    GeneOntology,
    NormalizationReport,
    TermResolution,
    namespace_of_aspect,
)
from prottasks.go.propagate import GoPropagation, TermDag, propagate_labels, propagate_scores, propagate_terms
from prottasks.go.ranking import RankedTerm, predicted_subgraph, top_k

__all__ = [
    "NAMESPACES",
    "Annotations",
    "GeneOntology",
    "GoPropagation",
    "NormalizationReport",
    "RankedTerm",
    "TermDag",
    "TermResolution",
    "namespace_of_aspect",
    "predicted_subgraph",
    "propagate_labels",
    "propagate_scores",
    "propagate_terms",
    "read_cafa_terms",
    "top_k",
    "write_predictions",
]
