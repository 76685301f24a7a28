"""Component parity with the reference encoders (biotite's and mini3di's NumPy ports of Foldseek) on identical
coordinates: virtual centres (glycines get the ideal Cβ), partner indices, descriptors, gate and 3Di states.

The coordinates come from biotite's own reader (not from protdata.load_chains), first model, amino acids only,
one chain at a time; every reference encoder and ours receive the same float64 arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata.constants import ATOM_C, ATOM_CA, ATOM_CB, ATOM_N
from protdata.foldseek import LETTERS, encode_backbone
from protdata.foldseek.geometry import ideal_cb
from protdata.testing import shared_data

biotite_structure = pytest.importorskip("biotite.structure")
strucio = pytest.importorskip("biotite.structure.io")
bt_encoder = pytest.importorskip("biotite.structure.alphabet.encoder")
from biotite.structure.util import coord_for_atom_name_per_residue  # noqa: E402

pytestmark = pytest.mark.numerics


def biotite_chains() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, ca, cb, n, c) float64 arrays for every protein chain of the shared Foldseek structures."""
    out = []
    for path in sorted(shared_data("foldseek", "structures").glob("*.cif")):
        atoms = strucio.load_structure(path, model=1)
        atoms = atoms[biotite_structure.filter_amino_acids(atoms)]
        for chain in biotite_structure.chain_iter(atoms):
            ca, cb, n, c = (
                x.astype(np.float64) for x in coord_for_atom_name_per_residue(chain, ["CA", "CB", "N", "C"])
            )
            keep = ~np.isnan(ca[:, 0])  # Foldseek drops residues without CA; biotite keeps NaN rows
            if keep.sum() >= 4:
                out.append((f"{path.stem}_{chain.chain_id[0]}", ca[keep], cb[keep], n[keep], c[keep]))
    return out


@pytest.fixture(scope="module")
def chains():
    return biotite_chains()


def ours(ca: np.ndarray, cb: np.ndarray, n: np.ndarray, c: np.ndarray):
    coords = np.full((len(ca), 5, 3), np.nan)
    for k, x in ((ATOM_N, n), (ATOM_CA, ca), (ATOM_C, c), (ATOM_CB, cb)):
        coords[:, k] = x
    mask = ~np.isnan(coords[..., 0])
    return encode_backbone(torch.from_numpy(coords), torch.from_numpy(mask), torch.tensor([len(ca)]))


def test_chains_include_glycines_and_missing_atoms(chains) -> None:
    assert len(chains) >= 17
    n_gly_like = sum(int(np.isnan(cb[:, 0]).sum()) for _, _, cb, _, _ in chains)
    assert n_gly_like > 100  # the virtual Cβ path is exercised


def test_virtual_centres_match_biotite(chains) -> None:
    for name, ca, cb, n, c in chains:
        ref = bt_encoder.VirtualCenterEncoder().encode(ca, cb, n, c)
        trace = ours(ca, cb, n, c)
        ok = ~ref.mask[:, 0]
        np.testing.assert_allclose(trace.virtual_center.numpy()[ok], ref.data[ok], atol=1e-9, err_msg=name)
        # biotite's ideal Cβ for glycines (its own formula order) agrees to rounding
        gly = np.isnan(cb[:, 0]) & ok
        approx = bt_encoder.VirtualCenterEncoder()._approximate_cb_position(ca[gly], n[gly], c[gly])
        mine = ideal_cb(*(torch.from_numpy(x[gly]) for x in (ca, n, c))).numpy()
        np.testing.assert_allclose(mine, approx, atol=1e-12, err_msg=name)


def test_partners_features_gate_states_match_biotite(chains) -> None:
    total = 0
    for name, ca, cb, n, c in chains:
        trace = ours(ca, cb, n, c)
        valid = trace.valid.numpy().copy()
        valid[[0, -1]] = False
        partner = bt_encoder.PartnerIndexEncoder().encode(ca, cb, n, c)
        np.testing.assert_array_equal(trace.partner.numpy()[valid], np.asarray(partner)[valid], err_msg=name)
        feats = bt_encoder.FeatureEncoder().encode(ca, cb, n, c)
        encoded = trace.encoded.numpy()
        np.testing.assert_array_equal(encoded, ~feats.mask[:, 0], err_msg=name)
        np.testing.assert_allclose(
            trace.features.numpy()[encoded], feats.data[encoded], atol=2e-6, err_msg=name
        )
        states = bt_encoder.Encoder().encode(ca, cb, n, c).filled()
        np.testing.assert_array_equal(trace.states.numpy(), states, err_msg=name)
        total += len(ca)
    assert total > 3000


def test_states_match_mini3di(chains) -> None:
    mini3di = pytest.importorskip("mini3di")
    encoder = mini3di.Encoder()
    for name, ca, cb, n, c in chains:
        ref = encoder.encode_atoms(ca, cb, n, c)
        trace = ours(ca, cb, n, c)
        assert "".join(LETTERS[s] for s in trace.states.tolist()) == encoder.build_sequence(ref), name
        vc = mini3di.encoder.VirtualCenterEncoder().encode_atoms(ca, cb, n, c)
        ok = ~vc.mask[:, 0]
        np.testing.assert_allclose(trace.virtual_center.numpy()[ok], vc.data[ok], atol=1e-9, err_msg=name)
