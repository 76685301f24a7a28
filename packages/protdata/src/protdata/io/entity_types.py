"""Residue entity types exactly as gemmi 0.5.1 (bundled with Foldseek) assigns them.

Foldseek's residue rules (:mod:`protdata.io.residue_rules`) look at ``Residue::entity_type``. We read with gemmi
0.7.5, which assigns it differently in two places, so the 0.5.1 behaviour is rebuilt here:

mmCIF (gemmi 0.5.1 ``mmcif.hpp:682-764``, ``fill_residue_entity_type`` at line 341)
    Each subchain (run of residues with one ``label_asym_id``) gets the ``_entity.type`` of its entity, found via
    ``_struct_asym`` (or, without that table, via ``label_entity_id`` in the first model). If there is no entity or
    its type is not one of polymer / non-polymer / branched / water, 0.5.1 guesses: water if the first residue is
    water, else polymer if the subchain has more than one residue, else non-polymer. gemmi 0.7.5 guesses "unknown"
    instead, and promotes entities listed in ``_entity_poly`` to polymer.
PDB (gemmi 0.5.1 ``pdb.hpp:281-329, 548-560``)
    A TER record marks every residue of the current chain part as polymer; residues created after it in that chain
    (and in later parts of a chain whose first part was closed by TER) become water or non-polymer; without TER
    everything stays unknown. gemmi 0.7.5 does the same, except that a second TER in one chain, or a water residue
    before a TER, makes it reset *every* residue to unknown (``ter_status 'e'``). :func:`pdb_ter_entity_types`
    replays the 0.5.1 logic from the file's records for that case.
"""

from __future__ import annotations

from collections.abc import Sequence

import gemmi

POLYMER = gemmi.EntityType.Polymer
NONPOLYMER = gemmi.EntityType.NonPolymer
BRANCHED = gemmi.EntityType.Branched
WATER = gemmi.EntityType.Water
UNKNOWN = gemmi.EntityType.Unknown

_FROM_STRING = {"polymer": POLYMER, "branched": BRANCHED, "non-polymer": NONPOLYMER, "water": WATER}
_WATER_NAMES = frozenset({"HOH", "DOD", "WAT", "H2O"})


def is_water(name: str) -> bool:
    """gemmi's ``Residue::is_water`` (HOH, DOD, WAT, H2O; case-insensitive)."""
    return len(name) == 3 and name.upper() in _WATER_NAMES


def has_ter_record(data: bytes) -> bool:
    """Whether a PDB text has a TER record ("TER" at a line start, then blank or end of line, any case)."""
    for word in (b"TER", b"ter", b"Ter"):
        i = data.find(word)
        while i >= 0:
            if (i == 0 or data[i - 1] in b"\r\n") and data[i + 3 : i + 4] in (b"", b" ", b"\t", b"\r", b"\n"):
                return True
            i = data.find(word, i + 3)
    return False


class CifEntityTypes:
    """gemmi-0.5.1 entity types for the residues of an mmCIF structure (see the module docstring)."""

    def __init__(self, block: gemmi.cif.Block, structure: gemmi.Structure) -> None:
        self.types: dict[str, gemmi.EntityType] = {}
        for row in block.find("_entity.", ["id", "type"]):
            self.types.setdefault(row.str(0), _FROM_STRING.get(row.str(1), UNKNOWN))
        self.entity_of: dict[str, str] = {}
        asym = block.find("_struct_asym.", ["id", "entity_id"])
        if asym:
            for row in asym:
                if row.str(1) in self.types:
                    self.entity_of.setdefault(row.str(0), row.str(1))
        elif len(structure) > 0:
            for chain in structure[0]:
                for span in chain.subchains():
                    first = span[0]
                    if first.entity_id in self.types:
                        self.entity_of.setdefault(first.subchain, first.entity_id)

    def chain_types(self, residues: Sequence[gemmi.Residue]) -> list[gemmi.EntityType]:
        """Entity type of every residue of one chain part, in order."""
        out: list[gemmi.EntityType] = []
        n = len(residues)
        i = 0
        while i < n:
            sub = residues[i].subchain
            j = i + 1
            while j < n and residues[j].subchain == sub:
                j += 1
            entity = self.entity_of.get(sub)
            etype = self.types.get(entity, UNKNOWN) if entity is not None else UNKNOWN
            if etype == UNKNOWN:
                if is_water(residues[i].name):
                    etype = WATER
                elif j - i > 1:
                    etype = POLYMER
                else:
                    etype = NONPOLYMER
            out.extend([etype] * (j - i))
            i = j
        return out


