"""CDConv's per-residue local frames (ESM-GearNet ``transforms.Orientation``; Fan et al. 2023, ICLR, Sec. 3.3).

From consecutive Cα of each protein, ``u_k = (x_{k+1} − x_k) / ‖·‖``; for residue ``t`` (1 ≤ t ≤ L − 2):

    b_t = normalize(u_{t−1} − u_t),   n_t = normalize(u_{t−1} × u_t),   o_t = normalize(b_t × n_t)

and the frame is the rows ``(b, n, o)``; the first and last residue copy their neighbour's frame. As in the
seed, chain boundaries inside a protein are not special. ``normalize`` is ``F.normalize`` (divides by
``max(‖v‖, 1e-12)``, so collinear Cα give a zero ``n`` rather than NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from protenc_struct.errors import StructureInputError
from protenc_struct.graph.nodes import GraphNodes


def local_frames(nodes: GraphNodes) -> Tensor:
    """``(N, 3, 3)`` frames (rows b, n, o) of every residue; every protein needs at least 3 residues."""
    short = nodes.lengths < 3
    if bool(short.any()):
        b = int(torch.nonzero(short)[0])
        name = nodes.ids[b] if b < len(nodes.ids) else f"protein {b}"
        raise StructureInputError(
            f"{name}: CDConv's local frames need at least 3 residues (consecutive Cα), got {int(nodes.lengths[b])}"
        )
    pos = nodes.pos
    u = F.normalize(pos[1:] - pos[:-1], p=2, dim=-1)  # (N-1, 3); entries across proteins are never used
    u2, u1 = u[:-1], u[1:]  # u_{t-1}, u_t for t = 1 … N-2
    b = F.normalize(u2 - u1, p=2, dim=-1)
    n = F.normalize(torch.linalg.cross(u2, u1), p=2, dim=-1)
    o = F.normalize(torch.linalg.cross(b, n), p=2, dim=-1)
    frames = torch.stack([b, n, o], dim=1)  # (N-2, 3, 3), row t-1 is residue t's frame
    length = nodes.lengths[nodes.batch]  # (N,)
    centre = nodes.offsets[nodes.batch] + torch.minimum(nodes.position.clamp(min=1), length - 2)
    return frames[centre - 1]
