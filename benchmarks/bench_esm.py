"""ESM-2 embedding throughput: protenc-seq vs fair-esm (``esm-extract`` batching) vs transformers (SDPA).

CPU, fp32, same random weights in all three (no pretrained weights are available offline), the 147 real
Swiss-Prot sequences of ``shared/data/function/cafa_like_sequences.fasta`` (35-3,148 residues, cropped to 1,022
as ``esm-extract --truncation_seq_length 1022`` does). fair-esm runs exactly as ``esm-extract``:
``FastaBatchedDataset.get_batch_indices(4096, extra_toks_per_seq=1)``, ``BatchConverter``, per-residue
representations of the last layer sliced per sequence. transformers runs ``EsmModel`` (``attn_implementation=
"sdpa"``) on the same batches with an attention mask. protenc-seq runs its public ``embed(..., per_residue=True)``
(tokenisation and length bucketing included). Parity of every per-residue output (max |Δ| ≤ 1e-4) is asserted in
the same run. The three run interleaved batch by batch for several rounds; tokens/s come from the sum over
batches of each batch's best time (the machine is shared, so load spikes hit single batches; the minimum is the
least noisy estimate) and of its median time.

A bf16 column runs protenc-seq with ``precision="bf16"`` on the CPU (bf16 autocast: oneDNN bf16 GEMMs on cached
bf16 weights -- AMX / AVX512-BF16 where the CPU has them -- bf16 SDPA, fp32 residual stream) and transformers under
``torch.autocast("cpu", dtype=torch.bfloat16)`` as its reference; their per-protein embedding cosine vs fp32 is
checked (>= 0.999) in the same run. The header prints the CPU model, which bf16 ISA was detected
(``protdata.device.cpu_bf16_support``), the measured bf16/fp32 GEMM speed-up and the load average (the machine is
shared: compare ratios from one run, not absolute numbers across runs).

``--esm-cpp-python PATH`` adds esm.cpp (PyPI ``esm-cpp``, a C++ ESM-2 engine reading Hugging Face safetensors)
as a third reference. It pins numpy < 2, so it lives in its own environment, e.g.
``uv venv /tmp/esmcpp-env && uv pip install --python /tmp/esmcpp-env/bin/python esm-cpp``; PATH is that
environment's python. It runs in a subprocess on the same saved HF weights and the same tokens, batch by batch
with ``Model.forward_scheduled`` (its packed, length-bucketed entry point) and ``ESM_NUM_THREADS`` = torch's
thread count, after the in-process rounds (not interleaved: compare under similar load). Its logits are checked
against ours; esm.cpp returns per-residue hidden states only one sequence at a time
(``forward_with_hidden_states``), checked for the first sequence of every batch.

The header prints which CPU kernels ran (:func:`protdata.kernels.cpu_linear_backend` ``.describe()`` and the
per-epilogue choice of ``esm2/linear.py``). After the timings, a profile of protenc-seq's fp32 pass (dense GEMMs,
attention, the rest) and the ratios it could reach at most if attention ran at the dense GEMMs' FLOP rate.

With CUDA, a GPU section measures the 650M model in bf16: inference tokens/s (vs fair-esm fp32 as
``esm-extract`` runs it, and fp16) and a masked-LM training step's tokens/s and model-FLOPs utilisation.

    uv run python benchmarks/bench_esm.py                  # CPU: 8M and 35M
    uv run python benchmarks/bench_esm.py --sizes 8M --rounds 5
    uv run python benchmarks/bench_esm.py --esm-cpp-python /tmp/esmcpp-env/bin/python
    uv run python benchmarks/bench_esm.py --gpu-only       # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from protdata.device import bf16_gemm_speedup, cpu_bf16_support
from protdata.fasta import read_fasta_records
from protdata.kernels import cpu_linear_backend
from protenc_seq import ESM2, ESM2Config, ESM2Encoder, embed, save_huggingface
from protenc_seq.esm2.linear import describe_kernels
from protenc_seq.esm2.packing import PackedBatch
from protenc_seq.loading.checkpoint import RawCheckpoint, build_model
from protenc_seq.loading.convert import fair_to_ours

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _profile import describe_shares, time_shares

ROOT = Path(__file__).resolve().parents[1]
FASTA = ROOT.parent / "shared" / "data" / "function" / "cafa_like_sequences.fasta"
TOL = 1e-4
BF16_COSINE = 0.999
#: Dense bf16 tensor-core peaks (FLOP/s) used for MFU, by device-name substring.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}


def randomize_(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def build_trio(size: str, workdir: Path):
    """The same random weights as fair-esm ``ESM2``, our ``ESM2`` and transformers ``EsmModel`` (SDPA)."""
    import esm
    import transformers
    from transformers import EsmModel

    transformers.logging.set_verbosity_error()  # the LM head we wrote is "unexpected" for EsmModel
    c = ESM2Config.preset(size)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    fair = esm.model.esm2.ESM2(c.num_layers, c.embed_dim, c.attention_heads, alphabet, True)
    randomize_(fair, seed=c.num_layers)
    for layer in fair.layers:  # the fp16 rotary table of the released checkpoints
        layer.self_attn.rot_emb.inv_freq.copy_(layer.self_attn.rot_emb.inv_freq.half().float())
    fair.eval()
    state, _ = fair_to_ours(fair.state_dict(), "fair-esm")
    ours = build_model(RawCheckpoint(state=state, source=f"random {size}"))
    save_huggingface(ours, workdir / size)
    hf = EsmModel.from_pretrained(workdir / size, attn_implementation="sdpa", add_pooling_layer=False).eval()
    return fair, ours, hf, alphabet


def timed_rounds(
    fns: dict[str, Callable[[], object]], rounds: int, sync: Callable[[], None]
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def cpu_model() -> str:
    """``model name`` of /proc/cpuinfo (else the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


#: Runs inside the esm-cpp environment: ``python -c ESM_CPP_RUNNER request.json``; writes the reply's npz + json.
ESM_CPP_RUNNER = r"""
import json, statistics, sys, time
import numpy as np
import esm_cpp

req = json.load(open(sys.argv[1]))
model = esm_cpp.Model.load_from_safetensors(req["weights"])
batches = [[np.asarray(t, dtype=np.int32) for t in b] for b in req["batches"]]
logits, hidden = {}, {}
for b, batch in enumerate(batches):  # warm-up, and the outputs for parity
    for j, out in enumerate(model.forward_scheduled(batch)):
        logits[f"{b}_{j}"] = out
    hidden[f"{b}"] = model.forward_with_hidden_states(batch[0])[1][-1]
times = [[] for _ in batches]
for _ in range(req["rounds"]):
    for b, batch in enumerate(batches):
        start = time.perf_counter()
        model.forward_scheduled(batch)
        times[b].append(time.perf_counter() - start)
arrays = {"logits_" + k: v for k, v in logits.items()}
arrays.update({"hidden_" + k: v for k, v in hidden.items()})
np.savez(req["out"] + ".npz", **arrays)
json.dump({"best": sum(min(t) for t in times), "median": sum(statistics.median(t) for t in times),
           "version": esm_cpp.__version__, "isa": esm_cpp.current_isa(), "threads": esm_cpp.Model.num_threads},
          open(req["out"] + ".json", "w"))
"""


def run_esm_cpp(
    python: str, weights: Path, batches: list[list[np.ndarray]], rounds: int, workdir: Path
) -> tuple[dict, dict[str, np.ndarray]]:
    """Time esm.cpp on ``batches`` (token arrays, ``<cls>`` … ``<eos>``) in its own environment; returns its
    timing summary and its outputs (``logits_{batch}_{i}`` ``(L, V)``, ``hidden_{batch}`` ``(L, D)``)."""
    request = workdir / "esm_cpp_request.json"
    out = workdir / "esm_cpp_reply"
    request.write_text(
        json.dumps(
            {
                "weights": str(weights / "model.safetensors"),
                "batches": [[t.tolist() for t in b] for b in batches],
                "rounds": rounds,
                "out": str(out),
            }
        )
    )
    env = {**os.environ, "ESM_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run(
        [python, "-c", ESM_CPP_RUNNER, str(request)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"esm-cpp ({python}) failed:\n{done.stderr[-2000:]}")
    with np.load(f"{out}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return json.loads(Path(f"{out}.json").read_text()), arrays


def cpu_section(
    sizes: list[str], rounds: int, max_tokens: int, stride: int, bf16: bool, esm_cpp: str | None = None
) -> None:
    from esm.data import FastaBatchedDataset

    # esm-extract --truncation_seq_length 1022
    records = [(r.id, r.sequence[:1022]) for r in read_fasta_records(FASTA)][::stride]
    seqs = [s for _, s in records]
    n_res = sum(len(s) for s in seqs)
    print(
        f"CPU fp32{' and bf16' if bf16 else ''}, torch {torch.__version__}, {torch.get_num_threads()} threads; {len(seqs)} real sequences, "
        f"{n_res} residues (lengths {min(map(len, seqs))}-{max(map(len, seqs))}); {rounds} interleaved rounds"
    )
    support = cpu_bf16_support()
    print(
        f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); aten capability "
        f"{torch.backends.cpu.get_cpu_capability()}; {support.describe()}; "
        f"bf16/fp32 GEMM speed-up measured: {bf16_gemm_speedup():.1f}x; load average {load_average()}"
    )
    print(cpu_linear_backend().describe())
    print(
        f"protenc-seq kernels: linear {describe_kernels()}; attention SDPA (flash, CPU); "
        "rotary as one complex multiply (interleaved q/k)"
    )
    dataset = FastaBatchedDataset([n for n, _ in records], seqs)
    batches = dataset.get_batch_indices(4096, extra_toks_per_seq=1)  # esm-extract defaults
    for size in sizes:
        bench_size(size, records, batches, rounds, max_tokens, bf16, esm_cpp)
    print(f"load average after: {load_average()}")


def bench_size(
    size: str,
    records: list[tuple[str, str]],
    batches: list[list[int]],
    rounds: int,
    max_tokens: int,
    bf16: bool = True,
    esm_cpp: str | None = None,
) -> None:
    """Parity and interleaved timing of fair-esm, transformers and protenc-seq (fp32, and bf16 with transformers
    under CPU bf16 autocast as its reference) for one model size; esm.cpp after them when ``esm_cpp`` is given."""
    with tempfile.TemporaryDirectory() as tmp:
        _bench_size(size, records, batches, rounds, max_tokens, bf16, esm_cpp, Path(tmp))


def _bench_size(
    size: str,
    records: list[tuple[str, str]],
    batches: list[list[int]],
    rounds: int,
    max_tokens: int,
    bf16: bool,
    esm_cpp: str | None,
    tmp: Path,
) -> None:
    seqs = [s for _, s in records]
    n_res = sum(len(s) for s in seqs)
    fair, ours, hf, alphabet = build_trio(size, tmp)
    converter = alphabet.get_batch_converter(1022)
    encoder = ESM2Encoder(ours, nonstandard="keep")  # B/Z/U/O as fair-esm's own tokens
    encoder_bf16 = ESM2Encoder(ours, nonstandard="keep", precision="bf16")  # same weights
    layers = fair.num_layers

    def run_fair(batch: list[int]) -> list[torch.Tensor]:
        with torch.no_grad():
            _, strs, toks = converter([records[i] for i in batch])
            rep = fair(toks, repr_layers=[layers])["representations"][layers]
            return [rep[j, 1 : len(strs[j]) + 1].clone() for j in range(len(batch))]

    def run_hf(batch: list[int]) -> list[torch.Tensor]:
        with torch.no_grad():
            _, strs, toks = converter([records[i] for i in batch])
            rep = hf(toks, attention_mask=toks.ne(alphabet.padding_idx).long()).last_hidden_state
            return [rep[j, 1 : len(strs[j]) + 1].clone() for j in range(len(batch))]

    def run_ours(batch: list[int]) -> list[torch.Tensor]:
        return embed(encoder, [seqs[i] for i in batch], per_residue=True, max_tokens=max_tokens)

    def run_ours_bf16(batch: list[int]) -> list[torch.Tensor]:
        return embed(encoder_bf16, [seqs[i] for i in batch], per_residue=True, max_tokens=max_tokens)

    def run_hf_bf16(batch: list[int]) -> list[torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return [r.float() for r in run_hf(batch)]

    fns = {"fair-esm": run_fair, "transformers": run_hf, "protenc-seq": run_ours}
    if bf16:
        fns.update({"transformers bf16": run_hf_bf16, "protenc-seq bf16": run_ours_bf16})
    outputs = {k: {} for k in fns}
    for batch in batches:  # warm-up and parity on every per-residue output
        for k, fn in fns.items():
            outputs[k].update(zip(batch, fn(batch)))
    for ref in ("fair-esm", "transformers"):
        worst = max(
            float((outputs["protenc-seq"][i] - outputs[ref][i]).abs().max()) for i in range(len(seqs))
        )
        assert worst <= TOL, f"{size}: protenc-seq vs {ref} max |Δ| = {worst:.2e} > {TOL}"
        print(f"  {size}: parity vs {ref}: max |Δ| = {worst:.1e} over all per-residue outputs")
    for k in ("protenc-seq bf16", "transformers bf16") if bf16 else ():
        cos = min(
            float(
                torch.nn.functional.cosine_similarity(
                    outputs[k][i].double().mean(0), outputs["protenc-seq"][i].double().mean(0), dim=0
                )
            )
            for i in range(len(seqs))
        )
        assert cos >= BF16_COSINE, f"{size}: {k} per-protein cosine vs fp32 {cos:.5f} < {BF16_COSINE}"
        print(f"  {size}: {k} vs fp32: worst per-protein embedding cosine {cos:.6f}")
    # Interleave the three implementations batch by batch, round after round; per batch keep the best and
    # the median time (a shared machine's load spikes then hit single batches, not one implementation).
    per_batch: dict[str, list[list[float]]] = {k: [[] for _ in batches] for k in fns}
    for _ in range(rounds):
        for b, batch in enumerate(batches):
            for k, fn in fns.items():
                start = time.perf_counter()
                fn(batch)
                per_batch[k][b].append(time.perf_counter() - start)
    best = {k: sum(min(t) for t in v) for k, v in per_batch.items()}
    median = {k: sum(statistics.median(t) for t in v) for k, v in per_batch.items()}
    for k in fns:
        print(f"  {size} {k:>17}: {n_res / best[k]:9.0f} tok/s (best), {n_res / median[k]:9.0f} (median)")
    pairs = [("protenc-seq", "fair-esm"), ("protenc-seq", "transformers"), ("transformers", "fair-esm")]
    if bf16:
        pairs += [
            ("protenc-seq bf16", "protenc-seq"),
            ("protenc-seq bf16", "transformers bf16"),
            ("protenc-seq bf16", "transformers"),
            ("protenc-seq bf16", "fair-esm"),
        ]
    for a, b in pairs:
        print(
            f"  {size} ratio {a} / {b}: {best[b] / best[a]:.2f}x (best), {median[b] / median[a]:.2f}x (median)"
        )
    attention_bound(size, ours.config, [len(s) for s in seqs], lambda: [run_ours(b) for b in batches], best)
    if esm_cpp:
        bench_esm_cpp(size, esm_cpp, encoder, ours, seqs, batches, rounds, tmp, best, median, n_res)


def attention_bound(
    size: str, config: ESM2Config, lengths: list[int], run: Callable[[], object], best: dict[str, float]
) -> None:
    """Where protenc-seq's fp32 time goes (``torch.profiler``) and the most a faster attention kernel could give:
    attention at the dense GEMMs' measured FLOP rate, no cost for its softmax and no padding (Amdahl)."""
    shares = time_shares(run)
    rates = cpu_linear_backend().gflops.get("forward", {})
    print(f"  {size} protenc-seq fp32 time: {describe_shares(shares)}")
    if not rates:
        return
    rate = max(rates.values()) * 1e9  # FLOP/s of the faster backend's forward GEMM
    flops = sum(4.0 * (n + 2) ** 2 * config.embed_dim for n in lengths) * config.num_layers  # QKᵀ and PV
    ours = best["protenc-seq"]
    bound = ours * (1 - shares["attention"]) + flops / rate  # seconds
    free = ours * (1 - shares["attention"] - shares["other"])  # only the dense GEMMs left
    print(
        f"  {size} bound: attention at {rate / 1e9:.0f} GFLOP/s ({flops / 1e9:.0f} GFLOP) -> at most "
        f"{best['fair-esm'] / bound:.2f}x fair-esm, {best['transformers'] / bound:.2f}x transformers; "
        f"only the dense GEMMs -> {best['fair-esm'] / free:.2f}x / {best['transformers'] / free:.2f}x"
    )


def bench_esm_cpp(
    size: str,
    python: str,
    encoder: ESM2Encoder,
    ours: ESM2,
    seqs: list[str],
    batches: list[list[int]],
    rounds: int,
    tmp: Path,
    best: dict[str, float],
    median: dict[str, float],
    n_res: int,
) -> None:
    """esm.cpp on the saved HF weights and our tokens: parity of its logits (all) and final hidden states (first
    sequence of each batch) with ours, its tokens/s, and our ratio to it."""
    tokens = encoder.tokenizer.encode(seqs)
    token_batches = [[np.asarray(tokens[i], dtype=np.int64) for i in batch] for batch in batches]
    print(f"  {size} esm-cpp: running {python} after the rounds above (load average {load_average()})")
    info, arrays = run_esm_cpp(python, tmp / size, token_batches, rounds, tmp)
    worst_logit, worst_hidden, scale = 0.0, 0.0, 0.0
    with torch.no_grad():
        for b, batch in enumerate(token_batches):
            packed = PackedBatch.from_token_arrays(batch)
            out = ours.eval().forward_packed(packed, return_logits=True)
            for j, (logit, hidden) in enumerate(zip(packed.split(out.logits), packed.split(out.hidden))):
                theirs = torch.from_numpy(arrays[f"logits_{b}_{j}"]).double()
                worst_logit = max(worst_logit, float((logit.double() - theirs).abs().max()))
                scale = max(scale, float(logit.abs().max()))
                if j == 0:
                    theirs_h = torch.from_numpy(arrays[f"hidden_{b}"]).double()
                    worst_hidden = max(worst_hidden, float((hidden.double() - theirs_h).abs().max()))
    print(
        f"  {size}: parity vs esm-cpp {info['version']} ({info['isa']}, {info['threads']} threads): logits max |Δ| "
        f"= {worst_logit:.1e} (max |logit| {scale:.1f}), final hidden max |Δ| = {worst_hidden:.1e}"
    )
    print(
        f"  {size} {'esm-cpp':>17}: {n_res / info['best']:9.0f} tok/s (best), {n_res / info['median']:9.0f} "
        "(median)"
    )
    print(
        f"  {size} ratio protenc-seq / esm-cpp: {info['best'] / best['protenc-seq']:.2f}x (best), "
        f"{info['median'] / median['protenc-seq']:.2f}x (median)"
    )


def model_flops_per_step(config: ESM2Config, lengths: list[int], training: bool) -> float:
    """Model FLOPs of the transformer blocks: 2·(4D² + 2·D·F) per token per layer (projections, FFN) plus
    4·L²·D per sequence per layer (q·kᵀ and p·v); a training step is 3× the forward (forward + backward).
    The LM head (< 0.2 % at 650M) and elementwise work are not counted."""
    d, f = config.embed_dim, config.ffn
    tokens = sum(lengths)
    forward = config.num_layers * (2 * tokens * (4 * d * d + 2 * d * f) + sum(4 * n * n * d for n in lengths))
    return 3 * forward if training else forward


def gpu_section(size: str, rounds: int, peak: float | None, device: str = "cuda", stride: int = 1) -> None:
    import esm

    records = [(r.id, r.sequence[:1022]) for r in read_fasta_records(FASTA)][::stride]
    seqs = [s for _, s in records]
    n_res = sum(len(s) for s in seqs)
    config = ESM2Config.preset(size)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"
    peak = peak or next((p for k, p in PEAK_BF16.items() if k in name), None)
    print(f"GPU {name}: {size} ({config.num_parameters() / 1e6:.0f}M parameters), bf16")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    ours = ESM2(config)
    randomize_(ours, 0)
    ours = ours.to(device).eval()
    encoder = ESM2Encoder(ours, nonstandard="keep", precision="bf16" if device == "cuda" else "fp32")

    # ---- inference
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    fair = esm.model.esm2.ESM2(config.num_layers, config.embed_dim, config.attention_heads, alphabet, True)
    from protenc_seq.loading.convert import ours_to_fair

    our_state = {k: v.cpu() for k, v in ours.state_dict().items()}
    fair.load_state_dict(
        ours_to_fair(our_state, config.num_layers), strict=False
    )  # our weights, fair-esm's module
    fair = fair.to(device).eval()
    converter = alphabet.get_batch_converter(1022)
    batches = esm.data.FastaBatchedDataset([n for n, _ in records], seqs).get_batch_indices(4096, 1)

    def run_fair() -> None:  # esm-extract's loop (fair-esm's dtype: fp32, or fp16 after .half())
        with torch.no_grad():
            for batch in batches:
                toks = converter([records[i] for i in batch])[2].to(device)
                fair(toks, repr_layers=[config.num_layers])

    fns: dict[str, Callable[[], object]] = {
        "fair-esm fp32 (esm-extract)": run_fair,
        "protenc-seq bf16": lambda: embed(encoder, seqs),
    }
    for fn in fns.values():
        fn()
    times = {k: min(v) for k, v in timed_rounds(fns, rounds, sync).items()}
    if device == "cuda":  # fp16 matmuls on CPU are not a meaningful reference
        fair = fair.half()
        run_fair()
        times["fair-esm fp16"] = min(timed_rounds({"h": run_fair}, rounds, sync)["h"])
    ours_t = times["protenc-seq bf16"]
    for k, t in times.items():
        flops = model_flops_per_step(config, [len(s) + 2 for s in seqs], training=False)
        mfu = f", MFU {flops / t / peak:.0%}" if peak else ""
        print(f"  inference {k:>28}: {n_res / t:10.0f} tok/s{mfu}  (protenc-seq is {t / ours_t:.2f}x faster)")

    # ---- training step (masked LM, AdamW, bf16 autocast)
    model = ours.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    train_tokens = encoder.tokenizer.encode([s[:510] for s in seqs])
    from protenc_seq.esm2.packing import PackedBatch, length_buckets

    step_batches = length_buckets([len(t) for t in train_tokens], 16384 if device == "cuda" else 1024)

    def step(batch: list[int]) -> None:
        packed = PackedBatch.from_token_arrays(
            [train_tokens[i] for i in batch], device, padded=not encoder.uses_varlen()
        )
        labels = packed.tokens.clone()
        masked = (torch.rand(labels.shape, device=device) < 0.15) & (labels > 3)
        inputs = PackedBatch(torch.where(masked, alphabet.mask_idx, labels), packed.lengths, packed.slots)
        with encoder.autocast():
            logits = model.forward_packed(inputs, logits_rows=masked.nonzero().squeeze(1)).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[masked])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for b in step_batches[:2]:
        step(b)
    sync()
    start = time.perf_counter()
    for _ in range(rounds):
        for b in step_batches:
            step(b)
    sync()
    elapsed = time.perf_counter() - start
    lengths = [len(train_tokens[i]) for b in step_batches for i in b] * rounds
    flops = model_flops_per_step(config, lengths, training=True)
    mfu = f", MFU {flops / elapsed / peak:.0%} of {peak / 1e12:.0f} TFLOP/s" if peak else ""
    print(
        f"  training step (MLM, AdamW): {sum(lengths) / elapsed:10.0f} tok/s, "
        f"{flops / elapsed / 1e12:.1f} TFLOP/s{mfu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["8M", "35M"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=4096, help="protenc-seq token budget per batch")
    parser.add_argument("--stride", type=int, default=1, help="use every k-th sequence (quicker runs)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the CPU bf16 columns")
    parser.add_argument(
        "--esm-cpp-python",
        default=None,
        help="python of an environment with esm-cpp installed: adds esm.cpp as a reference (module docstring)",
    )
    parser.add_argument("--gpu-only", action="store_true")
    parser.add_argument("--gpu-size", default="650M")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="bf16 peak for MFU (default: by name)"
    )
    parser.add_argument("--gpu-dry-run", action="store_true", help="run the GPU section's code on CPU, 8M")
    args = parser.parse_args()
    if not FASTA.is_file():
        sys.exit(f"missing real data: {FASTA}")
    if not args.gpu_only and not args.gpu_dry_run:
        cpu_section(
            args.sizes, args.rounds, args.max_tokens, args.stride, not args.no_bf16, args.esm_cpp_python
        )
    if args.gpu_dry_run:
        gpu_section("8M", 1, None, device="cpu", stride=10)
    elif torch.cuda.is_available():
        gpu_section(args.gpu_size, args.rounds, args.peak_tflops * 1e12 if args.peak_tflops else None)
    else:
        print("GPU section skipped: CUDA is not available")


if __name__ == "__main__":
    main()
