"""protenc_seq.windows: long proteins as overlapping windows, features averaged over the windows covering each
residue. The truth is a brute-force loop: every window run alone through the encoder, averaged in float64; for
SaProt the windows are cut from the Protein itself (protdata's own slicing, independent of the batch slicing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protdata import Protein, ProteinBatch, load_chains
from protdata.testing import shared_data
from protenc_seq import ESM2Config, ESM2Encoder, SaProtEncoder
from protenc_seq.windows import centered_window, split_into_windows, window_starts, windowed_forward

WINDOW, STRIDE = 60, 25


def test_window_starts_cover_every_residue_and_end_at_the_protein_end() -> None:
    assert window_starts(1000, 1022, 511) == [0]
    assert window_starts(3000, 1022, 511) == [0, 511, 1022, 1533, 1978]
    assert window_starts(2044, 1022, 1022) == [0, 1022]
    for length in range(1, 300, 7):
        starts = window_starts(length, 40, 15)
        covered = np.zeros(length, dtype=int)
        for s in starts:
            covered[s : s + 40] += 1
        assert covered.min() >= 1 and starts[-1] + min(40, length) == length
    with pytest.raises(ValueError, match="stride"):
        window_starts(100, 10, 11)


def test_centered_window_is_proteingyms_rule() -> None:
    # ProteinGym get_optimal_window(mutation_position_relative, seq_len_wo_special, model_window), by hand
    assert centered_window(10, 800, 1022) == (0, 800)  # fits: the whole protein
    assert centered_window(10, 3000, 1022) == (0, 1022)  # near the start
    assert centered_window(2990, 3000, 1022) == (1978, 3000)  # near the end
    assert centered_window(1500, 3000, 1022) == (989, 2011)  # centred: position - 511 … position + 511
    assert centered_window(511, 3000, 1022) == (0, 1022)


def _brute(encoder, proteins: list[Protein]) -> list[np.ndarray]:
    """Per protein: float64 mean over the windows covering each residue, each window encoded alone."""
    out = []
    for p in proteins:
        total, count = np.zeros((len(p), encoder.output_dim)), np.zeros((len(p), 1))
        for s in window_starts(len(p), WINDOW, STRIDE):
            piece = p.select(slice(s, s + WINDOW))
            with torch.no_grad():
                res = encoder(ProteinBatch.collate([piece])).residue[0].double().numpy()
            total[s : s + len(piece)] += res
            count[s : s + len(piece)] += 1
        out.append(total / count)
    return out


def _check(encoder, proteins: list[Protein]) -> None:
    batch = ProteinBatch.collate(proteins)
    with torch.no_grad():
        out = windowed_forward(encoder, batch, WINDOW, STRIDE)
    for i, want in enumerate(_brute(encoder, proteins)):
        got = out.residue[i, : len(proteins[i])].double().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out.protein[i].double().numpy(), want.mean(0), rtol=1e-5, atol=1e-5)
    assert not out.residue[0, len(proteins[0]) :].any()  # padding stays zero
    assert torch.equal(out.mask, batch.mask)


def test_esm2_windows_equal_a_loop_over_windows(real_sequences) -> None:
    torch.manual_seed(0)
    encoder = ESM2Encoder(ESM2Config(num_layers=2, embed_dim=32, attention_heads=4)).eval()
    encoder.tokenizer.max_residues = WINDOW  # a 60-residue "model window" keeps the test small
    proteins = [Protein.from_sequence(n, s) for n, s in real_sequences[:4]]  # 35 … ~200 residues
    assert len(proteins[0]) < WINDOW < len(proteins[-1])
    _check(encoder, proteins)


def test_saprot_windows_slice_the_3di_string_with_the_residues() -> None:
    torch.manual_seed(1)
    encoder = SaProtEncoder(ESM2Config(num_layers=2, embed_dim=32, attention_heads=4, vocab="saprot")).eval()
    encoder.tokenizer.max_residues = WINDOW
    three_di: dict[str, str] = {}  # Foldseek's own 3Di strings of the chains
    name = None
    for line in shared_data("foldseek", "foldseek_3di.fasta").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
        elif name is not None:
            three_di[name] = three_di.get(name, "") + line.strip()
    proteins = [
        load_chains(shared_data("foldseek", "structures") / f"{e}.cif")[0].replace(
            structure_tokens=three_di[f"{e}_A"].lower()
        )
        for e in ("1aki", "3o5r")
    ]
    assert all(p.structure_tokens and len(p.structure_tokens) == len(p) > WINDOW for p in proteins)
    windows, plan = split_into_windows(ProteinBatch.collate(proteins), WINDOW, STRIDE)
    for w, (i, s) in enumerate(zip(plan.owner, plan.start, strict=True)):
        assert windows.structure_tokens[w] == proteins[i].structure_tokens[s : s + WINDOW]
        assert windows.sequences[w] == proteins[i].sequence[s : s + WINDOW]
    _check(encoder, proteins)


def _proteingym_window(position: int, length: int, window: int) -> tuple[int, int]:
    """ProteinGym's get_optimal_window, written out case by case from its published definition."""
    if length <= window:
        return 0, length
    if position < window // 2:
        return 0, window
    if position >= length - window // 2:
        return length - window, length
    return position - window // 2, position + window // 2


