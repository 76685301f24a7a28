"""Batching changes nothing: each fusion on a batch of real structures of different lengths (20 … 208 residues)
gives every protein the output it gets alone (≤ 1e-5). Eval mode: batch norm uses its running statistics
(randomised here, so it is not the identity); in training mode batch statistics couple the proteins of a batch
by design, as in the seeds."""

from __future__ import annotations

import pytest
import torch

from protdata import ProteinBatch
from protdata.foldseek import with_3di

ESM = {"architecture": {"num_layers": 4, "embed_dim": 32, "attention_heads": 4}}
SAPROT = {
    "type": "saprot",
    "architecture": {"num_layers": 4, "embed_dim": 32, "attention_heads": 4, "vocab": "saprot"},
}
GEARNET = {"type": "gearnet", "hidden_dims": [16, 16, 16]}
GEARNET_EDGE = {"type": "gearnet_edge", "hidden_dims": [16, 16, 16]}
GVP = {"type": "gvp", "node_h_dim": [16, 4], "edge_h_dim": [8, 1], "num_layers": 2}
CDCONV = {"type": "cdconv", "hidden_dims": [16, 16, 32, 32], "kernel_dims": [8]}

CASES = {
    "serial-gearnet": {"type": "serial", "sequence": ESM, "structure": GEARNET},
    "serial-gearnet_edge": {"type": "serial", "sequence": ESM, "structure": GEARNET_EDGE},
    "serial-gvp": {"type": "serial", "sequence": ESM, "structure": GVP},
    "serial-cdconv": {"type": "serial", "sequence": ESM, "structure": CDCONV},
    "parallel-gearnet": {"type": "parallel", "sequence": ESM, "structure": GEARNET},
    "cross-gearnet": {
        "type": "cross",
        "sequence": ESM,
        "structure": GEARNET,
        "cross_dim": 16,
        "num_heads": 4,
    },
    "cross-gvp": {"type": "cross", "sequence": ESM, "structure": GVP, "cross_dim": 16, "num_heads": 4},
    "token-gearnet": {"type": "token", "sequence": ESM, "structure": GEARNET},
    "token-gearnet-seed-relation": {
        "type": "token",
        "sequence": ESM,
        "structure": GEARNET,
        "seed_token_relation": True,
    },
    "token-gearnet_edge": {"type": "token", "sequence": ESM, "structure": GEARNET_EDGE},
    "token-saprot-gearnet": {"type": "token", "sequence": SAPROT, "structure": GEARNET},
}


@pytest.fixture(scope="module")
def proteins_3di(proteins):
    return with_3di(proteins)  # SaProt reads Foldseek 3Di tokens


@pytest.mark.parametrize("name", list(CASES))
def test_batch_equals_one_at_a_time(helpers, proteins_3di, name):
    model = helpers.tiny(CASES[name], seed=1)
    batch = ProteinBatch.collate(proteins_3di)
    with torch.no_grad():
        together = model(batch)
        for i, protein in enumerate(proteins_3di):
            alone = model(ProteinBatch.collate([protein]))
            length = len(protein)
            torch.testing.assert_close(together.residue[i, :length], alone.residue[0], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(together.protein[i], alone.protein[0], rtol=1e-5, atol=1e-5)
    assert together.residue.shape == (4, 208, model.output_dim)
    assert not together.residue[~together.mask].any()  # padding rows are zero
