"""Zero-shot mutation effects by masked marginals (ESM-2, SaProt and ESM C; Meier et al. 2021, SaProt's
``model/saprot/saprot_foldseek_mutation_model.py``).

ESM C runs through the same interface (:class:`~protenc_seq.esmc.ESMCEncoder` is an ``ESM2Encoder``): ``<mask>``
at the sites and the log-softmax over all 64 outputs of its LM head (the references' ``sequence_logits``).

For a mutant ``A42G:L87P`` the wild-type sequence is run once with *every* mutated site hidden -- ESM-2: the
``<mask>`` token; SaProt: ``#`` in the amino-acid slot with the site's 3Di letter kept -- and

    score = Σ_i log P_i(mut_i) - log P_i(wt_i)

over the sites ``i``. ESM-2: ``log P(aa)`` is the log-softmax over the whole vocabulary at the token of ``aa``
(SaProt's ``esm_mutation_model``). SaProt: ``P(aa) = Σ_s softmax(logits)[aa + s]`` over the 21 structure-aware
tokens sharing the amino acid (every 3Di letter and ``#``), the softmax taken over all 446 tokens
(``saprot_foldseek_mutation_model``). ``multi="independent"`` instead sums single-site marginals (each site
masked alone; fair-esm's ``masked-marginals``). Mutants sharing the same masked set share one forward pass,
and all single mutants at a position share one pass (19 substitutions each).

Positions are numbered from ``offset`` (1 by default; the BLAT_ECOLX scan uses 24); the wild-type letter of
every mutation is checked against the sequence. A wild type longer than the model's window is scored with
``on_long="window"``: each masked pass reads the window of the model's length centred on its sites (ProteinGym's
rule for long proteins, :func:`protenc_seq.windows.centered_window`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from protenc_seq.alphabet import AMINO_ACIDS
from protenc_seq.encoder import ESM2Encoder, encoder_for, evaluating
from protenc_seq.errors import CheckpointError, LongSequencesWarning, MutationError
from protenc_seq.esm2.model import ESM2
from protenc_seq.esm2.packing import PackedBatch
from protenc_seq.esmc.model import ESMC
from protenc_seq.mutations import Mutation, parse_mutant
from protenc_seq.windows import centered_window, window_starts

_AA_INDEX = {a: i for i, a in enumerate(AMINO_ACIDS)}
#: What the scoring functions take: an encoder or a bare ESM-2 / SaProt / ESM C network.
Scorer = ESM2Encoder | ESM2 | ESMC
_SAPROT_MASKED_AA = 5 + 21 * 20  # id of "#p": amino-acid slot '#' with 3Di index 0

__all__ = ["Mutation", "masked_marginals", "parse_mutant", "score_mutants", "wild_type_marginals"]


def _as_encoder(encoder: Scorer) -> ESM2Encoder:
    """``encoder`` itself, or the encoder class matching a bare network (ESM C -> ``ESMCEncoder``)."""
    if isinstance(encoder, ESM2Encoder):
        return encoder
    if isinstance(encoder, ESMC):
        from protenc_seq.esmc.encoder import ESMCEncoder

        return ESMCEncoder(encoder)
    return encoder_for(encoder)


def _wild_type_tokens(encoder: ESM2Encoder, sequence: str, structure: str | None) -> torch.Tensor:
    """``(L + 2,)`` token ids of the wild type (SaProt: paired with the 3Di ``structure``)."""
    model = encoder.model
    if not model.has_lm_head:
        raise CheckpointError(
            "checkpoint",
            "the model has no LM head (a Hugging Face EsmModel rather than EsmForMaskedLM?); zero-shot scoring "
            "needs its logits",
        )
    saprot = model.config.vocab == "saprot"
    if structure is not None and not saprot:
        raise ValueError("a 3Di structure string only applies to SaProt")
    inp = (sequence, structure) if saprot and structure is not None else sequence
    tokenizer = encoder.tokenizer
    if tokenizer.on_long == "window":  # the whole wild type; each masked set then runs in its own window
        tokenizer = copy.copy(tokenizer)
        tokenizer.on_long = "full"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LongSequencesWarning)
        tokens = torch.from_numpy(tokenizer.encode([inp], ids=["wild type"])[0])
    if len(tokens) - 2 != len(sequence):
        raise MutationError(
            "wild type",
            f"{len(sequence)} residues exceed the model's window; score it with on_long='window' (or 'full')",
        )
    return tokens


def _log_probs(logits: torch.Tensor, aa_ids: torch.Tensor, saprot: bool) -> torch.Tensor:
    """``(n, 20)`` log P(aa) from ``(n, V)`` logits (SaProt: P summed over the 21 tokens of the amino acid)."""
    if saprot:
        return torch.softmax(logits, -1)[:, aa_ids].sum(-1).log()
    return torch.log_softmax(logits, -1)[:, aa_ids]


class _Marginals:
    """Batched masked forward passes: log P(aa) ``(20,)`` at each site of each distinct masked set."""

    def __init__(self, encoder: ESM2Encoder, sequence: str, structure: str | None, max_tokens: int) -> None:
        self.encoder = encoder
        self.saprot = encoder.model.config.vocab == "saprot"
        self.wild_type = _wild_type_tokens(encoder, sequence, structure)  # (L + 2,)
        self.aa_ids = torch.from_numpy(encoder.model.alphabet.amino_acid_token_ids())  # (20,) or (20, 21)
        self.max_tokens = max_tokens
        tok, length = encoder.tokenizer, len(sequence)
        #: on_long="window" and a longer wild type: each masked set runs in ProteinGym's centred window
        self.window = (
            tok.max_residues if tok.on_long == "window" and length > (tok.max_residues or length) else None
        )

    def span(self, sites: tuple[int, ...]) -> tuple[int, int]:
        """Residues ``[a, b)`` the masked pass of ``sites`` reads: the whole wild type, or with windows
        :func:`~protenc_seq.windows.centered_window` around the sites' midpoint (all sites must fit in it)."""
        length = len(self.wild_type) - 2
        if self.window is None:
            return 0, length
        a, b = centered_window((min(sites) + max(sites)) // 2, length, self.window)
        if min(sites) < a or max(sites) >= b:
            raise MutationError(
                "mutant", f"sites {min(sites) + 1}..{max(sites) + 1} span more than the model's window of "
                f"{self.window} residues; score them with multi='independent'"
            )  # fmt: skip
        return a, b

    def masked(self, sites: tuple[int, ...]) -> torch.Tensor:
        a, b = self.span(sites)
        tokens = self.wild_type.clone()
        for i in sites:
            if self.saprot:
                t = int(tokens[i + 1])
                struct = (t - 5) % 21 if t >= 5 else 20  # keep the 3Di letter ('#' for <unk>)
                tokens[i + 1] = _SAPROT_MASKED_AA + struct
            else:
                tokens[i + 1] = self.encoder.model.alphabet.mask_id
        if (a, b) != (0, len(tokens) - 2):  # a window: <cls> residues[a:b] <eos>
            tokens = torch.cat([tokens[:1], tokens[1 + a : 1 + b], tokens[-1:]])
        return tokens

    def compute(self, site_sets: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], np.ndarray]:
        """``{sites: (len(sites), 20) float64 log P(aa)}`` for every masked set."""
        model = self.encoder.model
        length = len(self.wild_type) if self.window is None else self.window + 2  # tokens per masked pass
        per_batch = max(1, self.max_tokens // length)
        out: dict[tuple[int, ...], np.ndarray] = {}
        device = self.encoder.device
        with evaluating(model), torch.inference_mode(), self.encoder.autocast():
            for start in range(0, len(site_sets), per_batch):
                chunk = site_sets[start : start + per_batch]
                packed = PackedBatch.from_token_arrays([self.masked(s) for s in chunk], device)
                rows = torch.tensor(
                    [j * length + 1 + i - self.span(s)[0] for j, s in enumerate(chunk) for i in s],
                    dtype=torch.long,
                    device=device,
                )
                logits = model.forward_packed(packed, logits_rows=rows).logits.float()  # (n_sites, V)
                logp = _log_probs(logits, self.aa_ids.to(device), self.saprot).double().cpu().numpy()
                k = 0
                for s in chunk:
                    out[s] = logp[k : k + len(s)]
                    k += len(s)
        return out


def score_mutants(
    encoder: Scorer,
    sequence: str,
    mutants: Sequence[str],
    *,
    offset: int = 1,
    structure: str | None = None,
    multi: Literal["joint", "independent"] = "joint",
    max_tokens: int = 8192,
    method: Literal["masked_marginal", "wt_marginal"] = "masked_marginal",
) -> np.ndarray:
    """Zero-shot scores ``(len(mutants),)`` float64 (higher = more favourable than the wild type), summed over the
    sites of a multi-mutant.

    Args:
        encoder: ESM-2, SaProt or ESM C encoder (or bare model).
        sequence: Wild-type amino-acid sequence.
        mutants: ``"A42G"`` / ``"A42G:L87P"`` strings, numbered from ``offset``.
        structure: SaProt only: the wild type's 3Di string (any case; ``#`` = unknown). Without it SaProt
            scores from sequence alone (``#`` everywhere).
        multi: ``"joint"`` (mask all sites of a mutant in one pass; SaProt's rule) or ``"independent"``.
        max_tokens: Tokens per forward batch.
        method: ``"masked_marginal"`` (above) or ``"wt_marginal"``: the same log-ratio from one unmasked pass
            over the wild type (:func:`wild_type_marginals`; ``multi`` does not apply).
    """
    enc = _as_encoder(encoder)
    parsed = [parse_mutant(m, sequence, offset) for m in mutants]
    if method == "wt_marginal":
        wt = wild_type_marginals(enc, sequence, structure=structure)
        return np.array(
            [
                sum(wt[mu.index, _AA_INDEX[mu.mt]] - wt[mu.index, _AA_INDEX[mu.wt]] for mu in m)
                for m in parsed
            ],
            dtype=np.float64,
        )
    if method != "masked_marginal":
        raise ValueError(f"method must be 'masked_marginal' or 'wt_marginal', not {method!r}")
    if multi not in ("joint", "independent"):
        raise ValueError(f"multi must be 'joint' or 'independent', not {multi!r}")
    keys = [
        [tuple(sorted(mu.index for mu in muts))] if multi == "joint" else [(mu.index,) for mu in muts]
        for muts in parsed
    ]
    distinct = sorted({k for ks in keys for k in ks})
    table = _Marginals(enc, sequence, structure, max_tokens).compute(distinct)
    scores = np.zeros(len(mutants), dtype=np.float64)
    for n, (muts, ks) in enumerate(zip(parsed, keys)):
        rows = {i: row for k in ks for i, row in zip(k, table[k])}
        scores[n] = sum(rows[mu.index][_AA_INDEX[mu.mt]] - rows[mu.index][_AA_INDEX[mu.wt]] for mu in muts)
    return scores


def masked_marginals(
    encoder: Scorer,
    sequence: str,
    positions: Sequence[int] | None = None,
    *,
    structure: str | None = None,
    max_tokens: int = 8192,
) -> np.ndarray:
    """``(P, 20)`` log P(aa) (order :data:`AMINO_ACIDS`) at each 0-based position, each masked on its own."""
    enc = _as_encoder(encoder)
    positions = list(range(len(sequence))) if positions is None else list(positions)
    bad = [p for p in positions if not 0 <= p < len(sequence)]
    if bad:
        raise MutationError("positions", f"{bad[:5]} are outside the sequence of length {len(sequence)}")
    table = _Marginals(enc, sequence, structure, max_tokens).compute(sorted({(p,) for p in positions}))
    return np.stack([table[(p,)][0] for p in positions]) if positions else np.zeros((0, 20))


def wild_type_marginals(encoder: Scorer, sequence: str, *, structure: str | None = None) -> np.ndarray:
    """``(L, 20)`` float64 log P(aa) (order :data:`AMINO_ACIDS`) at every position from one unmasked pass over the
    wild type (fair-esm ``wt-marginals``; SaProt: P(aa) summed over the 21 tokens sharing the amino acid); a long
    wild type with ``on_long="window"``: averaged over the overlapping windows covering each position."""
    enc = _as_encoder(encoder)
    model = enc.model
    tokens = _wild_type_tokens(enc, sequence, structure)
    aa_ids = torch.from_numpy(model.alphabet.amino_acid_token_ids()).to(enc.device)  # (20,) or (20, 21)
    saprot, length, window = model.config.vocab == "saprot", len(sequence), enc.tokenizer.max_residues
    if enc.tokenizer.on_long != "window" or window is None or length <= window:
        starts, window = [0], length
    else:  # long wild type: log P averaged over the overlapping windows covering each position
        starts = window_starts(length, window, enc.window_stride or max(1, window // 2))
    total, count = np.zeros((length, 20)), np.zeros((length, 1))
    with evaluating(model), torch.inference_mode(), enc.autocast():
        for a in starts:
            part = torch.cat([tokens[:1], tokens[1 + a : 1 + a + window], tokens[-1:]])
            logits = model(part[None].to(enc.device)).logits[0, 1:-1].float()  # (W, V)
            total[a : a + window] += _log_probs(logits, aa_ids, saprot).double().cpu().numpy()
            count[a : a + window] += 1
    return total / count
