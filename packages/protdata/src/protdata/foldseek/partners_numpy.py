"""NumPy implementation of :func:`protdata.foldseek.partners.find_partners` (the CPU path).

Same algorithm, same cell table and the same two-stage exactness argument as the torch version (see
:mod:`protdata.foldseek.partners`, which documents Foldseek's ``findResiduePartners``, structureto3di.cpp:136-157);
only the array library differs. On the CPU NumPy wins for this workload: its element-wise kernels are
single-threaded (no OpenMP barriers, which stall badly when the cores are shared) and its per-call overhead is a
fraction of torch's dispatch, while the work per call is small (tens of thousands of elements). Per-query
minima over the pair list use ``ufunc.at`` (NumPy's indexed fast path) instead of ``scatter_reduce``; queries
are searched in groups by the number of grid rows their box spans.
"""

from __future__ import annotations

import numpy as np

from protdata.foldseek.features import take_rows
from protdata.foldseek.geometry import distance

_X_SPLIT = 4
_CELLS_PER_CANDIDATE = 64
_CHUNK_PAIRS = 1 << 21
_BIG = np.iinfo(np.int64).max
#: Default grid cell edge (Å) of the NumPy search: cells of 9/4 x 9 x 9 Å. Larger than the torch search's
#: (``partners.DEFAULT_CELL_SIZE``): with queries grouped by the rows their box spans, coarser y/z rows (more
#: boxes of 2 x 2 rows instead of 3 x 3) cost less than the extra pairs they bring (measured on the shared
#: chains, ~10 % faster; speed only, every cell size gives the same partners).
NUMPY_CELL_SIZE: float = 9.0
#: Batches of at most this many residues are searched with one dense N x N distance matrix (fewer NumPy calls
#: than the grid for single small chains; exact either way).
DENSE_MAX_RESIDUES: int = 320


def find_partners_numpy(
    centers: np.ndarray,
    candidate: np.ndarray,
    query: np.ndarray,
    batch: np.ndarray,
    *,
    cell_size: float,
    chunk_pairs: int = _CHUNK_PAIRS,
    dense_max: int = DENSE_MAX_RESIDUES,
) -> np.ndarray:
    """``find_partners`` on NumPy arrays: ``(N, 3)`` float64, ``(N,)`` bool, ``(N,)`` bool, ``(N,)`` int64
    (non-decreasing) -> ``(N,)`` int64 flat partner index, −1 where none. Batches of at most ``dense_max``
    residues use :func:`find_partners_dense`."""
    n = centers.shape[0]
    partner = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return partner
    finite = np.isfinite(centers).all(axis=1)  # (N,)
    candidate = candidate & finite
    cand = np.flatnonzero(candidate)  # (C,)
    if cand.size == 0 or not (query & finite).any():
        return partner
    if n <= dense_max:
        return find_partners_dense(centers, candidate, query & finite, batch)
    num_proteins = int(batch[-1]) + 1
    grid = _CellTable(centers, cand, batch, num_proteins, cell_size, chunk_pairs)
    qidx = np.flatnonzero(query & finite & (grid.protein_count[batch] > 0))  # (Q,)
    bound = neighbour_bound(centers, candidate, batch)[qidx]  # (Q,) usually ~5 Å, inf if unknown
    radius = np.minimum(bound, grid.edge[batch[qidx], 1]) + 2 * grid.margin  # (Q,) first-round half-width
    while qidx.size:
        best_j, settled = grid.search(qidx, radius)
        partner[qidx[settled]] = best_j[settled]
        keep = ~settled
        qidx, radius = qidx[keep], 2 * radius[keep]
    return partner


def find_partners_dense(
    centers: np.ndarray, candidate: np.ndarray, query: np.ndarray, batch: np.ndarray
) -> np.ndarray:
    """Foldseek's double loop as one ``(N, N)`` matrix (small batches): the distance formula of
    :func:`~.geometry.distance` per pair, j = i, other proteins and non-candidates excluded; ``argmin`` takes the
    first (lowest j) of equal minima, as Foldseek's strict ``<``. ``candidate`` must exclude non-finite centres."""
    x, y, z = (centers[:, a] for a in range(3))
    dx = x[:, None] - x[None, :]  # (N, N) row i, column j: centre i − centre j
    dy = y[:, None] - y[None, :]
    dz = z[:, None] - z[None, :]
    dx *= dx
    dy *= dy
    dz *= dz
    dx += dy
    dx += dz
    d = np.sqrt(dx, out=dx)
    d[:, ~candidate] = np.inf
    d[batch[:, None] != batch[None, :]] = np.inf
    np.fill_diagonal(d, np.inf)
    best = d.argmin(axis=1)  # (N,)
    found = query & np.isfinite(d[np.arange(d.shape[0]), best])
    return np.where(found, best, -1)


