"""GO semantic similarity (Resnik, Lin, best-match average) and semantic similarity inference: Spearman's ρ
between the cosine similarity of protein embeddings and the GO semantic similarity of the proteins.

Semantic similarity inference is one of ProtCLIP's downstream task types (Zhou et al., AAAI 2025, README of
diaoshaoyou/ProtCLIP); the benchmark is PROBE's (Unsal et al. 2022, *Nat. Mach. Intell.* 4:227, HUBioDataLab/PROBE):
for pairs of proteins, rank-correlate the similarity of their embeddings with the semantic similarity of their GO
annotations, one GO namespace (MF, BP, CC) at a time.

Definitions (Pesquita et al. 2009, "Semantic similarity in biomedical ontologies", *PLoS Comput. Biol.*
5:e1000443; the same as GOSemSim, Yu et al. 2010):

* Relations: ``is_a`` and ``part_of`` within a namespace — the true-path relations along which GO annotations
  propagate (:class:`~prottasks.go.GeneOntology`'s default, the ones CAFA and goatools' ``part_of`` option use);
  ``regulates`` is left out because regulating a process does not make a protein part of it.
* Information content (Resnik 1995): ``IC(t) = −log p(t)``, ``p(t)`` = the number of annotations (distinct
  protein–term pairs of the corpus, ids resolved) to ``t`` or to a descendant of ``t``, divided by the number of
  annotations in ``t``'s namespace (the count of its root, so ``IC(root) = 0``).
* Resnik: ``IC`` of the most informative common ancestor (MICA; a term is its own ancestor here); 0 for terms
  without a common ancestor (different namespaces).
* Lin (1998): ``2·IC(MICA) / (IC(t1) + IC(t2))``; ``sim(t, t) = 1``; ``0/0`` (two different terms that cover
  every annotation of the namespace) is 0.
* Proteins: best-match average over the two proteins' directly annotated terms (GOSemSim's ``BMA``):
  ``(Σ_a max_b s(a, b) + Σ_b max_a s(a, b)) / (|A| + |B|)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from prottasks.errors import LabelError, MetricInputError, OntologyError
from prottasks.go.annotations import Annotations, read_cafa_terms
from prottasks.go.ontology import NAMESPACES, GeneOntology, NormalizationReport, namespace_of_aspect

Measure = Literal["lin", "resnik"]
MEASURES: tuple[Measure, ...] = ("lin", "resnik")
_PAIR_CHUNK = 512  # pairs of the (pairs, |A|, |B|) best-match gather at a time


class InformationContent:
    """Annotation counts and information content of GO terms, counted from an annotation corpus.

    Args:
        ontology: The Gene Ontology (its ``is_a`` / ``part_of`` parents).
        annotations: The corpus, ids already current (:meth:`Annotations.normalized`).

    Raises:
        OntologyError: a term of ``annotations`` is not a current term of ``ontology``.
    """

    def __init__(self, ontology: GeneOntology, annotations: Annotations) -> None:
        self.ontology = ontology
        self._up: dict[str, frozenset[str]] = {}
        self.counts: dict[str, int] = {}
        self.totals: dict[str, int] = {ns: 0 for ns in NAMESPACES}
        for by_ns in annotations.terms.values():
            for term in dict.fromkeys(t for terms in by_ns.values() for t in terms):
                self.totals[ontology.namespace(self._known(term))] += 1
                for t in self.up(term):
                    self.counts[t] = self.counts.get(t, 0) + 1

    def _known(self, term: str) -> str:
        if term not in self.ontology:
            r = self.ontology.resolve(term)
            raise OntologyError(
                self.ontology.source, f"{term} is not a current GO term ({r.status}); normalize first"
            )
        return term

    def up(self, term: str) -> frozenset[str]:
        """``term`` and all its ancestors (is_a / part_of)."""
        if term not in self._up:
            self._up[term] = frozenset({self._known(term), *self.ontology.ancestors(term)})
        return self._up[term]

    def count(self, term: str) -> int:
        """Annotations of ``term`` or of one of its descendants."""
        return self.counts.get(self._known(term), 0)

    def probability(self, term: str) -> float:
        total = self.totals[self.ontology.namespace(term)]
        return self.count(term) / total if total else 0.0

    def ic(self, term: str) -> float:
        """``−log p(term)``.

        Raises:
            OntologyError: no annotation of the corpus is ``term`` or below it (its IC is undefined).
        """
        p = self.probability(term)
        if p == 0.0:
            raise OntologyError(self.ontology.source, f"{term}: no annotation of the corpus at or below it")
        return -math.log(p) + 0.0  # + 0.0: -0.0 -> 0.0 for the root

    def resnik(self, a: str, b: str) -> float:
        """IC of the most informative common ancestor of ``a`` and ``b`` (0 without a common ancestor)."""
        common = self.up(a) & self.up(b)
        return max((self.ic(t) for t in common), default=0.0)

    def lin(self, a: str, b: str) -> float:
        """``2·IC(MICA) / (IC(a) + IC(b))`` (module docstring)."""
        if a == b:
            return 1.0
        den = self.ic(a) + self.ic(b)
        return 2.0 * self.resnik(a, b) / den if den > 0 else 0.0

    def matrix(self, terms: Sequence[str], measure: Measure) -> np.ndarray:
        """``(T, T)`` float64 term similarities of ``terms`` (distinct): :meth:`lin` / :meth:`resnik` of every pair."""
        _check_measure(measure)
        return self.matrices(terms)[measure]

    def matrices(self, terms: Sequence[str]) -> dict[str, np.ndarray]:
        """``{"resnik": (T, T), "lin": (T, T)}`` for distinct ``terms``. Every ancestor node, in increasing IC
        order, writes its IC into the block of the terms below it, so each pair ends with its MICA's IC."""
        if len(set(terms)) != len(terms):
            raise OntologyError(self.ontology.source, "matrix: terms must be distinct")
        below: dict[str, list[int]] = {}  # ancestor node -> the rows of terms at or below it
        for i, t in enumerate(terms):
            for a in self.up(t):
                below.setdefault(a, []).append(i)
        resnik = np.zeros((len(terms), len(terms)))
        for node in sorted(below, key=self.ic):
            rows = np.array(below[node])
            resnik[np.ix_(rows, rows)] = self.ic(node)
        term_ic = np.array([self.ic(t) for t in terms], dtype=np.float64)  # (T,)
        den = term_ic[:, None] + term_ic[None, :]
        lin = np.divide(2.0 * resnik, den, out=np.zeros_like(resnik), where=den > 0)
        np.fill_diagonal(lin, 1.0)
        return {"resnik": resnik, "lin": lin}


