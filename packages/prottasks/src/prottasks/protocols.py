"""What prottasks needs from an encoder beyond the protdata contract, as duck-typed ``typing.Protocol`` s.

prottasks imports no encoder package (the import DAG is one way: tasks sit on any encoder). Objectives that
need more than ``forward(batch) -> EncoderOutput`` state it here, and any object with these attributes works:

* :class:`GraphEncoder` — a structure encoder whose residue graph the objective may edit before the encoder runs
  (distance / angle / dihedral prediction remove the sampled edges; multiview contrast's random edge mask drops
  15 % of them; SiamDiff perturbs node positions). ``protenc_struct``'s GearNet, GVP-GNN and CDConv expose
  ``build_graph(batch) -> ResidueGraph`` and ``forward(batch, node_features=None, graph=None)``. Graphs are
  edited with :func:`dataclasses.replace` (``edge_index=…, relation=…`` or ``nodes=replace(nodes, pos=…)``), so
  the graph must be a dataclass (or provide ``__replace__``).
* :class:`MaskedLanguageModel` — token-level access for masked-language-model pretraining (ESM-2, SaProt). The
  MLM objective is written once against it (:mod:`prottasks.objectives.mlm`).
* :class:`LayeredEncoder` — the transformer blocks of an encoder, for the ESM2 Function Caller's
  "freeze the base, unfreeze the last k layers".

An encoder that is none of these (a plain sequence encoder) still works with every objective; each objective's
docstring says what it does then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from protdata import EncoderOutput, ProteinBatch


@runtime_checkable
class GraphNodesLike(Protocol):
    """The node set of a residue graph: ``pos`` ``(N, 3)`` Cα positions over the flat residue index."""

    pos: Tensor


@runtime_checkable
class ResidueGraphLike(Protocol):
    """A batched residue graph over the flat residue index of a ``ProteinBatch``.

    Attributes:
        edge_index: ``(2, E)`` int64 (source, target); every edge stays inside one protein.
        relation: ``(E,)`` int64 relation id of each edge.
        num_relation: Number of relations.
        nodes: The node set (with ``pos``).
    """

    edge_index: Tensor
    relation: Tensor
    num_relation: int
    nodes: Any


@runtime_checkable
class GraphEncoder(Protocol):
    """A structure encoder whose graph can be built, edited and passed back in."""

    output_dim: int

    def build_graph(self, batch: ProteinBatch) -> Any:
        """The residue graph (a :class:`ResidueGraphLike` dataclass) the encoder would build for ``batch``."""
        ...

    def __call__(
        self, batch: ProteinBatch, node_features: Tensor | None = None, graph: Any = None
    ) -> EncoderOutput:
        """Encode ``batch`` on ``graph`` (built by :meth:`build_graph` when ``None``)."""
        ...


def is_graph_encoder(encoder: object) -> bool:
    """True when ``encoder`` exposes ``build_graph`` (so graph objectives may edit its graph)."""
    return callable(getattr(encoder, "build_graph", None))


@dataclass
class TokenizedBatch:
    """Token ids of a batch as a masked language model reads them.

    Attributes:
        tokens: ``(B, T)`` int64 token ids, padded (the model knows its padding id).
        maskable: ``(B, T)`` bool, True on the residue tokens MLM may select (never special or padding tokens).
    """

    tokens: Tensor
    maskable: Tensor


@runtime_checkable
class MaskedLanguageModel(Protocol):
    """Token-level interface of a masked language model (ESM-2: 33 tokens; SaProt: 446 structure-aware tokens).

    Attributes:
        vocab_size: Number of output classes of :meth:`token_logits` (SaProt: 446, the "446-way" loss).
    """

    vocab_size: int

    def tokenize(self, batch: ProteinBatch) -> TokenizedBatch:
        """Token ids of ``batch`` (with the model's special tokens) and which positions may be masked."""
        ...

    def mask_tokens(self, tokens: Tensor) -> Tensor:
        """The token each of ``tokens`` becomes when masked (ESM: ``<mask>``; SaProt: ``#`` in the amino-acid slot
        with the 3Di letter kept, e.g. ``Md`` → ``#d``). Same shape as ``tokens``."""
        ...

    def random_token_ids(self) -> Tensor:
        """``(K,)`` ids a "random token" replacement is drawn from, uniformly (SaProt: all 446 tokens)."""
        ...

    def token_logits(self, tokens: Tensor) -> Tensor:
        """``(B, T, vocab_size)`` logits of the model on (masked) ``tokens`` ``(B, T)``."""
        ...


@runtime_checkable
class LayeredEncoder(Protocol):
    """An encoder whose transformer blocks can be listed, first to last (for freeze / unfreeze-last-k)."""

    def encoder_layers(self) -> Sequence[nn.Module]:
        """The encoder's blocks in order (ESM-2: its 6…48 transformer layers)."""
        ...


def encoder_layers(encoder: nn.Module) -> Sequence[nn.Module]:
    """The blocks of ``encoder``: ``encoder.encoder_layers()`` (:class:`LayeredEncoder`), else an ``nn.ModuleList``
    attribute ``layers`` of the encoder or of its ``model`` (ESM-2 keeps its blocks in ``layers``).

    Raises:
        TypeError: the encoder exposes neither.
    """
    method = getattr(encoder, "encoder_layers", None)
    if callable(method):
        return list(method())
    for owner in (encoder, getattr(encoder, "model", None)):
        layers = getattr(owner, "layers", None)
        if isinstance(layers, nn.ModuleList):
            return list(layers)
    raise TypeError(
        f"{type(encoder).__name__} exposes no transformer layers: implement encoder_layers() (prottasks."
        "protocols.LayeredEncoder) or keep the blocks in an nn.ModuleList attribute named 'layers'"
    )
