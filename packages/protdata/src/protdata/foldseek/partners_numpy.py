"""NumPy implementation of :func:`protdata.foldseek.partners.find_partners` (the CPU path).

Same algorithm, same cell table and the same two-stage exactness argument as the torch version (see
:mod:`protdata.foldseek.partners`, which documents Foldseek's ``findResiduePartners``, structureto3di.cpp:136-157);
only the array library differs. On the CPU NumPy wins for this workload: its element-wise kernels are
single-threaded (no OpenMP barriers, which stall badly when the cores are shared) and its per-call overhead is a
fraction of torch's dispatch, while the work per call is small (tens of thousands of elements). Per-query
minima over the pair list use ``ufunc.at`` (NumPy's indexed fast path) instead of ``scatter_reduce``; queries
are searched in groups by the number of grid rows their box spans. Written for few passes over the pair list:
the pair positions are one ``np.repeat`` over every row slot (empty ones included), the query's own entry is
found from its own row slot (no per-run test), and a query whose float32 minimum is the only pair within the
rounding tolerance (nearly all) takes it without the float64 re-measure, its distance bounded by
``sqrt(d2min) + tol`` for the settled test (first-round boxes are widened by 2⁻¹⁰ of the bound for that).
Per-query ``(Q, 3)`` arrays are column-major, so that operations against ``(Q, 1)`` run down whole columns.
"""

from __future__ import annotations

import functools

import numpy as np

