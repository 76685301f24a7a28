"""Embed proteins: FASTA files or structure files / directories → one embedding per protein (and per residue).

``uv run apps/embed.py --config apps/configs/embed/esm2.yaml --input seqs.fasta --output emb.parquet`` reads the
inputs (FASTA; PDB / mmCIF / BinaryCIF, gzip, tar archives, directories, globs), runs the encoder of the config —
any protstack encoder section, or a protstack export directory (``export: runs/pretrain-…``) — in length-bucketed
batches (bf16 on a GPU, fp32 on the CPU) and writes one file (all in memory) or, for ``--output DIR/``, Parquet parts:

* ``.safetensors`` — the layout of :mod:`protalign.export` (``protalign.export.load_embeddings`` reads it) plus
  ``lengths`` and, with ``per_residue: true``, ``residue`` / ``residue_offsets``;
* ``.parquet`` — one row per protein: ``id``, ``source``, ``length``, ``embedding`` (and ``residue_embedding``);
* ``DIR/`` — the same rows streamed (inputs read one at a time, length-sorted within windows) into parts committed
  as they fill; ``--resume`` skips every protein already in a part (after ``kill -9`` too); under torchrun / deepspeed
  (``RANK`` / ``WORLD_SIZE``) rank r embeds the proteins at positions ``i % world_size == r``; the last rank to finish
  writes ``_manifest.json``. With ``--strict`` a skip fails the run at the end (parts kept, no manifest).

The layouts are :mod:`protdata.embedding_io`'s; the metadata holds ``pooling`` and ``encoder``.

Pooling: ``mean`` over residues (fair-esm ``extract.py --include mean``; SaProt ``get_hidden_states(reduction=
"mean")``), ``cls`` (ESM-2 / SaProt / ESM C final-layer ``<cls>``) or ``readout`` (the encoder's own protein
feature, e.g. GearNet's sum readout). SaProt gets Foldseek 3Di strings computed from the structures (``protdata.foldseek``);
FASTA input gives it ``#`` (structure unknown). Bad files, bad FASTA records (the rest of the file is read) and
proteins the encoder rejects are skipped, counted and listed with their reasons; ``--strict`` makes any skip an error
(exit 2, nothing written). Notices such as crops are counted and reported once. The output is written atomically
(never half a file); no usable protein at all is an error.
"""

from __future__ import annotations

import argparse
import os
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
  torchrun --nproc-per-node 4 apps/embed.py --config apps/configs/embed/esm2.yaml -i uniref50.fasta -o emb/ --resume
  uv run apps/embed.py --config apps/configs/embed/gearnet_export.yaml export=runs/pretrain-demo-20250101-120000 \\
    --input structures/ --output gearnet.parquet --device cpu
