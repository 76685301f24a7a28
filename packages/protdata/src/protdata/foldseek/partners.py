"""Partner search of Foldseek's 3Di encoder: each residue's nearest virtual centre, exactly, in linear time.

Foldseek (``findResiduePartners``, structureto3di.cpp:136-157) loops over every pair: residue i gets the valid
j in 1 … L−2, j ≠ i, with the smallest ``sqrt(dx² + dy² + dz²)`` between virtual centres, compared with a strict
``<`` so that the lowest j wins ties; no distance cut-off, no sequence-separation rule. That is O(L²) time (and
O(L²) memory in the NumPy ports, which build the whole distance matrix).

:func:`find_partners` returns the same j for every residue of every protein of a batch at once, in time and
memory linear in the number of residues for real structures:

1. **Cell table.** Per protein, candidates are binned into cells ``s/4`` wide along x and ``s`` along y and z
   (``s`` = 6.5 Å, grown only if a protein's bounding box would need more than 64 cells per candidate),
   sorted by cell id (z, y, x; x fastest) and indexed by a dense ``start`` table: the cells of one (y, z) row
   of a box are one contiguous run of candidates.
2. **Search box.** A query looks at every candidate inside the axis-aligned box of half-width ``R`` around it
   (at most 3 × 3 rows in the first round). ``R`` starts at the distance to its nearest candidate among its
   sequence neighbours i±1, i±2 (an upper bound on the answer, usually ~5 Å), capped at ``s``.
3. **Exactness.** Every centre within distance R of the query lies in the box. If the best distance found is
   ≤ R (less a rounding margin), the true minimum and *all* centres tied with it were seen; otherwise the query
   goes to the next round with a doubled box, until the box covers its whole protein. Within a box, squared
   distances are first computed in float32 (coordinates relative to the protein's corner); every pair within
   a proven rounding bound of the float32 minimum is then re-measured with Foldseek's float64 formula, and
   among those at the minimum distance the lowest index wins, as in Foldseek's loop.

:func:`find_partners_bruteforce` is the literal O(L²) definition (row-chunked); the tests' oracle.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from protdata.foldseek.geometry import distance

#: Default cell edge in Å. Sequence-neighbour bounds are ≤ 6.5 Å for >99.8 % of residues of real structures,
#: so nearly every query is settled in the first round, with a box of at most 3 × 3 × 3 cells.
DEFAULT_CELL_SIZE: float = 6.5
#: Cells along x are this many times narrower than along y and z (tighter boxes, same number of runs).
_X_SPLIT: int = 4
#: A protein's table may hold at most this many cells per candidate (plus a constant) before cells grow.
_CELLS_PER_CANDIDATE: int = 64
#: Upper bound on (query, candidate) pairs held at once (bounds peak memory).
_CHUNK_PAIRS: int = 1 << 21
_BIG = torch.iinfo(torch.long).max


def find_partners(
    centers: Tensor,
    candidate: Tensor,
    query: Tensor,
    batch: Tensor,
    *,
    cell_size: float = DEFAULT_CELL_SIZE,
) -> Tensor:
    """Nearest candidate (by virtual-centre distance) of every query residue, within the same protein.

    Args:
        centers: ``(N, 3)`` float64 virtual centres of all residues of all proteins (flat, protein by protein,
            residues in chain order).
        candidate: ``(N,)`` bool, residues that may be chosen as partners (valid, positions 1 … L−2).
        query: ``(N,)`` bool, residues to find a partner for.
        batch: ``(N,)`` int64 protein index of every residue (non-decreasing).
        cell_size: Initial grid cell edge in Å (affects speed only, never the result).

    Returns:
        ``(N,)`` int64 flat index of the partner (lowest index among equally near ones), ``-1`` where the
        residue is not a query or its protein has no other finite candidate.
    """
    n = centers.shape[0]
    device = centers.device
    partner = torch.full((n,), -1, dtype=torch.long, device=device)
    finite = torch.isfinite(centers).all(dim=1)  # (N,)
    candidate = candidate & finite
    cand = candidate.nonzero().squeeze(1)  # (C,)
    if cand.numel() == 0 or not bool((query & finite).any()):
        return partner
    num_proteins = int(batch[-1]) + 1
    grid = _CellTable(centers, cand, batch, num_proteins, cell_size)
    qidx = (query & finite & (grid.protein_count[batch] > 0)).nonzero().squeeze(1)  # (Q,)
    bound = _neighbour_bound(centers, candidate, batch)[qidx]  # (Q,) usually ~5 Å, inf if unknown
    radius = torch.minimum(bound, grid.edge[batch[qidx], 1]) + 2 * grid.margin  # (Q,) first-round half-width
    while qidx.numel():
        best_j, settled = grid.search(qidx, radius)
        partner[qidx[settled]] = best_j[settled]
        qidx, radius = qidx[~settled], 2 * radius[~settled]
    return partner


def pair_chunks(ends: Tensor | np.ndarray, chunk_pairs: int) -> Iterator[tuple[int, int]]:
    """Consecutive query ranges ``(start, stop)`` of at most about ``chunk_pairs`` pairs each (at least one query
    each), from ``ends``, the running total of pairs per query ``(Q,)`` (a torch tensor or a NumPy array): how
    both searches bound the memory of one pass."""
    n = ends.shape[0]
    cut = 0
    while cut < n:
        limit = (ends[cut - 1] if cut else 0) + chunk_pairs
        if isinstance(ends, Tensor):
            found = int(torch.searchsorted(ends, limit, right=True))
        else:
            found = int(np.searchsorted(ends, limit, side="right"))
        stop = max(cut + 1, found)
        yield cut, stop
        cut = stop


def find_partners_bruteforce(centers: Tensor, candidate: Tensor, query: Tensor, batch: Tensor) -> Tensor:
    """The O(L²) definition of :func:`find_partners` (Foldseek's double loop, row-chunked); test oracle."""
    n = centers.shape[0]
    partner = torch.full((n,), -1, dtype=torch.long, device=centers.device)
    finite = torch.isfinite(centers).all(dim=1)
    bounds = torch.nn.functional.pad(torch.bincount(batch).cumsum(0), (1, 0)).tolist()
    for start, end in itertools.pairwise(bounds):
        qs = (query[start:end] & finite[start:end]).nonzero().squeeze(1) + start
        js = (candidate[start:end] & finite[start:end]).nonzero().squeeze(1) + start
        if qs.numel() == 0 or js.numel() == 0:
            continue
        rows = max(1, _CHUNK_PAIRS // js.numel())
        for k in range(0, qs.numel(), rows):
            qi = qs[k : k + rows]
            d = distance(
                centers[qi].repeat_interleave(js.numel(), 0), centers[js].repeat(qi.numel(), 1)
            ).view(qi.numel(), js.numel())  # (q, c)
            d = d.masked_fill(qi[:, None] == js[None, :], float("inf"))
            dmin, arg = d.min(dim=1)  # first minimum = lowest j
            partner[qi] = torch.where(torch.isfinite(dmin), js[arg], -1)
    return partner


def _neighbour_bound(centers: Tensor, candidate: Tensor, batch: Tensor) -> Tensor:
    """``(N,)`` distance from each residue to its nearest candidate among i±1, i±2 of the same protein (inf if
    none): an upper bound on its partner distance, computed with shifted slices (no pair list)."""
    n = centers.shape[0]
    bound = torch.full((n,), float("inf"), dtype=centers.dtype, device=centers.device)
    for k in (1, 2):
        if n <= k:
            break
        d = distance(centers[k:], centers[:-k])  # (N-k,) between i and i+k
        same = batch[k:] == batch[:-k]
        # i+k is a candidate for i (left part), i is a candidate for i+k (right part).
        left = d.masked_fill(~(same & candidate[k:]), float("inf"))
        right = d.masked_fill(~(same & candidate[:-k]), float("inf"))
        bound[:-k] = torch.minimum(bound[:-k], left)
        bound[k:] = torch.minimum(bound[k:], right)
    return bound


class _CellTable:
    """Candidates sorted by cell id and a dense ``start`` table over every protein's bounding box.

    Cells are ``s/4`` wide along x and ``s`` along y and z (per protein), numbered z, y, x with x fastest, so
    the cells of one (y, z) row of a search box form one contiguous run of sorted candidates.
    """

    def __init__(self, centers: Tensor, cand: Tensor, batch: Tensor, num_proteins: int, cell_size: float):
        device, dtype = centers.device, centers.dtype
        self.centers = centers
        self.batch = batch
        pts = centers[cand]  # (C, 3)
        b = batch[cand]  # (C,)
        inf = torch.full((num_proteins, 3), float("inf"), dtype=dtype, device=device)
        lo = inf.scatter_reduce(0, b[:, None].expand(-1, 3), pts, "amin")  # (B, 3) inf if no candidates
        hi = (-inf).scatter_reduce(0, b[:, None].expand(-1, 3), pts, "amax")
        count = torch.bincount(b, minlength=num_proteins)  # (B,)
        self.origin = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
        extent = torch.where(torch.isfinite(lo), hi - lo, torch.zeros_like(lo))  # (B, 3)
        shape = torch.tensor([1.0 / _X_SPLIT, 1.0, 1.0], dtype=dtype, device=device)
        edge = cell_size * shape.expand(num_proteins, 3).clone()  # (B, 3) cell edges along x, y, z
        budget = (_CELLS_PER_CANDIDATE * count + 256).to(dtype)
        for _ in range(64):  # grow the cells of proteins whose bounding box is huge for their size
            dims = torch.floor(extent / edge).long() + 1  # (B, 3) cells along x, y, z
            cells = dims.prod(dim=1).to(dtype)
            over = cells > budget
            if not bool(over.any()):
                break
            edge = torch.where(
                over[:, None], edge * torch.clamp((cells / budget) ** (1 / 3), min=1.25)[:, None], edge
            )
        self.edge, self.dims = edge, dims
        sizes = dims.prod(dim=1)
        self.base = sizes.cumsum(0) - sizes  # (B,) first cell id of each protein
        self.protein_count = count
        self.extent = float(extent.max())
        self.margin = 1e-7 + 1e-12 * float(pts.abs().max())  # rounding in the cell assignment of boxes
        rel = pts - self.origin[b]  # (C, 3)
        cxyz = torch.floor(rel / edge[b]).long()
        cid = self.base[b] + (cxyz[:, 2] * dims[b, 1] + cxyz[:, 1]) * dims[b, 0] + cxyz[:, 0]
        cid, order = torch.sort(cid)
        self.sorted_cand = cand[order]  # (C,) flat residue index, in cell order
        self.sorted_rel = rel[order]  # (C, 3) coordinates relative to the protein origin, in cell order
        self.sorted_rel32 = self.sorted_rel.to(torch.float32)
        self.sorted_pos = torch.full((centers.shape[0],), -1, dtype=torch.long, device=device)
        self.sorted_pos[self.sorted_cand] = torch.arange(cand.numel(), device=device)  # residue -> sorted
        counts = torch.bincount(cid, minlength=int(sizes.sum()))
        self.start = torch.nn.functional.pad(counts.cumsum(0), (1, 0))  # (cells + 1,)

    def search(self, q: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
        """Queries ``q`` with box half-widths ``radius`` -> (best flat index or −1, settled) per query."""
        qb = self.batch[q]
        rel = self.centers.index_select(0, q) - self.origin.index_select(0, qb)  # (Q, 3) float64
        edge, dims = self.edge.index_select(0, qb), self.dims.index_select(0, qb)  # (Q, 3)
        lo = torch.floor((rel - radius[:, None]) / edge).long().clamp_(min=0)  # (Q, 3) box in cells
        hi = torch.minimum(torch.floor((rel + radius[:, None]) / edge).long(), dims - 1)
        span = (hi - lo + 1).clamp_(min=0)  # (Q, 3) cells per axis inside the table
        covers_all = (span == dims).all(dim=1)  # the box holds every candidate of the protein
        k = max(int(span[:, 1:].max()), 1)  # rows per axis (y, z) this round
        best = torch.full((q.numel(),), -1, dtype=torch.long, device=q.device)
        dmin = torch.full((q.numel(),), float("inf"), dtype=self.centers.dtype, device=q.device)
        rows = max(1, _CHUNK_PAIRS // (4 * k * k))
        for s in range(0, q.numel(), rows):
            part = slice(s, s + rows)
            r_start, r_count = self._runs(qb[part], lo[part], span[part], dims[part], k)
            count = r_count.sum(dim=1)  # (Q,) candidates in each query's box
            for cut, stop in pair_chunks(count.cumsum(0), _CHUNK_PAIRS):
                sub = slice(s + cut, s + stop)
                best[sub], dmin[sub] = self._nearest(
                    q[sub],
                    rel[sub],
                    r_start[cut:stop],
                    r_count[cut:stop],
                    count[cut:stop],
                    float(radius.max()),
                )
        return best, (dmin <= radius - self.margin) | covers_all

    def _runs(self, qb: Tensor, lo: Tensor, span: Tensor, dims: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Start and length (in the sorted list) of the k² row runs of each query's box. ``(Q, k²)`` each.

        Row slot (a, c) is y = lo_y + a, z = lo_z + c, cells lo_x … hi_x: contiguous in the sorted list since x
        varies fastest in cell ids. Slots beyond the box's span get empty runs.
        """
        device = qb.device
        a = torch.arange(k, device=device).repeat(k)  # (k²,)
        c = torch.arange(k, device=device).repeat_interleave(k)
        upto = torch.arange(k + 1, device=device)
        pattern = (a[None, None, :] < upto[:, None, None]) & (c[None, None, :] < upto[None, :, None])
        pattern = pattern.view((k + 1) * (k + 1), k * k).long()  # [span_y (k+1) + span_z] -> slot in box
        run = pattern.index_select(0, span[:, 1] * (k + 1) + span[:, 2]) * span[:, 0:1]  # (Q, k²) cells
        step = (c[None, :] * self.dims[:, 1:2] + a[None, :]) * self.dims[:, 0:1]  # (B, k²) id offset of slot
        corner = self.base.index_select(0, qb) + (lo[:, 2] * dims[:, 1] + lo[:, 1]) * dims[:, 0] + lo[:, 0]
        first = (step.index_select(0, qb) + corner[:, None]).clamp_(max=self.start.numel() - 1)  # (Q, k²)
        r_start = self.start.index_select(0, first.view(-1)).view_as(first)
        r_count = self.start.index_select(0, (first + run).view(-1)).view_as(first) - r_start
        return r_start, r_count

    def _nearest(
        self, q: Tensor, rel: Tensor, r_start: Tensor, r_count: Tensor, count: Tensor, radius: float
    ) -> tuple[Tensor, Tensor]:
        """Nearest candidate (flat index, −1 if none) and its Foldseek distance (inf) over the given runs."""
        device = q.device
        nq = q.numel()
        total = int(count.sum())
        best = torch.full((nq,), -1, dtype=torch.long, device=device)
        if total == 0:
            return best, torch.full((nq,), float("inf"), dtype=self.centers.dtype, device=device)
        # Stage 1 (float32 unless coordinates are huge): every (query, candidate) pair of the runs.
        flat = r_count.view(-1)
        pair_start = flat.cumsum(0) - flat  # (Q k²,) first pair of each run
        pos = torch.repeat_interleave(r_start.view(-1) - pair_start, flat, output_size=total)
        pos += torch.arange(total, device=device)  # (P,) position in the sorted candidate list
        owner = torch.repeat_interleave(torch.arange(nq, device=device), count, output_size=total)  # (P,)
        scale = max(self.extent, float(rel.abs().max()))
        fast = scale < 1e6
        points = self.sorted_rel32 if fast else self.sorted_rel
        diff = points.index_select(0, pos).sub_(rel.to(points.dtype).index_select(0, owner))  # (P, 3)
        diff.mul_(diff)
        d2 = (diff[:, 0] + diff[:, 1]).add_(diff[:, 2])  # (P,) squared distance, (x² + y²) + z²
        own = self.sorted_pos.index_select(
            0, q
        )  # (Q,) the query's own sorted position, -1 if not a candidate
        mine = (own >= 0).nonzero().squeeze(1)
        if mine.numel():  # exclude j == i: the query's own entry lies in the run that contains its position
            in_run = (r_start[mine] <= own[mine, None]) & (own[mine, None] < r_start[mine] + r_count[mine])
            slot = in_run.long().argmax(dim=1)
            run = mine * r_count.shape[1] + slot
            d2.index_fill_(0, pair_start[run] + own[mine] - r_start.view(-1)[run], float("inf"))
        d2min = torch.full((nq,), float("inf"), dtype=d2.dtype, device=device).scatter_reduce_(
            0, owner, d2, "amin"
        )
        # Every pair whose exact distance can be the minimum (or tie with it) lies within ``tol`` of the stage-1
        # minimum: coordinates (|x| <= scale) are rounded once and every difference is bounded by the box.
        unit = 2.0**-24 if fast else 2.0**-53
        tol = unit * (12 * scale + 48 * (radius + float(self.edge.max()))) + 1e-9
        thr = (d2min.double().sqrt() + tol) ** 2 * (1 + 2.0**-20)
        thr = torch.where(torch.isfinite(d2min), thr, torch.full_like(thr, -1.0)).to(d2.dtype)
        near = (d2 <= thr.index_select(0, owner)).nonzero().squeeze(1)  # (K,) usually ~1 per query
        # Stage 2, float64: Foldseek's distance on the survivors; lowest index among equal minima.
        near_owner = owner.index_select(0, near)
        j = self.sorted_cand.index_select(0, pos.index_select(0, near))
        d = distance(
            self.centers.index_select(0, q.index_select(0, near_owner)), self.centers.index_select(0, j)
        )
        dmin = torch.full((nq,), float("inf"), dtype=d.dtype, device=device).scatter_reduce_(
            0, near_owner, d, "amin"
        )
        tie = (d == dmin.index_select(0, near_owner)).nonzero().squeeze(1)
        best_j = torch.full((nq,), _BIG, dtype=torch.long, device=device)
        best_j.scatter_reduce_(0, near_owner.index_select(0, tie), j.index_select(0, tie), "amin")
        return best_j.masked_fill_(~torch.isfinite(dmin), -1), dmin
