"""ESM C embedding throughput: our :class:`protenc_seq.esmc.ESMC` vs transformers' ``EsmcModel`` on the same
random weights, and next to our ESM-2 of similar size (issue 15: "ESM C 300M CPU embedding tok/s next to ESM-2
150M").

    uv run python benchmarks/bench_esmc.py [--preset 300M] [--esm2 150M] [--sequences 24] [--device cpu]
        [--precision fp32 bf16]

The proteins are the first ``--sequences`` of the real CAFA-like FASTA (``function/cafa_like_sequences.fasta`` of the
shared data), cut to 1,022 residues, embedded with :func:`protenc_seq.embed` (length buckets of ``--max-tokens``
padded tokens, mean over residues) in each ``--precision`` (fp32, then bf16 autocast, on the CPU too). transformers
runs the same buckets (right-padded, ``attention_mask``, SDPA) and the mean over its ``last_hidden_state`` residues;
the largest difference between the two embeddings is printed with the ratio. Each side runs once to warm up, then
``--repeats`` rounds alternating the sides; the best time counts.
"""

from __future__ import annotations

import argparse
import time

import torch

from protdata.testing import shared_data


def read_sequences(count: int, crop: int = 1022) -> list[str]:
    seqs, current = [], []
    for line in shared_data("function", "cafa_like_sequences.fasta").read_text().splitlines():
        if line.startswith(">"):
            if current:
                seqs.append("".join(current))
            current = []
        else:
            current.append(line.strip())
    if current:
        seqs.append("".join(current))
    clean = [s[:crop] for s in seqs if set(s) <= set("ACDEFGHIKLMNPQRSTVWYX")]
    return clean[:count]


def timed(fns: list, repeats: int, device: torch.device) -> list[float]:
    """Best wall time of each function over ``repeats`` rounds, the functions alternating within a round (the
    CPU may be shared: alternating keeps background load from favouring one side)."""
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()  # warm-up
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="300M")
    parser.add_argument("--esm2", default="150M")
    parser.add_argument("--sequences", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"], help="bf16: autocast"
    )
    args = parser.parse_args()

    import transformers

    from protenc_seq import ESM2Config, ESM2Encoder, embed
    from protenc_seq.esm2.packing import length_buckets
    from protenc_seq.esmc import ESMCConfig, ESMCEncoder, ours_to_hf

    device = torch.device(args.device)
    seqs = read_sequences(args.sequences)
    tokens = sum(len(s) + 2 for s in seqs)
    torch.manual_seed(0)
    config = ESMCConfig.preset(args.preset)
    ours = ESMCEncoder(config).eval().to(device)
    hf_config = transformers.EsmcConfig(
        vocab_size=config.vocab_rows,
        hidden_size=config.embed_dim,
        intermediate_size=config.ffn,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.attention_heads,
        attn_implementation="sdpa",
    )
    hf = transformers.EsmcForMaskedLM(hf_config).eval()
    hf.load_state_dict(ours_to_hf({k: v.cpu() for k, v in ours.model.state_dict().items()}))
    hf = hf.esmc.to(device)
    esm2 = ESM2Encoder(ESM2Config.preset(args.esm2)).eval().to(device)
    tok = transformers.EsmcTokenizer()
    buckets = length_buckets([len(s) + 2 for s in seqs], args.max_tokens)
    print(f"{len(seqs)} real sequences, {tokens} tokens, {device.type}, max_tokens {args.max_tokens}")

    for precision in args.precision:
        bf16 = precision == "bf16"
        ours.precision = esm2.precision = precision

        def run_ours() -> list[torch.Tensor]:
            return embed(ours, seqs, max_tokens=args.max_tokens)

        def run_esm2() -> list[torch.Tensor]:
            return embed(esm2, seqs, max_tokens=args.max_tokens)

        def run_hf(bf16: bool = bf16) -> list[torch.Tensor]:
            out: list[torch.Tensor | None] = [None] * len(seqs)
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                for bucket in buckets:
                    enc = tok([seqs[i] for i in bucket], padding=True, return_tensors="pt").to(device)
                    hidden = hf(
                        input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                    ).last_hidden_state
                    for row, i in enumerate(bucket):
                        out[i] = hidden[row, 1 : len(seqs[i]) + 1].float().mean(0).cpu()
            return out  # type: ignore[return-value]

        diff = max(float((a - b).abs().max()) for a, b in zip(run_ours(), run_hf()))
        t_ours, t_hf, t_esm2 = timed([run_ours, run_hf, run_esm2], args.repeats, device)
        print(f"--- {precision}")
        print(f"ESM C {args.preset} ours          {tokens / t_ours:9.0f} tok/s  ({t_ours:.2f} s)")
        print(
            f"ESM C {args.preset} transformers  {tokens / t_hf:9.0f} tok/s  ({t_hf:.2f} s)  "
            f"ratio ours/hf {t_hf / t_ours:.2f}x"
        )
        print(
            f"ESM-2 {args.esm2} ours           {tokens / t_esm2:9.0f} tok/s  ({t_esm2:.2f} s)  "
            f"ESM C / ESM-2 time {t_ours / t_esm2:.2f}x"
        )
        print(f"max |ours - transformers| of the mean embeddings: {diff:.2e}")


if __name__ == "__main__":
    main()