"""


class EmbedConfig(Section):
    """``apps/embed.py``: which proteins, which encoder, what to write."""

    #: FASTA files, structure files, directories (walked recursively), globs or tar archives.
    inputs: list[str] = Field(min_length=1)
    #: Output file: ``.safetensors`` or ``.parquet``, or a directory of Parquet parts: ``DIR/`` (module docstring).
    output: str
    format: Literal["auto", "safetensors", "parquet", "directory"] = "auto"  # auto: from the output's suffix
    #: Directory output: skip the proteins its parts hold (``--resume``).
    resume: bool = False
    #: Proteins read ahead and length-sorted together (a window of the input); DIR/ output: proteins per part.
    window: int = Field(2048, ge=1)
    part_rows: int = Field(10_000, ge=1)
    #: The encoder (any protstack encoder section); or ``export`` instead.
    encoder: EncoderConfig | None = None
    #: A protstack model directory (an export of apps/pretrain.py / finetune.py / align.py).
    export: str | None = None
    pooling: Literal["mean", "cls", "readout"] = "mean"
    per_residue: bool = False
    #: ``joint``: an align export's projected protein embedding, the space its retrieval compares with texts
    #: (protalign.joint_space; pooling readout); ``encoder``: the encoder's own features.
    space: Literal["encoder", "joint"] = "encoder"
    #: ``space: joint``: texts to embed too (``id<TAB>text`` lines), written to ``text_output``
    #: (.safetensors in protalign's retrieval layout, or .parquet).
    texts: str | None = None
    text_output: str | None = None
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
        if self.output.endswith(("/", os.sep)) or expand_path(self.output).is_dir():
            return "directory"
        suffix = Path(self.output).suffix.lower()
        if suffix == ".safetensors":
            return "safetensors"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        raise ConfigError(
            f"output: {self.output}: cannot tell the format from {suffix or 'no suffix'!r} "
            "(use .safetensors or .parquet, DIR/ for Parquet parts, or set format)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = inference_parser(
        "embed.py",
        __doc__,
        EXAMPLES,
        config_help="config file (apps/configs/embed/)",
        override_example="pooling=cls",
        output_metavar="FILE",
        output_help="output .safetensors or .parquet, or DIR/ (Parquet parts)",
        inputs=True,
    )
    parser.add_argument(
        "--resume", action="store_true", help="DIR/ output: skip the proteins already written"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    argv = sys.argv[1:] if argv is None else argv
    return run_config_main(
        build_parser(), ["resume=true" if a == "--resume" else a for a in argv], EmbedConfig, run
    )


def run(config: EmbedConfig) -> Path:
    """Embed every protein of ``config.inputs`` and write ``config.output``; returns the output path."""
    import torch
    from engine.builders import resolve_path
    from engine.inference import CPU_MAX_TOKENS, GPU_MAX_TOKENS, choose_device, load_inference_encoder

    from protdata.device import autocast_for
    from protdata.distributed import env_rank
    from protdata.embedding_io import EmbeddingFileWriter, EmbeddingPartWriter
    from protdata.encoding import embed_inputs
    from protenc_seq.notices import Notices
    from protfusion.encoders import needs_structures, vocabulary

    start, fmt, output = time.perf_counter(), config.output_format(), expand_path(config.output)
    (rank, world), sequence_types = env_rank(), ("esm2", "saprot", "esmc")
    if fmt != "directory" and (world > 1 or config.resume):
        why = f"{world} ranks each write their own parts" if world > 1 else "resume needs parts to resume"
        raise ConfigError(f"output: {config.output}: {why}; give a directory (--output DIR/)")
    if config.pooling == "cls" and config.export is None and config.encoder.type not in sequence_types:
        raise ConfigError(
            "pooling: 'cls' needs an ESM-2 / SaProt / ESM C encoder section (encoder.type esm2, saprot or esmc)"
        )
    if config.space == "joint" and (config.pooling == "cls" or config.per_residue):
        raise ConfigError(
            "space: 'joint' embeds proteins with the projection (pooling readout, per_residue false)"
        )
    if (config.texts is None) != (config.text_output is None) or (config.texts and config.space != "joint"):
        raise ConfigError("texts: give texts and text_output together, with space: joint (an align export)")
    if config.text_output and Path(config.text_output).suffix not in (".safetensors", ".parquet"):
        raise ConfigError(f"text_output: {config.text_output}: use .safetensors or .parquet")
    if config.texts:  # a bad text file is an error before any model is loaded
        from protalign.joint_space import read_texts

        texts = read_texts(resolve_path(config.texts, "texts"))
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    sources = [resolve_path(s, "inputs") for s in config.inputs]
    missing = next((s for s in sources if not s.exists() and not set("*?[") & set(str(s))), None)
    if missing is not None:  # before a large model is loaded
        raise DataError(f"inputs: {missing}: no such file or directory")
    device = choose_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    autocast_for(device, config.precision)  # a bad precision is an error before anything is loaded
    writer: Any = EmbeddingFileWriter(output, fmt)
    if fmt == "directory":  # an earlier run's parts without --resume: an error before the model is loaded
        writer = EmbeddingPartWriter(
            output, rank=rank, world_size=world, resume=config.resume, part_rows=config.part_rows
        )
    cls = config.pooling == "cls"
    joint = config.space == "joint"
    loaded = load_inference_encoder(
        config.encoder, config.export, device=device, precision=config.precision, cls_output=cls, joint=joint
    )
    if cls and loaded.config.type not in sequence_types:
        raise ConfigError(
            f"pooling: 'cls' needs an ESM-2 / SaProt / ESM C encoder, the export holds {loaded.config.type!r}"
        )
    reading = {"needs_structures": needs_structures(loaded.config)}
    reading["structure_tokens"] = vocabulary(loaded.config) == "saprot"
    max_tokens = config.max_tokens or (GPU_MAX_TOKENS if device.type == "cuda" else CPU_MAX_TOKENS)
    pooling = "readout" if joint else config.pooling
    options = {"precision": config.precision, "pooling": pooling, "per_residue": config.per_residue}
    meta = {"encoder": loaded.description, "pooling": pooling, "app": "embed", "space": config.space}
    meta["per_residue"] = str(config.per_residue).lower()
    notices = Notices()
    with notices.capture():  # the encoders' per-batch notes (e.g. crops): counted, reported once at the end
        inputs, report = embed_inputs(
            loaded.module, sources, writer, meta=meta, rank=rank, world_size=world, reading=reading,
            strict=config.strict, strict_option="--strict", batch_size=config.batch_size, max_tokens=max_tokens,
            window=config.window, device=device, **options,
        )  # fmt: skip
    for note in inputs.notes:
        notices.note(note)
    if config.texts:
        from protalign.joint_space import write_text_embeddings

        text_path = write_text_embeddings(
            loaded.module.model, texts, expand_path(config.text_output), metadata=meta
        )
        print(f"{len(texts)} texts embedded in the joint space -> {text_path}", file=sys.stderr)
    _report(config, inputs, report, notices, writer, output, time.perf_counter() - start)
    return output


def _report(
    config: EmbedConfig,
    inputs: Any,
    report: Any,
    notices: Any,
    writer: Any,
    output: Path,
    seconds: float,
) -> None:
    """Skipped files / records / proteins with their reasons and the run's notices (each once) on stderr; one
    summary line on stdout."""
    from engine.notices import report_skipped

    skipped = inputs.items() + report.skipped
    report_skipped(skipped)
    notices.report()
    n, dim, rows = writer.rows, writer.dim, writer.residue_rows
    cropped = f"; {report.cropped} cropped to the encoder's window" if report.cropped else ""
    residues = f", per-residue rows for {rows:,} residues" if config.per_residue else ""
    print(
        f"embedded {n} proteins ({dim}-d, {config.pooling} pooling{residues}) from {inputs.files} files "
        f"in {seconds:.1f} s; skipped {len(skipped)}{cropped} -> {output}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
