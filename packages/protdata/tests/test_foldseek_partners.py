"""The linear-time partner search equals the O(L²) definition exactly.

Truths: Foldseek's ``findResiduePartners`` double loop transcribed literally in plain Python floats (IEEE
double, strict ``<``, the valid mask updated as the loop goes), and :func:`find_partners_bruteforce` (the same
definition, vectorised). Inputs: every chain of every model of the shared structures, AlphaFold DB models,
long chains built from them (up to ~6,000 residues), superposed copies (exact distance ties), integer lattices
(massive ties), NaN centres, isolated residues (the no-partner and far-partner fallbacks).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, load_chains
from protdata.foldseek import encode_backbone, find_partners, find_partners_bruteforce
from protdata.foldseek.partners import _neighbour_bound, pair_chunks
from protdata.foldseek.partners_numpy import find_partners_numpy, neighbour_bound
from protdata.testing import shared_data


def foldseek_loop(centers: np.ndarray, valid: np.ndarray) -> tuple[list[int], list[bool]]:
    """``StructureTo3DiBase::findResiduePartners`` line by line, for one protein (positions 0 … L-1)."""
    n = len(centers)
    valid = [bool(v) for v in valid]
    partner = [-1] * n
    for i in range(1, n - 1):
        best = math.inf
        for j in range(1, n - 1):
            if i != j and valid[j]:
                dx, dy, dz = (float(centers[i][k]) - float(centers[j][k]) for k in range(3))
                dist = math.sqrt(dx * dx + dy * dy + dz * dz)
                if dist < best:
                    best = dist
                    partner[i] = j
        if partner[i] == -1:
            valid[i] = False
    return partner, valid


def flat_inputs(lengths: list[int], centers: torch.Tensor, valid: torch.Tensor):
    lengths_t = torch.tensor(lengths)
    batch = torch.repeat_interleave(torch.arange(len(lengths)), lengths_t)
    position = torch.arange(len(batch)) - (lengths_t.cumsum(0) - lengths_t)[batch]
    interior = (position > 0) & (position < lengths_t[batch] - 1)
    return batch, interior, valid & interior


def numpy_partners(
    centers: torch.Tensor, candidate: torch.Tensor, query: torch.Tensor, batch: torch.Tensor, **kwargs
) -> torch.Tensor:
    """The NumPy search (the CPU path), grid only (``dense_max=0``) unless ``dense_max`` is given."""
    kwargs.setdefault("cell_size", 6.5)
    kwargs.setdefault("dense_max", 0)
    args = (centers.numpy(), candidate.numpy(), query.numpy(), batch.numpy())
    with np.errstate(all="ignore"):
        return torch.from_numpy(find_partners_numpy(*args, **kwargs))


def assert_numpy_paths_equal(expected: torch.Tensor, *args: torch.Tensor, **kwargs) -> None:
    """Grid and dense NumPy searches both give ``expected``."""
    assert torch.equal(numpy_partners(*args, **kwargs), expected)
    if args[0].shape[0] <= 4000:
        assert torch.equal(numpy_partners(*args, dense_max=1 << 30), expected)


def check_against_loop(
    lengths: list[int], centers: torch.Tensor, valid: torch.Tensor, cell_size: float
) -> None:
    batch, interior, candidate = flat_inputs(lengths, centers, valid)
    got = find_partners(centers, candidate, interior, batch, cell_size=cell_size)
    assert torch.equal(got, find_partners_bruteforce(centers, candidate, interior, batch))
    assert_numpy_paths_equal(got, centers, candidate, interior, batch, cell_size=cell_size)
    start = 0
    for length in lengths:
        part = slice(start, start + length)
        partner, still_valid = foldseek_loop(centers[part].tolist(), valid[part].numpy())
        for i in range(1, length - 1):
            if still_valid[i]:  # the partner of every residue that stays valid is Foldseek's
                assert int(got[start + i]) - start == partner[i]
            elif valid[start + i]:  # valid atoms but no partner: none found here either
                assert int(got[start + i]) == -1
        start += length


@pytest.mark.parametrize("seed", range(6))
def test_matches_foldseek_loop_on_lattices_with_ties(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    lengths = [int(x) for x in torch.randint(1, 60, (4,), generator=gen)]
    n = sum(lengths)
    side = int(torch.randint(2, 6, (1,), generator=gen))
    centers = torch.randint(0, side, (n, 3), generator=gen).double() * 1.5  # many exact distance ties
    valid = torch.rand(n, generator=gen) < 0.8
    centers[torch.rand(n, generator=gen) < 0.05] = float("nan")  # a NaN centre is never a partner
    for cell_size in (0.4, 1.0, 6.5, 9.0, 100.0):
        check_against_loop(lengths, centers, valid, cell_size)


def test_matches_foldseek_loop_on_real_chain() -> None:
    (protein,) = load_chains(shared_data("foldseek", "structures", "1aki.cif"))
    trace = encode_backbone(
        torch.from_numpy(protein.coords), torch.from_numpy(protein.atom_mask), torch.tensor([len(protein)])
    )
    valid = torch.from_numpy(protein.atom_mask[:, [0, 1, 2]].all(axis=1))
    check_against_loop([len(protein)], trace.virtual_center, valid, 6.5)


def test_isolated_residues_fall_back_exactly() -> None:
    """Clusters hundreds of Å apart and lone residues: boxes must grow until they hold the true partner."""
    gen = torch.Generator().manual_seed(7)
    blobs = [torch.randn(12, 3, generator=gen, dtype=torch.float64) * 3 + 400.0 * k for k in range(5)]
    centers = torch.cat(
        [*blobs, torch.tensor([[-3000.0, 5.0, 5.0], [9000.0, -70.0, 2.0]], dtype=torch.float64)]
    )
    perm = torch.randperm(len(centers), generator=gen)
    centers = centers[perm]
    valid = torch.ones(len(centers), dtype=torch.bool)
    for cell_size in (0.5, 6.5):
        check_against_loop([len(centers)], centers, valid, cell_size)
        check_against_loop([10, len(centers) - 10], centers, valid, cell_size)


def test_no_candidates_means_no_partner() -> None:
    centers = torch.randn(20, 3, dtype=torch.float64)
    batch, interior, _ = flat_inputs([20], centers, torch.ones(20, dtype=torch.bool))
    none = torch.zeros(20, dtype=torch.bool)
    assert (find_partners(centers, none, interior, batch) == -1).all()
    assert (numpy_partners(centers, none, interior, batch) == -1).all()
    one = none.clone()
    one[5] = True  # the only candidate has no partner itself; everyone else gets it
    got = find_partners(centers, one, interior, batch)
    assert int(got[5]) == -1
    assert (got[interior & ~one] == 5).all()
    assert_numpy_paths_equal(got, centers, one, interior, batch)


@functools.cache
def real_proteins() -> tuple:
    """Every chain of every model of the Foldseek reference entries, plus the AlphaFold DB models."""
    files = sorted(shared_data("foldseek", "structures").glob("*.cif"))
    folder = shared_data("structures", "alphafold_db")
    files += sorted(folder.glob("*.pdb")) + sorted(folder.glob("*.cif"))
    proteins = []
    for path in files:
        try:
            proteins += load_chains(path, model="all")
        except ValueError:
            continue  # a file without protein chains (4gxy)
    return tuple(proteins)


def batch_inputs(proteins: list):
    batch = ProteinBatch.collate(proteins)
    trace = encode_backbone(batch.coords, batch.atom_mask, batch.lengths)
    valid = batch.atom_mask[:, :3].all(dim=1)
    interior = (batch.position > 0) & (batch.position < batch.lengths[batch.batch] - 1)
    return trace.virtual_center, valid & interior, interior, batch.batch


def test_grid_equals_bruteforce_on_every_shared_structure() -> None:
    proteins = list(real_proteins())
    assert len(proteins) > 90 and max(len(p) for p in proteins) > 800
    centers, candidate, query, batch = batch_inputs(proteins)
    got = find_partners(centers, candidate, query, batch)
    assert torch.equal(got, find_partners_bruteforce(centers, candidate, query, batch))
    assert (got[query & candidate] >= 0).all()
    assert_numpy_paths_equal(got, centers, candidate, query, batch)


def long_chain(proteins: list, target: int, *, spacing: float) -> Protein:
    """One long chain: real chains placed side by side ``spacing`` Å apart (0 = superposed copies)."""
    parts, size, k = [], 0, 0
    while size < target:
        p = proteins[k % len(proteins)]
        parts.append((p, np.array([spacing * (k % 7), spacing * (k // 7), 0.0], dtype=np.float32)))
        size += len(p)
        k += 1
    coords = np.concatenate([p.coords + shift for p, shift in parts])
    mask = np.concatenate([p.atom_mask for p, _ in parts])
    seq = "".join(p.sequence for p, _ in parts)
    return Protein(id="long", sequence=seq, coords=coords, atom_mask=mask)


def test_grid_equals_bruteforce_on_long_chains() -> None:
    proteins = [p for p in real_proteins() if len(p) > 150]
    chains = [long_chain(proteins, 6000, spacing=60.0), long_chain(proteins[:2], 3000, spacing=0.0)]
    centers, candidate, query, batch = batch_inputs(chains)
    got = find_partners(centers, candidate, query, batch)
    assert torch.equal(got, find_partners_bruteforce(centers, candidate, query, batch))
    assert_numpy_paths_equal(got, centers, candidate, query, batch)


def test_neighbour_bound_is_an_upper_bound() -> None:
    proteins = list(real_proteins())
    centers, candidate, query, batch = batch_inputs(proteins)
    partner = find_partners(centers, candidate, query, batch)
    bound = _neighbour_bound(centers, candidate, batch)
    assert torch.equal(
        torch.from_numpy(neighbour_bound(centers.numpy(), candidate.numpy(), batch.numpy())), bound
    )
    has = partner >= 0
    d = (centers[has] - centers[partner[has]]).norm(dim=1)
    assert (d <= bound[has] + 1e-12).all()


def test_superposed_copies_tie_to_lowest_index() -> None:
    """Two identical copies in one chain: every centre has a twin at distance 0; Foldseek keeps the lower j."""
    (protein,) = load_chains(shared_data("foldseek", "structures", "1aki.cif"))
    twin = long_chain([protein], 2 * len(protein), spacing=0.0)
    centers, candidate, query, batch = batch_inputs([twin])
    got = find_partners(centers, candidate, query, batch)
    n = len(protein)
    idx = torch.arange(1, n - 1)
    both = candidate[idx] & candidate[idx + n]
    assert torch.equal(got[idx + n][both], idx[both])  # copy 2 -> its twin in copy 1 (lower index)
    assert torch.equal(got[idx][both], idx[both] + n)  # copy 1 -> its twin (the only centre at distance 0)
    assert torch.equal(got, find_partners_bruteforce(centers, candidate, query, batch))
    assert_numpy_paths_equal(got, centers, candidate, query, batch)


def test_huge_coordinates_and_tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Coordinates beyond float32's exact range use a float64 first stage; tiny memory chunks change nothing."""
    import protdata.foldseek.partners as partners

    proteins = list(real_proteins())[:12]
    centers, candidate, query, batch = batch_inputs(proteins)
    expected = find_partners_bruteforce(centers, candidate, query, batch)
    far = centers + torch.tensor([3e7, -2e7, 1e7], dtype=torch.float64)
    far_expected = find_partners_bruteforce(far, candidate, query, batch)
    assert torch.equal(find_partners(far, candidate, query, batch), far_expected)
    assert_numpy_paths_equal(far_expected, far, candidate, query, batch)
    assert torch.equal(numpy_partners(centers, candidate, query, batch, chunk_pairs=64), expected)
    monkeypatch.setattr(partners, "_CHUNK_PAIRS", 64)
    assert torch.equal(find_partners(centers, candidate, query, batch), expected)


