"""Crops on real structures: TorchDrug's TruncateProtein / SubsequenceNode / SubspaceNode semantics, checked
against direct NumPy computations, with every per-residue field sliced consistently."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from protdata import Protein, load_chains
from protdata.errors import InvalidCoordinatesError
from protdata.testing import shared_data
from protdata.transforms import SubsequenceCrop, SubspaceCrop, TruncateProtein

STRUCTURES = [
    ("structures", "alphafold_db", "chainsaw__AF-A0A1W2PQ64-F1-model_v4.pdb"),  # 194 residues, pLDDT
    ("structures", "experimental_mdanalysis_dssp", "1ahsA.pdb.gz"),  # 126 residues, Gly without CB
]


def tagged(protein: Protein) -> Protein:
    """The protein with every optional per-residue field filled, so slicing of each one can be checked."""
    n = len(protein)
    letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)
    return protein.replace(
        structure_tokens=letters[np.arange(n) % 20].tobytes().decode(),
        residue_masked=np.arange(n) % 3 == 0,
        plddt=protein.plddt if protein.plddt is not None else np.linspace(0, 100, n, dtype=np.float32),
    )


@pytest.fixture(scope="module", params=STRUCTURES, ids=lambda p: p[-1])
def protein(request: pytest.FixtureRequest) -> Protein:
    (chain,) = load_chains(shared_data(*request.param))
    return tagged(chain)


def assert_sliced(original: Protein, cropped: Protein, index: np.ndarray) -> None:
    """Every per-residue field of ``cropped`` is that of ``original`` at ``index`` (found by residue number)."""
    lookup = {int(r): i for i, r in enumerate(original.residue_number)}
    assert len(lookup) == len(original)  # residue numbers identify residues in these chains
    assert [lookup[int(r)] for r in cropped.residue_number] == list(index)
    assert cropped.sequence == "".join(original.sequence[i] for i in index)
    assert cropped.structure_tokens == "".join(original.structure_tokens[i] for i in index)
    np.testing.assert_array_equal(cropped.coords, original.coords[index])  # NaN where missing, in both
    for name in ("atom_mask", "insertion_code", "chain_index", "plddt", "b_factor", "residue_masked"):
        np.testing.assert_array_equal(getattr(cropped, name), getattr(original, name)[index], err_msg=name)
    assert (cropped.id, cropped.chain_ids, cropped.source) == (
        original.id,
        original.chain_ids,
        original.source,
    )


def test_truncate_prefix(protein: Protein) -> None:
    out = TruncateProtein(max_length=100)(protein, 0)
    assert_sliced(protein, out, np.arange(100))
    assert TruncateProtein(max_length=1000)(protein, 0) is protein  # not longer than max_length: unchanged


def test_truncate_random_start_distribution(protein: Protein) -> None:
    n, length = len(protein), 100
    crop = TruncateProtein(max_length=length, random=True)
    rng = np.random.default_rng(0)
    starts = Counter(crop.window(n, rng)[0] for _ in range(4000))
    # TorchDrug: start = randint(n - max_length), uniform on 0 .. n - max_length - 1
    assert set(starts) == set(range(n - length))
    expected = 4000 / (n - length)
    assert all(abs(c - expected) < 5 * np.sqrt(expected) for c in starts.values())
    out = crop(protein, 3)
    start = int(np.flatnonzero(protein.residue_number == out.residue_number[0])[0])
    assert_sliced(protein, out, np.arange(start, start + length))


def test_subsequence_window(protein: Protein) -> None:
    n = len(protein)
    crop = SubsequenceCrop()  # seed: max_length 50
    assert crop.config.max_length == 50
    rng = np.random.default_rng(1)
    windows = [crop.window(n, rng) for _ in range(4000)]
    assert all(end - start == 50 for start, end in windows)
    starts = Counter(start for start, _ in windows)
    assert set(starts) == set(range(n - 50))  # start = floor(U * (n - 50))
    out = crop(protein, 5)
    start = int(np.flatnonzero(protein.residue_number == out.residue_number[0])[0])
    assert_sliced(protein, out, np.arange(start, start + 50))
    short = protein.select(slice(0, 30))
    assert_sliced(short, SubsequenceCrop()(short, 2), np.arange(30))


def test_subspace_ball_against_brute_force(protein: Protein) -> None:
    crop = SubspaceCrop()  # seed: min_neighbor 15, min_radius 15.0
    ca = protein.ca.astype(np.float64)
    distances = np.sqrt(((ca[:, None, :] - ca[None, :, :]) ** 2).sum(-1))  # (L, L) all pairs, brute force
    rng = np.random.default_rng(2)
    centres = Counter()
    for _ in range(300):
        centre, radius, index = crop.ball(protein, rng)
        centres[centre] += 1
        d = distances[centre]
        expected_radius = max(1.5 * np.sort(d)[15 - 1], 15.0)
        assert radius == pytest.approx(expected_radius, rel=1e-9)
        np.testing.assert_array_equal(index, np.flatnonzero(d < expected_radius))
        assert len(index) >= 15 and centre in index
    assert len(centres) > len(protein) * 0.6  # the centre is drawn over the whole chain
    out = crop(protein, 11)
    centre, _, index = crop.ball(protein, np.random.default_rng(11))
    assert_sliced(protein, out, index)


def test_subspace_small_protein_keeps_everything(protein: Protein) -> None:
    small = protein.select(
        slice(0, 10)
    )  # fewer residues than min_neighbor: k = n, radius >= 1.5 * max distance
    for seed in range(20):
        assert_sliced(small, SubspaceCrop()(small, seed), np.arange(10))


def test_subspace_needs_coordinates() -> None:
    with pytest.raises(InvalidCoordinatesError, match="seq1: subspace crop needs coordinates"):
        SubspaceCrop()(Protein.from_sequence("seq1", "MKVLA"), 0)


@pytest.mark.parametrize(
    "crop", [TruncateProtein(max_length=60, random=True), SubsequenceCrop(), SubspaceCrop()], ids=repr
)
def test_crops_are_deterministic_under_a_seed(protein: Protein, crop) -> None:
    before = protein.coords.copy()
    first = [crop(protein, seed).residue_number.tolist() for seed in range(8)]
    again = [crop(protein, seed).residue_number.tolist() for seed in range(8)]
    assert first == again
    assert len({tuple(x) for x in first}) > 1  # different seeds give different crops
    np.testing.assert_array_equal(protein.coords, before)  # the input is not modified
    # a generator is advanced: successive calls with one generator differ, and replay identically
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert [crop(protein, g1).residue_number.tolist() for _ in range(3)] == [
        crop(protein, g2).residue_number.tolist() for _ in range(3)
    ]
