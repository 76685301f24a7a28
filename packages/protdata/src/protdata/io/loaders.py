"""Public structure loaders: a structure file → Foldseek's chain entries as :class:`~protdata.Protein` objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protdata.errors import MissingAtomsError, NoProteinChainError, ProtdataError, StructureParseError
from protdata.io.alphafold import resolve_plddt
from protdata.io.chain_walk import ALTLOC_RULES, AltlocRule, ModelResult, walk_model
from protdata.io.formats import RawStructure, Source, StructureFormat, open_structure
from protdata.io.gemmi_reader import ParsedStructure, parse_structure
from protdata.io.residue_rules import ResidueRule, check_rule
from protdata.protein import Protein

ModelSelection = int | Literal["all"] | None


@dataclass
class LoadedStructure:
    """Every selected model of one file, read once (what :func:`load_chains` and friends are built on)."""

    parsed: ParsedStructure
    models: list[ModelResult]

    @property
    def n_models_in_file(self) -> int:
        return len(self.parsed.structure)

    @property
    def proteins(self) -> list[Protein]:
        return [p for m in self.models for p in m.proteins]


def load_chains(
    source: Source,
    model: ModelSelection = None,
    *,
    residue_rule: ResidueRule = "foldseek-legacy",
    altloc: AltlocRule = "last",
    plddt: bool | Literal["auto"] = "auto",
    name: str | None = None,
    format: StructureFormat | None = None,
) -> list[Protein]:
    """One :class:`~protdata.Protein` per protein chain of one model of a PDB / mmCIF / BinaryCIF file.

    The chains and residues are exactly the entries ``foldseek createdb`` makes (van Kempen et al., Nat
    Biotechnol 2023; Foldseek GemmiWrapper.cpp ``updateStructure`` and structcreatedb.cpp
    ``writeStructureEntry``), so that 3Di strings computed from them match Foldseek's letter for letter:

    * A chain is a run of consecutive atoms with one author chain id (``auth_asym_id``; PDB columns 21-22). If a
      chain id comes back after another chain, that part is a separate entry (usually ligands or waters, which then
      have no residues and are dropped); two protein parts of one chain give two proteins with the same id.
    * Residues: gemmi's first-conformer walk (microheterogeneity: the first listed residue wins), the residue rule
      (``residue_rule``, :mod:`protdata.io.residue_rules`), and an atom named CA. Residues without CA are dropped.
    * Protein chains: entries with more than 3 kept residues that are not all unknown ('X'), as Foldseek filters
      them. DNA/RNA chains (no CA), ligand-only chains and water therefore never appear.
    * Entity types (polymer, water, …) are gemmi 0.5.1's (:mod:`protdata.io.entity_types`). In a PDB file they
      come from TER records, so without any TER the legacy rule drops every HETATM residue (MSE included), as the
      old Foldseek did; ``residue_rule="foldseek-current"`` keeps them.

    Args:
        source: A path, ``bytes`` or a binary file-like object; gzip is detected by its magic bytes.
        model: ``None`` for the first model in the file, a model number as written in the file (PDB ``MODEL``
            serial, mmCIF ``pdbx_PDB_model_num``), or ``"all"`` for every model in file order.
        residue_rule: ``"foldseek-legacy"`` (Foldseek before commit b43e63d7, 2024-11-29: the rule of the shared
            reference strings and of SaProt's training data) or ``"foldseek-current"``.
        altloc: ``"last"`` (Foldseek: the last atom of each name in file order), ``"first"`` or ``"occupancy"``.
        plddt: Fill ``Protein.plddt`` from the Cα B-factor: ``"auto"`` for predicted models
            (:mod:`protdata.io.alphafold`), or force it with True / False.
        name: File name for ``bytes``/file-like sources (gives the ids and, by its extension, the format).
        format: ``"pdb"``, ``"mmcif"`` or ``"bcif"`` to override detection.

    Returns:
        Proteins with ``id = "{file stem}_{chain id}"`` (Foldseek ``--chain-name-mode 1``; the stem drops ``.gz``
        and the format extension), ``chain_ids = (chain id,)``, ``model`` set, coordinates of N, CA, C, O, CB
        (NaN + ``atom_mask`` False where missing), author residue numbers and insertion codes, the Cα B-factor,
        and ``plddt`` for predicted models.

    Raises:
        ProtdataError: for any bad input; the message names the file and the reason. Subclasses:
        StructureParseError (empty, truncated or garbled file; no atoms), UnknownFormatError,
        NoProteinChainError (no chain survives the rules), MissingAtomsError (a chain of amino acids without any
        Cα atom).
    """
    loaded = load_structure(
        source, model, residue_rule=residue_rule, altloc=altloc, plddt=plddt, name=name, format=format
    )
    return loaded.proteins


def load_models(source: Source, **kwargs) -> dict[int, list[Protein]]:
    """Every model of a file: ``{model number: proteins}`` in file order (keyword arguments as :func:`load_chains`).

    Models without a protein chain map to an empty list; an error is raised only if no model has one.
    """
    loaded = load_structure(source, "all", **kwargs)
    return {m.number: m.proteins for m in loaded.models}


def foldseek_entries(source: Source, **kwargs) -> list[tuple[str, Protein]]:
    """Every model's chains with the entry names ``foldseek createdb --chain-name-mode 1`` gives them.

    ``{stem}_{chain}``, or ``{stem}_MODEL_{n}_{chain}`` when the file has more than one model
    (structcreatedb.cpp:338-351).
    """
    loaded = load_structure(source, "all", **kwargs)
    multi = loaded.n_models_in_file > 1
    out = []
    for m in loaded.models:
        for p in m.proteins:
            stem = loaded.parsed.raw.stem
            header = f"{stem}_MODEL_{m.number}_{p.chain_ids[0]}" if multi else p.id
            out.append((header, p))
    return out


def load_structure(
    source: Source | RawStructure,
    model: ModelSelection = None,
    *,
    residue_rule: ResidueRule = "foldseek-legacy",
    altloc: AltlocRule = "last",
    plddt: bool | Literal["auto"] = "auto",
    name: str | None = None,
    format: StructureFormat | None = None,
    label: str | None = None,
) -> LoadedStructure:
    """Read a file and walk the selected model(s); the engine behind :func:`load_chains` (same arguments).

    ``label`` replaces the path in messages and ``Protein.source`` (e.g. ``archive.tar::member.cif.gz``).
    """
    rule = check_rule(residue_rule)
    if altloc not in ALTLOC_RULES:
        raise ValueError(f"altloc must be one of {ALTLOC_RULES}, got {altloc!r}")
    raw = (
        source
        if isinstance(source, RawStructure)
        else open_structure(source, name=name, format=format, label=label)
    )
    parsed = parse_structure(raw)
    st = parsed.structure
    with_plddt = resolve_plddt(plddt, raw, parsed.block)
    indices = _model_indices(parsed, model)
    models = [walk_model(parsed, i, rule=rule, altloc=altloc, with_plddt=with_plddt) for i in indices]
    if sum(m.n_atoms for m in models) == 0:
        what = "ATOM/HETATM records" if raw.format == "pdb" else "_atom_site rows"
        raise StructureParseError(
            raw.source, f"no atoms ({what}) found: not a {raw.format} file or truncated?"
        )
    missing = [(m.number, c, n) for m in models for c, n in m.chains_without_ca]
    if missing:
        detail = "; ".join(
            f"chain {c} (model {num}): {n} amino-acid residues without CA" for num, c, n in missing
        )
        raise MissingAtomsError(raw.source, f"chain without any Cα atom: {detail}")
    if not any(m.proteins for m in models):
        raise NoProteinChainError(raw.source, _no_protein_reason(parsed, models, rule, len(st)))
    return LoadedStructure(parsed, models)


def _model_indices(parsed: ParsedStructure, model: ModelSelection) -> list[int]:
    st = parsed.structure
    if len(st) == 0:
        raise StructureParseError(parsed.raw.source, "no models (no atoms) in the file")
    if model is None:
        return [0]
    if model == "all":
        return list(range(len(st)))
    if isinstance(model, bool) or not isinstance(model, int):
        raise ValueError(f"model must be None, a model number or 'all', got {model!r}")
    for i, m in enumerate(st):
        if m.num == model:
            return [i]
    numbers = ", ".join(str(m.num) for m in st)
    raise ProtdataError(parsed.raw.source, f"model {model} not in the file (models: {numbers})")


def _no_protein_reason(parsed: ParsedStructure, models: list[ModelResult], rule: str, n_models: int) -> str:
    which = "any model" if len(models) > 1 else f"model {models[0].number}"
    dropped = [f"{c}: {why}" for m in models for c, _n, why in m.dropped]
    if dropped:
        return f"no protein chain in {which}; chains dropped: " + "; ".join(dropped[:10])
    hint = ""
    if parsed.block is not None and not parsed.block.find_values("_atom_site.group_PDB"):
        hint = " (the file has no _atom_site.group_PDB column, so no residue carries an ATOM/HETATM flag)"
    return f"no residue of {which} passes the {rule} residue rule with a CA atom{hint}"
