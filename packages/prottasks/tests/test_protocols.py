"""The duck-typed protocols: the tiny encoders satisfy them, plain modules do not, and ``encoder_layers`` finds
blocks through ``encoder_layers()``, a ``layers`` ModuleList, or ``model.layers``."""

from __future__ import annotations

import pytest
from prottasks_tiny import TinyGraphEncoder, TinyMLM, TinySequenceEncoder
from torch import nn

from prottasks.protocols import GraphEncoder, MaskedLanguageModel, encoder_layers, is_graph_encoder


def test_protocol_checks():
    assert is_graph_encoder(TinyGraphEncoder()) and isinstance(TinyGraphEncoder(), GraphEncoder)
    assert not is_graph_encoder(TinySequenceEncoder())
    assert isinstance(TinyMLM(), MaskedLanguageModel) and not isinstance(
        TinySequenceEncoder(), MaskedLanguageModel
    )


def test_encoder_layers_lookup():
    seq = TinySequenceEncoder(num_layers=4)
    assert encoder_layers(seq) == list(seq.layers)

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = TinySequenceEncoder(num_layers=2)

    wrapped = Wrapped()
    assert encoder_layers(wrapped) == list(wrapped.model.layers)

    class Explicit(nn.Module):
        def encoder_layers(self):
            return [nn.Linear(1, 1)]

    assert len(encoder_layers(Explicit())) == 1
    with pytest.raises(TypeError, match="encoder_layers"):
        encoder_layers(nn.Linear(2, 2))
