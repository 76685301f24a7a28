"""A small, independent reader of GO OBO text for the apps' tests (the truth that prottasks' obonet-based
``GeneOntology`` and the apps are checked against): names, namespaces, is_a / part_of parents, alt ids, obsolete
terms with their replacements; ancestor closure; and a subset OBO file of chosen terms (a fast-loading excerpt of
the real release for tests that need an ontology but not all 47,000 terms)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class OboText:
    names: dict[str, str] = field(default_factory=dict)
    namespace: dict[str, str] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=dict)
    alt: dict[str, str] = field(default_factory=dict)
    replaced_by: dict[str, list[str]] = field(default_factory=dict)  # obsolete terms
    stanzas: dict[str, str] = field(default_factory=dict)
    header: str = ""
    typedefs: list[str] = field(default_factory=list)

    def current(self, term: str) -> str | None:
        """The current term of an id: itself, its alt-id owner, or an obsolete term's single replacement."""
        for _ in range(10):
            if term in self.parents:
                return term
            if term in self.alt:
                term = self.alt[term]
            elif len(self.replaced_by.get(term, [])) == 1:
                term = self.replaced_by[term][0]
            else:
                return None
        return None

    def ancestors(self, term: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.parents[term])
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(self.parents[t])
        return seen


def read_obo_text(path: Path) -> OboText:
    text = Path(path).read_text()
    blocks = re.split(r"\n\s*\n", text)
    out = OboText(header=blocks[0])
    for block in blocks[1:]:
        if block.startswith("[Typedef]"):
            out.typedefs.append(block)
            continue
        if not block.startswith("[Term]"):
            continue
        term = re.search(r"^id: (GO:\d{7})", block, re.M)
        if term is None:
            continue
        t = term.group(1)
        out.stanzas[t] = block
        for alt in re.findall(r"^alt_id: (GO:\d{7})", block, re.M):
            out.alt[alt] = t
        if re.search(r"^is_obsolete: true", block, re.M):
            out.replaced_by[t] = re.findall(r"^replaced_by: (GO:\d{7})", block, re.M)
            continue
        out.names[t] = re.search(r"^name: (.*)$", block, re.M).group(1)  # type: ignore[union-attr]
        out.namespace[t] = re.search(r"^namespace: (.*)$", block, re.M).group(1)  # type: ignore[union-attr]
        ps = set(re.findall(r"^is_a: (GO:\d{7})", block, re.M))
        ps |= set(re.findall(r"^relationship: part_of (GO:\d{7})", block, re.M))
        out.parents[t] = ps
    return out


def write_subset(obo: OboText, terms: set[str], path: Path) -> Path:
    """An OBO file with the stanzas of ``terms``, their ancestors, and the obsolete / alt ids among ``terms``."""
    keep: set[str] = set()
    for t in terms:
        c = obo.current(t)
        if t in obo.stanzas and t not in obo.parents:
            keep.add(t)  # an obsolete term: its stanza says what replaces it
        if c is not None:
            keep |= {c} | obo.ancestors(c)
    body = [_only_kept_relations(obo.stanzas[t]) for t in sorted(keep) if t in obo.stanzas]
    path.write_text("\n\n".join([obo.header, *body, *obo.typedefs]) + "\n")
    return path


def _only_kept_relations(stanza: str) -> str:
    """Drop relationship lines other than part_of (regulates, has_part, …) whose targets the subset may lack."""
    lines = stanza.splitlines()
    keep = [
        line
        for line in lines
        if not (line.startswith("relationship:") and not line.startswith("relationship: part_of"))
        and not line.startswith("intersection_of:")
    ]
    return "\n".join(keep)
