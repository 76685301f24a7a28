"""Inference with any protstack encoder: where its weights come from, which proteins it reads, batched passes.

Used by ``apps/embed.py`` and ``apps/score.py``:

* :func:`load_inference_encoder` — the encoder of an ``encoder:`` config section (any type of
  :data:`engine.builders.EncoderConfig`: ESM-2 / SaProt from a local fair-esm ``.pt``, Hugging Face directory or
  protenc-seq safetensors; GearNet, GVP, CDConv; fusions) or of a protstack **export** (``model.safetensors`` +
  ``config.json``, written by ``apps/pretrain.py`` / ``finetune.py`` / ``align.py``): the saved model is loaded
  with :func:`protdata.pretrained.load_pretrained` and its encoder taken (a task model's ``encoder``, ProtCLIP's
  ``protein_encoder``, or the saved encoder itself).
* :func:`read_inputs` — FASTA files (``.fasta .fa .faa .fas .fsa``, optionally ``.gz``) and structure files,
  directories, globs and tar archives (``protdata.io.load_many``: PDB, mmCIF, BinaryCIF, gzip); FASTA files found
  inside directories are read too. Bad files — and bad FASTA records, whose files are still read
  (``protdata.fasta`` with ``strict=False``) — are skipped and listed in the :class:`~protdata.io.LoadReport`
  (a record as ``file, line N``); a missing path, no input file at all, no usable protein or (``strict``) any skip
  is a :class:`~engine.errors.DataError`.
* :func:`prepare_proteins` — SaProt's Foldseek 3Di strings for proteins with coordinates
  (:func:`protdata.foldseek.with_3di`; seed-systems.md §5.2), and the check that a structure / fused encoder gets
  coordinates.
* :func:`length_batches` + :func:`encode_proteins` — length-bucketed batches (fair-esm ``extract.py``: sort by
  length, cut at ``--toks_per_batch`` padded tokens) run in eval mode without autograd, bf16 autocast on CUDA,
  fp32 on the CPU; a batch that fails on bad input is retried protein by protein, so one bad protein is skipped
  and reported instead of ending the run.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from engine.batching import MicroBatchPlan
from engine.builders import (
    EncoderConfig,
    build_encoder,
    needs_structures,
    resolve_path,
    sequence_config,
    vocabulary,
)
from engine.cache import with_3di_or_skip
from engine.config import Section, validate
from engine.errors import AppError, CheckpointError, ConfigError, DataError, input_error_types, one_line
from engine.notices import strict_failure
from engine.reporting import quiet_logger
from protdata import Protein, ProteinBatch
from protdata.errors import ProtdataError
from protdata.io import LoadReport, load_many

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16"]
Pooling = Literal["mean", "cls", "readout"]

#: File names read as FASTA (a ``.gz`` after them is allowed; gzip is detected by its magic bytes).
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fas", ".fsa")
#: Padded tokens per batch when the config gives none: fair-esm ``extract.py --toks_per_batch`` 4096 on CPU; a GPU
#: takes more (protenc_seq.embed's defaults).
CPU_MAX_TOKENS = 4096
GPU_MAX_TOKENS = 32768


# ------------------------------------------------------------------------------------------- devices
def choose_device(device: str, key: str = "device", option: str = "--device") -> torch.device:
    """``cuda`` or ``cpu`` (``auto``: CUDA when available); asking for CUDA without one is a ConfigError naming the
    app's own option (``--device``) and config ``key``."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{option} cuda ({key}: cuda): CUDA is not available on this machine (no GPU, or a CPU-only torch "
            f"build); use {option} cpu or {option} auto"
        )
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA unless ``precision`` is ``fp32``; fp32 on the CPU (``bf16`` there is an error)."""
    if device.type != "cuda":
        if precision == "bf16":
            raise ConfigError("precision: 'bf16' needs a CUDA device (the CPU runs fp32)")
        return contextlib.nullcontext()
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16)


# ------------------------------------------------------------------------------------------- encoders
class _EncoderSection(Section):
    encoder: EncoderConfig


@dataclass
class LoadedEncoder:
    """An encoder ready for inference (eval mode, on its device) and what it was built from."""

    module: nn.Module
    config: Any
    description: str

    @property
    def type(self) -> str:
        return str(self.config.type)


def _export_dir(path: str | os.PathLike[str], key: str) -> Path:
    root = resolve_path(path, key)
    if not root.exists():
        raise CheckpointError(f"{key}: {root}: no such export directory or weights file")
    return root if root.is_dir() else root.parent  # model.safetensors / config.json: their directory


def encoder_section(header: dict[str, Any]) -> dict[str, Any]:
    """The encoder config inside a saved model's config: a task model's ``encoder``, ProtCLIP's
    ``protein_encoder``, or the config of a saved encoder itself."""
    config = header["config"]
    if header["type"] == "task":
        return config["encoder"]
    if header["type"] == "protclip":
        return config["protein_encoder"]
    return config


def read_export(path: str | os.PathLike[str], key: str = "export") -> tuple[Any, Path, dict[str, Any]]:
    """``(encoder config, model directory, config.json)`` of a saved protstack model (an export of
    apps/pretrain.py, finetune.py or align.py): a directory, or its ``model.safetensors`` / ``config.json``.
    Only ``config.json`` is read.

    Raises:
        CheckpointError: a missing or unreadable file, or not a saved model (an older export: the one-line error
            names the converter). ConfigError: the encoder section does not validate (names the key).
    """
    from protdata.pretrained import PretrainedFormatError, read_config

    directory = _export_dir(path, key)
    try:
        header = read_config(directory)
    except PretrainedFormatError as exc:
        raise CheckpointError(f"{key}: {one_line(str(exc))}") from None
    section = encoder_section(header)
    config = validate(_EncoderSection, {"encoder": section}, f"{key}: {directory / 'config.json'}").encoder
    return config, directory, header


def load_export_encoder(
    path: str | os.PathLike[str], key: str = "export"
) -> tuple[nn.Module, dict[str, Any]]:
    """The encoder of a saved protstack model, loaded with :func:`protdata.pretrained.load_pretrained` (a task
    model's encoder, ProtCLIP's protein encoder, or the saved encoder itself), and its ``config.json``."""
    from protdata.pretrained import PretrainedFormatError, load_pretrained

    _, directory, header = read_export(path, key)  # one-line errors for a bad config first
    try:
        model = load_pretrained(directory)
    except PretrainedFormatError as exc:
        raise CheckpointError(f"{key}: {one_line(str(exc))}") from None
    if header["type"] == "task":
        return model.encoder, header
    if header["type"] == "protclip":
        return model.protein_encoder, header
    return model, header


def _set_options(module: nn.Module, precision: str, cls_output: bool) -> None:
    """Set a loaded encoder's sequence ``precision`` (``auto``: as saved) and ``<cls>`` output."""
    from protenc_seq import ESM2Encoder

    seq = module if isinstance(module, ESM2Encoder) else getattr(module, "sequence", None)
    if isinstance(seq, ESM2Encoder):
        if precision != "auto":
            seq.precision = precision
        if cls_output and seq is module:
            seq.cls_output = True