def test_wide_protein_float32_tolerance() -> None:
    """Six chains as the pieces of one protein ~50,000 Å apart: a float32 first stage with a wide rounding
    tolerance (where a query's lone float32 survivor settles it only through an upper bound on its distance),
    grown cells and repeated rounds; the partners still equal the brute force, ties included."""
    proteins = list(real_proteins())[:6]
    centers, candidate, query, batch = batch_inputs(proteins)
    direction = torch.tensor([1.0, 0.5, -0.25], dtype=torch.float64)
    wide = centers + (batch.double() * 4e4)[:, None] * direction  # (N, 3) pieces far apart
    one = torch.zeros_like(batch)  # all pieces one protein
    twin = torch.cat([wide, wide[:50]])  # plus exact duplicates of the first 50 centres (distance-0 ties)
    twin_mask = torch.cat([candidate, candidate[:50]])
    twin_query = torch.cat([query, query[:50]])
    twin_batch = torch.zeros(twin.shape[0], dtype=torch.long)
    for args in ((wide, candidate, query, one), (twin, twin_mask, twin_query, twin_batch)):
        expected = find_partners_bruteforce(*args)
        assert torch.equal(numpy_partners(*args), expected)
        assert torch.equal(numpy_partners(*args, cell_size=9.0), expected)
        assert torch.equal(find_partners(*args), expected)


