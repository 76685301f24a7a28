"""Foldseek's 3Di encoder, batched over many proteins (flat residue tensors + a protein index), CPU or GPU.

Reproduces ``StructureTo3Di::structure2states`` (Foldseek ``lib/3di/structureto3di.cpp``, commit d5b1d3d4) on
the residues it is given; which residues a file yields (altlocs, HETATM, residues without Cα, the 2024-11-29
selection change) is the reader's business (:func:`protdata.load_chains`). Per residue (positions 0 … L−1):

1. missing Cβ -> ideal tetrahedral Cβ; virtual centre from Cα, Cβ, N (:mod:`.geometry`, float64);
2. valid = N, Cα and C present;
3. partner j of i ∈ 1 … L−2: the nearest virtual centre among valid j ∈ 1 … L−2, j ≠ i, lowest j on ties
   (:mod:`.partners`, exact, linear time); no partner -> invalid;
4. i is encoded only if i−1, i, i+1, j−1, j, j+1 are valid; the ten descriptors (:mod:`.features`);
5. float32 network 10 → 10 → 10 → 2 and the nearest of 20 centroids (:mod:`.network`);
6. everything else is state 2 (``'D'``); state k prints as ``"ACDEFGHIKLMNPQRSTVWY"[k]``.

Decisions where Foldseek's ``createdb`` would do something we cannot or do not reproduce:

* **Cα-only chains.** ``createdb`` treats a chain whose first four residues all lack both N and C as Cα-only
  and rebuilds N and C with PULCHRA before encoding. PULCHRA is not reimplemented, so by default
  (``ca_only="raise"``) such a protein raises :class:`~protdata.errors.MissingAtomsError` naming it.
  ``ca_only="encode"`` encodes the atoms as given (residues without N or C are invalid, hence ``'D'``): the
  output of Foldseek's encoder *without* the PULCHRA step, documented as such, never silently passed off.
* **Fewer than 4 residues.** ``createdb`` drops such chains (no entry). Foldseek's encoder itself gives every
  residue state 2 (there is no residue with a partner and valid neighbours), and so do we: ``"D" * L``
  (``""`` for an empty protein).
* **Precision.** ``Protein.coords`` is float32 (the data contract), Foldseek reads float64: the 3-decimal file
  values are rounded once (relative 6e-8, e.g. ≤ 3e-5 Å below 500 Å), then widened exactly to float64; all
  geometry is float64 as in Foldseek. Checked: 0 of 6,540 letters changed by float32 coordinates and
  every shared reference string matches; :func:`encode_backbone` also takes float64 tensors directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from protdata.batch import ProteinBatch
from protdata.constants import ATOM_C, ATOM_CA, ATOM_CB, ATOM_N, ATOM_NAMES
from protdata.errors import InvalidCoordinatesError, MissingAtomsError, ProtdataError
from protdata.foldseek.alphabet import INVALID_STATE, states_to_strings
from protdata.foldseek.features import NUM_FEATURES, gate, pair_features
from protdata.foldseek.geometry import ideal_cb, virtual_center
from protdata.foldseek.network import EncoderNetwork, default_network, discretize
from protdata.foldseek.partners import DEFAULT_CELL_SIZE, find_partners, find_partners_bruteforce
from protdata.protein import Protein

CaOnlyPolicy = Literal["raise", "encode"]
#: Proteins are encoded in groups of at most this many residues (bounds peak memory; not a per-protein loop).
DEFAULT_MAX_RESIDUES: int = 1 << 20


@dataclass
class ThreeDiTrace:
    """Every intermediate of one encoding run (flat over the batch, ``N`` residues); for tests and analysis.

    Attributes:
        virtual_center: ``(N, 3)`` float64 (NaN where N, Cα or a Cβ substitute is missing).
        valid: ``(N,)`` bool after the partner search (N, Cα, C present and, at 1 … L−2, a partner found).
        partner: ``(N,)`` int64 partner *position within the protein*, −1 where none (ends, no candidate).
        encoded: ``(N,)`` bool, residues that passed the six-residue gate.
        features: ``(N, 10)`` float64 descriptors, NaN where not encoded.
        embedding: ``(N, 2)`` float32 network output, NaN where not encoded.
        states: ``(N,)`` int64 3Di states (2 where not encoded).
    """

    virtual_center: Tensor
    valid: Tensor
    partner: Tensor
    encoded: Tensor
    features: Tensor
    embedding: Tensor
    states: Tensor


def encode_backbone(
    coords: Tensor,
    atom_mask: Tensor,
    lengths: Tensor,
    *,
    network: EncoderNetwork | None = None,
    partner_search: Literal["grid", "bruteforce"] = "grid",
    cell_size: float = DEFAULT_CELL_SIZE,
) -> ThreeDiTrace:
    """The 3Di computation on flat backbone tensors, with every intermediate (no input checks; see
    :func:`encode_3di_states`).

    Args:
        coords: ``(N, 5, 3)`` N, CA, C, O, CB coordinates (any float dtype; widened to float64).
        atom_mask: ``(N, 5)`` bool, True where the atom is present (absent atoms are ignored, NaN or not).
        lengths: ``(B,)`` residues per protein; proteins are consecutive in the flat view.
        network: The encoder network (default: Foldseek's shipped weights).
        partner_search: ``"grid"`` (linear time) or ``"bruteforce"`` (O(L²), Foldseek's loop; for testing).
        cell_size: Grid cell edge in Å (speed only).
    """
    return _encode(coords, atom_mask, lengths, network, partner_search, cell_size, keep_trace=True)


def _encode(
    coords: Tensor,
    atom_mask: Tensor,
    lengths: Tensor,
    network: EncoderNetwork | None,
    partner_search: str,
    cell_size: float,
    *,
    keep_trace: bool,
) -> ThreeDiTrace | Tensor:
    device = coords.device
    n_res = coords.shape[0]
    network = network or default_network()
    lengths = lengths.to(device=device, dtype=torch.long)
    batch = torch.repeat_interleave(torch.arange(lengths.numel(), device=device), lengths, output_size=n_res)
    offsets = lengths.cumsum(0) - lengths  # (B,)
    position = torch.arange(n_res, device=device) - offsets.index_select(0, batch)  # (N,)
    interior = (position > 0) & (position < lengths.index_select(0, batch) - 1)  # positions 1 … L-2

    def atom(k: int) -> Tensor:  # (N, 3) float64, NaN where the atom is absent
        x = coords[:, k].to(torch.float64)
        return x.masked_fill_(~atom_mask[:, k, None], float("nan"))

    n, ca, c, cb = atom(ATOM_N), atom(ATOM_CA), atom(ATOM_C), atom(ATOM_CB)
    no_cb = (~atom_mask[:, ATOM_CB]).nonzero().squeeze(1)  # glycines and residues with a missing CB
    if no_cb.numel():
        cb.index_copy_(0, no_cb, ideal_cb(ca[no_cb], n[no_cb], c[no_cb]))
    vc = virtual_center(ca, cb, n)  # (N, 3)
    valid = atom_mask[:, ATOM_N] & atom_mask[:, ATOM_CA] & atom_mask[:, ATOM_C]

    search = find_partners if partner_search == "grid" else find_partners_bruteforce
    kwargs = {"cell_size": cell_size} if partner_search == "grid" else {}
    partner = search(vc, valid & interior, interior, batch, **kwargs)  # (N,) flat index or -1
    valid = valid & (~interior | (partner >= 0))

    i = (interior & (partner >= 0)).nonzero().squeeze(1)  # (M,)
    j = partner.index_select(0, i)
    passed = gate(valid, i, j).nonzero().squeeze(1)  # (M',)
    i, j = i.index_select(0, passed), j.index_select(0, passed)
    feats = pair_features(ca, i, j)  # (M, 10) float64
    emb = network(feats.to(torch.float32))  # (M, 2) float32
    states = torch.full((n_res,), INVALID_STATE, dtype=torch.long, device=device)
    states.index_copy_(0, i, discretize(emb))
    if not keep_trace:
        return states

    encoded = torch.zeros(n_res, dtype=torch.bool, device=device)
    encoded[i] = True
    features = torch.full((n_res, NUM_FEATURES), float("nan"), dtype=torch.float64, device=device)
    features[i] = feats
    embedding = torch.full((n_res, 2), float("nan"), dtype=torch.float32, device=device)
    embedding[i] = emb
    partner_pos = torch.where(partner >= 0, partner - offsets[batch], partner)
    return ThreeDiTrace(vc, valid, partner_pos, encoded, features, embedding, states)


def encode_3di_states(
    batch: ProteinBatch,
    *,
    ca_only: CaOnlyPolicy = "raise",
    cell_size: float = DEFAULT_CELL_SIZE,
) -> Tensor:
    """3Di states of every residue of ``batch``: ``(N,)`` int64 in the flat order, on ``batch.device``.

    Raises:
        MissingAtomsError: a residue without Cα (Foldseek's reader never yields one; a sequence-only protein),
            or a Cα-only chain with ``ca_only="raise"`` (see the module docstring).
        InvalidCoordinatesError: a present atom with NaN/infinite coordinates.
    """
    check_backbone(batch.coords, batch.atom_mask, batch.lengths, batch.ids, ca_only=ca_only)
    return _encode(batch.coords, batch.atom_mask, batch.lengths, None, "grid", cell_size, keep_trace=False)


def encode_3di(
    proteins: Sequence[Protein],
    *,
    device: torch.device | str | None = None,
    ca_only: CaOnlyPolicy = "raise",
    max_residues: int = DEFAULT_MAX_RESIDUES,
) -> list[str]:
    """Foldseek 3Di strings (upper case, one letter per residue) of ``proteins``, in order.

    Proteins are packed into flat tensors and encoded together (groups of at most ``max_residues`` residues,
    to bound memory) on ``device`` (default CPU). Every input problem is checked before any work and raises a
    :class:`~protdata.errors.ProtdataError` naming the protein (see :func:`encode_3di_states`).
    """
    proteins = list(proteins)
    for p in proteins:
        if not p.has_structure:
            raise MissingAtomsError(p.source or p.id, f"{p.id}: sequence-only protein has no coordinates")
    out: list[str] = []
    for group in _groups(proteins, max_residues):
        batch = ProteinBatch.collate(group)
        if device is not None:
            batch = batch.to(device)
        states = encode_3di_states(batch, ca_only=ca_only)
        out.extend(states_to_strings(states, batch.lengths))
    return out


def with_3di(proteins: Sequence[Protein], **kwargs: object) -> list[Protein]:
    """Copies of ``proteins`` with ``structure_tokens`` set by :func:`encode_3di` (same keyword arguments)."""
    tokens = encode_3di(proteins, **kwargs)  # type: ignore[arg-type]
    return [p.replace(structure_tokens=t) for p, t in zip(proteins, tokens)]


def with_3di_or_skip(
    proteins: Sequence[Protein], skip: Callable[[Protein, ProtdataError], None]
) -> list[Protein]:
    """``proteins`` with their 3Di strings, in order. All are encoded in one batched call unless one of them
    fails; then each is encoded alone, and one the encoder rejects (e.g. a Cα-only chain) is handed to
    ``skip(protein, error)`` and left out."""
    try:
        return with_3di(proteins)
    except ProtdataError:
        pass
    out: list[Protein] = []
    for p in proteins:
        try:
            out.extend(with_3di([p]))
        except ProtdataError as exc:
            skip(p, exc)
    return out


def check_backbone(
    coords: Tensor, atom_mask: Tensor, lengths: Tensor, ids: Sequence[str], *, ca_only: CaOnlyPolicy
) -> None:
    """Raise a clear error for input Foldseek's encoder cannot take (see :func:`encode_3di_states`)."""
    if ca_only not in ("raise", "encode"):
        raise ValueError(f"ca_only must be 'raise' or 'encode', not {ca_only!r}")
    lengths = lengths.to(coords.device)
    n_res = coords.shape[0]
    if n_res == 0:
        return
    batch = torch.repeat_interleave(torch.arange(lengths.numel(), device=coords.device), lengths)
    position = torch.arange(n_res, device=coords.device) - (lengths.cumsum(0) - lengths)[batch]

    def where(flat: int) -> str:
        return f"{ids[int(batch[flat])]}: residue {int(position[flat]) + 1} (position {int(position[flat])})"

    no_ca = (~atom_mask[:, ATOM_CA]).nonzero()
    if no_ca.numel():
        k = int(no_ca[0, 0])
        raise MissingAtomsError(
            ids[int(batch[k])], f"{where(k)} has no CA atom ({no_ca.shape[0]} such residues)"
        )
    bad = ~torch.isfinite(coords).all(dim=2) & atom_mask  # (N, 5) a present atom with NaN/inf coordinates
    if bool(bad.any()):
        k, atom = (int(v) for v in bad.nonzero()[0])
        raise InvalidCoordinatesError(
            ids[int(batch[k])], f"{where(k)}: atom {ATOM_NAMES[atom]} has non-finite coordinates"
        )
    if ca_only == "raise":
        lacks_nc = ~atom_mask[:, ATOM_N] & ~atom_mask[:, ATOM_C]  # (N,)
        first4 = (position < 4) & lacks_nc
        count = torch.zeros(lengths.numel(), dtype=torch.long, device=coords.device).index_add_(
            0, batch, first4.long()
        )
        flagged = ((count == 4) & (lengths >= 4)).nonzero().squeeze(1).tolist()
        if flagged:
            names = ", ".join(ids[b] for b in flagged[:5]) + (" …" if len(flagged) > 5 else "")
            raise MissingAtomsError(
                ids[flagged[0]],
                f"Cα-only chain ({len(flagged)} in batch: {names}): its first four residues lack both N and C, "
                "so Foldseek would rebuild N and C with PULCHRA, which protdata does not reproduce; pass "
                "ca_only='encode' to encode the atoms as given (residues without N or C become 'D')",
            )


def _groups(proteins: list[Protein], max_residues: int) -> list[list[Protein]]:
    groups: list[list[Protein]] = []
    current: list[Protein] = []
    size = 0
    for p in proteins:
        if current and size + len(p) > max_residues:
            groups.append(current)
            current, size = [], 0
        current.append(p)
        size += len(p)
    if current:
        groups.append(current)
    return groups
