"""Small ``ProteinBatch`` edits the objectives need: replace per-residue fields, keep a subset of residues, and
turn a batch back into ``Protein`` objects (to run a ``protdata.transforms`` crop on it).

A ``ProteinBatch`` stores residues once, in the flat view; every function here returns a new batch and never
modifies its input.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from protdata import Protein, ProteinBatch


def replace_fields(batch: ProteinBatch, **changes: object) -> ProteinBatch:
    """A copy of ``batch`` with some fields replaced (``residue_masked=…``, ``coords=…``); derived views are
    recomputed lazily on the copy."""
    return dataclasses.replace(batch, **changes)


def with_residue_masked(batch: ProteinBatch, index: Tensor) -> ProteinBatch:
    """A copy of ``batch`` whose residues at flat ``index`` (``(K,)`` int64, repeats allowed) are flagged
    ``residue_masked`` in addition to those already flagged; encoders then hide their identity (ESM ``<mask>``,
    zeroed one-hot features)."""
    masked = batch.residue_masked.clone()
    masked[index] = True
    return replace_fields(batch, residue_masked=masked)


def select_residues(batch: ProteinBatch, keep: Tensor) -> ProteinBatch:
    """The batch restricted to the residues where ``keep`` ``(N,)`` is True, in their original order.

    Every per-residue tensor, the sequences and the 3Di strings are sliced consistently; a protein may not lose all
    of its residues (``ValueError`` naming it).
    """
    keep = keep.to(device=batch.device, dtype=torch.bool)
    if keep.shape != (batch.num_residues,):
        raise ValueError(
            f"select_residues: keep has shape {tuple(keep.shape)}, expected ({batch.num_residues},)"
        )
    lengths = torch.zeros(len(batch), dtype=torch.long, device=batch.device)
    lengths.index_add_(0, batch.batch, keep.long())
    if len(batch) and int(lengths.min()) == 0:
        b = int(torch.nonzero(lengths == 0)[0])
        raise ValueError(f"select_residues: protein {batch.ids[b]!r} would keep no residue")
    keep_cpu = keep.cpu().numpy()
    offsets = batch.offsets.tolist()
    sequences, tokens = [], []
    for b, (seq, tok) in enumerate(zip(batch.sequences, batch.structure_tokens)):
        part = keep_cpu[offsets[b] : offsets[b + 1]]
        sequences.append(_take(seq, part))
        tokens.append(None if tok is None else _take(tok, part))
    return ProteinBatch(
        residue_type=batch.residue_type[keep],
        coords=batch.coords[keep],
        atom_mask=batch.atom_mask[keep],
        residue_number=batch.residue_number[keep],
        chain_index=batch.chain_index[keep],
        plddt=None if batch.plddt is None else batch.plddt[keep],
        residue_masked=batch.residue_masked[keep],
        lengths=lengths,
        ids=list(batch.ids),
        sequences=sequences,
        structure_tokens=tokens,
    )


def _take(text: str, keep: np.ndarray) -> str:
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)[keep]
    return raw.tobytes().decode("ascii")


def batch_to_proteins(batch: ProteinBatch) -> list[Protein]:
    """The proteins of ``batch`` as ``Protein`` objects (coordinates, atom mask, numbering, chains, pLDDT, 3Di,
    residue masks), so that a ``protdata`` transform can run on them. Chain ids are not stored in a batch; chain
    ``k`` is named ``str(k)``."""
    offsets = batch.offsets.tolist()
    coords = batch.coords.detach().cpu().numpy()
    atom_mask = batch.atom_mask.cpu().numpy()
    numbers = batch.residue_number.cpu().numpy()
    chains = batch.chain_index.cpu().numpy()
    masked = batch.residue_masked.cpu().numpy()
    plddt = None if batch.plddt is None else batch.plddt.cpu().numpy()
    proteins = []
    for b in range(len(batch)):
        lo, hi = offsets[b], offsets[b + 1]
        n_chain = int(chains[lo:hi].max()) + 1 if hi > lo else 1
        p_plddt = None if plddt is None else plddt[lo:hi]
        proteins.append(
            Protein(
                id=batch.ids[b],
                sequence=batch.sequences[b],
                coords=coords[lo:hi],
                atom_mask=atom_mask[lo:hi],
                residue_number=numbers[lo:hi].astype(np.int32),
                chain_index=chains[lo:hi].astype(np.int16),
                chain_ids=tuple(str(k) for k in range(n_chain)),
                plddt=None if p_plddt is None or np.isnan(p_plddt).all() else p_plddt,
                structure_tokens=batch.structure_tokens[b],
                residue_masked=masked[lo:hi],
            )
        )
    return proteins