def test_pair_chunks_cover_every_query_once() -> None:
    """The shared chunking helper: consecutive, non-empty ranges covering every query, at most ``chunk_pairs``
    pairs each unless one query alone has more; the same ranges for NumPy and torch input."""
    counts = np.array([3, 0, 7, 1, 20, 2, 2, 0, 5])
    ends = np.cumsum(counts)
    for chunk in (1, 4, 8, 25, 1000):
        ranges = list(pair_chunks(ends, chunk))
        assert ranges == list(pair_chunks(torch.from_numpy(ends), chunk))
        assert ranges[0][0] == 0 and ranges[-1][1] == counts.size
        assert all(a < b for a, b in ranges) and all(x[1] == y[0] for x, y in itertools.pairwise(ranges))
        assert all(counts[a:b].sum() <= chunk or b - a == 1 for a, b in ranges)


@pytest.mark.parametrize("seed", range(3))
def test_centres_on_cell_faces(seed: int) -> None:
    """Chains whose centres sit on an exact 6.5/8 Å grid: many centres lie exactly on cell faces and at exact
    box-edge distances, for several cell sizes (the NumPy default 9 Å included). Every partner must still be
    the brute-force one (ties included)."""
    gen = torch.Generator().manual_seed(100 + seed)
    lengths = [int(x) for x in torch.randint(3, 300, (6,), generator=gen)]
    n = sum(lengths)
    # a random walk with unit steps of 0..4 grid units per axis, so consecutive centres are near each other
    steps = torch.randint(-4, 5, (n, 3), generator=gen).double() * (6.5 / 8)
    centers = steps.cumsum(0)
    valid = torch.rand(n, generator=gen) < 0.9
    batch, interior, candidate = flat_inputs(lengths, centers, valid)
    expected = find_partners_bruteforce(centers, candidate, interior, batch)
    for cell_size in (1.625, 3.25, 6.5, 9.0, 13.0):
        assert torch.equal(numpy_partners(centers, candidate, interior, batch, cell_size=cell_size), expected)
