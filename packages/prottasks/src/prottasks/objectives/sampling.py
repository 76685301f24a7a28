"""Per-protein sampling with replacement, as TorchDrug's objectives draw it.

TorchDrug draws ``k`` items from a group of ``n`` as ``⌊U · n⌋`` with ``U ~ U[0, 1)`` — uniform, with replacement
(``functional.variadic_sample``; the residue draws of ``AttributeMasking`` / ``ResidueTypePrediction`` /
SiamDiff). The functions here do the same for every protein of a batch at once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from protdata import ProteinBatch
from prottasks.errors import TaskInputError
from prottasks.objectives.base import uniform


def sample_in_groups(
    sizes: Tensor, num_samples: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw ``num_samples[g]`` items uniformly with replacement from each group ``g`` of ``sizes[g]`` items.

    Args:
        sizes: ``(G,)`` int64 group sizes; groups of size 0 must ask for 0 samples.
        num_samples: ``(G,)`` int64 draws per group.
        generator: Source of randomness.

    Returns:
        ``(local, group)``: ``(K,)`` index within the group (``⌊U · size⌋``) and ``(K,)`` group of each draw, in
        group order (``K = Σ num_samples``).
    """
    if bool(((sizes == 0) & (num_samples > 0)).any()):
        raise ValueError("sample_in_groups: cannot draw from an empty group")
    group = torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), num_samples)
    u = uniform((group.numel(),), generator, sizes.device)
    local = (u * sizes[group].to(u.dtype)).long()
    return torch.minimum(local, sizes[group] - 1), group


def num_masked(lengths: Tensor, rate: Tensor | float) -> Tensor:
    """``max(⌊rate · n⌋, 1)`` per protein (TorchDrug ``(num_nodes * mask_rate).long().clamp(1)``).

    Computed in float64 with a 1e-9 tolerance so that decimal rates are exact (0.15 · 20 = 3, not 2.99…), as
    ``protdata.transforms.ResidueMasking`` does.
    """
    rate_t = torch.as_tensor(rate, dtype=torch.float64, device=lengths.device)
    return torch.floor(lengths.to(torch.float64) * rate_t + 1e-9).long().clamp(min=1)


def sample_residues(
    batch: ProteinBatch,
    rate: Tensor | float,
    generator: torch.Generator | None = None,
    *,
    known_only: bool = True,
) -> Tensor:
    """Flat indices ``(K,)`` of ``max(⌊rate · n⌋, 1)`` residues per protein, drawn uniformly with replacement.

    ``rate`` is a float or a ``(B,)`` tensor (SiamDiff's per-protein mask rate). With ``known_only`` the draws
    are among residues of a standard type (``residue_type < 20``): their type is the 20-way target, and TorchDrug
    has no class for the unknown residue; the count still follows the protein's full length ``n``.

    Raises:
        TaskInputError: a protein has no residue to draw from (names it).
    """
    candidate = batch.residue_type < 20 if known_only else torch.ones_like(batch.residue_masked)
    sizes = torch.zeros(len(batch), dtype=torch.long, device=batch.device)
    sizes.index_add_(0, batch.batch, candidate.long())
    if len(batch) and int(sizes.min()) == 0:
        b = int(torch.nonzero(sizes == 0)[0])
        raise TaskInputError(batch.ids[b], "protein has no residue of a standard type to mask")
    counts = num_masked(batch.lengths, rate)
    local, group = sample_in_groups(sizes, counts, generator)
    # map the k-th candidate of protein b to its flat index
    order = torch.nonzero(candidate).squeeze(-1)  # candidates in flat order, grouped by protein
    starts = torch.cumsum(sizes, 0) - sizes
    return order[starts[group] + local]
