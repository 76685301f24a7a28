"""Tiny encoders implementing prottasks' protocols, for the objective and head tests (never other protstack
packages: prottasks' tests import protdata only).

* :class:`TinyGraphEncoder` — a 2-layer relational message-passing network on its own residue graph
  (sequential ±1 / self / 8 Å radius), exposing ``build_graph`` and ``forward(batch, node_features, graph)`` like
  ``protenc_struct``'s encoders; it records the graphs it ran on (``seen_graphs``).
* :class:`TinySequenceEncoder` — embedding + 1-D convolution over the sequence; no graph.
* :class:`TinyMLM` — a masked language model on SaProt's 446 tokens or on a 25-token ESM-like alphabet.
* :class:`TinyPretrainedEncoder` — :class:`TinySequenceEncoder` as a protstack ``Pretrained`` model (type
  ``"prottasks_tiny_sequence"``; ``cls_output`` switches its ``extras["cls"]`` on, like ESM-2's option).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from protdata import EncoderOutput, ProteinBatch, saprot
from protdata.pretrained import Pretrained
from prottasks.objectives.mlm import esm_mask_tokens, saprot_mask_tokens
from prottasks.protocols import TokenizedBatch


@dataclass
class TinyNodes:
    pos: Tensor


@dataclass
class TinyGraph:
    nodes: TinyNodes
    edge_index: Tensor
    relation: Tensor
    num_relation: int = 4


def _padded_to_output(batch: ProteinBatch, flat: Tensor, cls: Tensor | None = None) -> EncoderOutput:
    residue = batch.to_padded(flat)  # (B, L, D)
    protein = residue.sum(1) / batch.lengths.unsqueeze(-1).to(flat.dtype)
    extras = {} if cls is None else {"cls": cls}
    return EncoderOutput(residue=residue, protein=protein, mask=batch.mask, extras=extras)


class TinyGraphEncoder(nn.Module):
    """Relational message passing: ``h ← relu(W_self h + Σ_r Σ_{j→i, rel r} W_r h_j / deg)``, 2 layers."""

    def __init__(self, dim: int = 16, radius: float = 8.0, layers: int = 2) -> None:
        super().__init__()
        self.output_dim = dim
        self.radius = radius
        self.embed = nn.Linear(21, dim)
        self.self_lin = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.rel_lin = nn.ModuleList(nn.Linear(dim, 4 * dim, bias=False) for _ in range(layers))
        self.seen_graphs: list[TinyGraph] = []

    def build_graph(self, batch: ProteinBatch) -> TinyGraph:
        ca = batch.ca
        padded = batch.to_padded(ca)
        dist = torch.cdist(padded, padded)
        mask = batch.mask[:, :, None] & batch.mask[:, None, :]
        pos = torch.arange(batch.max_length, device=batch.device)
        sep = pos[None, :] - pos[:, None]  # target - source
        parts = []
        for rel, cond in enumerate([sep == 1, sep == -1, sep == 0, (dist < self.radius) & (sep.abs() >= 2)]):
            b, s, t = torch.nonzero(cond & mask, as_tuple=True)
            off = batch.offsets[b]
            parts.append((torch.stack([off + s, off + t]), torch.full_like(b, rel)))
        edge_index = torch.cat([p[0] for p in parts], dim=1)
        relation = torch.cat([p[1] for p in parts])
        return TinyGraph(TinyNodes(ca), edge_index, relation)

    def forward(
        self, batch: ProteinBatch, node_features: Tensor | None = None, graph: TinyGraph | None = None
    ) -> EncoderOutput:
        graph = graph if graph is not None else self.build_graph(batch)
        self.seen_graphs.append(graph)
        x = F.one_hot(batch.residue_type, 21).float() * (~batch.residue_masked).unsqueeze(-1).float()
        h = self.embed(x)
        src, tgt = graph.edge_index
        n, d = h.shape
        deg = h.new_zeros(n).index_add_(0, tgt, h.new_ones(tgt.numel())).clamp(min=1)
        for self_lin, rel_lin in zip(self.self_lin, self.rel_lin):
            msg = rel_lin(h).view(n, 4, d)[src, graph.relation]  # (E, D)
            agg = torch.zeros_like(h).index_add_(0, tgt, msg) / deg.unsqueeze(-1)
            h = torch.relu(self_lin(h) + agg)
        return _padded_to_output(batch, h)


class TinySequenceEncoder(nn.Module):
    """Embedding (21 types + mask) → 1-D convolution (kernel 5) → ReLU; mean readout; ``<cls>`` = a learned
    vector plus the mean (exposed as ``extras["cls"]``); blocks in ``layers``."""

    def __init__(self, dim: int = 16, num_layers: int = 2) -> None:
        super().__init__()
        self.output_dim = dim
        self.embed = nn.Embedding(22, dim)
        self.layers = nn.ModuleList(nn.Conv1d(dim, dim, 5, padding=2) for _ in range(num_layers))
        self.cls = nn.Parameter(torch.zeros(dim))

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        types = torch.where(batch.residue_masked, torch.full_like(batch.residue_type, 21), batch.residue_type)
        x = batch.to_padded(self.embed(types))  # (B, L, D)
        m = batch.mask.unsqueeze(-1).float()
        for conv in self.layers:
            x = torch.relu(conv(x.transpose(1, 2)).transpose(1, 2)) * m
        flat = batch.to_flat(x)
        out = _padded_to_output(batch, flat)
        out.extras["cls"] = out.protein + self.cls
        return out


ESM_LIKE_TOKENS = ("<cls>", "<pad>", "<eos>", "<unk>", *"ACDEFGHIKLMNPQRSTVWY", "<mask>")


class TinyMLM(nn.Module):
    """A masked language model over SaProt's 446 tokens (``vocab="saprot"``) or a 25-token ESM-like alphabet."""

    def __init__(self, vocab: str = "saprot", dim: int = 32) -> None:
        super().__init__()
        self.vocab = vocab
        self.vocab_size = saprot.VOCAB_SIZE if vocab == "saprot" else len(ESM_LIKE_TOKENS)
        self.pad_id = saprot.PAD_ID if vocab == "saprot" else 1
        self.embed = nn.Embedding(self.vocab_size, dim)
        self.conv = nn.Conv1d(dim, dim, 5, padding=2)
        self.out = nn.Linear(dim, self.vocab_size)

    def _ids(self, batch: ProteinBatch, b: int) -> np.ndarray:
        seq = batch.sequences[b]
        if self.vocab == "saprot":
            tokens = batch.structure_tokens[b] or "#" * len(seq)
            sa = "".join(a + s.lower() for a, s in zip(seq, tokens))
            return saprot.encode(sa)
        index = {t: i for i, t in enumerate(ESM_LIKE_TOKENS)}
        return np.array([0, *(index.get(a, 3) for a in seq), 2], dtype=np.int64)

    def tokenize(self, batch: ProteinBatch) -> TokenizedBatch:
        ids = [self._ids(batch, b) for b in range(len(batch))]
        width = max(len(x) for x in ids)
        tokens = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        maskable = torch.zeros((len(ids), width), dtype=torch.bool)
        for b, x in enumerate(ids):
            tokens[b, : len(x)] = torch.from_numpy(x)
            maskable[b, 1 : len(x) - 1] = True
        device = self.embed.weight.device
        return TokenizedBatch(tokens.to(device), maskable.to(device))

    def mask_tokens(self, tokens: Tensor) -> Tensor:
        return saprot_mask_tokens(tokens) if self.vocab == "saprot" else esm_mask_tokens(tokens, 24)

    def random_token_ids(self) -> Tensor:
        return torch.arange(self.vocab_size, device=self.embed.weight.device)

    def token_logits(self, tokens: Tensor) -> Tensor:
        x = self.embed(tokens)  # (B, T, D)
        x = torch.relu(self.conv(x.transpose(1, 2)).transpose(1, 2)) + x
        return self.out(x)  # (B, T, V)


class TinyEncoderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = "prottasks_tiny_sequence"
    dim: int = Field(default=16, ge=1)
    num_layers: int = Field(default=2, ge=1)
    cls_output: bool = True


class TinyPretrainedEncoder(TinySequenceEncoder, Pretrained):
    """:class:`TinySequenceEncoder` built from :class:`TinyEncoderConfig`, saveable as a protstack model."""

    model_type = "prottasks_tiny_sequence"
    config_class = TinyEncoderConfig

    def __init__(self, config: TinyEncoderConfig | None = None) -> None:
        config = config or TinyEncoderConfig()
        super().__init__(dim=config.dim, num_layers=config.num_layers)
        self.config = config

    def forward(self, batch: ProteinBatch) -> EncoderOutput:
        out = super().forward(batch)
        if not self.config.cls_output:
            del out.extras["cls"]
        return out


def train_objective(
    objective: nn.Module, batch: object, steps: int, lr: float = 3e-3
) -> tuple[list[float], object]:
    """Adam steps of ``objective`` on one batch (masking seeds cycling over 3), every loss checked finite.

    Returns the losses and the last output (its metrics). The objective tests assert learning as the mean of
    the last three losses below that of the first three.
    """
    optimizer = torch.optim.Adam(objective.parameters(), lr=lr)
    losses: list[float] = []
    out = None
    for step in range(steps):
        out = objective(batch, generator=torch.Generator().manual_seed(step % 3))
        assert torch.isfinite(out.loss), f"step {step}: loss {out.loss}"
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    return losses, out


def learned(losses: list[float]) -> bool:
    """Mean of the last three losses below the mean of the first three."""
    return bool(np.mean(losses[-3:]) < np.mean(losses[:3]))
