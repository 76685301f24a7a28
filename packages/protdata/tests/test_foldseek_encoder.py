"""``encode_3di`` as an API: batching, order, determinism, devices, and the documented edge cases.

Truths: the same encoder run one protein at a time (batching must not change anything), Foldseek's strings
(``foldseek_3di.fasta``), spec §2.5's edit of 1aki verified with Foldseek's own code (missing N at residue 50 ->
'D' at positions 48-50 and at four other residues), and Foldseek's encoder semantics for short and Cα-only
chains (spec §1-2); between the CPU (NumPy) and torch paths, bit-identical intermediates.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, load_chains
from protdata.constants import ATOM_C, ATOM_N
from protdata.errors import InvalidCoordinatesError, MissingAtomsError
from protdata.foldseek import LETTERS, encode_3di, encode_3di_states, encode_backbone, encoder_numpy, with_3di
from protdata.foldseek.encoder_numpy import split_for_threads
from protdata.foldseek.partners_numpy import DENSE_MAX_RESIDUES
from protdata.testing import shared_data


@pytest.fixture(scope="module")
def proteins() -> list[Protein]:
    out: list[Protein] = []
    for name in ("1aki", "1dix", "1f2n", "1igy", "3o5r", "4i39", "5h73", "5zng", "1l2y"):
        out += load_chains(shared_data("foldseek", "structures", f"{name}.cif"))
    out += load_chains(shared_data("structures", "alphafold_db", "merizo__AF-Q96PD2-F1-model_v4.pdb"))
    return out


def test_batched_equals_one_by_one(proteins: list[Protein]) -> None:
    together = encode_3di(proteins)
    assert together == [encode_3di([p])[0] for p in proteins]
    assert [len(s) for s in together] == [len(p) for p in proteins]
    assert all(set(s) <= set(LETTERS) for s in together)


def test_permutation_and_grouping_change_nothing(proteins: list[Protein]) -> None:
    reference = dict(zip((p.id for p in proteins), encode_3di(proteins)))
    perm = np.random.default_rng(0).permutation(len(proteins))
    shuffled = [proteins[i] for i in perm]
    assert dict(zip((p.id for p in shuffled), encode_3di(shuffled))) == reference
    small_groups = encode_3di(proteins, max_residues=300)  # many groups, some single long proteins
    assert small_groups == list(reference.values())


def test_cpu_result_is_deterministic(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins)
    first = encode_3di_states(batch)
    for threads in (1, 2):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            assert torch.equal(encode_3di_states(batch), first)
        finally:
            torch.set_num_threads(old)


def test_worker_threads_change_nothing(proteins: list[Protein], monkeypatch: pytest.MonkeyPatch) -> None:
    """``threads`` > 1 splits a batch into groups of whole proteins of about equal residue counts; the strings
    equal the single-threaded ones (and the torch path's), for every split, including more threads than
    proteins."""
    reference = encode_3di(proteins)
    assert encode_3di(proteins, backend="torch") == reference
    for threads in (2, 3, len(proteins) + 2):
        assert encode_3di(proteins, threads=threads) == reference  # default size floor: maybe one group
        monkeypatch.setattr(encoder_numpy, "THREAD_MIN_RESIDUES", 0)
        assert encode_3di(proteins, threads=threads) == reference
        monkeypatch.undo()
    lengths = np.array([len(p) for p in proteins])
    monkeypatch.setattr(encoder_numpy, "THREAD_MIN_RESIDUES", 0)
    for threads in (1, 2, 3, 100):
        parts = split_for_threads(lengths, threads)
        assert parts[0][0] == 0 and parts[-1][1] == lengths.size  # consecutive, non-empty, covering
        assert all(b0 < b1 for b0, b1 in parts)
        assert all(left[1] == right[0] for left, right in itertools.pairwise(parts))
        assert 1 <= len(parts) <= min(threads, lengths.size)
    sizes = [int(lengths[b0:b1].sum()) for b0, b1 in split_for_threads(lengths, 2)]
    assert len(sizes) == 2 and max(sizes) - min(sizes) <= 2 * lengths.max()  # about equal halves
    assert split_for_threads(lengths[:1], 4) == [(0, 1)]


def test_states_tensor_and_with_3di(proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins[:3])
    states = encode_3di_states(batch)
    assert states.shape == (batch.num_residues,) and states.dtype == torch.long
    strings = ["".join(LETTERS[s] for s in part.tolist()) for part in states.split(batch.lengths.tolist())]
    tagged = with_3di(proteins[:3])
    assert [p.structure_tokens for p in tagged] == strings == encode_3di(proteins[:3])
    assert all(p.structure_tokens is None for p in proteins[:3])  # inputs untouched


def test_missing_n_at_1aki_residue_50_matches_spec_edit() -> None:
    (protein,) = load_chains(shared_data("foldseek", "structures", "1aki.cif"))
    k = int(np.flatnonzero(protein.residue_number == 50)[0])
    assert k == 49
    coords, mask = protein.coords.copy(), protein.atom_mask.copy()
    coords[k, ATOM_N], mask[k, ATOM_N] = np.nan, False
    before, after = encode_3di([protein, protein.replace(coords=coords, atom_mask=mask)])
    assert after[48:51] == "DDD"
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert all(after[i] == "D" for i in changed)
    assert (
        len(set(changed) - {48, 49, 50}) == 4
    )  # "and at four other residues" (spec §2.5, checked in Foldseek)


def make_protein(coords: np.ndarray, mask: np.ndarray, pid: str = "synthetic") -> Protein:
    return Protein(id=pid, sequence="A" * len(coords), coords=coords, atom_mask=mask)


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_short_chains_are_all_invalid(proteins: list[Protein], length: int) -> None:
    """Foldseek's encoder gives state 2 to every residue of a chain shorter than 4 (no residue has a partner
    with valid neighbours); createdb would skip the entry."""
    short = proteins[0].select(slice(10, 10 + length))
    assert encode_3di([short, proteins[0]]) == ["D" * length, encode_3di([proteins[0]])[0]]


def test_four_residues_can_encode(proteins: list[Protein]) -> None:
    four = encode_3di([proteins[0].select(slice(20, 24))])[0]
    assert four[0] == four[-1] == "D" and len(four) == 4


def ca_only(protein: Protein) -> Protein:
    mask = protein.atom_mask.copy()
    mask[:, [ATOM_N, ATOM_C]] = False
    coords = protein.coords.copy()
    coords[~mask] = np.nan
    return protein.replace(coords=coords, atom_mask=mask)


def test_ca_only_chain_raises_by_default(proteins: list[Protein]) -> None:
    with pytest.raises(MissingAtomsError, match="PULCHRA") as err:
        encode_3di([proteins[1], ca_only(proteins[0])])
    assert proteins[0].id in str(err.value)


def test_ca_only_chain_encoded_as_given_on_request(proteins: list[Protein]) -> None:
    full = encode_3di([proteins[0]])[0]
    got = encode_3di([ca_only(proteins[0]), proteins[0]], ca_only="encode")
    assert got == ["D" * len(proteins[0]), full]  # no N/C -> every residue invalid, as Foldseek's encoder
    # only the first four residues decide (Foldseek's test): missing N/C later is an ordinary gap
    partial = ca_only(proteins[0]).atom_mask
    partial[4:] = proteins[0].atom_mask[4:]
    mixed = proteins[0].replace(
        atom_mask=partial, coords=np.where(partial[..., None], proteins[0].coords, np.nan)
    )
    with pytest.raises(MissingAtomsError):
        encode_3di([mixed])
    partial[2] = proteins[0].atom_mask[2]  # residue 2 has N and C: not Cα-only, no error, an ordinary gap
    mixed = proteins[0].replace(
        atom_mask=partial, coords=np.where(partial[..., None], proteins[0].coords, np.nan)
    )
    (gap,) = encode_3di([mixed])
    assert gap == encode_3di([mixed], ca_only="encode")[0]
    assert gap[:5] == "DDDDD" and gap != full


def test_nan_coordinates_are_a_clear_error(proteins: list[Protein]) -> None:
    coords = proteins[0].coords.copy()
    coords[17, 1, 2] = np.nan  # CA present per the mask, but NaN
    bad = proteins[0].replace(coords=coords)
    with pytest.raises(InvalidCoordinatesError, match=r"residue 18 \(position 17\): atom CA"):
        encode_3di([proteins[1], bad])
    coords[17, 1, 2] = np.inf
    with pytest.raises(InvalidCoordinatesError, match=proteins[0].id):
        encode_3di([proteins[0].replace(coords=coords)])


def test_missing_ca_and_sequence_only_are_clear_errors(proteins: list[Protein]) -> None:
    mask = proteins[0].atom_mask.copy()
    mask[5, 1] = False
    with pytest.raises(MissingAtomsError, match="no CA"):
        encode_3di([proteins[0].replace(atom_mask=mask)])
    with pytest.raises(MissingAtomsError, match="sequence-only"):
        encode_3di([Protein.from_sequence("seq", "ACDE")])
    with pytest.raises(ValueError, match="ca_only"):
        encode_3di(proteins[:1], ca_only="rebuild")  # type: ignore[arg-type]


def test_empty_input() -> None:
    assert encode_3di([]) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(proteins: list[Protein]) -> None:
    assert encode_3di(proteins, device="cuda") == encode_3di(proteins)
    batch = ProteinBatch.collate(proteins).to("cuda")
    assert encode_3di_states(batch).device.type == "cuda"


def assert_traces_identical(a, b) -> None:
    for field in ("virtual_center", "valid", "partner", "encoded", "features", "embedding", "states"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and x.shape == y.shape, field
        if x.is_floating_point():  # bit for bit, NaN where the other has NaN
            assert torch.equal(torch.isnan(x), torch.isnan(y)), field
            assert torch.equal(
                x.nan_to_num(0.0).contiguous().view(torch.int8),
                y.nan_to_num(0.0).contiguous().view(torch.int8),
            ), field
        else:
            assert torch.equal(x, y), field


def test_numpy_and_torch_backends_are_bit_identical(proteins: list[Protein]) -> None:
    """The CPU path (NumPy) and the torch path give the same bits in every intermediate, for float32 and
    float64 coordinates, with both of NumPy's partner searches (dense for small batches, the grid)."""
    batch = ProteinBatch.collate(proteins)
    for coords in (batch.coords, batch.coords.double()):
        args = (coords, batch.atom_mask, batch.lengths)
        assert_traces_identical(
            encode_backbone(*args, backend="numpy"), encode_backbone(*args, backend="torch")
        )
    small = ProteinBatch.collate([proteins[-2].select(slice(0, 120)), proteins[0].select(slice(30, 130))])
    args = (small.coords, small.atom_mask, small.lengths)
    assert small.num_residues <= DENSE_MAX_RESIDUES  # the dense search
    assert_traces_identical(encode_backbone(*args, backend="numpy"), encode_backbone(*args, backend="torch"))
    assert torch.equal(encode_3di_states(batch, backend="torch"), encode_3di_states(batch))
    assert (
        encode_3di(proteins, backend="torch") == encode_3di(proteins) == encode_3di(proteins, backend="numpy")
    )
    with pytest.raises(ValueError, match="backend"):
        encode_3di(proteins[:1], backend="jax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grid"):
        encode_backbone(*args, backend="numpy", partner_search="bruteforce")


def test_many_small_chains_in_one_batch(proteins: list[Protein]) -> None:
    """Hundreds of short fragments in one call (the grid with many tiny proteins) equal one-by-one encoding."""
    pieces = [
        p.select(slice(s, s + n)) for p in proteins[:4] for s, n in ((0, 5), (7, 16), (30, 40), (80, 9))
    ]
    assert encode_3di(pieces) == [encode_3di([p])[0] for p in pieces]
    assert encode_3di(pieces) == encode_3di(pieces, backend="torch")
