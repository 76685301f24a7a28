"""The Gene Ontology from an OBO file (read with ``obonet``): terms, names, namespaces, is_a / part_of parents,
and the resolution of alternative, obsolete and unknown ids.

Resolution of an id (:meth:`GeneOntology.resolve`), as the CAFA evaluator does and one step further:

1. a current term → itself;
2. an ``alt_id`` of a term → that term (CAFA's ``cafaeval`` does the same);
3. an obsolete term with exactly one ``replaced_by`` → the replacement, resolved again (``cafaeval`` drops
   obsolete terms; pass ``follow_replaced_by=False`` to do the same);
4. otherwise (obsolete with only ``consider`` suggestions, several replacements, unknown or malformed ids) →
   unresolved, reported with the reason and the ``consider`` list — never silently dropped:
   :meth:`GeneOntology.normalize` returns a :class:`NormalizationReport`.

Parents are the ``is_a`` and ``relationship: part_of`` edges (the true-path relations CAFA propagates along)
between current terms of the same namespace (``go-basic`` has no edge between namespaces; ``cafaeval`` drops such
edges too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Literal

from prottasks.errors import OntologyError

#: GO namespaces and their CAFA aspect codes.
NAMESPACES: dict[str, str] = {
    "biological_process": "BPO",
    "molecular_function": "MFO",
    "cellular_component": "CCO",
}
_ASPECTS: dict[str, str] = {
    **{v: k for k, v in NAMESPACES.items()},
    **{k: k for k in NAMESPACES},
    "BP": "biological_process",
    "MF": "molecular_function",
    "CC": "cellular_component",
    "P": "biological_process",
    "F": "molecular_function",
    "C": "cellular_component",
}
_GO_ID = re.compile(r"^GO:\d{7}$")
ResolutionStatus = Literal[
    "current", "alt_id", "replaced_by", "obsolete", "ambiguous", "unknown", "malformed"
]


def namespace_of_aspect(aspect: str) -> str:
    """``"BPO"``/``"BP"``/``"P"``/``"biological_process"`` → ``"biological_process"`` (etc.)."""
    try:
        return _ASPECTS[aspect.strip()]
    except KeyError:
        raise OntologyError(
            None, f"unknown GO aspect {aspect!r} (expected one of {sorted(_ASPECTS)})"
        ) from None


@dataclass(frozen=True)
class TermResolution:
    """How one id resolved: ``term`` is the current term (None if unresolved); ``path`` the ids followed."""

    query: str
    term: str | None
    status: ResolutionStatus
    path: tuple[str, ...] = ()
    consider: tuple[str, ...] = ()
    replaced_by: tuple[str, ...] = ()


@dataclass
class NormalizationReport:
    """What :meth:`GeneOntology.normalize` did to a list of ids.

    Attributes:
        mapped: ``{original: current}`` for ids that were alternative ids or replaced obsolete terms.
        unresolved: The :class:`TermResolution` of every id that could not be mapped (obsolete without a single
            replacement, unknown, malformed).
    """

    mapped: dict[str, str] = field(default_factory=dict)
    unresolved: list[TermResolution] = field(default_factory=list)

    @property
    def num_unresolved(self) -> int:
        return len(self.unresolved)

    def merge(self, other: NormalizationReport) -> None:
        self.mapped.update(other.mapped)
        self.unresolved.extend(other.unresolved)

    def summary(self) -> str:
        """A count of mapped ids and one line per distinct unresolved id (with how often it occurred)."""
        lines = [f"{len(self.mapped)} ids mapped (alt_id / replaced_by), {len(self.unresolved)} unresolved"]
        counts: dict[str, int] = {}
        first: dict[str, TermResolution] = {}
        for r in self.unresolved:
            counts[r.query] = counts.get(r.query, 0) + 1
            first.setdefault(r.query, r)
        for query, r in first.items():
            hint = "".join(
                f"; {label} {', '.join(ids)}"
                for label, ids in (("replaced_by", r.replaced_by), ("consider", r.consider))
                if ids
            )
            times = f" ×{counts[query]}" if counts[query] > 1 else ""
            lines.append(f"  {query}: {r.status}{hint}{times}")
        return "\n".join(lines)


class GeneOntology:
    """Current GO terms with names, namespaces and is_a / part_of parents, plus obsolete / alternative ids.

    Build it with :meth:`from_obo`. Terms keep the file order (``terms``); ``index[term]`` is a term's position.
    """

    def __init__(
        self,
        *,
        terms: Sequence[str],
        names: dict[str, str],
        namespaces: dict[str, str],
        parents: dict[str, tuple[str, ...]],
        alt_ids: dict[str, str],
        obsolete: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
        relations: tuple[str, ...],
        source: str | None = None,
        data_version: str | None = None,
    ) -> None:
        self.terms: tuple[str, ...] = tuple(terms)
        self.index: dict[str, int] = {t: i for i, t in enumerate(self.terms)}
        self.names = names
        self.namespaces = namespaces
        self.parents = parents
        self.alt_ids = alt_ids
        self.obsolete = obsolete  # term -> (replaced_by, consider)
        self.relations = relations
        self.source = source
        self.data_version = data_version
        children: dict[str, list[str]] = {t: [] for t in self.terms}
        for child, ps in parents.items():
            for p in ps:
                children[p].append(child)
        self.children: dict[str, tuple[str, ...]] = {t: tuple(c) for t, c in children.items()}

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_obo(
        cls, path: str | PathLike[str], relations: Iterable[str] = ("is_a", "part_of")
    ) -> GeneOntology:
        """Read an OBO file with ``obonet`` (obsolete terms included, to resolve their ids).

        Raises:
            OntologyError: the file cannot be parsed or has no GO term.
        """
        import obonet

        relations = tuple(relations)
        try:
            graph = obonet.read_obo(path, ignore_obsolete=False)
        except (OSError, ValueError, KeyError) as exc:
            raise OntologyError(path, f"cannot read OBO file: {exc}") from exc
        terms, names, namespaces, alt_ids, obsolete = [], {}, {}, {}, {}
        for term, data in graph.nodes(data=True):
            if not _GO_ID.match(term):
                continue
            for alt in data.get("alt_id", []):
                alt_ids[alt] = term
            if str(data.get("is_obsolete", "false")).lower() == "true":
                obsolete[term] = (tuple(data.get("replaced_by", ())), tuple(data.get("consider", ())))
                continue
            if "namespace" not in data:
                raise OntologyError(path, f"term {term} has no namespace")
            terms.append(term)
            names[term] = data.get("name", "")
            namespaces[term] = data["namespace"]
        if not terms:
            raise OntologyError(path, "no GO term found")
        current = set(terms)
        parents: dict[str, list[str]] = {t: [] for t in terms}
        for child, parent, key in graph.edges(keys=True):
            usable = key in relations and child in current and parent in current
            if usable and namespaces[child] == namespaces[parent] and parent not in parents[child]:
                parents[child].append(parent)
        return cls(
            terms=terms,
            names=names,
            namespaces=namespaces,
            parents={t: tuple(p) for t, p in parents.items()},
            alt_ids=alt_ids,
            obsolete=obsolete,
            relations=relations,
            source=str(path),
            data_version=graph.graph.get("data-version"),
        )

    # -------------------------------------------------------------------- terms
    def __len__(self) -> int:
        return len(self.terms)

    def __contains__(self, term: object) -> bool:
        return term in self.index

    def __repr__(self) -> str:
        return f"GeneOntology({len(self)} terms, version={self.data_version!r}, relations={self.relations})"

    def name(self, term: str) -> str:
        return self.names[self._current(term)]

    def namespace(self, term: str) -> str:
        return self.namespaces[self._current(term)]

    def terms_in(self, namespace: str) -> list[str]:
        """Current terms of a namespace (``"biological_process"`` or an aspect code ``"BPO"``), file order."""
        ns = namespace_of_aspect(namespace)
        return [t for t in self.terms if self.namespaces[t] == ns]

    def ancestors(self, term: str) -> set[str]:
        """All terms reachable along is_a / part_of (the term itself excluded)."""
        return self._reach(term, self.parents)

    def descendants(self, term: str) -> set[str]:
        """All terms that reach ``term`` along is_a / part_of (the term itself excluded)."""
        return self._reach(term, self.children)

    def _reach(self, term: str, step: dict[str, tuple[str, ...]]) -> set[str]:
        seen: set[str] = set()
        stack = list(step[self._current(term)])
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(step[t])
        return seen

    def _current(self, term: str) -> str:
        if term not in self.index:
            r = self.resolve(term)
            hint = f"; use {r.term}" if r.term else ""
            raise OntologyError(self.source, f"{term} is not a current GO term ({r.status}{hint})")
        return term

    # --------------------------------------------------------------- resolution
    def resolve(self, term: str, *, follow_replaced_by: bool = True) -> TermResolution:
        """Map ``term`` to a current term (module docstring, rules 1–4)."""
        query, path = term, []
        for _ in range(32):  # replaced_by chains are short; guard against cycles
            if not isinstance(term, str) or not _GO_ID.match(term):
                return TermResolution(query, None, "malformed", tuple(path))
            if term in self.index:
                status: ResolutionStatus = "current" if not path else ("replaced_by" if any(
                    p in self.obsolete for p in path) else "alt_id")  # fmt: skip
                return TermResolution(query, term, status, tuple(path))
            if term in self.alt_ids and self.alt_ids[term] != term:
                path.append(term)
                term = self.alt_ids[term]
                continue
            if term in self.obsolete:
                replaced_by, consider = self.obsolete[term]
                if follow_replaced_by and len(replaced_by) == 1:
                    path.append(term)
                    term = replaced_by[0]
                    continue
                status = "ambiguous" if follow_replaced_by and len(replaced_by) > 1 else "obsolete"
                return TermResolution(query, None, status, tuple(path), consider, replaced_by)
            return TermResolution(query, None, "unknown", tuple(path))
        return TermResolution(query, None, "unknown", tuple(path))

    def normalize(
        self, terms: Iterable[str], *, follow_replaced_by: bool = True
    ) -> tuple[list[str], NormalizationReport]:
        """Current terms for ``terms`` (order kept, duplicates removed) and a report of what was mapped / left out."""
        report = NormalizationReport()
        out: dict[str, None] = {}
        for t in terms:
            r = self.resolve(t, follow_replaced_by=follow_replaced_by)
            if r.term is None:
                report.unresolved.append(r)
                continue
            if r.term != t:
                report.mapped[t] = r.term
            out[r.term] = None
        return list(out), report
