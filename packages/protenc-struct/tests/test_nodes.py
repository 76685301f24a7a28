"""Bad structures give clear errors naming the protein and residue (never a crash deep inside torch)."""

from __future__ import annotations

import numpy as np
import pytest

from protdata import Protein, ProteinBatch
from protdata.errors import InvalidCoordinatesError, MissingAtomsError
from protenc_struct import GVPGNN, CDConvEncoder, GearNet, StructureInputError, gearnet_graph


def test_nan_coordinates_name_the_residue(globins):
    p = globins[0]
    coords = p.coords.copy()
    coords[17, 1] = np.nan  # the Cα of residue 17
    bad = p.replace(coords=coords)
    batch = ProteinBatch.collate([globins[1], bad])
    with pytest.raises(InvalidCoordinatesError) as err:
        gearnet_graph(batch)
    message = str(err.value)
    assert p.id in message and "residue 17" in message and f"author number {p.residue_number[17]}" in message
    assert "non-finite" in message


def test_infinite_coordinates_are_rejected(globins):
    coords = globins[0].coords.copy()
    coords[3, 1, 2] = np.inf
    with pytest.raises(InvalidCoordinatesError, match="residue 3"):
        GVPGNN().eval()(ProteinBatch.collate([globins[0].replace(coords=coords)]))


def test_duplicated_coordinates_name_both_residues(globins):
    p = globins[2]
    coords = p.coords.copy()
    coords[40] = coords[12]  # residue 40 copied onto residue 12
    batch = ProteinBatch.collate([globins[0], p.replace(coords=coords)])
    with pytest.raises(InvalidCoordinatesError) as err:
        gearnet_graph(batch)
    message = str(err.value)
    assert p.id in message and "residue 12" in message and "residue 40" in message and "duplicated" in message
    with pytest.raises(InvalidCoordinatesError, match="duplicated"):
        CDConvEncoder(hidden_dims=[16, 16], cutoffs=[8.0, 12.0]).eval()(batch)


def test_sequence_only_protein_is_a_clear_error(globins):
    batch = ProteinBatch.collate([globins[0], Protein.from_sequence("seq_only", "MKV")])
    with pytest.raises(MissingAtomsError, match=r"seq_only.*no Cα coordinates"):
        GearNet(hidden_dims=[8]).eval()(batch)


def test_one_residue_protein(globins):
    """A 1-residue protein is valid: its graph is the self edge; encoders give finite features."""
    one = globins[0].select([5])
    batch = ProteinBatch.collate([one, globins[1]])
    edge_index, relation = gearnet_graph(batch)
    mine = edge_index[1] == 0
    assert edge_index[:, mine].tolist() == [[0], [0]] and relation[mine].tolist() == [2]
    for model in (GearNet(hidden_dims=[16] * 2), GVPGNN(num_layers=1)):
        out = model.eval()(batch)
        assert out.protein[0].isfinite().all() and out.residue[0, 0].isfinite().all()


def test_batch_norm_training_on_too_few_residues_is_a_clear_error(globins):
    one = ProteinBatch.collate([globins[0].select([5])])
    with pytest.raises(StructureInputError, match="at least 2 residues"):
        GearNet(hidden_dims=[8]).train()(one)
    short = ProteinBatch.collate([globins[0].select(slice(0, 8))])  # 8 → 4 → 2 → 1 node at stage 4
    with pytest.raises(StructureInputError, match="stage 4 has 1 node"):
        CDConvEncoder(hidden_dims=[8, 8, 8, 8]).train()(short)
