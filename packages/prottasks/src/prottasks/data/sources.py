"""Label sources as configs (YAML sections; ``type`` picks one) and :func:`read_labels`, which reads any of them
into a :class:`~prottasks.data.tables.LabelTable`: ``nrpdb_ec``, ``nrpdb_go``, ``cafa_terms`` and ``table``
(:mod:`prottasks.data.tables`), and ``contacts`` (every structure labelled by its own contact map,
:mod:`prottasks.data.contacts`). This module imports no torch or numpy (configs validate fast)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prottasks.errors import LabelError

if TYPE_CHECKING:
    from prottasks.data.tables import LabelTable

#: ``resolve(value, key) -> Path``: how a config's path is turned into a file (e.g. expanding variables); the
#: default takes it as written.
Resolve = Callable[[str, str], Path]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NrpdbECLabels(_Source):
    """nrPDB-EC (DeepFRI) — 538 EC numbers, official train / valid / test splits."""

    type: Literal["nrpdb_ec"] = "nrpdb_ec"
    folder: str  # the DeepFRI files (nrPDB-EC_2020.04_*)
    test_cutoff: float = 0.95  # seed: EnzymeCommission(test_cutoff=0.95)


class NrpdbGOLabels(_Source):
    """nrPDB-GO (DeepFRI) — one branch, official splits."""

    type: Literal["nrpdb_go"] = "nrpdb_go"
    folder: str  # the DeepFRI files (nrPDB-GO_2019.06.18_*)
    branch: Literal["MF", "BP", "CC"]  # seed: --branch MF|BP|CC
    test_cutoff: float = 0.95  # seed: GeneOntology(test_cutoff=0.95)


class CafaTermsLabels(_Source):
    """A CAFA-5 style annotation file (``EntryID term aspect``), one aspect."""

    type: Literal["cafa_terms"] = "cafa_terms"
    terms: str  # the TSV
    aspect: Literal["MFO", "BPO", "CCO"]  # seed subsets mf / bp / cc
    obo: str | None = None  # GO OBO: resolve alt / obsolete ids and propagate (true path)
    propagate: bool = True  # add every ancestor of an annotated term (needs obo)
    min_count: int = Field(1, ge=1)  # keep terms annotated to at least this many proteins (seed: 1)


class TableLabels(_Source):
    """A CSV / TSV of labels (the delimiter follows the extension: ``.tsv`` / ``.tab`` tab, else comma)."""

    type: Literal["table"] = "table"
    path: str
    task: Literal["multi_label", "single_label", "regression"] = "single_label"
    id_column: str = "id"
    label_column: str = "label"
    sequence_column: str | None = None  # sequences in the table itself
    label_separator: str = ";"  # multi_label: labels joined by this
    classes: list[str] | None = None  # single / multi label: the label order (default: sorted labels seen)


class ContactLabels(_Source):
    """Contact maps of the structures themselves (Cβ, Cα for Gly, closer than the contact head's ``threshold``;
    :mod:`prottasks.data.contacts`): every structure of ``data.structures`` / ``data.dataset`` is a labelled
    protein; one with fewer than ``min_pairs`` scorable residue pairs is left out and counted."""

    type: Literal["contacts"] = "contacts"
    #: Proteins with fewer residue pairs with coordinates, ``|i − j| ≥ min_separation``, are left out.
    min_pairs: int = Field(1, ge=1)


class Atom3DLabels(_Source):
    """ATOM3D PSR / MSP LMDB split folders: structures and labels together (:mod:`prottasks.data.atom3d`)."""

    type: Literal["atom3d"] = "atom3d"
    task: Literal["psr", "msp"]
    root: str  # <root>/[<split name>/]data/{train,val,test} (the Zenodo archives, extracted)
    split: str | None = None  # the split folder when root holds several (split-by-year, …)
    score: str = "gdt_ts"  # PSR: the score regressed (seed: gdt_ts)


LabelsConfig = Annotated[
    NrpdbECLabels | NrpdbGOLabels | CafaTermsLabels | TableLabels | ContactLabels | Atom3DLabels,
    Field(discriminator="type"),
]


def _as_path(value: str, key: str) -> Path:
    return Path(value)


def read_labels(config: Any, *, resolve: Resolve = _as_path, key: str = "labels") -> LabelTable:
    """The :class:`~prottasks.data.tables.LabelTable` of a label source config.

    Args:
        config: One of :data:`LabelsConfig`.
        resolve: Turns a config path into a file (``resolve(value, key)``).
        key: The config's key, named in messages (``<key>.folder: …``).

    Raises:
        LabelError: a missing file or folder (naming ``<key>.<field>``), bad content (file and line).
    """
    from prottasks.data import tables

    def need(field: str) -> Path:
        path = resolve(getattr(config, field), f"{key}.{field}")
        if not path.exists():
            raise LabelError(f"{key}.{field}: {path}", "no such file or directory")
        return path

    if isinstance(config, NrpdbECLabels):
        return tables.nrpdb_ec_table(need("folder"), test_cutoff=config.test_cutoff)
    if isinstance(config, NrpdbGOLabels):
        return tables.nrpdb_go_table(need("folder"), config.branch, test_cutoff=config.test_cutoff)
    if isinstance(config, CafaTermsLabels):
        if config.propagate and config.obo is None:
            raise LabelError(f"{key}.propagate", f"true-path propagation needs {key}.obo (a GO OBO file)")
        obo = need("obo") if config.obo else None
        return tables.cafa_table(
            need("terms"), config.aspect, obo=obo, propagate=config.propagate, min_count=config.min_count
        )
    if isinstance(config, TableLabels):
        options = config.model_dump(exclude={"type", "path"})
        return tables.column_table(need("path"), **options)
    if isinstance(config, Atom3DLabels):
        from prottasks.data.atom3d import atom3d_table

        return atom3d_table(config, need("root"), key=key)
    if isinstance(config, ContactLabels):
        return tables.LabelTable(
            kind="contact", labels=[], targets={}, source="contact maps of the structures"
        )
    raise TypeError(f"{key}: not a label source config: {type(config).__name__}")
