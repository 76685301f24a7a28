"""Contact-prediction data for fine-tuning: every structure is labelled by its own contact map, and a split is scored
by the precision of its most probable contacts (P@L, P@L/2, P@L/5 by short / medium / long range).

Labels (data ``labels: {type: contacts}``, :class:`~prottasks.data.sources.ContactLabels`): the contact head
computes them from each batch's coordinates (:func:`prottasks.heads.contact_targets`: Cβ, Cα for glycine,
closer than 8 Å; Monastyrskyy et al. 2014, the CASP definition ESM-1b / ESM-2 and SaProt's ``Contact`` task use), so
a crop or truncation of the training transform keeps labels and inputs aligned. :func:`contact_table` makes the
label table of the structures themselves (a placeholder target per protein); a residue without its contact atom
is masked out of the loss and the scores; a protein with fewer than ``min_pairs`` scorable pairs (both residues with
the atom, ``|i − j| ≥ 6``) is left out and counted in the report.

Evaluation (:func:`evaluate_contact_splits`): each protein's top ``⌈L / k⌉`` pairs of a range are scored
(:func:`prottasks.metrics.protein_precision_counts`) and the per-protein precisions are averaged over the split
(``"macro"``: the ESM convention — Rao et al. 2021, "Transformer protein language models are unsupervised structure
learners", ICLR; facebookresearch/esm ``examples/contact_prediction.ipynb``, ``compute_precisions`` /
``evaluate_prediction`` — and trRosetta's top-L/k precision by range, Yang et al. 2020, PNAS); ``loss`` is the
binary cross-entropy pooled over every scored pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from protdata.errors import DatasetError
from prottasks.data.tables import LabelTable
from prottasks.metrics.contact import MIN_SEPARATION, contact_coords

if TYPE_CHECKING:
    from prottasks.data.labelled import LabelledSplit, ProteinPool


def scorable_pairs(valid: np.ndarray, min_separation: int = MIN_SEPARATION) -> int:
    """The number of pairs ``i < j`` with both residues valid and ``j − i ≥ min_separation``; ``valid`` ``(L,)``."""
    ok = np.asarray(valid, dtype=bool)
    after = np.cumsum(ok[::-1])[::-1]  # (L,) valid residues at positions >= p
    starts = np.flatnonzero(ok) + min_separation  # (V,)
    starts = starts[starts < len(ok)]
    return int(after[starts].sum())


def contact_table(pool: ProteinPool, labels: Any, *, key: str = "data") -> LabelTable:
    """The label table of a contact task: every structure of ``pool`` with at least ``labels.min_pairs`` scorable
    pairs (module docstring), with a placeholder target 0.0; what is left out or masked is in ``report``.

    Args:
        pool: The task's proteins (:class:`~prottasks.data.labelled.ProteinPool`); sequence-only ones are not used.
        labels: The :class:`~prottasks.data.sources.ContactLabels` config.
        key: The data config's key, named in messages.

    Raises:
        DatasetError: no structure, or no structure with a scorable pair (names ``<key>.structures``).
    """
    first = len(pool.sequences)
    if first == len(pool):
        raise DatasetError(
            f"{key}.structures",
            "contact labels come from 3D structures: give structure files or a preprocessed dataset",
        )
    min_pairs = int(getattr(labels, "min_pairs", 1))
    targets: dict[str, float] = {}
    few: list[str] = []
    masked_residues = masked_proteins = 0
    for ref in range(first, len(pool)):
        protein = pool.protein(ref)
        if protein.coords is None:
            few.append(protein.id)
            continue
        _, valid = contact_coords(protein.coords, protein.sequence, protein.atom_mask)  # (L,)
        if int((~valid).sum()):
            masked_residues += int((~valid).sum())
            masked_proteins += 1
        if scorable_pairs(valid) < min_pairs:
            few.append(protein.id)
            continue
        targets[protein.id] = 0.0
    report = []
    if few:
        report.append(
            f"{len(few)} structures with fewer than {min_pairs} residue pairs with a Cβ (Cα for Gly) "
            f"{MIN_SEPARATION} or more apart left out (e.g. {few[0]})"
        )
    if masked_residues:
        report.append(
            f"{masked_residues} residues of {masked_proteins} structures have no Cβ (Cα for Gly): masked out "
            "of the contact loss and scores"
        )
    if not targets:
        raise DatasetError(
            f"{key}.structures", f"no structure has a scorable residue pair ({len(few)} left out)"
        )
    return LabelTable(
        kind="contact",
        labels=[],
        targets=targets,
        source=f"contact maps of {len(targets)} structures",
        report=report,
    )


def evaluate_contact_splits(
    forward: Callable[..., Any],
    splits: dict[str, LabelledSplit],
    device: Any = "cpu",
    rank: int = 0,
    world_size: int = 1,
    *,
    reduction: str = "macro",
) -> dict[str, float]:
    """``<split>_<metric>`` for every metric of :data:`prottasks.metrics.CONTACT_METRICS` (module docstring).

    Args:
        forward: ``forward(batch, targets="structure")`` -> a :class:`~prottasks.heads.contact.ContactOutput`
            (``(B, L, L)`` logits and the labels the head computed from the batch's coordinates).
        splits: The evaluation splits (:class:`~prottasks.data.labelled.LabelledSplit`).
        device: Where the batches go.
        rank, world_size: This process's share of each split's batches; every rank gets the same metrics.
        reduction: ``"macro"`` (mean of per-protein precisions, ESM) or ``"micro"`` (pooled, SaProt).
    """
    import torch
    import torch.nn.functional as F

    from prottasks.data.labelled import eval_batches
    from prottasks.metrics import protein_precision_counts, reduce_precision_counts

    metrics: dict[str, float] = {}
    for name, split in splits.items():
        counts: list[dict[str, tuple[int, int]]] = []
        loss_sum, num_pairs = 0.0, 0
        for indices, micro in eval_batches(split, rank, world_size):
            batch = micro.batch.to(device)
            out = forward(batch, targets="structure")
            if not len(indices):  # a rank short of a batch repeats one (collectives stay matched): not scored
                continue
            targets = out.targets
            logits = out.output.detach().double().cpu()  # (B, L, L)
            pairs = targets.pairs.cpu()  # (B, L, L)
            y = targets.contacts.detach().double().cpu()  # (B, L, L)
            x = logits[pairs]  # (P,)
            loss_sum += float((F.softplus(x) - y[pairs] * x).sum())  # BCE with logits
            num_pairs += int(pairs.sum())
            probs = torch.sigmoid(logits).numpy()
            truth, valid = (y > 0.5).numpy(), targets.valid.cpu().numpy()
            for b, n in enumerate(batch.lengths.tolist()):
                counts.append(protein_precision_counts(probs[b, :n, :n], truth[b, :n, :n], valid[b, :n]))
        if world_size > 1:
            gathered: list[Any] = [None] * world_size
            torch.distributed.all_gather_object(gathered, (counts, loss_sum, num_pairs))
            counts = [c for part in gathered for c in part[0]]
            loss_sum = sum(part[1] for part in gathered)
            num_pairs = sum(part[2] for part in gathered)
        scores = reduce_precision_counts(counts, reduction=reduction)  # type: ignore[arg-type]
        scores["loss"] = loss_sum / num_pairs if num_pairs else float("nan")
        metrics.update({f"{name}_{k}": v for k, v in scores.items()})
    return metrics
