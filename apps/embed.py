"""Embed proteins: FASTA files or structure files / directories → one embedding per protein (and per residue).

``uv run apps/embed.py --config apps/configs/embed/esm2.yaml --input seqs.fasta --output emb.parquet`` reads the
inputs (FASTA; PDB / mmCIF / BinaryCIF, gzip, tar archives, directories, globs), runs the encoder of the config —
any protstack encoder section, or a protstack export directory (``export: runs/pretrain-…``) — in length-bucketed
batches (bf16 on a GPU, fp32 on the CPU) and writes one file:

* ``.safetensors`` — the layout of :mod:`protalign.export` (``format: protalign.embeddings/1``; readable with
  ``protalign.export.load_embeddings``): tensor ``protein`` ``(N, D)`` float32 and metadata ``protein_ids`` (JSON
  list, row order), plus ``lengths`` ``(N,)`` int64, metadata ``sources`` / ``pooling`` / ``encoder``; with
  ``per_residue: true`` also ``residue`` ``(R, D)`` float32 — every protein's residue rows stacked in row order —
  and ``residue_offsets`` ``(N + 1,)`` int64 (protein ``i`` is ``residue[offsets[i]:offsets[i + 1]]``).
* ``.parquet`` — one row per protein: ``id`` (string), ``source`` (string), ``length`` (int32), ``embedding``
  (fixed_size_list<float32, D>); with ``per_residue: true`` also ``residue_embedding``
  (list<fixed_size_list<float32, D>>, one inner list per residue) in the same file.

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
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from engine.app import inference_parser, run_config_main
from engine.builders import EncoderConfig
from engine.config import Section, expand_path
from engine.errors import ConfigError, DataError
from engine.files import atomic_path
from engine.inference import (
    CPU_MAX_TOKENS,
    GPU_MAX_TOKENS,
    Device,
    Embedded,
    EncodeReport,
    Pooling,
    Precision,
    choose_device,
    encode_proteins,
    length_batches,
    load_inference_encoder,
    prepare_proteins,
    read_inputs,
    resolve_inputs,
)
from engine.notices import Notices, report_skipped, strict_failure
from pydantic import Field

from protfusion import SequenceEncoderConfig

#: The safetensors layout of protalign.export (embeddings + row ids), extended with lengths and residue rows.
SAFETENSORS_FORMAT = "protalign.embeddings/1"
PARQUET_FORMAT = "protstack.embeddings.parquet/1"

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
    pooling: Pooling = "mean"
    per_residue: bool = False
    #: Most proteins per batch.
    batch_size: int = Field(64, ge=1)
    #: Most padded residues per batch (fair-esm extract.py --toks_per_batch 4096); None: 4,096 CPU / 32,768 GPU.
    max_tokens: int | None = Field(None, ge=1)
    device: Device = "auto"
    #: auto: bf16 autocast on a GPU, fp32 on the CPU.
    precision: Precision = "auto"
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
    start = time.perf_counter()
    fmt = config.output_format()
    output = expand_path(config.output)
    if (
        config.pooling == "cls"
        and config.export is None
        and not isinstance(config.encoder, SequenceEncoderConfig)
    ):
        raise ConfigError(
            "pooling: 'cls' needs an ESM-2 / SaProt encoder section (encoder.type esm2 or saprot)"
        )
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    resolve_inputs(config.inputs)  # a missing input is reported before a large model is loaded
    device = choose_device(config.device)
    if config.precision == "bf16" and device.type != "cuda":
        raise ConfigError("precision: 'bf16' needs a CUDA device (the CPU runs fp32)")
    loaded = load_inference_encoder(
        config.encoder,
        config.export,
        device=device,
        precision=config.precision,
        cls_output=config.pooling == "cls",
    )
    if config.pooling == "cls" and not isinstance(loaded.config, SequenceEncoderConfig):
        raise ConfigError(f"pooling: 'cls' needs an ESM-2 / SaProt encoder, the export holds {loaded.type!r}")
    inputs = prepare_proteins(read_inputs(config.inputs, strict=config.strict), loaded.config)
    if config.strict and inputs.report.skipped:  # e.g. a structure whose 3Di string failed
        raise strict_failure([(s.source, f"{s.error}: {s.reason}") for s in inputs.report.skipped])
    proteins = inputs.proteins
    max_tokens = config.max_tokens or (GPU_MAX_TOKENS if device.type == "cuda" else CPU_MAX_TOKENS)
    batches = length_batches([len(p) for p in proteins], config.batch_size, max_tokens)
    report = EncodeReport()
    results: list[Embedded | None] = [None] * len(proteins)
    notices = Notices()
    for note in inputs.notes:
        notices.note(note)
    with notices.capture():  # the encoders' per-batch notes (e.g. crops): counted, reported once at the end
        for item in encode_proteins(
            loaded.module,
            proteins,
            batches,
            device=device,
            precision=config.precision,
            pooling=config.pooling,
            per_residue=config.per_residue,
            report=report,
        ):
            results[item.index] = item
    done = [(p, r) for p, r in zip(proteins, results) if r is not None]
    if not done:
        first = report.skipped[0] if report.skipped else ("?", "?")
        raise DataError(f"inputs: every protein failed in the encoder; first: {first[0]}: {first[1]}")
    if config.strict and report.skipped:
        raise strict_failure(report.skipped)
    meta = {"encoder": loaded.description, "pooling": config.pooling, "app": "embed"}
    writer = write_safetensors if fmt == "safetensors" else write_parquet
    writer(output, done, meta)
    _report(config, inputs, report, notices, done, output, time.perf_counter() - start)
    return output


def write_safetensors(path: Path, done: list[tuple[Any, Embedded]], meta: dict[str, str]) -> None:
    """The protalign.export layout plus ``lengths`` and, with residues, ``residue`` / ``residue_offsets``."""
    from safetensors.torch import save_file

    tensors = {
        "protein": torch.stack([r.protein for _, r in done]).float().contiguous(),  # (N, D)
        "lengths": torch.tensor([len(p) for p, _ in done], dtype=torch.int64),  # (N,)
    }
    metadata = {
        **meta,
        "format": SAFETENSORS_FORMAT,
        "protein_ids": json.dumps([p.id for p, _ in done]),
        "sources": json.dumps([p.source or "" for p, _ in done]),
    }
    if done[0][1].residue is not None:
        rows = [r.residue for _, r in done]
        counts = torch.tensor([0] + [len(x) for x in rows], dtype=torch.int64)
        tensors["residue"] = torch.cat(rows).float().contiguous()  # (R, D)
        tensors["residue_offsets"] = torch.cumsum(counts, 0)  # (N + 1,)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def write_parquet(path: Path, done: list[tuple[Any, Embedded]], meta: dict[str, str]) -> None:
    """One row per protein (module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    protein = torch.stack([r.protein for _, r in done]).float().numpy()  # (N, D)
    dim = protein.shape[1]
    columns = {
        "id": pa.array([p.id for p, _ in done], type=pa.string()),
        "source": pa.array([p.source or "" for p, _ in done], type=pa.string()),
        "length": pa.array([len(p) for p, _ in done], type=pa.int32()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(protein.reshape(-1), type=pa.float32()), dim),
    }
    if done[0][1].residue is not None:
        rows = [r.residue.float().numpy() for _, r in done]
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in rows])]).astype(np.int32)
        flat = pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate(rows).reshape(-1), type=pa.float32()), dim
        )
        columns["residue_embedding"] = pa.ListArray.from_arrays(pa.array(offsets), flat)
    table = pa.table(columns).replace_schema_metadata({**meta, "format": PARQUET_FORMAT})
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))


def _report(
    config: EmbedConfig,
    inputs: Any,
    report: EncodeReport,
    notices: Notices,
    done: list[tuple[Any, Embedded]],
    output: Path,
    seconds: float,
) -> None:
    """Skipped files / records / proteins with their reasons and the run's notices (each once) on stderr; one
    summary line on stdout."""
    skipped = [(s.source, f"{s.error}: {s.reason}") for s in inputs.report.skipped] + report.skipped
    report_skipped(skipped)
    notices.report()
    dim = done[0][1].protein.shape[0]
    rows = sum(len(r.residue) for _, r in done if r.residue is not None)
    residues = f", per-residue rows for {rows:,} residues" if config.per_residue else ""
    cropped = f"; {report.cropped} cropped to the encoder's window" if report.cropped else ""
    print(
        f"embedded {len(done)} proteins ({dim}-d, {config.pooling} pooling{residues}) from {inputs.n_files} files "
        f"in {seconds:.1f} s; skipped {len(skipped)}{cropped} -> {output}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