def neighbour_bound(centers: np.ndarray, candidate: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """``(N,)`` distance to the nearest candidate among i±1, i±2 of the same protein (inf if none)."""
    n = centers.shape[0]
    bound = np.full(n, np.inf)
    for k in (1, 2):
        if n <= k:
            break
        d = distance(centers[k:], centers[:-k])  # (N-k,) between i and i+k
        same = batch[k:] == batch[:-k]
        np.minimum(bound[:-k], np.where(same & candidate[k:], d, np.inf), out=bound[:-k])
        np.minimum(bound[k:], np.where(same & candidate[:-k], d, np.inf), out=bound[k:])
    return bound


def _run_positions(first: np.ndarray, length: np.ndarray, pair_start: np.ndarray, total: int) -> np.ndarray:
    """``concatenate([arange(f, f + n) for f, n in zip(first, length)])`` for non-empty runs, as one cumulative
    sum of unit steps and the jumps between runs (faster than ``np.repeat`` here, and it releases the GIL)."""
    step = np.ones(total, dtype=np.int64)
    jump = np.empty(
        first.size, dtype=np.int64
    )  # (R,) from the last position of run r-1 to the first of run r
    jump[0] = first[0]
    np.subtract(first[1:], first[:-1] + length[:-1] - 1, out=jump[1:])
    np.put(step, pair_start, jump)
    return np.cumsum(step, out=step)


def _segment_starts(owner_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty segments of a list grouped by owner: (owners with ≥ 1 element, their first element)."""
    ends = np.cumsum(owner_counts)
    nonempty = np.flatnonzero(owner_counts)
    return nonempty, (ends - owner_counts)[nonempty]


class _CellTable:
    """Candidates sorted by cell id (z, y, x; x fastest) and a dense ``start`` table (as in :mod:`.partners`)."""

    def __init__(
        self,
        centers: np.ndarray,
        cand: np.ndarray,
        batch: np.ndarray,
        num_proteins: int,
        cell_size: float,
        chunk_pairs: int,
    ) -> None:
        self.centers = centers
        self.batch = batch
        self.chunk_pairs = chunk_pairs
        pts = centers[cand]  # (C, 3)
        b = batch[cand]  # (C,) non-decreasing
        count = np.bincount(b, minlength=num_proteins)  # (B,)
        present, first = _segment_starts(count)
        lo = np.full((num_proteins, 3), np.inf)
        hi = np.full((num_proteins, 3), -np.inf)
        lo[present] = np.minimum.reduceat(pts, first, axis=0)
        hi[present] = np.maximum.reduceat(pts, first, axis=0)
        has = np.isfinite(lo)
        self.origin = np.where(has, lo, 0.0)
        extent = np.where(has, hi - lo, 0.0)  # (B, 3)
        edge = np.tile(cell_size * np.array([1.0 / _X_SPLIT, 1.0, 1.0]), (num_proteins, 1))  # (B, 3)
        budget = (_CELLS_PER_CANDIDATE * count + 256).astype(np.float64)
        for _ in range(64):  # grow the cells of proteins whose bounding box is huge for their size
            dims = np.floor(extent / edge).astype(np.int64) + 1  # (B, 3) cells along x, y, z
            cells = dims.prod(axis=1).astype(np.float64)
            over = cells > budget
            if not over.any():
                break
            grow = np.maximum((cells / budget) ** (1 / 3), 1.25)
            edge = np.where(over[:, None], edge * grow[:, None], edge)
        self.edge, self.dims = edge, dims
        sizes = dims.prod(axis=1)
        self.base = np.cumsum(sizes) - sizes  # (B,) first cell id of each protein
        self.protein_count = count
        self.extent = float(extent.max())
        self.margin = 1e-7 + 1e-12 * float(np.abs(pts).max())  # rounding in the cell assignment of boxes
        rel = pts - self.origin[b]  # (C, 3)
        cxyz = np.floor(rel / edge[b]).astype(np.int64)
        db = dims[b]
        cid = self.base[b] + (cxyz[:, 2] * db[:, 1] + cxyz[:, 1]) * db[:, 0] + cxyz[:, 0]
        order = np.argsort(cid)  # the order within a cell does not matter (ties are settled by index)
        self.sorted_cand = cand[order]  # (C,) flat residue index, in cell order
        sorted_rel = rel[order]  # (C, 3) relative to the protein origin, in cell order
        self._sorted_rel = sorted_rel
        self._packed: dict[type, np.ndarray] = {}
        self.sorted_pos = np.full(centers.shape[0], -1, dtype=np.int64)
        self.sorted_pos[self.sorted_cand] = np.arange(cand.size)  # residue -> sorted position
        counts = np.bincount(cid, minlength=int(sizes.sum()))
        self.start = np.zeros(counts.size + 1, dtype=np.int64)  # (cells + 1,)
        np.cumsum(counts, out=self.start[1:])

    def packed(self, dtype: type) -> np.ndarray:
        """Sorted candidates' relative coordinates as ``(C, 4)`` rows of ``dtype`` (x, y, z, 0): one ``take`` per
        pair gathers a whole point."""
        if dtype not in self._packed:
            rows = np.zeros((self._sorted_rel.shape[0], 4), dtype=dtype)
            rows[:, :3] = self._sorted_rel
            self._packed[dtype] = rows
        return self._packed[dtype]

    def search(self, q: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Queries ``q`` with box half-widths ``radius`` -> (best flat index or −1, settled) per query."""
        qb = self.batch[q]
        rel = take_rows(self.centers, q) - np.take(self.origin, qb, axis=0)  # (Q, 3) float64
        edge, dims = np.take(self.edge, qb, axis=0), np.take(self.dims, qb, axis=0)  # (Q, 3)
        lo = np.maximum(np.floor((rel - radius[:, None]) / edge).astype(np.int64), 0)  # (Q, 3) box in cells
        hi = np.minimum(np.floor((rel + radius[:, None]) / edge).astype(np.int64), dims - 1)
        span = np.maximum(hi - lo + 1, 0)  # (Q, 3) cells per axis inside the table
        covers_all = (span == dims).all(axis=1)  # the box holds every candidate of the protein
        # Queries grouped by rows per axis (y, z) of their box: a group of k has k² row slots per query.
        kq = np.maximum(np.maximum(span[:, 1], span[:, 2]), 1)  # (Q,)
        sizes = np.bincount(kq)
        if np.count_nonzero(sizes) == 1:
            best, dmin = self._search_block(q, radius, qb, rel, lo, span, dims, int(kq[0]))
        else:
            best = np.empty(q.size, dtype=np.int64)
            dmin = np.empty(q.size)
            for k in np.flatnonzero(sizes).tolist():
                g = np.flatnonzero(kq == k)
                part = [np.take(x, g, axis=0) for x in (q, radius, qb, rel, lo, span, dims)]
                best[g], dmin[g] = self._search_block(*part, k)
        return best, (dmin <= radius - self.margin) | covers_all

    def _search_block(
        self,
        q: np.ndarray,
        radius: np.ndarray,
        qb: np.ndarray,
        rel: np.ndarray,
        lo: np.ndarray,
        span: np.ndarray,
        dims: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest candidate (flat index or −1) and its distance for queries whose boxes span ≤ k rows per
        axis (y, z), in chunks of about ``chunk_pairs`` pairs."""
        best = np.full(q.size, -1, dtype=np.int64)
        dmin = np.full(q.size, np.inf)
        rows = max(1, self.chunk_pairs // (4 * k * k))
        for s in range(0, q.size, rows):
            part = slice(s, s + rows)
            r_start, r_count, count = self._runs(qb[part], lo[part], span[part], dims[part], k)
            ends = np.cumsum(count)
            cut = 0
            while cut < count.size:  # sub-chunks of at most ~chunk_pairs pairs (>= 1 query)
                limit = (ends[cut - 1] if cut else 0) + self.chunk_pairs
                stop = max(cut + 1, int(np.searchsorted(ends, limit, side="right")))
                sub = slice(s + cut, s + stop)
                best[sub], dmin[sub] = self._nearest(
                    q[sub],
                    rel[sub],
                    r_start[cut:stop],
                    r_count[cut:stop],
                    count[cut:stop],
                    float(radius.max()),
                )
                cut = stop
        return best, dmin

    def _runs(
        self, qb: np.ndarray, lo: np.ndarray, span: np.ndarray, dims: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start and length (in the sorted list) of the k² row runs of each query's box, ``(Q, k²)`` each, and the
        number of candidates in each box ``(Q,)``.

        Row slot (a, c) is y = lo_y + a, z = lo_z + c, cells lo_x … hi_x: contiguous in the sorted list since x
        varies fastest in cell ids; slots beyond the box's span get empty runs. Computed slot-major (each
        operation runs over one contiguous ``(Q,)`` row per slot), returned query-major.
        """
        a = np.tile(np.arange(k), k)[:, None]  # (k², 1) y offset of each slot
        c = np.repeat(np.arange(k), k)[:, None]  # (k², 1) z offset
        dx = dims[:, 0]
        inside = (a < span[:, 1]) & (c < span[:, 2])  # (k², Q)
        corner = (
            self.base[qb] + (lo[:, 2] * dims[:, 1] + lo[:, 1]) * dx + lo[:, 0]
        )  # (Q,) first cell of the box
        first = (c * dx) * dims[:, 1] + a * dx + corner  # (k², Q) first cell of each row run
        last = first + inside * span[:, 0]  # (k², Q) one past its last cell
        top = self.start.size - 1
        r_start = np.take(self.start, np.minimum(first, top, out=first))
        r_count = np.take(self.start, np.minimum(last, top, out=last)) - r_start
        count = r_count.sum(axis=0)  # (Q,)
        return np.ascontiguousarray(r_start.T), np.ascontiguousarray(r_count.T), count

    def _nearest(
        self,
        q: np.ndarray,
        rel: np.ndarray,
        r_start: np.ndarray,
        r_count: np.ndarray,
        count: np.ndarray,
        radius: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest candidate (flat index, −1 if none) and its Foldseek distance (inf) over the given runs."""
        nq = q.size
        total = int(count.sum())
        best = np.full(nq, -1, dtype=np.int64)
        dmin = np.full(nq, np.inf)
        if total == 0:
            return best, dmin
        # The non-empty runs, query by query: pair p of run r is sorted candidate r_start[r] + (p - pair_start[r]).
        flat = r_count.ravel()
        run = np.flatnonzero(flat)  # (R,) run index q * k² + slot
        length, first = flat[run], r_start.ravel()[run]  # (R,)
        pair_start = np.cumsum(length) - length  # (R,) first pair of each run
        pos = _run_positions(first, length, pair_start, total)  # (P,) sorted candidate of each pair, by query
        # Stage 1 (float32 unless coordinates are huge): squared distance (x² + y²) + z² of every pair, on
        # (x, y, z, 0) rows (one gather per pair for the candidate and one for its query).
        scale = max(self.extent, float(np.abs(rel).max()))
        fast = scale < 1e6
        dtype = np.float32 if fast else np.float64
        query_rows = np.zeros((nq, 4), dtype=dtype)
        query_rows[:, :3] = rel
        diff = np.take(self.packed(dtype), pos, axis=0)  # (P, 4)
        owner = np.repeat(np.arange(nq), count)  # (P,) query of each pair
        diff -= np.take(query_rows, owner, axis=0)
        diff *= diff
        d2 = diff[:, 0] + diff[:, 1]  # (P,)
        d2 += diff[:, 2]
        # Exclude j == i: the query's own entry (if it is a candidate) lies in exactly one of its runs.
        own = self.sorted_pos[q][run // r_count.shape[1]]  # (R,) own sorted position of each run's query
        hit = np.flatnonzero((first <= own) & (own < first + length))
        d2[pair_start[hit] + own[hit] - first[hit]] = np.inf
        # Segment minima with ``ufunc.at`` (NumPy's indexed fast path): ``reduceat`` pays a fixed cost per
        # segment, and the segments here are ~10 pairs long.
        d2min = np.full(nq, np.inf, dtype=dtype)
        np.minimum.at(d2min, owner, d2)
        # Every pair whose exact distance can be the minimum (or tie with it) lies within ``tol`` of the stage-1
        # minimum (the bound of :mod:`.partners`).
        unit = 2.0**-24 if fast else 2.0**-53
        tol = unit * (12 * scale + 48 * (radius + float(self.edge.max()))) + 1e-9
        thr = (np.sqrt(d2min.astype(np.float64)) + tol) ** 2 * (1 + 2.0**-20)
        thr = np.where(np.isfinite(d2min), thr, -1.0).astype(dtype)
        near = np.flatnonzero(d2 <= np.take(thr, owner))  # (K,) usually ~1 per query, query-sorted
        if near.size == 0:
            return best, dmin
        # Stage 2, float64: Foldseek's distance on the survivors; lowest index among equal minima.
        near_owner = owner[near]  # (K,) query of each survivor
        j = self.sorted_cand[pos[near]]
        d = distance(take_rows(self.centers, q[near_owner]), take_rows(self.centers, j))  # (K,)
        np.minimum.at(dmin, near_owner, d)  # (d is never NaN: both centres are finite)
        tie = np.flatnonzero(d == np.take(dmin, near_owner))
        best_j = np.full(nq, _BIG, dtype=np.int64)
        np.minimum.at(best_j, near_owner[tie], j[tie])
        found = np.isfinite(dmin)
        best[found] = best_j[found]
        return best, dmin
