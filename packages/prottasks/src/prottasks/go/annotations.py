"""CAFA-style annotation and prediction files.

* Annotations (CAFA 5 ``train_terms.tsv``; the shared ``cafa_like_terms.tsv``): a header ``EntryID term aspect``,
  then one tab-separated ``protein  GO-id  aspect`` per line (aspect ``BPO`` / ``MFO`` / ``CCO``).
* Predictions (what ``cafaeval`` reads): ``protein  GO-id  score`` per line, whitespace-separated, score in
  ``(0, 1]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from prottasks.errors import LabelError
from prottasks.go.ontology import GeneOntology, NormalizationReport, namespace_of_aspect
from prottasks.go.propagate import propagate_terms


@dataclass
class Annotations:
    """``terms[protein][namespace]`` = the protein's terms in that namespace, file order, no duplicates."""

    terms: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    source: str | None = None

    def proteins(self, namespace: str | None = None) -> list[str]:
        """Proteins with at least one term (in ``namespace``, if given), file order."""
        if namespace is None:
            return list(self.terms)
        ns = namespace_of_aspect(namespace)
        return [p for p, by_ns in self.terms.items() if by_ns.get(ns)]

    def normalized(
        self, ontology: GeneOntology, *, follow_replaced_by: bool = True
    ) -> tuple[Annotations, NormalizationReport]:
        """The same annotations with every id resolved to a current term (alt_id, replaced_by); ids that cannot
        be resolved are left out and listed in the report. A mapped term is filed under *its* namespace."""
        report = NormalizationReport()
        out: dict[str, dict[str, list[str]]] = {}
        for protein, by_ns in self.terms.items():
            for ids in by_ns.values():
                current, rep = ontology.normalize(ids, follow_replaced_by=follow_replaced_by)
                report.merge(rep)
                for t in current:
                    bucket = out.setdefault(protein, {}).setdefault(ontology.namespace(t), [])
                    if t not in bucket:
                        bucket.append(t)
        return Annotations(out, self.source), report

    def propagated(self, ontology: GeneOntology) -> Annotations:
        """The true-path closure: every term's ancestors (is_a, part_of) added to the protein's terms of the same
        namespace — its own terms first (file order), then the added ancestors sorted; ancestors in another
        namespace (a ``part_of`` link across namespaces) are left out. Terms must be current (:meth:`normalized`).

        Raises:
            OntologyError: a term that is not a current term of ``ontology``.
        """
        out: dict[str, dict[str, list[str]]] = {}
        for protein, by_ns in self.terms.items():
            for ns, terms in by_ns.items():
                closed = propagate_terms(ontology, terms)
                ordered = dict.fromkeys([*terms, *sorted(closed - set(terms))])
                out.setdefault(protein, {})[ns] = [t for t in ordered if ontology.namespace(t) == ns]
        return Annotations(out, self.source)


def read_cafa_terms(path: str | PathLike[str]) -> Annotations:
    """Read a CAFA-5 style ``EntryID term aspect`` file.

    Raises:
        LabelError: missing/odd header, a line without three tab-separated fields, an unknown aspect (file, line).
    """
    path = Path(path)
    out: dict[str, dict[str, list[str]]] = {}
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        if [h.strip() for h in header] != ["EntryID", "term", "aspect"]:
            raise LabelError(
                path, f"expected the header 'EntryID<TAB>term<TAB>aspect', got {header!r}", line=1
            )
        for lineno, line in enumerate(handle, start=2):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3 or not all(f.strip() for f in fields):
                raise LabelError(path, f"expected 3 tab-separated fields, got {line!r}", line=lineno)
            protein, term, aspect = (f.strip() for f in fields)
            try:
                ns = namespace_of_aspect(aspect)
            except ValueError as exc:
                raise LabelError(path, str(exc), line=lineno) from None
            bucket = out.setdefault(protein, {}).setdefault(ns, [])
            if term not in bucket:
                bucket.append(term)
    return Annotations(out, str(path))


def write_predictions(path: str | PathLike[str], predictions: Mapping[str, Mapping[str, float]]) -> int:
    """Write ``{protein: {term: score}}`` as ``protein<TAB>term<TAB>score`` lines (scores written with ``repr``,
    so reading them back gives the same floats); returns the number of lines. Scores must lie in [0, 1]."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for protein, scores in predictions.items():
            for term, score in scores.items():
                value = float(score)
                if not 0.0 <= value <= 1.0:
                    raise LabelError(path, f"score {value} of {protein} {term} is outside [0, 1]")
                handle.write(f"{protein}\t{term}\t{value!r}\n")
                n += 1
    return n