def with_precision(config: Any, precision: str) -> Any:
    """``config`` with its sequence encoder's ``precision`` set (``auto`` leaves the config as it is)."""
    seq = sequence_config(config)
    if seq is None or precision == "auto":
        return config
    new_seq = seq.model_copy(update={"precision": precision})
    if seq is config:
        return new_seq
    return config.model_copy(update={"sequence": new_seq})


def load_inference_encoder(
    encoder: Any | None,
    export: str | None,
    *,
    device: torch.device,
    precision: str = "auto",
    cls_output: bool = False,
    encoder_key: str = "encoder",
    export_key: str = "export",
) -> LoadedEncoder:
    """The encoder of an ``encoder:`` section or of a protstack export (exactly one of them), in eval mode on
    ``device`` (module docstring).

    Raises:
        ConfigError: neither or both given; CheckpointError: unreadable, mismatched or wrong-size weights.
    """
    if (encoder is None) == (export is None):
        raise ConfigError(
            f"give exactly one of {encoder_key} (an encoder section) and {export_key} (a protstack export "
            f"directory), not {'both' if encoder is not None else 'neither'}"
        )
    if export is not None:
        module, raw = load_export_encoder(export, export_key)
        _set_options(module, precision, cls_output)
        config = validate(_EncoderSection, {"encoder": module.config_dict()}, export_key).encoder
        description = (
            f"{config.type} encoder of a {raw.get('app', 'protstack')} export "
            f"({raw['type']} model loaded from {_export_dir(export, export_key)})"
        )
    else:
        config = with_precision(encoder, precision)
        seq = sequence_config(config)
        try:
            module = build_encoder(config, key=encoder_key, cls_output=cls_output)
        except ProtdataError as exc:  # protenc-seq's unreadable / wrong-size checkpoint: name the config key
            where = encoder_key if seq is config else f"{encoder_key}.sequence"
            raise CheckpointError(f"{where}.checkpoint: {one_line(str(exc))}") from None
        source = f" from {resolve_path(seq.checkpoint, 'checkpoint')}" if seq and seq.checkpoint else ""
        if seq is not None and not seq.checkpoint:
            source = " with random weights (no checkpoint)"
        description = f"{config.type} encoder{source}"
    module.eval().to(device)
    return LoadedEncoder(module, config, description)