def test_long_wild_type_scores_each_site_in_its_centred_window(real_sequences) -> None:
    """masked_marginals / score_mutants with on_long="window" equal scoring the centred window's substring
    with the plain (in-window) path."""
    from protenc_seq.scoring import masked_marginals, score_mutants

    torch.manual_seed(2)
    model_args = {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}
    windowed = ESM2Encoder(ESM2Config(**model_args), on_long="window").eval()
    windowed.tokenizer.max_residues = WINDOW
    plain = ESM2Encoder(windowed.model).eval()  # same weights, the default window of 1,022
    sequence = real_sequences[-1][1]  # the longest of six real sequences (> 2 windows)
    positions = [0, 5, 29, 30, len(sequence) // 2, len(sequence) - 31, len(sequence) - 1]
    got = masked_marginals(windowed, sequence, positions)
    for row, p in zip(got, positions, strict=True):
        a, b = _proteingym_window(p, len(sequence), WINDOW)
        np.testing.assert_allclose(
            row, masked_marginals(plain, sequence[a:b], [p - a])[0], rtol=1e-6, atol=1e-6
        )
    mutants = [f"{sequence[p]}{p + 1}{'A' if sequence[p] != 'A' else 'G'}" for p in positions]
    want = [got[k][list("ACDEFGHIKLMNPQRSTVWY").index(m[-1])] - got[k][list("ACDEFGHIKLMNPQRSTVWY").index(m[0])]
            for k, m in enumerate(mutants)]  # fmt: skip
    np.testing.assert_allclose(score_mutants(windowed, sequence, mutants), want, rtol=1e-9, atol=1e-9)
    with pytest.raises(Exception, match="span more than the model's window"):
        score_mutants(
            windowed, sequence, [f"{mutants[0]}:{mutants[-1]}"]
        )  # farther apart than the window, joint


def test_a_3000_residue_protein_embeds_and_scores_with_the_default_window(cafa_records) -> None:
    """The longest real Swiss-Prot sequence (3,148 residues) through the encoder config's on_long="window":
    embedding equal to the loop over 1,022-residue windows, and scores from centred windows."""
    from protenc_seq import build_sequence_encoder
    from protenc_seq.scoring import score_mutants

    name, sequence = max(cafa_records, key=lambda r: len(r[1]))
    sequence = "".join(c if c in "ACDEFGHIKLMNPQRSTVWY" else "X" for c in sequence)
    assert len(sequence) > 3000
    torch.manual_seed(3)
    config = {"type": "esm2", "architecture": model_args_tiny(), "on_long": "window", "window_stride": 700}
    encoder = build_sequence_encoder(config).eval()
    assert encoder.config.on_long == "window" and encoder.config.window_stride == 700
    protein = Protein.from_sequence(name, sequence)
    with torch.no_grad():
        out = encoder(ProteinBatch.collate([protein]))
    total, count = np.zeros((len(sequence), encoder.output_dim)), np.zeros((len(sequence), 1))
    for s in window_starts(len(sequence), 1022, 700):
        with torch.no_grad():
            res = (
                encoder(ProteinBatch.collate([protein.select(slice(s, s + 1022))]))
                .residue[0]
                .double()
                .numpy()
            )
        total[s : s + 1022] += res
        count[s : s + 1022] += 1
    np.testing.assert_allclose(out.residue[0].double().numpy(), total / count, rtol=1e-5, atol=1e-5)
    scores = score_mutants(encoder, sequence, [f"{sequence[9]}10A", f"{sequence[3000]}3001G"])
    assert np.isfinite(scores).all()


def model_args_tiny() -> dict:
    return {"num_layers": 2, "embed_dim": 32, "attention_heads": 4}
