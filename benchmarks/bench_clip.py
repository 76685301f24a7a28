"""ProtCLIP objectives: protalign's implementations vs seed-style reference implementations, same process.

1. Local contrast (forward + backward) at the seed's widths: protalign's batched ``local_contrastive_loss``
   against a reference written as ProtCLIP's ``local_contrastive_loss`` computes it (one 4 × 4 InfoNCE per
   protein in a Python loop, soft identity targets, min–max over all positions). Inputs have no padding, so both
   must give the same loss; the script checks it.
2. Fragment masking for a batch of real Swiss-Prot lengths: ``protalign.masking.fragment_mask`` (NumPy, per
   protein) against a reference that follows ``torch_mask_fragments`` (a padded ``(B, T)`` token tensor, Python
   ``random`` draws, rejection of covered starts, coverage re-summed over the row each draw).

    uv run python benchmarks/bench_clip.py [--batch 16] [--length 512] [--dim 512] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from protalign.losses.local_contrast import local_contrastive_loss
from protalign.masking import fragment_mask
from protdata.testing import find_shared_data


def reference_local_contrast(
    subtexts: torch.Tensor, residues: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Seed-style: min–max over every position, 0.3 cut, and a Python loop of per-protein 4 × 4 InfoNCE."""
    sim = torch.einsum("btd,bpd->btp", subtexts, residues)
    low, high = sim.min(dim=-1, keepdim=True)[0], sim.max(dim=-1, keepdim=True)[0]
    sim = (sim - low) / (high - low)
    sim = torch.where(sim < 0.3, torch.zeros_like(sim), sim)
    summary = torch.einsum("btp,bpd->btd", sim / sim.sum(dim=-1, keepdim=True), residues)
    total = 0.0
    for b in range(summary.shape[0]):
        a, s = F.normalize(summary[b], dim=-1), F.normalize(subtexts[b], dim=-1)
        logits = scale * a @ s.t()
        target = torch.eye(a.shape[0])
        once = F.cross_entropy(logits, target)
        total = total + (once + F.cross_entropy(logits, target)) / 2  # the seed's "two directions"
    return total / summary.shape[0]


def reference_fragment_mask(lengths: list[int], mask_range: int = 10) -> torch.Tensor:
    """Seed-style span masking on padded token rows (BOS + residues + EOS + padding)."""
    token_len = max(lengths) + 2
    covered = torch.zeros(len(lengths), token_len, dtype=torch.long)
    if token_len < mask_range * 1.5:
        mask_range = token_len // 2
    for b in range(len(lengths)):
        while sum(covered[b]) < token_len * 0.15:
            mask_range = random.randint(mask_range // 2, mask_range)
            start = random.randint(1, token_len - mask_range - 1)
            while covered[b][start] == 1:
                start = random.randint(1, token_len - mask_range - 1)
            covered[b][start : start + mask_range + 1] = 1
    return covered.bool()


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def swissprot_lengths(batch: int) -> list[int]:
    root = find_shared_data()
    if root is None:
        return [int(x) for x in np.random.default_rng(0).integers(50, 1022, batch)]
    from protdata.protanno import read_uniprot

    entries = read_uniprot(root / "function" / "uniprot_swissprot_sample.dat")
    return [min(len(e.sequence), 1022) for e in entries[:batch]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    b, length, d = args.batch, args.length, args.dim
    subtexts = torch.randn(b, 4, d, requires_grad=True)
    residues = torch.randn(b, length, d, requires_grad=True)
    mask = torch.ones(b, length, dtype=torch.bool)
    scale = torch.tensor(10.0)

    def ours() -> float:
        loss = local_contrastive_loss(subtexts, residues, mask, scale)
        loss.backward()
        return loss.item()

    def reference() -> float:
        loss = reference_local_contrast(subtexts, residues, scale)
        loss.backward()
        return loss.item()

    a, r = ours(), reference()
    assert abs(a - r) <= 1e-4 * abs(r), (a, r)
    t_ours, t_ref = best_of(ours, args.repeat), best_of(reference, args.repeat)
    print(f"local contrast  B={b} L={length} d={d}  loss {a:.5f} (reference {r:.5f})")
    print(
        f"  protalign {t_ours * 1e3:8.2f} ms   seed-style {t_ref * 1e3:8.2f} ms   ratio {t_ref / t_ours:5.2f}x"
    )

    lengths = swissprot_lengths(b)
    rng = np.random.default_rng(0)
    random.seed(0)
    t_ours = best_of(lambda: [fragment_mask(n, rng) for n in lengths], args.repeat)
    t_ref = best_of(lambda: reference_fragment_mask(lengths), args.repeat)
    print(f"fragment masking  {b} Swiss-Prot lengths (max {max(lengths)})")
    print(
        f"  protalign {t_ours * 1e3:8.2f} ms   seed-style {t_ref * 1e3:8.2f} ms   ratio {t_ref / t_ours:5.2f}x"
    )


if __name__ == "__main__":
    main()
