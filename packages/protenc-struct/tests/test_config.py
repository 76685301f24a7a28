"""Configurations: the seeds' defaults, strict keys, ``build`` from plain mappings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from protenc_struct import (
    GVPGNN,
    CDConvConfig,
    CDConvEncoder,
    GearNet,
    GearNetConfig,
    GearNetEdgeConfig,
    GVPConfig,
    build,
    parse_config,
)


def test_defaults_are_the_seeds():
    """Values from ESM-GearNet's config/*.yaml and GearNet's gearnet_edge.yaml (DeepGraphLearning)."""
    g = GearNetConfig()
    assert (g.input_dim, g.hidden_dims, g.num_relation) == (21, [512] * 6, 7)
    assert (g.batch_norm, g.short_cut, g.concat_hidden, g.readout) == (True, True, True, "sum")
    assert (g.edge_input_dim, g.num_angle_bin) == (None, None)
    graph = g.graph
    assert (graph.sequential_max_distance, graph.radius, graph.radius_min_distance) == (2, 10.0, 5)
    assert (graph.radius_max_neighbors, graph.knn_k, graph.knn_min_distance) == (32, 10, 5)
    e = GearNetEdgeConfig()
    assert (e.edge_input_dim, e.num_angle_bin) == (59, 8)
    v = GVPConfig()
    assert (v.node_in_dim, v.node_h_dim, v.edge_in_dim, v.edge_h_dim) == (
        (21, 0),
        (256, 16),
        (16, 1),
        (64, 1),
    )
    assert (v.num_layers, v.drop_rate, v.vector_gate, v.readout, v.radius, v.rbf_max) == (
        5,
        0.1,
        True,
        "mean",
        10.0,
        20.0,
    )
    c = CDConvConfig()
    assert (c.embedding_dim, c.hidden_dims, c.cutoffs) == (
        16,
        [256, 512, 1024, 2048],
        [8.0, 12.0, 16.0, 20.0],
    )
    assert (c.seq_cutoff, c.kernel_dims, c.base_width, c.dropout, c.batch_norm) == (21, [32], 16.0, 0.2, True)


def test_build_from_mappings():
    assert isinstance(build({"type": "gearnet", "hidden_dims": [8, 8]}), GearNet)
    edge = build({"type": "gearnet_edge", "hidden_dims": [8]})
    assert isinstance(edge, GearNet) and edge.num_angle_bin == 8
    assert isinstance(build({"type": "gvp", "num_layers": 1}), GVPGNN)
    assert isinstance(build({"type": "cdconv", "hidden_dims": [16], "cutoffs": [8.0]}), CDConvEncoder)


def test_unknown_keys_and_wrong_types_name_the_key():
    with pytest.raises(ValidationError, match="hiden_dims"):
        parse_config({"type": "gearnet", "hiden_dims": [8]})
    with pytest.raises(ValidationError, match="num_layers"):
        parse_config({"type": "gvp", "num_layers": "five"})
    with pytest.raises(ValidationError, match="radius"):
        parse_config({"type": "gearnet", "graph": {"radius": -1}})
    with pytest.raises(ValidationError, match="type"):
        parse_config({"type": "gearnets"})


def test_inconsistent_settings_are_rejected():
    with pytest.raises(ValidationError, match="num_relation"):
        GearNetConfig(num_relation=5)
    with pytest.raises(ValidationError, match="edge_input_dim"):
        GearNetConfig(edge_input_dim=59)
    with pytest.raises(ValidationError, match="59"):
        GearNetEdgeConfig(edge_input_dim=60)
    with pytest.raises(ValidationError, match="cutoff"):
        CDConvConfig(hidden_dims=[16, 32], cutoffs=[8.0])


def test_activation_names_are_torch_functional_activations() -> None:
    import torch
    import torch.nn.functional as F

    from protenc_struct.config import ACTIVATIONS, GearNetConfig

    x = torch.linspace(-2, 2, 5)
    for name in ACTIVATIONS:
        assert getattr(F, name)(x).shape == x.shape, name
    with pytest.raises(ValueError, match="unknown activation 'relu7'"):
        GearNetConfig(activation="relu7")