# --------------------------------------------------------------------------------------------- inputs
def is_fasta(path: str | os.PathLike[str]) -> bool:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(FASTA_SUFFIXES)


@dataclass
class InputSet:
    """Proteins read from the inputs, in input order, and what was read / skipped (and why)."""

    proteins: list[Protein]
    report: LoadReport
    n_files: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        r = self.report
        line = f"read {len(self.proteins)} proteins from {r.n_loaded} of {self.n_files} files"
        if r.skipped:
            line += f"; skipped {r.n_skipped} ({', '.join(sorted({s.error for s in r.skipped}))})"
        return line


def resolve_inputs(inputs: Sequence[str], key: str = "inputs") -> list[Path]:
    """The input paths with variables expanded and globs expanded (sorted); a path that does not exist or a glob
    that matches nothing is a DataError."""
    paths: list[Path] = []
    for item in inputs:
        path = resolve_path(item, key)
        if set("*?[") & set(str(path)) and not path.exists():
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise DataError(f"{key}: {path}: no file matches this pattern")
            paths.extend(Path(m) for m in matches)
        elif not path.exists():
            raise DataError(f"{key}: {path}: no such file or directory")
        else:
            paths.append(path)
    return paths


def read_inputs(inputs: Sequence[str], key: str = "inputs", *, strict: bool = False) -> InputSet:
    """The proteins of FASTA files and structure files / directories / globs / tar archives (module docstring).

    A bad FASTA record is skipped (not its file) and listed in the report as ``file, line N``; ``strict``: any
    skipped file or record is an error.

    Raises:
        DataError: a path that does not exist, no input file at all, no usable protein in any of them, or
            (``strict``) anything skipped.
    """
    from protdata.fasta import FastaReport, read_fasta
    from protdata.io.report import SkippedSource

    report = LoadReport()
    order: list[tuple[str, Path | str]] = []  # ("fasta", path) / ("structures", source), in input order
    for path in resolve_inputs(inputs, key):
        order.append(("fasta", path) if path.is_file() and is_fasta(path) else ("structures", str(path)))
    proteins: list[Protein] = []
    n_files = 0

    def read_fasta_file(path: Path) -> None:
        nonlocal n_files
        n_files += 1
        records = FastaReport()
        try:
            found = read_fasta(path, strict=False, report=records)
        except (ProtdataError, OSError, UnicodeDecodeError) as exc:
            report.add_skipped(str(path), exc, counted=False)
            return
        for skip in records.skipped:  # bad records: the others of the file are kept
            where = str(path) if skip.line is None else f"{path}, line {skip.line}"
            report.skipped.append(SkippedSource(where, skip.reason, "SequenceError"))
        if found:
            report.add_loaded(len(found))
        proteins.extend(p if p.source else p.replace(source=str(path)) for p in found)

    for kind, source in order:
        if kind == "fasta":
            read_fasta_file(Path(source))
            continue
        sub = LoadReport()
        with quiet_logger("protdata.io"):  # its summary line would repeat what the app reports
            result = load_many([source], report=sub)
        proteins.extend(result.proteins)
        n_files += sub.n_sources
        report.n_loaded += sub.n_loaded
        report.n_proteins += sub.n_proteins
        report.skipped.extend(sub.skipped)
        for ignored in sub.ignored:
            if is_fasta(ignored):
                read_fasta_file(Path(ignored))
            else:
                report.ignored.append(ignored)
    shown = ", ".join(str(i) for i in inputs)
    if n_files == 0:
        extra = f" ({len(report.ignored)} other files ignored)" if report.ignored else ""
        raise DataError(f"{key}: no FASTA or structure files in {shown}{extra}")
    if not proteins:
        first = report.skipped[0] if report.skipped else None
        why = f"; first failure: {first.source}: {first.error}: {first.reason}" if first else ""
        every = f"every input was skipped ({report.n_skipped}): " if report.skipped else ""
        raise DataError(f"{key}: {every}no usable protein in {n_files} files ({shown}){why}")
    if strict and report.skipped:
        raise strict_failure([(s.source, f"{s.error}: {s.reason}") for s in report.skipped], key)
    return InputSet(proteins, report, n_files)


