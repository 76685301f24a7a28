"""Save a trained model as a protstack model directory from its full (consolidated, fp32) state dict.

The training apps hand :func:`export_model` the state dict they gathered from the DeepSpeed engine (the fp32
master weights under bf16, the gathered partitions under ZeRO-3); the directory is exactly the model's
``save_pretrained`` (:mod:`protdata.pretrained`), plus the other tensors of the state (a pretraining objective's
heads, :data:`prottasks.objectives.pretraining.OBJECTIVE_WEIGHTS`) beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from protdata.atomic import atomic_path, write_json_atomic

__all__ = ["export_model", "export_state"]


def export_model(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    out_dir: Path,
    metadata: Mapping[str, Any],
    select: Callable[[nn.Module], nn.Module] | None = None,
) -> tuple[Path, Path]:
    """Save ``select(module)`` (default: ``module``, a :class:`protdata.pretrained.Pretrained` model) as a
    protstack model directory in ``out_dir`` — exactly its ``save_pretrained(out_dir, **metadata)`` — with the
    weights of ``state``, the full state dict of ``module``.

    When ``select`` picks a part of ``module``, the other tensors of ``state`` (e.g. a pretraining objective's
    heads) go to ``objective.safetensors`` beside it. When the live parameters are not the weights — partitioned
    (DeepSpeed ZeRO-3), or a bf16 copy of ``state``'s fp32 master weights — a fresh copy of the model is built
    from its config and given ``state`` (only then), so every export holds the full fp32 weights. Returns
    ``(weights, config.json)``.

    A module that is not a protstack model (a custom objective) gets ``state`` as ``model.safetensors`` and
    ``metadata`` as ``config.json`` (:func:`export_state`; not loadable with ``load_pretrained``).
    """
    from protdata.pretrained import CONFIG_NAME, WEIGHTS_NAME, Pretrained, build_model

    target = module if select is None else select(module)
    if not isinstance(target, Pretrained):  # any nn.Module: its weights, as they are
        return export_state(state, out_dir, metadata)
    prefix = "" if target is module else next(n for n, m in module.named_modules() if m is target) + "."
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    live = target.state_dict()
    partitioned = any(hasattr(p, "ds_id") for p in target.parameters())  # ZeRO-3
    if partitioned or any(
        k in own and v.dtype != own[k].dtype for k, v in live.items()
    ):  # bf16 copy: masters
        target = build_model(target.config_dict())
        target.load_state_dict(own)
    target.save_pretrained(out_dir, **dict(metadata))
    rest = {k: v.contiguous() for k, v in state.items() if not k.startswith(prefix)} if prefix else {}
    if rest:  # e.g. a pretraining objective's heads (init_from reads them back)
        from safetensors.torch import save_file

        from prottasks.objectives.pretraining import OBJECTIVE_WEIGHTS

        with atomic_path(out_dir / OBJECTIVE_WEIGHTS) as tmp:
            save_file(rest, str(tmp), metadata={"format": "protstack-objective"})
    return out_dir / WEIGHTS_NAME, out_dir / CONFIG_NAME


def export_state(
    state: Mapping[str, torch.Tensor], out_dir: Path, metadata: Mapping[str, Any]
) -> tuple[Path, Path]:
    """``state`` as ``model.safetensors`` and ``metadata`` as ``config.json`` in ``out_dir`` (each atomically)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights, cfg = out_dir / "model.safetensors", out_dir / "config.json"
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    write_json_atomic(cfg, dict(metadata))
    return weights, cfg
