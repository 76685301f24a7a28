"""All-gather *with gradients* across data-parallel ranks, for the global contrastive loss.

ProtCLIP uses open_clip's ``CLIPLoss(local_loss=False, gather_with_grad=True)``
(``protclip/model/layers.py``): every rank gathers the embeddings of all ranks, builds the full ``(B_global,
B_global)`` logit matrix and computes the same global loss. Gradients flow back through the gather: the
backward pass sums the incoming gradients of all ranks (an all-reduce) and keeps this rank's rows — the
semantics of ``torch.distributed.nn.functional. all_gather`` (whose backward is a sum reduce-scatter). Since
every rank computes the same loss ``L``, rank ``r``'s features receive ``W · ∂L/∂x_r``; a data-parallel engine
that *averages* gradients over the ``W`` ranks (DDP,
DeepSpeed) therefore gives every parameter exactly ``∂L/∂θ`` of the one-process loss on the global batch.

Unlike ``torch.distributed.nn.functional.all_gather``, :func:`all_gather_with_grad` accepts a different number
of rows on each rank (e.g. a short last batch): sizes are exchanged first and rows are padded for the
collective, then trimmed.

:func:`vector_scalars` holds a model's 0-dimensional parameters (ProtCLIP's temperatures) as ``(1,)``
parameters, which DeepSpeed can broadcast, while its state dict still shows scalars.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gather_sizes(n: int, device: torch.device, group: Any) -> list[int]:
    world = dist.get_world_size(group)
    local = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(sizes, local, group=group)
    return [int(s.item()) for s in sizes]


class _AllGatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, group: Any) -> Tensor:
        sizes = _gather_sizes(x.shape[0], x.device, group)
        rank = dist.get_rank(group)
        longest = max(sizes)
        padded = x.new_zeros((longest, *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous(), group=group)
        ctx.group = group
        ctx.start = sum(sizes[:rank])
        ctx.n = x.shape[0]
        return torch.cat([part[:size] for part, size in zip(parts, sizes)], dim=0)  # (ΣB_r, ...)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)  # Σ over ranks of ∂L_r/∂(gathered)
        return grad[ctx.start : ctx.start + ctx.n], None


def all_gather_with_grad(x: Tensor, group: Any = None) -> Tensor:
    """Concatenate ``x`` ``(B_r, ...)`` of every rank in rank order -> ``(Σ_r B_r, ...)``, differentiably.

    Without an initialised multi-rank process group this returns ``x`` unchanged.
    """
    if not is_distributed():
        return x
    return _AllGatherWithGrad.apply(x, group)


def vector_scalars(model: M) -> M:
    """``model`` with its 0-dimensional parameters held as ``(1,)`` parameters, shown as scalars in
    ``state_dict()`` and accepted as scalars by ``load_state_dict()`` (hooks on this instance), so its saved
    model and its checkpoints are those of the plain model.

    DeepSpeed (0.19) cannot broadcast a 0-dimensional parameter (``_broadcast_model`` views every parameter as
    bytes: "self.dim() cannot be 0"); ProtCLIP's temperatures ``clip_loss.logit_scale`` and
    ``local_logit_scale`` are scalars, and its losses broadcast a ``(1,)`` temperature the same way.
    """
    names: list[str] = []
    for name, p in list(model.named_parameters()):
        if p.dim() == 0:
            owner, _, leaf = name.rpartition(".")
            module = model.get_submodule(owner) if owner else model
            setattr(module, leaf, nn.Parameter(p.detach().reshape(1), requires_grad=p.requires_grad))
            names.append(name)

    def scalars_out(module: nn.Module, state: dict[str, Tensor], prefix: str, _: Any) -> None:
        for name in names:
            if prefix + name in state:
                state[prefix + name] = state[prefix + name].reshape(())

    def scalars_in(module: nn.Module, state: dict[str, Tensor], prefix: str, *_: Any) -> None:
        for name in names:
            value = state.get(prefix + name)
            if value is not None and value.numel() == 1:
                state[prefix + name] = value.reshape(1)

    if names:
        model.register_state_dict_post_hook(scalars_out)
        model.register_load_state_dict_pre_hook(scalars_in)
    return model
