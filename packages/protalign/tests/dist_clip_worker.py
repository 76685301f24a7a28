"""Run by test_distributed.py as two processes: ``python dist_clip_worker.py RANK PORT OUT_JSON`` (gloo, CPU).

Each rank holds its slice of one global batch and a small two-tower model, computes ClipLoss with
all-gather-with-gradients and averages parameter gradients over the ranks as DDP / DeepSpeed do (an all-reduce
divided by the world size; DDP itself is not used because building it imports torch._dynamo, ~10 s). It checks
against a one-process computation on the whole global batch (same initial weights) that the loss is equal and
that the averaged parameter gradients are equal, and against
``torch.distributed.nn.functional.all_gather`` (the seed's / open_clip's gather) that the feature gradients
are equal. Rank 0 writes what it compared to OUT_JSON.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.nn.functional import all_gather

from protalign.distributed import all_gather_with_grad
from protalign.losses.clip import ClipLoss, clip_loss

WORLD = 2


class TwoTower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.protein = nn.Linear(6, 4)
        self.text = nn.Linear(5, 4)
        self.loss = ClipLoss()
        self.double()  # float64: rounding neither hides nor fakes a difference between the two computations

    def forward(self, xp: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        return self.loss(F.normalize(self.protein(xp), dim=-1), F.normalize(self.text(xt), dim=-1))


def check_close(a: torch.Tensor, b: torch.Tensor, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """``torch.allclose`` with a message (``torch.testing.assert_close`` imports torch.distributed.tensor once a
    process group exists, which costs ~10 s on a loaded 2-core machine)."""
    if not torch.allclose(a, b, rtol=rtol, atol=atol):
        raise AssertionError(f"{what}: max |diff| {float((a - b).abs().max()):.3g}\n{a}\n{b}")


def global_batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(42)
    return (
        torch.randn(n, 6, generator=g, dtype=torch.float64),
        torch.randn(n, 5, generator=g, dtype=torch.float64),
    )


def run(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    report: dict[str, object] = {}
    for sizes in ([4, 4], [3, 5]):
        xp, xt = global_batch(sum(sizes))
        # one process, whole batch, no distribution
        ref = TwoTower()
        p, t = F.normalize(ref.protein(xp), dim=-1), F.normalize(ref.text(xt), dim=-1)
        ref_loss = clip_loss(p, t, ref.loss.scale())
        ref_loss.backward()
        # this rank's slice, gradients averaged over ranks (data-parallel semantics)
        model = TwoTower()
        start = sum(sizes[:rank])
        loss = model(xp[start : start + sizes[rank]], xt[start : start + sizes[rank]])
        loss.backward()
        for param in model.parameters():
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad /= WORLD
        check_close(loss.detach(), ref_loss.detach(), f"loss, sizes {sizes}", rtol=1e-12, atol=0)
        for (name, a), b in zip(model.named_parameters(), ref.parameters()):
            check_close(a.grad, b.grad, f"gradient of {name}, sizes {sizes}")
        # the gathered rows come in rank order
        gathered = all_gather_with_grad(xp[start : start + sizes[rank]])
        assert torch.equal(gathered, xp)
        report[str(sizes)] = {"loss": loss.item(), "reference": ref_loss.item()}

    # same feature gradients as torch.distributed.nn.functional.all_gather (equal sizes only)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(rank), dtype=torch.float64)
    y = torch.randn(4, 3, generator=torch.Generator().manual_seed(10 + rank), dtype=torch.float64)
    x.requires_grad_(), y.requires_grad_()
    clip_loss(all_gather_with_grad(x), all_gather_with_grad(y), 5.0).backward()
    ours = (x.grad.clone(), y.grad.clone())
    x.grad = y.grad = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated in favour of _functional_collectives
        clip_loss(torch.cat(all_gather(x)), torch.cat(all_gather(y)), 5.0).backward()
    check_close(ours[0], x.grad, "feature gradient vs torch all_gather (protein side)")
    check_close(ours[1], y.grad, "feature gradient vs torch all_gather (text side)")
    report["torch_all_gather_grad_max"] = float(x.grad.abs().max())
    if rank == 0:
        with open(out, "w") as handle:
            json.dump(report, handle)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
    # Every check passed. Skip interpreter teardown: torch's gloo / autograd threads occasionally abort it
    # ("terminate called without an active exception"), which would turn a passing rank into exit code 134.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
