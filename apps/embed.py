"""Embed proteins: FASTA files or structure files / directories → one embedding per protein (and per residue).

``uv run apps/embed.py --config apps/configs/embed/esm2.yaml --input seqs.fasta --output emb.parquet`` reads the
inputs (FASTA; PDB / mmCIF / BinaryCIF, gzip, tar archives, directories, globs), runs the encoder of the config —
any protstack encoder section, or a protstack export directory (``export: runs/pretrain-…``) — in length-bucketed
batches (bf16 on a GPU, fp32 on the CPU) and writes one file:

* ``.safetensors`` — the layout of :mod:`protalign.export` (``protalign.export.load_embeddings`` reads it) plus
  ``lengths`` and, with ``per_residue: true``, ``residue`` / ``residue_offsets``;
* ``.parquet`` — one row per protein: ``id``, ``source``, ``length``, ``embedding`` (and ``residue_embedding``).

The layouts are :mod:`protdata.embedding_io`'s; the metadata holds ``pooling`` and ``encoder``.

Pooling: ``mean`` over residues (fair-esm ``extract.py --include mean``; SaProt ``get_hidden_states(reduction=
"mean")``), ``cls`` (ESM-2 / SaProt final-layer ``<cls>``) or ``readout`` (the encoder's own protein feature, e.g.
GearNet's sum readout). SaProt gets Foldseek 3Di strings computed from the structures (``protdata.foldseek``);
FASTA input gives it ``#`` (structure unknown). Bad files, bad FASTA records (the rest of the file is read) and
proteins the encoder rejects are skipped, counted and listed with their reasons; ``--strict`` makes any skip an error
(exit 2, nothing written). Notices such as crops are counted and reported once. The output is written atomically
(never half a file); no usable protein at all is an error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Literal

from engine.app import inference_parser, run_config_main
from engine.config import Section, expand_path
from engine.errors import ConfigError, DataError
from pydantic import Field

from protfusion.encoders import EncoderConfig

EXAMPLES = """\
examples:
  ESM2_650M=~/weights/esm2_t33_650M_UR50D.pt \\
    uv run apps/embed.py --config apps/configs/embed/esm2.yaml --input seqs.fasta --output emb.parquet
  uv run apps/embed.py --config apps/configs/embed/saprot.yaml --input afdb/ --output emb.safetensors per_residue=true
  uv run apps/embed.py --config apps/configs/embed/gearnet_export.yaml export=runs/pretrain-demo-20250101-120000 \\
    --input structures/ --output gearnet.parquet --device cpu
