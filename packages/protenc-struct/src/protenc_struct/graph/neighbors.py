"""Blocked all-pairs distances *within* each protein, and deterministic nearest-neighbour selection.

Every neighbour search of the package (radius, KNN, CDConv's receptive fields) runs on :func:`pair_blocks`: the
proteins of a batch, ordered by length, are packed into blocks of at most ``block_elements`` (query, candidate)
pairs — a protein too long for one block is split by query rows — and each residue is compared only with the
residues of its own protein, in a padded ``(G, Q, C)`` layout. Memory is bounded by the block size plus the edges kept (never an
``N × N`` matrix for the batch); work is ``Σ_b L_b²``. Squared distances are ``dx² + dy² + dz²`` in the input
dtype (the formula torch-cluster's nanoflann kd-tree uses) and a pair is within ``r`` when ``d² < r²``.
Selections never depend on the order a sort returns ties in: the k nearest are taken by (distance, index).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from protdata.errors import InvalidCoordinatesError
from protenc_struct.graph.nodes import GraphNodes

#: Default number of (query, candidate) pairs per block: 2**20 pairs ≈ 4 MB per float32 pair tensor.
DEFAULT_BLOCK_ELEMENTS = 1 << 20
#: Two residues whose Cα lie closer than this (Å) are duplicated coordinates (a real Cα–Cα distance is ≥ 2.8 Å).
DUPLICATE_TOLERANCE = 1e-3


@dataclass
class PairBlock:
    """Squared distances between query residues and all residues of their protein, for ``G`` proteins.

    Attributes:
        start: ``(G,)`` flat index of each protein's first residue.
        length: ``(G,)`` residues of each protein.
        row0: Position (within its protein) of query row 0; 0 unless one long protein is split into row blocks.
        dist2: ``(G, Q, C)`` squared distance from residue ``row0 + q`` to residue ``c`` of protein ``g``;
            ``+inf`` for padding and for ``q`` = ``c`` (self).
    """

    start: Tensor
    length: Tensor
    row0: int
    dist2: Tensor

    def flat_pairs(self, g: Tensor, q: Tensor, c: Tensor) -> Tensor:
        """``(2, E)`` edges ``(source, target)`` = (candidate ``c``, query ``q``) in flat indices."""
        return torch.stack([self.start[g] + c, self.start[g] + self.row0 + q])

    def separation(self, q: Tensor, c: Tensor) -> Tensor:
        """Sequence separation ``|i - j|`` of pairs given by query row and candidate column."""
        return (q + self.row0 - c).abs()


def _blocks(lengths: list[int], block_elements: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(first, end, row0, row1, width)`` blocks over ``lengths`` with ``proteins × rows × width <= budget``.

    Whole proteins are packed while ``count × width²`` fits (width = the longest); a protein with
    ``L² > block_elements`` gets blocks of ``block_elements // L`` query rows. Loops over proteins only.
    """
    first, width = 0, 0
    for b, length in enumerate(lengths):
        new_width = max(width, length)
        if b > first and (b - first + 1) * new_width * new_width > block_elements:
            yield first, b, 0, width, width
            first, new_width = b, length
        if length * length > block_elements:  # alone in its block(s): flushed above if others were pending
            step = max(1, block_elements // max(length, 1))
            for r in range(0, length, step):
                yield b, b + 1, r, min(r + step, length), length
            first, width = b + 1, 0
            continue
        width = new_width
    if first < len(lengths) and width > 0:
        yield first, len(lengths), 0, width, width


def pair_blocks(
    nodes: GraphNodes,
    *,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    check_duplicates: bool = False,
) -> Iterator[PairBlock]:
    """Yield :class:`PairBlock` s covering every ordered (residue, other residue of its protein) pair once.

    Args:
        nodes: The batch's Cα nodes.
        block_elements: Upper bound on ``G × Q × C`` per block.
        check_duplicates: Raise :class:`~protdata.errors.InvalidCoordinatesError` naming both residues when two
            residues of one protein have (numerically) identical Cα coordinates.
    """
    pos = nodes.pos
    device = pos.device
    starts, lengths = nodes.offsets[:-1], nodes.lengths
    tol2 = DUPLICATE_TOLERANCE**2
    # Padding sits at ±far (queries −, candidates +): every pair involving padding has d² = inf (overflow), so
    # no mask over the (G, Q, C) block is needed; far = 2·sqrt(max) keeps the differences themselves finite.
    far = 2.0 * float(torch.finfo(pos.dtype).max) ** 0.5
    # proteins grouped by length (stable), so a block pads short proteins only to similar lengths
    length_list = lengths.tolist()
    order = sorted(range(len(length_list)), key=length_list.__getitem__)
    order_tensor = torch.tensor(order, dtype=torch.long, device=device)
    for b0, b1, row0, row1, width in _blocks([length_list[b] for b in order], block_elements):
        proteins = order_tensor[b0:b1]  # (G,)
        start, length = starts[proteins], lengths[proteins]  # (G,)
        column = torch.arange(width, device=device)  # (C,)
        padding = column[None, :] >= length[:, None]  # (G, C)
        index = start[:, None] + torch.minimum(column[None, :], length[:, None] - 1)  # (G, C)
        coords = pos[index]  # (G, C, 3)
        dist2 = None
        for k in range(3):
            plane = coords[..., k]  # (G, C)
            candidate = plane.masked_fill(padding, far)
            query = plane.masked_fill(padding, -far)[:, row0:row1]  # (G, Q)
            delta = query[:, :, None] - candidate[:, None, :]  # (G, Q, C)
            square = delta.mul_(delta)  # separate multiply and add (no FMA): the reference's rounding
            dist2 = square if dist2 is None else dist2.add_(square)
        torch.diagonal(dist2, offset=row0, dim1=1, dim2=2).fill_(float("inf"))  # self pairs
        if check_duplicates and float(dist2.min()) < tol2:
            g, q, c = (int(v) for v in torch.nonzero(dist2 < tol2)[0])
            i, j = int(start[g]) + row0 + q, int(start[g]) + c
            raise InvalidCoordinatesError(
                nodes.protein_id(i),
                f"{nodes.describe(i)} and {nodes.describe(j)} have duplicated Cα coordinates "
                f"(distance {float(dist2[g, q, c]) ** 0.5:.2g} Å < {DUPLICATE_TOLERANCE} Å)",
            )
        yield PairBlock(start=start, length=length, row0=row0, dist2=dist2)


def smallest_k(dist2: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` smallest entries of each row of ``dist2`` ``(..., C)``, ties broken by the lower column.

    Returns ``(values, columns)``, both ``(..., k')`` with ``k' = min(k, C)`` (in no particular order).
    """
    k = min(k, dist2.shape[-1])
    values, columns = dist2.topk(k, dim=-1, largest=False)  # (..., k)
    if k == 0:
        return values, columns
    kth = values.max(dim=-1, keepdim=True).values  # (..., 1)
    ambiguous = (dist2 <= kth).sum(dim=-1) > k  # ties at the k-th value: topk's pick is arbitrary
    ambiguous = ambiguous & torch.isfinite(kth.squeeze(-1))
    if bool(ambiguous.any()):
        rows = dist2[ambiguous]  # (R, C)
        fixed_values, order = torch.sort(rows, dim=-1, stable=True)  # by value, then column
        values[ambiguous] = fixed_values[:, :k]
        columns[ambiguous] = order[:, :k]
    return values, columns


def keep_nearest(dist2: Tensor, mask: Tensor, k: int) -> Tensor:
    """Restrict ``mask`` ``(..., C)`` to its ``k`` entries of smallest ``dist2`` per row (ties: lower column)."""
    over = mask.sum(dim=-1) > k  # (...,)
    if not bool(over.any()):
        return mask
    rows = dist2[over].masked_fill(~mask[over], float("inf"))  # (R, C)
    _, columns = smallest_k(rows, k)  # (R, k)
    kept = torch.zeros_like(rows, dtype=torch.bool).scatter_(-1, columns, True)
    mask = mask.clone()
    mask[over] = kept & mask[over]
    return mask