def best_match_average(similarity: Any) -> float:
    """Best-match average of an ``(|A|, |B|)`` term similarity matrix: ``(Σ_rows max + Σ_cols max) / (|A| + |B|)``."""
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or 0 in s.shape:
        raise MetricInputError("similarity", f"expected a non-empty (|A|, |B|) matrix, got shape {s.shape}")
    return float((s.max(axis=1).sum() + s.max(axis=0).sum()) / (s.shape[0] + s.shape[1]))


def protein_similarity(
    ic: InformationContent, terms_a: Sequence[str], terms_b: Sequence[str], measure: Measure = "lin"
) -> float:
    """BMA of ``measure`` between two proteins' term sets."""
    union = list(dict.fromkeys([*terms_a, *terms_b]))
    m = ic.matrix(union, measure)
    pos = {t: i for i, t in enumerate(union)}
    return best_match_average(m[np.ix_([pos[t] for t in terms_a], [pos[t] for t in terms_b])])


@dataclass
class SimilarityResult:
    """Spearman's ρ of one namespace and measure over ``pairs`` protein pairs (``pair_ids``, and per pair the
    ``cosine`` and ``semantic`` similarities)."""

    namespace: str
    measure: str
    spearman: float
    pairs: int
    proteins: int
    cosine: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    semantic: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    pair_ids: list[tuple[str, str]] = field(repr=False, default_factory=list)


