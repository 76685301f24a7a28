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

Backends: on the CPU the work runs in NumPy (:mod:`.encoder_numpy`, :mod:`.partners_numpy`), on other devices in
torch; both evaluate the same operations in the same order and give identical bits (tested). ``encode_3di`` on the
CPU packs the proteins' arrays directly (no :class:`~protdata.batch.ProteinBatch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from protdata.batch import ProteinBatch
from protdata.constants import ATOM_C, ATOM_CA, ATOM_CB, ATOM_N
from protdata.errors import MissingAtomsError, ProtdataError
from protdata.foldseek.alphabet import INVALID_STATE, LETTERS, states_to_strings
from protdata.foldseek.encoder_numpy import check_backbone_numpy, encode_numpy
from protdata.foldseek.features import NUM_FEATURES, gate, pair_features
from protdata.foldseek.geometry import ideal_cb, virtual_center
from protdata.foldseek.network import EncoderNetwork, default_network, discretize
from protdata.foldseek.partners import DEFAULT_CELL_SIZE, find_partners, find_partners_bruteforce
from protdata.foldseek.partners_numpy import NUMPY_CELL_SIZE
from protdata.protein import Protein

CaOnlyPolicy = Literal["raise", "encode"]
Backend = Literal["auto", "numpy", "torch"]
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
    cell_size: float | None = None,
    backend: Backend = "auto",
) -> ThreeDiTrace:
    """The 3Di computation on flat backbone tensors, with every intermediate (no input checks; see
    :func:`encode_3di_states`).

    Args:
        coords: ``(N, 5, 3)`` N, CA, C, O, CB coordinates (any float dtype; widened to float64).
        atom_mask: ``(N, 5)`` bool, True where the atom is present (absent atoms are ignored, NaN or not).
        lengths: ``(B,)`` residues per protein; proteins are consecutive in the flat view.
        network: The encoder network (default: Foldseek's shipped weights).
        partner_search: ``"grid"`` (linear time) or ``"bruteforce"`` (O(L²), Foldseek's loop; for testing).
        cell_size: Grid cell edge in Å (speed only; default: ``DEFAULT_CELL_SIZE`` for the torch search,
            ``NUMPY_CELL_SIZE`` for the NumPy one).
        backend: ``"numpy"`` (CPU tensors only), ``"torch"``, or ``"auto"``: NumPy for CPU tensors with the grid
            search, torch otherwise. Same result either way.
    """
    if _use_numpy(coords, backend, partner_search):
        network = network or default_network()
        trace = encode_numpy(
            coords.detach().numpy(),
            atom_mask.numpy(),
            lengths.numpy(),
            network,
            NUMPY_CELL_SIZE if cell_size is None else cell_size,
            keep_trace=True,
        )
        return ThreeDiTrace(**{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in trace.items()})
    cell_size = DEFAULT_CELL_SIZE if cell_size is None else cell_size
    return _encode(coords, atom_mask, lengths, network, partner_search, cell_size, keep_trace=True)


def _check_backend(backend: str) -> None:
    if backend not in ("auto", "numpy", "torch"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', not {backend!r}")


def _use_numpy(coords: Tensor, backend: str, partner_search: str = "grid") -> bool:
    _check_backend(backend)
    on_cpu = coords.device.type == "cpu"
    if backend == "numpy" and (not on_cpu or partner_search != "grid"):
        raise ValueError("backend='numpy' takes CPU tensors and the grid partner search")
    return backend == "numpy" or (backend == "auto" and on_cpu and partner_search == "grid")


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
    cell_size: float | None = None,
    backend: Backend = "auto",
) -> Tensor:
    """3Di states of every residue of ``batch``: ``(N,)`` int64 in the flat order, on ``batch.device``
    (computed in NumPy for a CPU batch unless ``backend="torch"``; see :func:`encode_backbone`).

    Raises:
        MissingAtomsError: a residue without Cα (Foldseek's reader never yields one; a sequence-only protein),
            or a Cα-only chain with ``ca_only="raise"`` (see the module docstring).
        InvalidCoordinatesError: a present atom with NaN/infinite coordinates.
    """
    check_backbone(batch.coords, batch.atom_mask, batch.lengths, batch.ids, ca_only=ca_only)
    if _use_numpy(batch.coords, backend):
        args = (batch.coords.numpy(), batch.atom_mask.numpy(), batch.lengths.numpy())
        size = NUMPY_CELL_SIZE if cell_size is None else cell_size
        return torch.from_numpy(encode_numpy(*args, default_network(), size, keep_trace=False))
    size = DEFAULT_CELL_SIZE if cell_size is None else cell_size
    return _encode(batch.coords, batch.atom_mask, batch.lengths, None, "grid", size, keep_trace=False)


