"""An encoder + a pretraining objective, built from configs: which objective fits which encoder, the model, and
starting it from saved weights.

Which objective fits which encoder (:func:`check_combination`, one :class:`ObjectiveConfigError` naming both
keys):

* ``mlm`` — a masked language model: ``esm2`` / ``saprot`` sequence encoders only (through
  :class:`protenc_seq.MaskedLMAdapter`; SaProt: ``#`` + 3Di masking over 446 tokens, westlake-repl/SaProt).
* ``residue_type_prediction``, ``multiview_contrast`` — any encoder (on a sequence encoder these two see only what
  it reads: masked residues, subsequence crops).
* ``distance_prediction``, ``angle_prediction``, ``dihedral_prediction``, ``siamdiff`` — encoders that read
  coordinates (structure and fused encoders). The three geometry objectives also need an encoder whose residue
  graph they can edit (GearNet, GearNet-Edge, GVP-GNN, and fusions of them): they remove the sampled edges so the
  encoder cannot read the answer, and CDConv builds its graphs inside ``forward``.

prottasks imports no encoder package (the DAG): encoders are known here by their config ``type`` names, and an
encoder becomes a masked language model through its own ``masked_lm()`` (protenc-seq's ESM-2 / SaProt).
Example — ESM-GearNet (serial fusion) with each of its six objectives::

    from protfusion import build_encoder, parse_encoder_config
    from prottasks.objectives import build_pretraining_model

    config = parse_encoder_config({"type": "serial", "sequence": {"type": "esm2", "checkpoint": "esm2.pt"}})
    for kind in ("residue_type_prediction", "distance_prediction", "angle_prediction",
                 "dihedral_prediction", "multiview_contrast", "siamdiff"):
        model = build_pretraining_model(build_encoder(config), {"type": kind}, encoder_config=config)
        # model(batch, generator).loss

A trained model is saved as the encoder (``protdata.save_pretrained``) plus :data:`OBJECTIVE_WEIGHTS` beside it
(the objective's other tensors); :func:`load_initial_weights` starts a model from such a directory, from a whole
model's safetensors file, or from an encoder's weights alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prottasks.errors import ObjectiveConfigError

if TYPE_CHECKING:
    from torch import nn

#: The objective's tensors beside a saved encoder's ``model.safetensors``.
OBJECTIVE_WEIGHTS = "objective.safetensors"
#: Objectives that predict 3D geometry from a residue graph whose sampled edges they remove first.
GEOMETRY_OBJECTIVES = ("distance_prediction", "angle_prediction", "dihedral_prediction")
#: Objectives whose targets are coordinates: the encoder must read them.
STRUCTURE_OBJECTIVES = (*GEOMETRY_OBJECTIVES, "siamdiff")
#: Objectives a sequence-only encoder can be trained with.
SEQUENCE_OBJECTIVES = ("mlm", "residue_type_prediction", "multiview_contrast")


#: Encoder types that read only the sequence (protenc-seq).
SEQUENCE_ENCODER_TYPES = ("esm2", "saprot", "esmc")
#: Structure encoder types that build their residue graphs inside ``forward`` (protenc-struct's CDConv).
GRAPH_IN_FORWARD_TYPES = ("cdconv",)


def check_combination(
    encoder: Any, objective: Any, *, encoder_key: str = "encoder", objective_key: str = "objective"
) -> None:
    """Raise when ``objective`` (an objective config) cannot train the encoder of config ``encoder`` (any
    encoder config: its ``type``, and a fusion's ``structure``); module docstring.

    Raises:
        ObjectiveConfigError: ``<objective_key>.type=… with <encoder_key>.type=…: why, and what fits``.
    """
    kind, enc = objective.type, encoder.type
    structure = getattr(encoder, "structure", None)
    inner = getattr(structure, "type", None) if structure is not None else enc
    where = f"{objective_key}.type={kind} with {encoder_key}.type={enc}"
    if kind == "mlm" and enc not in SEQUENCE_ENCODER_TYPES:
        raise ObjectiveConfigError(
            where,
            "mlm trains a masked language model, which needs an esm2 or saprot encoder (structure and fused "
            f"encoders: use one of residue_type_prediction, {', '.join(STRUCTURE_OBJECTIVES)}, multiview_contrast)",
        )
    if kind in STRUCTURE_OBJECTIVES and enc in SEQUENCE_ENCODER_TYPES:
        raise ObjectiveConfigError(
            where,
            f"{kind} learns 3D structure from a residue graph, but a {enc} encoder reads only the sequence (use one "
            f"of {', '.join(SEQUENCE_OBJECTIVES)}, or a structure or fused encoder)",
        )
    if kind in GEOMETRY_OBJECTIVES and inner in GRAPH_IN_FORWARD_TYPES:
        named = f"{encoder_key}.structure.type={inner}" if structure is not None else inner
        raise ObjectiveConfigError(
            where,
            f"{kind} removes the sampled edges from the encoder's residue graph, but {named} builds its graphs "
            "inside forward and would see the geometry it must predict (use gearnet, gearnet_edge or gvp, or "
            "objective residue_type_prediction / multiview_contrast / siamdiff)",
        )


def _masked_lm(encoder: nn.Module, key: str) -> nn.Module:
    """``encoder`` as a ``MaskedLanguageModel``: itself, or its ``masked_lm()`` (protenc-seq encoders)."""
    if all(callable(getattr(encoder, m, None)) for m in ("tokenize", "mask_tokens", "token_logits")):
        return encoder
    make = getattr(encoder, "masked_lm", None)
    if not callable(make):
        raise ObjectiveConfigError(
            f"{key}",
            f"mlm needs a masked language model (an esm2 or saprot encoder), not {type(encoder).__name__}",
        )
    try:
        return make()
    except ValueError as exc:  # a checkpoint without an LM head (Hugging Face EsmModel)
        raise ObjectiveConfigError(f"{key}.checkpoint", " ".join(str(exc).split())) from None


def build_pretraining_model(
    encoder: nn.Module,
    objective: Mapping[str, Any] | Any,
    *,
    encoder_config: Any | None = None,
    key: str = "encoder",
) -> nn.Module:
    """The objective module around ``encoder`` (``model(batch, generator) -> ObjectiveOutput``).

    Args:
        encoder: A built encoder (e.g. ``protfusion.build_encoder(config)``, ``protdata.load_pretrained(dir)``).
        objective: An objective config (:data:`~prottasks.objectives.ObjectiveConfig` or a mapping, e.g. YAML).
        encoder_config: The encoder's config: checked against the objective first (:func:`check_combination`).
        key: The encoder's config key, for messages.

    ``mlm`` trains the encoder through its masked-language-model view (``encoder.masked_lm()``); every other
    objective gets the encoder itself.

    Raises:
        ObjectiveConfigError: the objective does not fit the encoder, or an MLM encoder has no LM head.
    """
    from prottasks.objectives.build import build_objective
    from prottasks.objectives.config import parse_objective_config

    objective_config = parse_objective_config(objective)
    if encoder_config is not None:
        check_combination(encoder_config, objective_config, encoder_key=key)
    if objective_config.type == "mlm":
        encoder = _masked_lm(encoder, key)
    return build_objective(objective_config, encoder)


def pretrained_encoder(model: nn.Module) -> nn.Module:
    """The encoder inside a pretraining model (``model.encoder``; MLM: ``model.model.encoder``)."""
    from torch import nn

    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module) and isinstance(getattr(inner, "encoder", None), nn.Module):
        return inner.encoder
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"{type(model).__name__} holds no encoder")
    return encoder


def load_initial_weights(model: nn.Module, path: str | os.PathLike[str], *, key: str = "init_from") -> str:
    """Start a pretraining model from ``path``; returns a one-line note starting with ``key``.

    ``path`` is a saved pretraining run (a directory, or its ``model.safetensors``), a whole model's safetensors
    file or an encoder's weights alone: the encoder's tensors are taken under whatever prefix holds them all
    (:func:`protdata.weights.load_module_weights`); the objective's heads are loaded too when the file or the
    :data:`OBJECTIVE_WEIGHTS` beside it holds every head tensor with the model's shapes, else they start fresh.

    Raises:
        protdata.errors.WeightsError: missing or unreadable file, no prefix holding every encoder tensor, or a
            wrong-size tensor (names the file and the tensor).
    """
    from protdata.weights import load_module_weights, read_safetensors

    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    encoder = pretrained_encoder(model)
    note = load_module_weights(encoder, path, key=key)
    prefix = next(name for name, module in model.named_modules() if module is encoder) + "."
    heads = {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}
    if not heads:
        return f"{key}: {note}"
    for source in (path, path.parent / OBJECTIVE_WEIGHTS):
        if not source.is_file():
            continue
        tensors = read_safetensors(source, key=key)
        if all(k in tensors and tuple(tensors[k].shape) == tuple(v.shape) for k, v in heads.items()):
            model.load_state_dict({k: tensors[k] for k in heads}, strict=False)
            return f"{key}: {note}; the objective's {len(heads)} head tensors from {source}"
    return f"{key}: {note}; the objective's heads start fresh"