@dataclass
class SemanticSimilarityReport:
    """Every :class:`SimilarityResult`, and what was left out (ids unresolved, proteins without an embedding,
    unusable embeddings)."""

    results: list[SimilarityResult]
    normalization: NormalizationReport
    no_embedding: list[str]
    bad_embeddings: dict[str, str]
    corpus_proteins: int

    @property
    def skipped(self) -> int:
        return len(self.no_embedding) + len(self.bad_embeddings) + self.normalization.num_unresolved

    def table(self) -> str:
        """A plain-text table: one row per namespace and measure, then a line on what was left out."""
        lines = [f"{'aspect':<6} {'measure':<7} {'spearman':>9} {'pairs':>8} {'proteins':>8}"]
        for r in self.results:
            lines.append(
                f"{NAMESPACES[r.namespace]:<6} {r.measure:<7} {r.spearman:>9.4f} {r.pairs:>8} {r.proteins:>8}"
            )
        lines.append(
            f"corpus: {self.corpus_proteins} annotated proteins; skipped: {len(self.no_embedding)} without an "
            f"embedding, {len(self.bad_embeddings)} unusable embeddings, "
            f"{self.normalization.num_unresolved} unresolved GO ids"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [
                {
                    "aspect": NAMESPACES[r.namespace],
                    "namespace": r.namespace,
                    "measure": r.measure,
                    "spearman": None if math.isnan(r.spearman) else r.spearman,
                    "pairs": r.pairs,
                    "proteins": r.proteins,
                }
                for r in self.results
            ],
            "corpus_proteins": self.corpus_proteins,
            "no_embedding": self.no_embedding,
            "bad_embeddings": self.bad_embeddings,
            "unresolved_go_ids": sorted({u.query for u in self.normalization.unresolved}),
        }


def semantic_similarity_spearman(
    embeddings: Mapping[str, Any],
    annotations: Annotations,
    ontology: GeneOntology,
    *,
    pairs: Iterable[tuple[str, str]] | None = None,
    n_pairs: int | None = None,
    seed: int = 0,
    aspects: Iterable[str] = ("MFO", "BPO", "CCO"),
    measures: Iterable[Measure] = MEASURES,
) -> SemanticSimilarityReport:
    """Spearman's ρ between embedding cosine similarity and GO semantic similarity (BMA of ``measures``), per aspect.

    Args:
        embeddings: ``{protein id: (D,) vector}``; non-finite or zero vectors are left out and reported.
        annotations: The annotation corpus: IC is counted from all of it; ids are resolved (alt_id / replaced_by).
        ontology: The Gene Ontology.
        pairs: Protein pairs to score; pairs of which a protein has no embedding or no term of an aspect are left
            out of that aspect. Default: every pair of proteins with an embedding and terms of the aspect.
        n_pairs: Without ``pairs``: score a random sample of this many of those pairs (``seed``), not all.
        aspects: GO namespaces (``MFO``/``BPO``/``CCO`` or full names).
        measures: ``"lin"`` and / or ``"resnik"``.
    """
    from prottasks.metrics.regression import spearman

    measures = tuple(measures)
    for measure in measures:
        _check_measure(measure)
    corpus, normalization = annotations.normalized(ontology)
    ic = InformationContent(ontology, corpus)
    unit, bad = _unit_vectors(embeddings)
    wanted = None if pairs is None else [(str(a), str(b)) for a, b in pairs]
    results = []
    for aspect in aspects:
        ns = namespace_of_aspect(aspect)
        proteins = [p for p in unit if corpus.terms.get(p, {}).get(ns)]
        chosen = _choose_pairs(proteins, wanted, n_pairs, seed)
        terms = list(dict.fromkeys(t for p in proteins for t in corpus.terms[p][ns]))
        pos = {t: i for i, t in enumerate(terms)}
        rows = {p: [pos[t] for t in corpus.terms[p][ns]] for p in proteins}
        cosine = np.array([float(unit[a] @ unit[b]) for a, b in chosen])
        matrices = ic.matrices(terms)
        for measure in measures:
            semantic = _pair_bma(
                matrices[measure], [rows[a] for a, _ in chosen], [rows[b] for _, b in chosen]
            )
            rho = spearman(cosine, semantic) if len(chosen) >= 2 else math.nan
            results.append(
                SimilarityResult(ns, measure, rho, len(chosen), len(proteins), cosine, semantic, chosen)
            )
    no_embedding = [p for p in corpus.terms if p not in embeddings]
    return SemanticSimilarityReport(results, normalization, no_embedding, bad, len(corpus.terms))