def needs_ter_replay(data: bytes, structure: gemmi.Structure) -> bool:
    """True if gemmi 0.7.5 discarded the TER-based entity types (``ter_status 'e'``) of a PDB file.

    Any TER that gemmi processes normally marks the whole chain part before it as polymer, so a file with TER
    records in which no chain part starts with a polymer residue was reset (or had no effective TER, in which case
    the replay gives the same answer).
    """
    for model in structure:
        for chain in model:
            if len(chain) and chain[0].entity_type != UNKNOWN:
                return False
    return has_ter_record(data)


def pdb_ter_entity_types(data: bytes) -> list[list[tuple[bool, int | None]]]:
    """Replay gemmi 0.5.1's TER handling: per model, per chain part, ``(starts_after_ter, residues_before_ter)``.

    Residue ``i`` of a part is polymer if ``i < residues_before_ter`` and the part did not start after a TER;
    residues created after a TER (or in a part that started after one) are water/non-polymer; a part with
    ``residues_before_ter is None`` and not starting after TER stays unknown. Chain parts are in the order gemmi
    creates them (a new part whenever the chain name changes between ATOM/HETATM records).
    """
    models: list[list[tuple[bool, int | None]]] = []
    model: list[list] | None = None  # parts of the current model: [name, after_ter_at_start, n_at_ter, rids]
    part: list | None = None
    after_ter = False
    for raw in data.splitlines():
        rec = raw[:6].upper()
        if rec[:4] in (b"ATOM", b"HETA"):
            chain_name = raw[20:22].decode("latin-1").strip()
            if part is None or chain_name != part[0]:
                if model is None:
                    model = []
                    models.append(model)  # type: ignore[arg-type]
                prev = next((p for p in model if p[0] == chain_name), None)
                # 0.5.1: after_ter = prev_part && prev_part->residues[0].entity_type == Polymer
                after_ter = prev is not None and not prev[1] and prev[2] is not None
                part = [chain_name, after_ter, None, set()]
                model.append(part)
            icode = raw[26:27].decode("latin-1").lower() or " "
            rid = (raw[22:26].strip(), icode, raw[17:20].strip(), raw[72:76].strip())
            part[3].add(rid)
        elif rec[:3] == b"TER" and (len(rec) == 3 or rec[3:4] in b" \t\r\n"):
            if part is None or after_ter:
                continue
            part[2] = len(part[3])
            after_ter = True
        elif rec == b"ENDMDL":
            model = None
            part = None
        elif rec[:5] == b"MODEL":
            model = []
            models.append(model)  # type: ignore[arg-type]
            part = None
        elif rec[:3] == b"END" and (len(rec) == 3 or rec[3:4] in b" \t\r\n"):
            break
    return [[(p[1], p[2]) for p in m] for m in models if m]


def replayed_chain_types(
    residues: Sequence[gemmi.Residue], starts_after_ter: bool, before_ter: int | None
) -> list[gemmi.EntityType]:
    """Entity types of one chain part from :func:`pdb_ter_entity_types`' record for it."""
    out = []
    for i, res in enumerate(residues):
        if not starts_after_ter and before_ter is None:
            out.append(UNKNOWN)
        elif not starts_after_ter and i < before_ter:  # type: ignore[operator]
            out.append(POLYMER)
        else:
            out.append(WATER if is_water(res.name) else NONPOLYMER)
    return out