def encode_3di(
    proteins: Sequence[Protein],
    *,
    device: torch.device | str | None = None,
    ca_only: CaOnlyPolicy = "raise",
    max_residues: int = DEFAULT_MAX_RESIDUES,
    backend: Backend = "auto",
    threads: int = 1,
) -> list[str]:
    """Foldseek 3Di strings (upper case, one letter per residue) of ``proteins``, in order.

    Proteins are packed into flat tensors and encoded together (groups of at most ``max_residues`` residues,
    to bound memory) on ``device`` (default CPU; there, in NumPy unless ``backend="torch"``). Every input problem
    is checked before any work and raises a :class:`~protdata.errors.ProtdataError` naming the protein (see
    :func:`encode_3di_states`). ``threads`` > 1 splits a large batch of the NumPy path into that many groups of
    whole proteins encoded on worker threads (same result; faster only where that many cores are idle).
    """
    proteins = list(proteins)
    for p in proteins:
        if not p.has_structure:
            raise MissingAtomsError(p.source or p.id, f"{p.id}: sequence-only protein has no coordinates")
    out: list[str] = []
    if backend != "torch" and (device is None or torch.device(device).type == "cpu"):
        _check_backend(backend)
        network = default_network()
        for group in _groups(proteins, max_residues):
            out.extend(_encode_group_numpy(group, network, ca_only, threads))
        return out
    for group in _groups(proteins, max_residues):
        batch = ProteinBatch.collate(group)
        if device is not None:
            batch = batch.to(device)
        states = encode_3di_states(batch, ca_only=ca_only, backend=backend)
        out.extend(states_to_strings(states, batch.lengths))
    return out


_LETTER_CODES = np.frombuffer(LETTERS.encode("ascii"), dtype=np.uint8)


def _encode_group_numpy(
    group: list[Protein], network: EncoderNetwork, ca_only: CaOnlyPolicy, threads: int = 1
) -> list[str]:
    """3Di strings of ``group`` through the NumPy path (flat arrays packed straight from the proteins)."""
    lengths = np.fromiter((len(p) for p in group), dtype=np.int64, count=len(group))
    if len(group) == 1:
        coords, atom_mask = group[0].coords, group[0].atom_mask
    else:
        coords = np.concatenate([p.coords for p in group])  # (N, 5, 3) float32
        atom_mask = np.concatenate([p.atom_mask for p in group])  # (N, 5) bool
    check_backbone_numpy(coords, atom_mask, lengths, [p.id for p in group], ca_only=ca_only)
    states = encode_numpy(
        coords, atom_mask, lengths, network, NUMPY_CELL_SIZE, keep_trace=False, threads=threads
    )
    codes = _LETTER_CODES[states].tobytes().decode("ascii")
    ends = np.cumsum(lengths).tolist()
    return [codes[end - n : end] for end, n in zip(ends, lengths.tolist())]


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
    """Raise a clear error for input Foldseek's encoder cannot take (see :func:`encode_3di_states`); the checks
    run in NumPy (:func:`.encoder_numpy.check_backbone_numpy`), on a host copy for other devices."""
    check_backbone_numpy(
        coords.detach().cpu().numpy(), atom_mask.cpu().numpy(), lengths.cpu().numpy(), ids, ca_only=ca_only
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