def prepare_proteins(inputs: InputSet, config: Any, key: str = "inputs") -> InputSet:
    """Check that the encoder gets what it reads, and add SaProt's 3Di strings (module docstring).

    Raises:
        DataError: a structure / fused encoder given sequence-only proteins (FASTA), naming the first file.
    """
    proteins = inputs.proteins
    if needs_structures(config):
        flat = [p for p in proteins if not p.has_structure]
        if flat:
            raise DataError(
                f"{key}: {flat[0].source or flat[0].id}: the {config.type} encoder reads coordinates but "
                f"{len(flat)} input protein(s) have none (FASTA gives sequences only; give structure files)"
            )
    if vocabulary(config) == "saprot":
        proteins = _with_3di(proteins, inputs.report)
        flat = sum(1 for p in proteins if not p.structure_tokens)
        if flat:
            inputs.notes.append(f"{flat} protein(s) without structure: SaProt sees '#' for their 3Di tokens")
        if not proteins:
            raise DataError(f"{key}: no protein left after computing 3Di strings ({inputs.summary()})")
    return InputSet(proteins, inputs.report, inputs.n_files, inputs.notes)


def _with_3di(proteins: list[Protein], report: LoadReport) -> list[Protein]:
    """Foldseek 3Di strings for proteins with coordinates (one batched call; per protein when one of them fails,
    which is then skipped and reported). Sequence-only proteins pass unchanged."""
    structured = [p for p in proteins if p.has_structure]
    if not structured:
        return list(proteins)
    rejected: set[int] = set()

    def skip(protein: Protein, exc: Exception) -> None:
        report.add_skipped(protein.source or protein.id, exc, counted=False)
        rejected.add(id(protein))

    encoded = iter(with_3di_or_skip(structured, skip))
    return [next(encoded) if p.has_structure else p for p in proteins if id(p) not in rejected]


