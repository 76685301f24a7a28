"""What every fused encoder shares: the two encoders, graph pass-through, output concatenation, optimizer groups.

A fused encoder is a :class:`protdata.ProteinEncoder` (``output_dim``, ``forward(batch) -> EncoderOutput``), so
tasks and apps cannot tell it from a single encoder. Its two parts are the attributes ``sequence`` and
``structure`` (so ``optimizer.lr_ratios: {encoder.sequence: 0.1}`` in an app config reaches the sequence encoder).

Graph objectives (distance / angle / dihedral prediction, multiview contrast, SiamDiff) build the structure
encoder's graph, edit it and pass it back: ``fused.build_graph(batch)`` is the structure encoder's
``build_graph`` and ``fused(batch, graph=g)`` hands ``g`` to the structure encoder. A structure encoder that
builds its graphs inside ``forward`` (CDConv: one radius graph per stage) has no ``build_graph``; then the fused
encoder has none either and passing ``graph=`` is a :class:`~protfusion.errors.FusionError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from protdata import EncoderOutput, ProteinBatch, ProteinEncoder
from protdata.pretrained import Pretrained
from protfusion.config import ESM_GEARNET_LR_RATIO as ESM_GEARNET_LR_RATIO  # the seeds' constants live in
from protfusion.config import FUSIONPROT_LR_RATIO as FUSIONPROT_LR_RATIO  # the torch-free config module
from protfusion.config import TOKEN_INIT_STD as TOKEN_INIT_STD
from protfusion.errors import FusionError


def structure_input_dim(encoder: nn.Module) -> int:
    """Width of the node input a structure encoder expects (21 = residue-type one-hot; 1280 = ESM-2-650M).

    GearNet and CDConv: ``config.input_dim``; GVP-GNN: ``config.node_in_dim[0]``; otherwise an ``input_dim``
    attribute. Raises :class:`FusionError` when the encoder states none.
    """
    config = getattr(encoder, "config", None)
    for owner, name in ((config, "input_dim"), (encoder, "input_dim")):
        value = getattr(owner, name, None) if owner is not None else None
        if isinstance(value, int):
            return value
    node_in = getattr(config, "node_in_dim", None)
    if node_in is not None:
        return int(node_in[0])
    raise FusionError(
        f"cannot tell the node input width of {type(encoder).__name__}: give it a config with input_dim "
        "(GearNet, CDConv) or node_in_dim (GVP-GNN), or an input_dim attribute"
    )


def accepts_graph(encoder: nn.Module) -> bool:
    """True when ``encoder.forward`` takes a ``graph=`` argument (GearNet, GVP-GNN; not CDConv)."""
    try:
        return "graph" in inspect.signature(encoder.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def concat_outputs(first: EncoderOutput, second: EncoderOutput) -> EncoderOutput:
    """``[first ‖ second]`` per residue and per protein (ESM-GearNet's serial / parallel output).

    Extras are kept under ``sequence.<name>`` / ``structure.<name>``.
    """
    dtype = torch.promote_types(first.residue.dtype, second.residue.dtype)
    residue = torch.cat([first.residue.to(dtype), second.residue.to(dtype)], dim=-1)  # (B, L, D1 + D2)
    protein = torch.cat([first.protein.to(dtype), second.protein.to(dtype)], dim=-1)  # (B, D1 + D2)
    return EncoderOutput(
        residue=residue, protein=protein, mask=first.mask, extras=merge_extras(first, second)
    )


def merge_extras(sequence: EncoderOutput, structure: EncoderOutput) -> dict[str, Tensor]:
    """The two encoders' extras, prefixed ``sequence.`` / ``structure.``."""
    extras = {f"sequence.{k}": v for k, v in sequence.extras.items()}
    extras.update({f"structure.{k}": v for k, v in structure.extras.items()})
    return extras


class FusionEncoder(ProteinEncoder, Pretrained):
    """Base class of the fused encoders: a sequence encoder and a structure encoder.

    Each fusion is a saved-model type (``serial``, ``parallel``, ``cross``, ``token``): :attr:`config` is its
    fusion config, read from the two encoders' own configs and the fusion's settings (``None`` when a part has
    none, e.g. a sequence encoder that is not a protenc-seq one: such a fusion cannot be saved), and
    :meth:`from_config` is :func:`protfusion.build`.

    Args:
        sequence: A sequence encoder (``protenc_seq.ESM2Encoder`` / ``SaProtEncoder``, or any
            :class:`~protdata.ProteinEncoder`).
        structure: A structure encoder (``protenc_struct`` GearNet, GearNet-Edge, GVP-GNN, CDConv).
        sequence_lr_ratio: Default ratio of :meth:`parameter_groups` (the seed's ``sequence_model_lr_ratio``).
    """

    def __init__(
        self, sequence: nn.Module, structure: nn.Module, *, sequence_lr_ratio: float = ESM_GEARNET_LR_RATIO
    ) -> None:
        super().__init__()
        if sequence_lr_ratio < 0:
            raise FusionError(f"sequence_lr_ratio must be >= 0, got {sequence_lr_ratio}")
        self.sequence = sequence
        self.structure = structure
        self.sequence_lr_ratio = sequence_lr_ratio
        self._structure_takes_graph = accepts_graph(structure)

    # ---------------------------------------------------------- config / io
    @property
    def config(self) -> Any:  # type: ignore[override]
        """The fusion config that rebuilds this encoder, or ``None`` when a part has no protstack config."""
        from protfusion.build import fusion_config

        try:
            return fusion_config(self)
        except FusionError:
            return None

    def config_dict(self) -> dict[str, Any]:
        """The JSON-ready fusion config (``type`` included); :class:`FusionError` names the part without one."""
        from protfusion.build import fusion_config

        return fusion_config(self).model_dump(mode="json")

    @classmethod
    def from_config(cls, config: Any) -> FusionEncoder:
        """The fused encoder of a fusion config (object or mapping; see :func:`protfusion.build`)."""
        from protfusion.build import build

        model = build(config)
        if not isinstance(model, cls):
            raise FusionError(
                f"a {model.model_type!r} fusion config builds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model

    # ---------------------------------------------------------------- graphs
    @property
    def build_graph(self) -> Callable[[ProteinBatch], Any]:
        """The structure encoder's ``build_graph`` (absent when it has none, e.g. CDConv)."""
        fn = getattr(self.structure, "build_graph", None)
        if fn is None:
            raise AttributeError(f"{type(self.structure).__name__} builds its graphs inside forward")
        return fn

    def run_structure(
        self, batch: ProteinBatch, node_features: Tensor | None = None, graph: Any = None
    ) -> EncoderOutput:
        """The structure encoder on ``batch`` (``node_features`` replace its one-hot input; ``graph`` passed on)."""
        if graph is None:
            return self.structure(batch, node_features=node_features)
        if not self._structure_takes_graph:
            raise FusionError(
                f"{type(self.structure).__name__} builds its own graphs and takes no graph= argument; graph "
                "objectives need a structure encoder with build_graph (GearNet, GearNet-Edge, GVP-GNN)"
            )
        return self.structure(batch, node_features=node_features, graph=graph)

    # -------------------------------------------------------------- optimizer
    def parameter_groups(
        self,
        lr: float,
        *,
        lr_ratio: float | None = None,
        layer_decay: float = 1.0,
        weight_decay: float = 0.0,
        no_decay_norm_and_bias: bool = True,
    ) -> list[dict[str, Any]]:
        """Optimizer groups: the sequence encoder at ``lr · lr_ratio``, everything else at ``lr``.

        ``lr_ratio`` defaults to :attr:`sequence_lr_ratio` (ESM-GearNet 0.1, FusionProt 0.08; 0 = frozen
        learning rate). The sequence encoder's own ``parameter_groups`` (protenc-seq: layer-wise ``layer_decay``,
        no weight decay on norms and biases) is used when it has one. The fusion's own parameters (cross
        attention, FusionProt's token and linear maps) learn at ``lr`` with the structure encoder -- the seeds'
        ``build_downstream_solver`` lists only ``sequence_model``, ``structure_model`` and the head, which leaves
        them out of the optimizer; we do not copy that.
        """
        ratio = self.sequence_lr_ratio if lr_ratio is None else lr_ratio
        helper = getattr(self.sequence, "parameter_groups", None)
        if callable(helper):
            groups = helper(
                lr,
                lr_ratio=ratio,
                layer_decay=layer_decay,
                weight_decay=weight_decay,
                no_decay_norm_and_bias=no_decay_norm_and_bias,
            )
        else:
            params = [p for p in self.sequence.parameters() if p.requires_grad]
            groups = [{"params": params, "lr": lr * ratio, "weight_decay": weight_decay}] if params else []
        inside = {id(p) for p in self.sequence.parameters()}
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for p in self.parameters():
            if p.requires_grad and id(p) not in inside:
                (no_decay if no_decay_norm_and_bias and p.ndim < 2 else decay).append(p)
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
        return groups