from protdata.errors import ProtdataError
from protdata.foldseek.features import take_rows
from protdata.foldseek.geometry import distance
from protdata.foldseek.partners import pair_chunks

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
#: than the grid for single small chains; exact either way). Measured crossover of a whole single-chain
#: encoding on 2 cores: dense 1.03 ms vs grid 1.10-1.14 ms at 280 residues, 1.62 vs 1.14-1.17 at 300.
DENSE_MAX_RESIDUES: int = 288


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
    # (Q,) first-round half-width, a little wider than the bound: the nearest candidate is often the neighbour
    # that gave the bound, and a query is settled from float32 distances (lone survivors, see ``_nearest``)
    # only with the rounding tolerance to spare.
    radius = np.minimum(bound, grid.edge[batch[qidx], 1]) * (1 + 2.0**-10) + 2 * grid.margin
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
        pts = take_rows(centers, cand)  # (C, 3)
        b = np.take(batch, cand)  # (C,) non-decreasing
        count = np.bincount(b, minlength=num_proteins)  # (B,)
        present, first = _segment_starts(count)
        lo = np.full((num_proteins, 3), np.inf)
        hi = np.full((num_proteins, 3), -np.inf)
        lo[present] = np.minimum.reduceat(pts, first, axis=0)
        hi[present] = np.maximum.reduceat(pts, first, axis=0)
        has = np.isfinite(lo)
        self.origin = np.asfortranarray(np.where(has, lo, 0.0))  # (B, 3) column-major
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
        self.edge, self.dims = np.asfortranarray(edge), np.asfortranarray(dims)  # (B, 3) column-major
        sizes = dims.prod(axis=1)
        self.base = np.cumsum(sizes) - sizes  # (B,) first cell id of each protein
        self.protein_count = count
        self.extent = float(extent.max())
        self.margin = 1e-7 + 1e-12 * float(np.abs(pts).max())  # rounding in the cell assignment of boxes
        rel = pts - np.repeat(self.origin, count, axis=0)  # (C, 3) (``b`` is sorted)
        cxyz = np.floor(rel / np.repeat(edge, count, axis=0)).astype(np.int64)  # (C, 3) cell along x, y, z
        stride = np.stack([self.base, dims[:, 0], dims[:, 0] * dims[:, 1]], axis=1)  # (B, 3) base, y, z steps
        stride = np.repeat(stride, count, axis=0)  # (C, 3)
        cid = stride[:, 0] + cxyz[:, 2] * stride[:, 2] + cxyz[:, 1] * stride[:, 1] + cxyz[:, 0]  # (C,)
        order = np.argsort(cid)  # the order within a cell does not matter (ties are settled by index)
        self.sorted_cand = np.take(cand, order)  # (C,) flat residue index, in cell order
        self._rel, self._order = rel, order
        self._packed: dict[type, np.ndarray] = {}
        self.sorted_pos = np.full(centers.shape[0], -1, dtype=np.int64)
        self.sorted_pos[self.sorted_cand] = _arange(cand.size)  # residue -> sorted position
        counts = np.bincount(cid, minlength=int(sizes.sum()))
        self.start = np.empty(counts.size + 1, dtype=np.int64)  # (cells + 1,)
        self.start[0] = 0
        np.cumsum(counts, out=self.start[1:])

    def packed(self, dtype: type) -> np.ndarray:
        """Sorted candidates' coordinates relative to their protein's origin as ``(C, 4)`` rows of ``dtype``
        (x, y, z, 0): one ``take`` per pair gathers a whole point."""
        if dtype not in self._packed:
            rows = np.empty((self._rel.shape[0], 4), dtype=dtype)
            rows[:, :3] = np.take(self._rel, self._order, axis=0)
            rows[:, 3] = 0
            self._packed[dtype] = rows
        return self._packed[dtype]

    def search(self, q: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Queries ``q`` with box half-widths ``radius`` -> (best flat index or −1, settled) per query."""
        # (Q, 3) arrays are column-major: each operation runs down whole columns (also against ``radius``).
        qb = np.take(self.batch, q)
        rel = take_rows(self.centers, q) - take_rows(self.origin, qb)  # (Q, 3) float64
        edge, dims = take_rows(self.edge, qb), take_rows(self.dims, qb)  # (Q, 3)
        lo = np.maximum(np.floor((rel - radius[:, None]) / edge).astype(np.int64), 0)  # (Q, 3) box in cells
        hi = np.minimum(np.floor((rel + radius[:, None]) / edge).astype(np.int64), dims - 1)
        span = np.maximum(hi - lo + 1, 0)  # (Q, 3) cells per axis inside the table
        own = np.take(self.sorted_pos, q)  # (Q,) the query's own sorted position, −1 if not a candidate
        # Row of the query's own cell within its box (y, z): the cell assignment of the table, so a query that
        # is a candidate finds itself in that row's run (excluded there, j ≠ i).
        own_row = np.floor(rel[:, 1:] / edge[:, 1:]).astype(np.int64) - lo[:, 1:]  # (Q, 2)
        # Queries grouped by rows per axis (y, z) of their box: a group of k has k² row slots per query (boxes
        # of one row share the k = 2 group: a few empty slots cost less than one more group).
        kq = np.maximum(np.maximum(span[:, 1], span[:, 2]), 2)  # (Q,)
        sizes = np.bincount(kq)
        fields = (q, radius, rel, lo, span, dims, own, own_row, qb)
        if np.count_nonzero(sizes) == 1:
            best, dmin = self._search_block(*fields, int(kq[0]))
        else:
            best = np.empty(q.size, dtype=np.int64)
            dmin = np.empty(q.size)
            for k in np.flatnonzero(sizes).tolist():
                g = np.flatnonzero(kq == k)
                best[g], dmin[g] = self._search_block(*(take_rows(x, g) for x in fields), k)
        settled = dmin <= radius - self.margin
        rest = np.flatnonzero(~settled)
        if rest.size:  # a box that holds every candidate of its protein settles its query too
            settled[rest] = (np.take(span, rest, axis=0) == np.take(dims, rest, axis=0)).all(axis=1)
        return best, settled

    def _search_block(
        self,
        q: np.ndarray,
        radius: np.ndarray,
        rel: np.ndarray,
        lo: np.ndarray,
        span: np.ndarray,
        dims: np.ndarray,
        own: np.ndarray,
        own_row: np.ndarray,
        qb: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest candidate (flat index or −1) and its distance for queries whose boxes span ≤ k rows per
        axis (y, z), in chunks of about ``chunk_pairs`` pairs."""
        best = np.full(q.size, -1, dtype=np.int64)
        dmin = np.full(q.size, np.inf)
        own_slot = own_row[:, 1] * k + own_row[:, 0]  # (Q,) slot of the query's own row
        rows = max(1, self.chunk_pairs // (4 * k * k))
        for s in range(0, q.size, rows):
            part = slice(s, s + rows)
            r_start, r_count, count = self._runs(qb[part], lo[part], span[part], dims[part], k)
            for cut, stop in pair_chunks(np.cumsum(count), self.chunk_pairs):
                sub = slice(s + cut, s + stop)
                best[sub], dmin[sub] = self._nearest(
                    q[sub],
                    rel[sub],
                    own[sub],
                    own_slot[sub],
                    r_start[cut:stop],
                    r_count[cut:stop],
                    count[cut:stop],
                    float(radius.max()),
                )
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
        a, c = _slot_offsets(k)  # (k², 1) y and z offset of each slot
        dx = dims[:, 0]
        row = dims[:, 1] * dx  # (Q,) cells per z layer
        corner = (
            np.take(self.base, qb) + lo[:, 2] * row + lo[:, 1] * dx + lo[:, 0]
        )  # (Q,) first cell of the box
        first = c * row + a * dx + corner  # (k², Q) first cell of each row run
        inside = (a < span[:, 1]) & (c < span[:, 2])  # (k², Q)
        last = first + inside * span[:, 0]  # (k², Q) one past its last cell
        r_start = np.take(self.start, first, mode="clip")  # rows outside the table: empty (last == first)
        r_count = np.take(self.start, last, mode="clip")
        r_count -= r_start
        count = r_count.sum(axis=0)  # (Q,)
        return np.ascontiguousarray(r_start.T), np.ascontiguousarray(r_count.T), count

    def _nearest(
        self,
        q: np.ndarray,
        rel: np.ndarray,
        own: np.ndarray,
        own_slot: np.ndarray,
        r_start: np.ndarray,
        r_count: np.ndarray,
        count: np.ndarray,
        radius: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest candidate (flat index, −1 if none) over the given runs, and its Foldseek distance or an upper
        bound on it (inf if none): what the settled test needs."""
        nq, slots = r_count.shape
        best = np.full(nq, -1, dtype=np.int64)
        dmin = np.full(nq, np.inf)
        # Pair p of run r (query-major, slot by slot) is sorted candidate r_start[r] + (p − pair_start[r]).
        flat = r_count.ravel()  # (Q k²,)
        pair_start = np.cumsum(flat)
        total = int(pair_start[-1])
        if total == 0:
            return best, dmin
        pair_start -= flat  # (Q k²,) first pair of each run
        flat_start = r_start.ravel()
        pos = np.repeat(flat_start - pair_start, flat)  # (P,) sorted candidate of each pair, by query
        pos += _arange(total)
        owner = np.repeat(_arange(nq), count)  # (P,) query of each pair (``count``: pairs per query)
        # Stage 1 (float32 unless coordinates are huge): squared distance (x² + y²) + z² of every pair, on
        # (x, y, z, 0) rows (one gather per pair for the candidate and one for its query).
        scale = max(self.extent, float(np.abs(rel).max()))
        fast = scale < 1e6
        dtype = np.float32 if fast else np.float64
        query_rows = np.zeros((nq, 4), dtype=dtype)
        query_rows[:, :3] = rel
        diff = np.take(self.packed(dtype), pos, axis=0)  # (P, 4)
        diff -= np.take(query_rows, owner, axis=0)
        diff *= diff
        d2 = diff[:, 0] + diff[:, 1]  # (P,)
        d2 += diff[:, 2]
        # Exclude j == i: a query that is a candidate lies in the run of its own row slot.
        mine = np.flatnonzero(own >= 0)
        run = mine * slots + np.take(own_slot, mine)
        offset = np.take(own, mine) - np.take(flat_start, run)  # (Q',) position of the query in its run
        if ((offset < 0) | (offset >= np.take(flat, run))).any():  # the table's cell assignment, recomputed
            raise ProtdataError(
                None, "3Di partner search: a query is not in its own grid row (internal error)"
            )
        d2[np.take(pair_start, run) + offset] = np.inf
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
        near_owner = np.take(owner, near)  # (K,) query of each survivor (non-decreasing)
        j = np.take(self.sorted_cand, np.take(pos, near))  # (K,) flat index of each survivor
        # A lone survivor is its query's nearest candidate in the box and ties with none (a tie would survive
        # too); its Foldseek distance is at most sqrt(d2min) + tol, an upper bound that serves the settled test
        # (dmin <= radius - margin) as well as the distance itself. Nearly every query has one survivor.
        shared = near_owner[1:] == near_owner[:-1]  # (K-1,) survivor k+1 has the query of survivor k
        lone = np.ones(near.size, dtype=bool)
        lone[1:] &= ~shared
        lone[:-1] &= ~shared
        one = np.flatnonzero(lone) if not lone.all() else slice(None)
        owner_one = near_owner[one]
        best[owner_one] = j[one]
        dmin[owner_one] = (np.sqrt(np.take(d2min, owner_one).astype(np.float64)) + tol) * (1 + 2.0**-20)
        if isinstance(one, slice):
            return best, dmin
        # Stage 2 for queries with several survivors, float64: Foldseek's distance; the lowest index among
        # equal minima.
        many = np.flatnonzero(~lone)  # (K',)
        near_owner, j = near_owner[many], j[many]
        d = distance(take_rows(self.centers, np.take(q, near_owner)), take_rows(self.centers, j))  # (K',)
        np.minimum.at(dmin, near_owner, d)  # (d is never NaN: both centres are finite)
        tie = np.flatnonzero(d == np.take(dmin, near_owner))
        best_j = np.full(nq, _BIG, dtype=np.int64)
        np.minimum.at(best_j, near_owner[tie], j[tie])
        multi = np.unique(near_owner)
        best[multi] = best_j[multi]
        return best, dmin


@functools.lru_cache(maxsize=16)
def _slot_offsets(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row offsets (y, z) of the k² slots of a box, ``(k², 1)`` each: slot ``c * k + a`` is row (a, c)."""
    a = np.tile(np.arange(k), k)[:, None]
    c = np.repeat(np.arange(k), k)[:, None]
    a.flags.writeable = c.flags.writeable = False
    return a, c


def _arange(n: int) -> np.ndarray:
    """``np.arange(n)`` (int64) as a read-only view of a cached, grown-on-demand array (thread-safe: a caller
    slices the array it checked)."""
    global _ARANGE
    values = _ARANGE
    if values.size < n:
        values = np.arange(max(n, 2 * values.size))
        values.flags.writeable = False
        _ARANGE = values
    return values[:n]


_ARANGE = np.arange(1 << 16)
_ARANGE.flags.writeable = False