"""


class EmbedConfig(Section):
    """``apps/embed.py``: which proteins, which encoder, what to write."""

    #: FASTA files, structure files, directories (walked recursively), globs or tar archives.
    inputs: list[str] = Field(min_length=1)
    #: Output file: ``.safetensors`` or ``.parquet`` (module docstring).
    output: str
    format: Literal["auto", "safetensors", "parquet"] = "auto"  # auto: from the output's suffix
    #: The encoder (any protstack encoder section); or ``export`` instead.
    encoder: EncoderConfig | None = None
    #: A protstack model directory (an export of apps/pretrain.py / finetune.py / align.py).
    export: str | None = None
    pooling: Literal["mean", "cls", "readout"] = "mean"
    per_residue: bool = False
    #: Most proteins per batch.
    batch_size: int = Field(64, ge=1)
    #: Most padded residues per batch (fair-esm extract.py --toks_per_batch 4096); None: 4,096 CPU / 32,768 GPU.
    max_tokens: int | None = Field(None, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: auto: bf16 autocast on a GPU, fp32 on the CPU.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    #: torch intra-op threads (None: torch's default).
    num_threads: int | None = Field(None, ge=1)
    #: Any skipped input (file, FASTA record, protein the encoder rejects) is an error instead of a warning.
    strict: bool = False

    def output_format(self) -> str:
        if self.format != "auto":
            return self.format
        suffix = Path(self.output).suffix.lower()
        if suffix == ".safetensors":
            return "safetensors"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        raise ConfigError(
            f"output: {self.output}: cannot tell the format from {suffix or 'no suffix'!r} "
            "(use .safetensors or .parquet, or set format)"
        )


def build_parser() -> argparse.ArgumentParser:
    return inference_parser(
        "embed.py",
        __doc__,
        EXAMPLES,
        config_help="config file (apps/configs/embed/)",
        override_example="pooling=cls",
        output_metavar="FILE",
        output_help="output .safetensors or .parquet",
        inputs=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    return run_config_main(build_parser(), argv, EmbedConfig, run)


def run(config: EmbedConfig) -> Path:
    """Embed every protein of ``config.inputs`` and write ``config.output``; returns the output path."""
    import torch
    from engine.builders import resolve_path
    from engine.inference import CPU_MAX_TOKENS, GPU_MAX_TOKENS, choose_device, load_inference_encoder
    from engine.notices import Notices

    from protdata.device import autocast_for
    from protdata.embedding_io import write_embeddings
    from protdata.encoding import EncodeReport, encode_proteins, length_batches
    from protdata.inputs import SkippedInputsError, read_inputs
    from protfusion.encoders import needs_structures, vocabulary

    start, fmt, output = time.perf_counter(), config.output_format(), expand_path(config.output)
    sequence_types = ("esm2", "saprot")
    if config.pooling == "cls" and config.export is None and config.encoder.type not in sequence_types:
        raise ConfigError(
            "pooling: 'cls' needs an ESM-2 / SaProt encoder section (encoder.type esm2 or saprot)"
        )
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    sources = [resolve_path(s, "inputs") for s in config.inputs]
    missing = next((s for s in sources if not s.exists() and not set("*?[") & set(str(s))), None)
    if missing is not None:  # before a large model is loaded
        raise DataError(f"inputs: {missing}: no such file or directory")
    device = choose_device(config.device)
    autocast_for(device, config.precision)  # bf16 on the CPU is an error, before anything is loaded
    cls = config.pooling == "cls"
    loaded = load_inference_encoder(
        config.encoder, config.export, device=device, precision=config.precision, cls_output=cls
    )
    if cls and loaded.config.type not in sequence_types:
        raise ConfigError(
            f"pooling: 'cls' needs an ESM-2 / SaProt encoder, the export holds {loaded.config.type!r}"
        )
    inputs = read_inputs(
        sources,
        needs_structures=needs_structures(loaded.config),
        structure_tokens=vocabulary(loaded.config) == "saprot",
        strict=config.strict,
        strict_option="--strict",
    )
    proteins, max_tokens = inputs.proteins, config.max_tokens
    max_tokens = max_tokens or (GPU_MAX_TOKENS if device.type == "cuda" else CPU_MAX_TOKENS)
    batches = length_batches([len(p) for p in proteins], config.batch_size, max_tokens)
    report, results, notices = EncodeReport(), [None] * len(proteins), Notices()
    for note in inputs.report.notes:
        notices.note(note)
    options = {"precision": config.precision, "pooling": config.pooling, "per_residue": config.per_residue}
    with notices.capture():  # the encoders' per-batch notes (e.g. crops): counted, reported once at the end
        for item in encode_proteins(
            loaded.module, proteins, batches, device=device, report=report, **options
        ):
            results[item.index] = item
    done = [(p, r) for p, r in zip(proteins, results) if r is not None]
    if not done:
        first = report.skipped[0] if report.skipped else ("?", "?")
        raise DataError(f"inputs: every protein failed in the encoder; first: {first[0]}: {first[1]}")
    if config.strict and report.skipped:
        raise SkippedInputsError(report.skipped, "inputs", "--strict")
    meta = {"encoder": loaded.description, "pooling": config.pooling, "app": "embed"}
    write_embeddings(output, done, meta, fmt)
    _report(config, inputs, report, notices, done, output, time.perf_counter() - start)
    return output


def _report(
    config: EmbedConfig,
    inputs: Any,
    report: Any,
    notices: Any,
    done: list[tuple[Any, Any]],
    output: Path,
    seconds: float,
) -> None:
    """Skipped files / records / proteins with their reasons and the run's notices (each once) on stderr; one
    summary line on stdout."""
    from engine.notices import report_skipped

    skipped = inputs.report.items() + report.skipped
    report_skipped(skipped)
    notices.report()
    dim = done[0][1].protein.shape[0]
    rows = sum(len(r.residue) for _, r in done if r.residue is not None)
    residues = f", per-residue rows for {rows:,} residues" if config.per_residue else ""
    cropped = f"; {report.cropped} cropped to the encoder's window" if report.cropped else ""
    print(
        f"embedded {len(done)} proteins ({dim}-d, {config.pooling} pooling{residues}) from {inputs.report.files} files "
        f"in {seconds:.1f} s; skipped {len(skipped)}{cropped} -> {output}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
