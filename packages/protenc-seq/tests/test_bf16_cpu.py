"""``precision="bf16"`` on the CPU: ESM-2 / SaProt embeddings and masked-marginal scores against the same model in
fp32 (the truth), on real inputs: Swiss-Prot sequences, the BLAT_ECOLX deep mutational scan (fair-esm examples),
PDB chains with the 3Di strings Foldseek computed for them. No pretrained weights are available offline, so the
models are ESM-2 8M-shaped (6 × 320) with non-trivial random weights.

Bounds (issue 14): per-protein embedding cosine ≥ 0.999, masked-marginal scores Spearman ≥ 0.99 vs fp32. They hold
with or without native bf16 (AMX / AVX512-BF16): only the speed differs, so nothing here is skipped on that.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

from protdata import Protein, ProteinBatch, load_chains
from protdata.testing import shared_data
from protenc_seq import ESM2, ESM2Config, ESM2Encoder, SaProtEncoder, embed, masked_marginals, score_mutants
from protenc_seq.esm2.linear import bf16_weights, linear

pytestmark = pytest.mark.numerics

COSINE = 0.999
SPEARMAN = 0.99
SHAPE = {"num_layers": 6, "embed_dim": 320, "attention_heads": 20}  # ESM-2 8M


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Non-trivial random weights (LayerNorm weights around 1), as ``conftest.randomize_``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return module


def pair(vocab: str = "esm", seed: int = 0) -> tuple[ESM2Encoder, ESM2Encoder]:
    """The same random 8M-shaped model behind an fp32 and a bf16 encoder."""
    model = randomize_(ESM2(ESM2Config(**SHAPE, vocab=vocab)), seed).eval()  # type: ignore[arg-type]
    cls = SaProtEncoder if vocab == "saprot" else ESM2Encoder
    with warnings.catch_warnings():  # a CPU without native bf16 warns that bf16 will be slow: fine here
        warnings.simplefilter("ignore", RuntimeWarning)
        return cls(model, precision="fp32"), cls(model, precision="bf16")


def cosines(a: list[torch.Tensor], b: list[torch.Tensor]) -> np.ndarray:
    return np.array([float(F.cosine_similarity(x.double(), y.double(), dim=-1).min()) for x, y in zip(a, b)])


def structure_proteins() -> list[Protein]:
    """Real PDB chains with their Foldseek 3Di strings (``shared/data/foldseek``)."""
    three_di: dict[str, str] = {}
    name = None
    for line in shared_data("foldseek", "foldseek_3di.fasta").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
        elif name is not None:
            three_di[name] = three_di.get(name, "") + line.strip()
    proteins = []
    for entry in ("1aki", "3o5r"):
        protein = load_chains(shared_data("foldseek", "structures") / f"{entry}.cif")[0]
        assert len(three_di[f"{entry}_A"]) == len(protein.sequence)
        proteins.append(protein.replace(structure_tokens=three_di[f"{entry}_A"].lower()))
    return proteins


def test_esm2_embeddings_cosine(cafa_records) -> None:
    fp32, bf16 = pair()
    records = sorted(cafa_records, key=lambda r: len(r[1]))[::8]  # 19 real proteins, 35 … 1,022 residues
    seqs = [s[:1022] for _, s in records]
    want = embed(fp32, seqs, nonstandard="x")
    got = embed(bf16, seqs, nonstandard="x")
    assert all(g.dtype == torch.float32 for g in got)
    cos = cosines(want, got)
    assert cos.min() >= COSINE, f"worst per-protein cosine {cos.min():.5f}"
    assert not all(torch.equal(w, g) for w, g in zip(want, got))  # bf16 really ran
    few = seqs[:4]
    per_residue = cosines(
        embed(fp32, few, per_residue=True, nonstandard="x"),
        embed(bf16, few, per_residue=True, nonstandard="x"),
    )
    assert per_residue.min() >= 0.99  # every single residue row, not only the mean


def test_esm2_masked_marginals_spearman(blat) -> None:
    fp32, bf16 = pair(seed=1)
    sequence, mutants, offset = blat
    sites = sorted({int(m[1:-1]) for m in mutants})[::8]  # ~33 positions, all their substitutions
    subset = [m for m in mutants if int(m[1:-1]) in set(sites)]
    want = score_mutants(fp32, sequence, subset, offset=offset)
    got = score_mutants(bf16, sequence, subset, offset=offset)
    rho = spearmanr(want, got).statistic
    assert rho >= SPEARMAN, f"Spearman {rho:.4f} over {len(subset)} BLAT_ECOLX mutants"
    assert np.abs(want - got).max() < 0.25 * want.std()


def test_saprot_embeddings_and_scores_with_real_3di() -> None:
    fp32, bf16 = pair("saprot", seed=2)
    proteins = structure_proteins()
    batch = ProteinBatch.collate(proteins)
    with torch.inference_mode():
        a, b = fp32(batch), bf16(batch)
    cos = F.cosine_similarity(a.protein.double(), b.protein.double(), dim=-1)
    assert cos.min() >= COSINE and b.protein.dtype == torch.float32
    lysozyme = proteins[0]
    positions = list(range(0, len(lysozyme.sequence), 4))
    want = masked_marginals(fp32, lysozyme.sequence, positions, structure=lysozyme.structure_tokens)
    got = masked_marginals(bf16, lysozyme.sequence, positions, structure=lysozyme.structure_tokens)
    wt = np.array([list("ACDEFGHIKLMNPQRSTVWY").index(lysozyme.sequence[p]) for p in positions])
    rows = np.arange(len(positions))
    delta_want = (want - want[rows, wt][:, None]).ravel()  # every substitution's masked-marginal score
    delta_got = (got - got[rows, wt][:, None]).ravel()
    rho = spearmanr(delta_want, delta_got).statistic
    assert rho >= SPEARMAN, f"SaProt Spearman {rho:.4f}"


def test_bf16_linear_matches_bf16_reference_and_tracks_weight_changes() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(64, 96)
    x, residual = torch.randn(33, 64), torch.randn(33, 96)
    with torch.inference_mode():
        xb, wb, bb = x.bfloat16().double(), layer.weight.bfloat16().double(), layer.bias.bfloat16().double()
        want = xb @ wb.T + bb  # the exact product of the bf16-rounded operands
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = linear(x, layer)
            g = linear(x, layer, gelu=True)
            r = linear(x, layer, residual=residual)
        assert y.dtype == torch.bfloat16 and r.dtype == torch.float32  # the fp32 residual stream stays fp32
        assert (y.double() - want).abs().max() <= 0.02 * want.abs().max()
        assert (g.double() - F.gelu(want)).abs().max() <= 0.02 * want.abs().max()
        assert (r.double() - (residual.double() + want)).abs().max() <= 0.02 * want.abs().max()
        first = bf16_weights(layer)[0]
        assert bf16_weights(layer)[0] is first  # cached
    with torch.no_grad():
        layer.weight.mul_(2)  # an in-place update (optimizer step): the cache is redone
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(bf16_weights(layer)[0], layer.weight.detach().bfloat16())
        assert (linear(x, layer).double() - (2 * (xb @ wb.T) + bb)).abs().max() <= 0.04 * want.abs().max()
    assert "_bf16_cache" not in layer.state_dict()


def test_bf16_training_step_on_the_cpu_keeps_fp32_gradients(real_sequences) -> None:
    fp32, bf16 = pair(seed=3)
    bf16.train()
    batch = ProteinBatch.collate([Protein.from_sequence(n, s) for n, s in real_sequences[:3]])
    out = bf16(batch)  # autograd path: F.linear under CPU autocast, fp32 master weights
    with torch.no_grad():
        want = fp32(batch).protein
    assert F.cosine_similarity(out.protein.double(), want.double(), dim=-1).min() >= COSINE
    assert not torch.equal(out.protein, want)
    out.residue.float().pow(2).mean().backward()
    grads = [p.grad for p in bf16.model.layers.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