# --------------------------------------------------------------------------------------------- batches
def length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices of proteins cut into batches after sorting by length (at most ``batch_size`` proteins and
    ``max_tokens`` padded residues each; a longer protein is a batch of its own). Deterministic."""
    plan = MicroBatchPlan(
        np.asarray(lengths), batch_size, max_tokens, bucket_window=max(1, len(lengths)), shuffle=False
    )
    return plan.epoch(0)


@dataclass
class Embedded:
    """One protein's output: ``protein`` ``(D,)`` and, when asked for, ``residue`` ``(n, D)`` float32 on the CPU
    (``n`` = residues the encoder saw: fewer than the protein's length when a sequence encoder crops it)."""

    index: int
    protein: Tensor
    residue: Tensor | None


@dataclass
class EncodeReport:
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (protein id / source, reason)
    cropped: int = 0


def encode_proteins(
    encoder: nn.Module,
    proteins: Sequence[Protein],
    batches: Sequence[np.ndarray],
    *,
    device: torch.device,
    precision: str = "auto",
    pooling: str = "mean",
    per_residue: bool = False,
    report: EncodeReport | None = None,
) -> Iterator[Embedded]:
    """Run ``encoder`` over ``proteins`` batch by batch (module docstring); yields in batch order.

    ``pooling``: ``mean`` = mean of the residue features over the residues the encoder saw (fair-esm
    ``extract.py --include mean``; SaProt ``get_hidden_states(reduction="mean")``); ``cls`` = the final-layer
    ``<cls>`` embedding (``extras["cls"]``, the encoder's ``cls_output``); ``readout`` = the encoder's own
    protein feature (GearNet: sum readout; fusions: their concatenation).
    """
    report = report if report is not None else EncodeReport()
    errors = input_error_types()
    for idx in batches:
        chunk = [int(i) for i in idx]
        try:
            yield from _encode_batch(
                encoder, proteins, chunk, device, precision, pooling, per_residue, report
            )
        except errors as exc:
            if isinstance(exc, AppError):  # a config problem, not one bad protein
                raise
            if len(chunk) == 1:
                p = proteins[chunk[0]]
                report.skipped.append((f"{p.source or ''}:{p.id}".lstrip(":"), one_line(str(exc))))
                continue
            for i in chunk:  # find the bad protein(s); the others are encoded on their own
                yield from encode_proteins(
                    encoder,
                    proteins,
                    [np.array([i])],
                    device=device,
                    precision=precision,
                    pooling=pooling,
                    per_residue=per_residue,
                    report=report,
                )


def _encode_batch(
    encoder: nn.Module,
    proteins: Sequence[Protein],
    chunk: list[int],
    device: torch.device,
    precision: str,
    pooling: str,
    per_residue: bool,
    report: EncodeReport,
) -> list[Embedded]:
    batch = ProteinBatch.collate([proteins[i] for i in chunk]).to(device)
    with torch.inference_mode(), autocast_for(device, precision):
        out = encoder(batch)
    covered = out.extras.get("covered", out.mask)  # (B, L) residues the encoder saw
    seen = covered.sum(1).tolist()
    if pooling == "cls":
        if "cls" not in out.extras:
            raise ConfigError("pooling: 'cls' needs an ESM-2 / SaProt encoder (it has a <cls> token)")
        pooled = out.extras["cls"].float()  # (B, D)
    elif pooling == "readout":
        pooled = out.protein.float()  # (B, D)
    else:
        weights = covered.to(out.residue.dtype).unsqueeze(-1)  # (B, L, 1)
        pooled = (out.residue.float() * weights.float()).sum(1) / covered.sum(1, keepdim=True).clamp(min=1)
    pooled = pooled.cpu()
    residue = out.residue.float().cpu() if per_residue else None  # (B, L, D)
    results = []
    for j, i in enumerate(chunk):
        n = int(seen[j])
        if n < len(proteins[i]):
            report.cropped += 1
        results.append(
            Embedded(i, pooled[j].clone(), residue[j, :n].clone() if residue is not None else None)
        )
    return results