def semantic_similarity_files(
    embeddings: str | PathLike[str],
    annotations: str | PathLike[str],
    obo: str | PathLike[str],
    **kwargs: Any,
) -> SemanticSimilarityReport:
    """:func:`semantic_similarity_spearman` of an embedding file (:func:`read_embedding_file`), an annotation file
    (:func:`read_annotations`) and a GO OBO file."""
    vectors = read_embedding_file(embeddings)
    corpus = read_annotations(annotations)
    return semantic_similarity_spearman(vectors, corpus, GeneOntology.from_obo(obo), **kwargs)


def read_annotations(path: str | PathLike[str]) -> Annotations:
    """GO annotations from Swiss-Prot records as JSON Lines (``accession``, ``go``, optional ``go_aspects``: the
    shared ``swissprot_records.jsonl``) or a CAFA-5 style ``EntryID term aspect`` TSV (:func:`read_cafa_terms`).

    Raises:
        LabelError: the file is missing, a line is not a JSON object, or ``accession`` / ``go`` is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(path, "no such annotation file")
    if path.suffix.lower() in (".tsv", ".txt"):
        return read_cafa_terms(path)
    out: dict[str, dict[str, list[str]]] = {}
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabelError(path, f"not JSON: {exc.msg}", line=lineno) from None
            acc, go = (record.get(k) if isinstance(record, dict) else None for k in ("accession", "go"))
            aspects = record.get("go_aspects") or [""] * len(go or ()) if isinstance(record, dict) else None
            if not isinstance(acc, str) or not acc or not isinstance(go, list) or len(aspects) != len(go):
                raise LabelError(
                    path, "expected 'accession' (string), 'go' (list) and as many 'go_aspects'", line=lineno
                )
            by_ns = out.setdefault(acc, {})
            for term, aspect in zip(go, aspects):
                bucket = by_ns.setdefault(namespace_of_aspect(aspect) if aspect else "", [])
                if term not in bucket:
                    bucket.append(str(term))
    return Annotations(out, str(path))


def read_embedding_file(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """``{protein id: (D,) float64}`` from a file ``apps/embed.py`` writes (:mod:`protdata.embedding_io`):
    ``.safetensors`` (tensor ``protein``, metadata ``protein_ids``), ``.parquet`` or a directory of Parquet parts
    (columns ``id``, ``embedding``). Reads without torch.

    Raises:
        MetricInputError: unreadable file, ids that do not match the rows, or a protein id twice.
    """
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="np") as handle:
                meta = handle.metadata() or {}
                matrix = handle.get_tensor("protein")  # (N, D)
            ids = json.loads(meta["protein_ids"])
        except (OSError, SafetensorError, KeyError, json.JSONDecodeError) as exc:
            raise MetricInputError(
                path, f"not an embedding file (tensor 'protein', metadata 'protein_ids'): {exc}"
            ) from None
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(str(path), columns=["id", "embedding"])
            ids = table.column("id").to_pylist()
            flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        except (OSError, pa.ArrowException, KeyError) as exc:
            raise MetricInputError(
                path, f"not an embedding file (Parquet with 'id', 'embedding'): {exc}"
            ) from None
        matrix = flat.reshape(len(ids), -1) if ids else flat.reshape(0, 0)
    if matrix.ndim != 2 or len(ids) != matrix.shape[0]:
        raise MetricInputError(path, f"{len(ids)} ids for embeddings of shape {tuple(matrix.shape)}")
    out: dict[str, np.ndarray] = {}
    for i, pid in enumerate(ids):
        if pid in out:
            raise MetricInputError(path, f"protein id {pid!r} appears twice")
        out[str(pid)] = matrix[i].astype(np.float64)
    return out


def _pair_bma(m: np.ndarray, rows_a: list[list[int]], rows_b: list[list[int]]) -> np.ndarray:
    """:func:`best_match_average` of ``m[rows_a[k]][:, rows_b[k]]`` for every pair ``k``, in chunks of pairs."""
    out = np.empty(len(rows_a))
    for lo in range(0, len(rows_a), _PAIR_CHUNK):
        a, na = _padded(rows_a[lo : lo + _PAIR_CHUNK])  # (P, La) term rows, -1 = padding
        b, nb = _padded(rows_b[lo : lo + _PAIR_CHUNK])  # (P, Lb)
        s = m[a[:, :, None], b[:, None, :]]  # (P, La, Lb); padding picks m[-1, ...], masked below
        s[(a < 0)[:, :, None] | (b < 0)[:, None, :]] = -np.inf
        best = np.where(a >= 0, s.max(axis=2), 0.0).sum(axis=1) + np.where(b >= 0, s.max(axis=1), 0.0).sum(
            axis=1
        )
        out[lo : lo + len(a)] = best / (na + nb)
    return out


def _padded(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in rows])
    out = np.full((len(rows), int(lengths.max(initial=1))), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, lengths


def _unit_vectors(embeddings: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    unit, bad, dim = {}, {}, None
    for pid, v in embeddings.items():
        x = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
        if x.ndim != 1 or (dim is not None and x.shape[0] != dim):
            raise MetricInputError(
                f"embeddings[{pid!r}]", f"expected a ({dim or 'D'},) vector, got shape {x.shape}"
            )
        dim = x.shape[0]
        norm = float(np.linalg.norm(x)) if np.isfinite(x).all() else math.nan
        if not norm > 0:
            bad[pid] = "non-finite values" if math.isnan(norm) else "zero vector"
            continue
        unit[pid] = x / norm
    return unit, bad


def _choose_pairs(
    proteins: list[str], wanted: list[tuple[str, str]] | None, n_pairs: int | None, seed: int
) -> list[tuple[str, str]]:
    if wanted is not None:
        have = set(proteins)
        return [(a, b) for a, b in wanted if a in have and b in have]
    n = len(proteins)
    total = n * (n - 1) // 2
    if n_pairs is None or n_pairs >= total:
        return [(proteins[i], proteins[j]) for i in range(n) for j in range(i + 1, n)]
    if n_pairs < 1:
        raise MetricInputError("n_pairs", f"must be at least 1, got {n_pairs}")
    picks = np.sort(np.random.default_rng(seed).choice(total, size=n_pairs, replace=False))
    # linear index k of pair (i, j), i < j, in row-major order: k = i·n − i(i+1)/2 + (j − i − 1)
    starts = np.array([i * n - i * (i + 1) // 2 for i in range(n)])
    rows = np.searchsorted(starts, picks, side="right") - 1
    cols = picks - starts[rows] + rows + 1
    return [(proteins[i], proteins[j]) for i, j in zip(rows.tolist(), cols.tolist())]


def _check_measure(measure: str) -> None:
    if measure not in MEASURES:
        raise MetricInputError("measure", f"unknown measure {measure!r} (expected one of {MEASURES})")
