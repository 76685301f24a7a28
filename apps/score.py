"""Zero-shot mutation scores for a deep mutational scan: a DMS CSV in, the same CSV with a score column out.

``uv run apps/score.py --config apps/configs/score/esm2_masked_marginal.yaml data.csv=BLAT.csv data.offset=24
wild_type=BLAT_wt.txt data.label_column=2500 --output scores.csv`` scores every mutant of the CSV with an ESM-2 or
SaProt masked language model and writes ``scores.csv`` (every input row and column, plus ``score``) and
``scores.json`` (method, counts, skipped rows, and Spearman's ρ against ``data.label_column`` when one is given,
also printed).

Methods (higher = more favourable than the wild type), summed over the sites of a multi-mutant:

* ``masked_marginal`` — ``log P(mt | x_masked) − log P(wt | x_masked)`` (fair-esm
  ``examples/variant-prediction/predict.py --scoring-strategy masked-marginals``; SaProt
  ``esm_mutation_model`` / ``saprot_foldseek_mutation_model``, seed-systems.md §5.4). ``multi: joint`` masks all
  sites of a mutant in one pass (SaProt's rule, ESM-1v eq. 1); ``multi: independent`` masks each site alone and
  adds the single-site terms (fair-esm's per-position table). Computed by :func:`protenc_seq.score_mutants`.
* ``wt_marginal`` — the same log-ratio from one unmasked pass over the wild type (fair-esm ``wt-marginals``).

SaProt's structure-aware zero-shot: ``structure`` names a PDB / mmCIF file (``chain``: which chain, default the
first); its Foldseek 3Di string (``protdata.foldseek``; pLDDT < ``encoder.plddt_threshold`` → ``#`` for AlphaFold
models, SaProt issue #33) is paired with the wild type, and a masked site keeps its 3Di letter (``#`` in the
amino-acid slot only). Without a structure SaProt reads ``#`` everywhere.

Mutants: ``data.mutant_column`` holds ``H24C`` or multi-mutants ``A1B:C2D``, numbered from ``data.offset``; or
``data.sequence_column`` holds each variant's full sequence, and the substitutions are read off against the wild
type (written to a ``derived_mutant`` column). The wild type is ``wild_type`` (a sequence, or a FASTA / plain text
file; ``#`` lines in a text file are comments) or the structure's sequence. A mutant whose wild-type letter does not
match the sequence (or that cannot be parsed) is an error naming the CSV line (``data.on_mismatch: error``, the
default: a wrong ``offset`` usually shows up this way); with ``on_mismatch: skip`` such rows keep an empty score and
are counted and listed in the JSON (``--strict``: any skipped row is an error, exit 2). Nothing is written unless
every check passed; both files are written atomically. The model's notices are counted and reported once.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from engine.app import inference_parser, run_config_main
from engine.builders import resolve_path
from engine.config import Section, expand_path
from engine.errors import CheckpointError, ConfigError, DataError
from engine.files import write_json_atomic, write_text_atomic
from engine.inference import Device, Precision, choose_device, load_inference_encoder, read_export
from engine.notices import Notices, strict_failure
from pydantic import Field, field_validator, model_validator

from protfusion import SequenceEncoderConfig

EXAMPLES = """\
examples:
  ESM2_650M=~/weights/esm2_t33_650M_UR50D.pt uv run apps/score.py \\
    --config apps/configs/score/esm2_masked_marginal.yaml data.csv=BLAT_ECOLX_Ranganathan2015.csv \\
    data.offset=24 wild_type=BLAT_ECOLX_wildtype.txt data.label_column=2500 --output blat_scores.csv
  SAPROT_650M_AF2=~/weights/SaProt_650M_AF2 uv run apps/score.py \\
    --config apps/configs/score/saprot_zero_shot.yaml structure=AF-P62593-F1-model_v4.pdb data.csv=dms.csv \\
    --output saprot_scores.csv
  uv run apps/score.py --config my.yaml data.sequence_column=x data.label_column=y wild_type=MTYKLILNGK…
"""

_SEQUENCE = re.compile(r"^[ACDEFGHIKLMNPQRSTVWYX]+$")
_AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWY")


class ScoreData(Section):
    """The DMS table."""

    #: A CSV file with a header row.
    csv: str
    #: Mutant strings (``H24C``, ``A1B:C2D``); or use sequence_column.
    mutant_column: str | None = "mutant"
    #: Full variant sequences (e.g. mavenn's GB1 ``x``); substitutions are found against the wild type. When set,
    #: it is used instead of mutant_column.
    sequence_column: str | None = None
    #: Measured fitness; Spearman's rho is reported when set.
    label_column: str | None = None
    #: Number of the wild type's first residue in the mutant strings (fair-esm --offset-idx; BLAT_ECOLX: 24).
    offset: int = 1
    #: Only the first N data rows (and only they are written).
    limit: int | None = Field(None, ge=1)
    #: A mutant that does not match the wild type: ``error`` (names the CSV line) or ``skip`` (empty score, counted).
    on_mismatch: Literal["error", "skip"] = "error"

    @field_validator("mutant_column", "sequence_column", "label_column", mode="before")
    @classmethod
    def _column_name(cls, value: Any) -> Any:
        """Column names are text (``label_column=2500`` names BLAT_ECOLX's column ``2500``)."""
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _columns(self) -> ScoreData:
        if self.sequence_column is None and self.mutant_column is None:
            raise ValueError("give mutant_column (mutant strings) or sequence_column (full sequences)")
        return self


class ScoreConfig(Section):
    """``apps/score.py``: which model, which wild type (and structure), which table, where to write."""

    #: An ESM-2 / SaProt section with a local checkpoint that has the LM head; or ``export`` instead.
    encoder: SequenceEncoderConfig | None = None
    #: A protstack export directory holding an ESM-2 / SaProt encoder with its LM head.
    export: str | None = None
    method: Literal["masked_marginal", "wt_marginal"] = "masked_marginal"
    #: Multi-mutants: ``joint`` (all sites masked in one pass; SaProt) or ``independent`` (fair-esm table).
    multi: Literal["joint", "independent"] = "joint"
    #: The wild-type sequence, or a FASTA / text file holding it (None: the structure's sequence).
    wild_type: str | None = None
    #: SaProt: PDB / mmCIF / BinaryCIF file of the wild type (its 3Di tokens are used).
    structure: str | None = None
    #: The structure's chain (author chain id; None: the first protein chain).
    chain: str | None = None
    data: ScoreData
    #: Output CSV; the summary goes to the same name with ``.json``.
    output: str
    score_column: str = "score"
    #: Tokens per forward batch of masked copies.
    max_tokens: int = Field(8192, ge=1)
    device: Device = "auto"
    precision: Precision = "auto"
    num_threads: int | None = Field(None, ge=1)
    #: Any skipped row (``data.on_mismatch: skip``) is an error instead of a warning.
    strict: bool = False


def build_parser() -> argparse.ArgumentParser:
    return inference_parser(
        "score.py",
        __doc__,
        EXAMPLES,
        config_help="config file (apps/configs/score/)",
        override_example="data.offset=24",
        output_metavar="FILE.csv",
        output_help="output CSV",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    return run_config_main(build_parser(), argv, ScoreConfig, run)


# ------------------------------------------------------------------------------------------------ inputs
def read_wild_type(value: str, key: str = "wild_type") -> str:
    """A literal sequence (upper-case letters), or the one sequence of a FASTA / plain text file."""
    from protdata.fasta import read_fasta

    path = resolve_path(value, key)
    if not path.is_file():
        if _SEQUENCE.match(value.strip()):
            return value.strip()
        raise ConfigError(f"{key}: {path}: no such file (and not an upper-case amino-acid sequence)")
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip().startswith(">"):
        records = read_fasta(path)
        if len(records) != 1:
            raise DataError(f"{key}: {path}: expected one FASTA record (the wild type), found {len(records)}")
        return records[0].sequence
    sequence = "".join(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ).upper()
    if not _SEQUENCE.match(sequence):
        bad = next((c for c in sequence if not c.isalpha()), None) if sequence else None
        what = f"character {bad!r}" if bad else "no sequence"
        raise DataError(f"{key}: {path}: not a protein sequence ({what}; '#' lines are comments)")
    return sequence


def read_structure(config: ScoreConfig, plddt_threshold: float | None) -> tuple[str, str, str]:
    """``(sequence, 3Di string with '#' at low pLDDT, description)`` of the configured chain (seed-systems.md
    §5.2: Foldseek 3Di, pLDDT < 70 masked)."""
    from protdata import load_chains
    from protdata.foldseek import with_3di
    from protdata.saprot import structure_aware_sequence

    path = resolve_path(config.structure, "structure")
    if not path.is_file():
        raise DataError(f"structure: {path}: no such file")
    chains = load_chains(path)
    if config.chain is not None:
        chains = [p for p in chains if config.chain in p.chain_ids]
        if not chains:
            raise DataError(f"chain: {path} has no protein chain {config.chain!r}")
    protein = with_3di(chains[:1])[0]
    tokens = structure_aware_sequence(protein, plddt_threshold=plddt_threshold)[1::2]  # 3Di or '#'
    masked = tokens.count("#")
    where = f"{path.name} chain {protein.chain_id} ({len(protein)} residues"
    return (
        protein.sequence,
        tokens,
        where + (f", {masked} with pLDDT below the threshold)" if masked else ")"),
    )


@dataclass
class Table:
    """The CSV: header, rows (with the physical line each ends on) and the columns the app uses."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    total_rows: int

    def column(self, name: str, key: str) -> int:
        if name not in self.header:
            shown = ", ".join(repr(h) for h in self.header[:30])
            raise ConfigError(f"{key}: no column {name!r} in {self.path} (columns: {shown})")
        return self.header.index(name)

    def cell(self, r: int, c: int, key: str) -> str:
        row = self.rows[r]
        if c >= len(row):
            raise DataError(f"{self.path}: line {self.lines[r]}: {len(row)} fields, no value for {key}")
        return row[c]


def read_table(path: Path, limit: int | None) -> Table:
    if not path.is_file():
        raise DataError(f"data.csv: {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"data.csv: {path}: cannot read ({exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
        rows, lines, total = [], [], 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            total += 1
            if limit is None or len(rows) < limit:
                rows.append(row)
                lines.append(reader.line_num)
    except StopIteration:
        raise DataError(f"data.csv: {path}: empty file (no header row)") from None
    except csv.Error as exc:
        raise DataError(f"data.csv: {path}: line {reader.line_num}: {exc}") from None
    if not rows:
        raise DataError(f"data.csv: {path}: no data rows under the header")
    return Table(path, header, rows, lines, total)


@dataclass
class Mutants:
    """Each row's mutant string (``""`` = the wild type itself) or its problem."""

    strings: list[str | None]
    derived: bool
    bad: list[tuple[int, str]] = field(default_factory=list)  # (row index, reason)


def row_mutants(table: Table, data: ScoreData, wild_type: str) -> Mutants:
    """Parse (or derive) every row's mutations against the wild type; problems are collected per row."""
    from protenc_seq import parse_mutant
    from protenc_seq.errors import MutationError

    strings: list[str | None] = []
    bad: list[tuple[int, str]] = []
    if data.sequence_column is not None:
        col = table.column(data.sequence_column, "data.sequence_column")
        for r in range(len(table.rows)):
            variant = table.cell(r, col, "data.sequence_column").strip().upper()
            if len(variant) != len(wild_type):
                bad.append((r, f"sequence of length {len(variant)}, the wild type has {len(wild_type)}"))
                strings.append(None)
                continue
            sites = [(w, i, v) for i, (w, v) in enumerate(zip(wild_type, variant)) if w != v]
            odd = [v for _, _, v in sites if v not in _AMINO_ACIDS]
            if odd:
                bad.append((r, f"variant letter {odd[0]!r} is not a standard amino acid"))
                strings.append(None)
                continue
            strings.append(":".join(f"{w}{i + data.offset}{v}" for w, i, v in sites))
        return Mutants(strings, True, bad)
    col = table.column(data.mutant_column or "", "data.mutant_column")
    for r in range(len(table.rows)):
        text = table.cell(r, col, "data.mutant_column").strip()
        try:
            if not text:
                raise MutationError("mutant ''", "empty mutant")
            parse_mutant(text, wild_type, data.offset)
        except MutationError as exc:
            bad.append((r, str(exc)))
            strings.append(None)
            continue
        strings.append(text)
    return Mutants(strings, False, bad)


# ------------------------------------------------------------------------------------------------ scoring
def wild_type_marginals(encoder: Any, sequence: str, structure: str | None) -> np.ndarray:
    """``(L, 20)`` log P(aa) at every position from one unmasked pass (fair-esm ``wt-marginals``; SaProt: P(aa)
    summed over the 21 tokens sharing the amino acid, seed-systems.md §5.4)."""
    from protenc_seq.encoder import evaluating

    model = encoder.model
    saprot = model.config.vocab == "saprot"
    inp = (sequence, structure) if saprot and structure is not None else sequence
    tokens = torch.from_numpy(encoder.tokenizer.encode([inp], ids=["wild type"])[0])  # (L + 2,)
    if len(tokens) - 2 != len(sequence):
        raise DataError("wild_type: longer than the model's window; set encoder.on_long=full to score it")
    aa = torch.from_numpy(model.alphabet.amino_acid_token_ids()).to(encoder.device)  # (20,) or (20, 21)
    with evaluating(model), torch.inference_mode(), encoder.autocast():
        logits = model(tokens[None].to(encoder.device)).logits[0, 1:-1].float()  # (L, V)
    if saprot:
        logp = torch.softmax(logits, -1)[:, aa].sum(-1).log()  # (L, 20)
    else:
        logp = torch.log_softmax(logits, -1)[:, aa]  # (L, 20)
    return logp.double().cpu().numpy()


def score(
    config: ScoreConfig, encoder: Any, wild_type: str, structure: str | None, mutants: list[str]
) -> np.ndarray:
    """Scores of distinct non-empty mutant strings (module docstring)."""
    from protenc_seq import parse_mutant, score_mutants
    from protenc_seq.alphabet import AMINO_ACIDS

    offset = config.data.offset
    if config.method == "masked_marginal":
        return score_mutants(
            encoder,
            wild_type,
            mutants,
            offset=offset,
            structure=structure,
            multi=config.multi,
            max_tokens=config.max_tokens,
        )
    table = wild_type_marginals(encoder, wild_type, structure)
    index = {a: i for i, a in enumerate(AMINO_ACIDS)}
    return np.array(
        [
            sum(
                table[m.index, index[m.mt]] - table[m.index, index[m.wt]]
                for m in parse_mutant(s, wild_type, offset)
            )
            for s in mutants
        ],
        dtype=np.float64,
    )


def run(config: ScoreConfig) -> Path:
    """Score the table of ``config`` and write the CSV + JSON; returns the CSV path.

    Every check that reads only small files (config, table, wild type, structure, mutants) runs before the model is
    loaded; nothing is written until every score is computed."""
    start = time.perf_counter()
    device = choose_device(config.device)  # names --device; before any file is read
    output = expand_path(config.output)
    if output.suffix.lower() == ".json":
        raise ConfigError(f"output: {output}: the scores are a CSV (the summary goes next to it as .json)")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    table = read_table(resolve_path(config.data.csv, "data.csv"), config.data.limit)
    label_col = (
        table.column(config.data.label_column, "data.label_column") if config.data.label_column else None
    )
    if config.score_column in table.header:
        raise ConfigError(f"score_column: {config.score_column!r} is already a column of {table.path}")
    wild_type = read_wild_type(config.wild_type) if config.wild_type is not None else None
    if config.encoder is None and config.export is not None:
        seq_config = read_export(config.export)[0]  # the export's encoder section (config.json only)
        if seq_config.type not in ("esm2", "saprot"):
            raise ConfigError(
                f"export: scoring needs an ESM-2 / SaProt encoder, the export holds {seq_config.type!r}"
            )
    else:
        seq_config = config.encoder
    notes: list[str] = []
    structure = None
    if config.structure is not None:
        if seq_config is not None and seq_config.type != "saprot":
            raise ConfigError(
                f"structure: only SaProt reads a structure (the encoder is {seq_config.type!r})"
            )
        threshold = seq_config.plddt_threshold if seq_config is not None else None
        struct_seq, structure, where = read_structure(config, threshold)
        if wild_type is None:
            wild_type = struct_seq
        elif wild_type != struct_seq:
            diff = next((i for i, (a, b) in enumerate(zip(wild_type, struct_seq)) if a != b), None)
            detail = (
                f"first difference at residue {diff + config.data.offset} ({wild_type[diff]} vs {struct_seq[diff]})"
                if diff is not None
                else f"lengths {len(wild_type)} vs {len(struct_seq)}"
            )
            raise DataError(f"structure: {where} does not have the wild-type sequence ({detail})")
        notes.append(f"structure {where}")
    elif seq_config is not None and seq_config.type == "saprot":
        notes.append("no structure: SaProt reads '#' for every 3Di token (sequence only)")
    if wild_type is None:
        raise ConfigError(
            "wild_type: required (a sequence or a FASTA / text file) unless a structure gives it"
        )
    mutants = row_mutants(table, config.data, wild_type)
    if mutants.bad and config.data.on_mismatch == "error":
        r, reason = mutants.bad[0]
        more = f" ({len(mutants.bad) - 1} more rows fail like this)" if len(mutants.bad) > 1 else ""
        raise DataError(
            f"{table.path}: line {table.lines[r]}: {reason}{more}; check data.offset ({config.data.offset}) and the "
            "wild type, or set data.on_mismatch=skip to score the other rows"
        )
    if all(s is None for s in mutants.strings):
        raise DataError(
            f"{table.path}: no row could be scored: all {len(mutants.bad)} rows were skipped (first: line "
            f"{table.lines[mutants.bad[0][0]]}: {mutants.bad[0][1]})"
        )
    if config.strict and mutants.bad:
        raise strict_failure([(f"{table.path}, line {table.lines[r]}", reason) for r, reason in mutants.bad])
    # ---- the model: only now
    loaded = load_inference_encoder(config.encoder, config.export, device=device, precision=config.precision)
    encoder = loaded.module
    if not encoder.model.has_lm_head:
        raise CheckpointError(
            "encoder.checkpoint: the model has no LM head (a Hugging Face EsmModel rather than EsmForMaskedLM?); "
            "zero-shot scoring needs its logits"
        )
    distinct = sorted({s for s in mutants.strings if s})
    notices = Notices()
    with notices.capture():  # the model's per-batch warnings: counted, reported once
        values = (
            dict(zip(distinct, score(config, encoder, wild_type, structure, distinct))) if distinct else {}
        )
    notes.extend(notices.lines())
    values[""] = 0.0
    scores = [values[s] if s is not None else None for s in mutants.strings]
    metrics = _metrics(config, table, label_col, scores, mutants, loaded.description, notes)
    _write(output, table, mutants, scores, config.score_column)
    write_json_atomic(output.with_suffix(".json"), metrics)
    _print(metrics, output, mutants, table, time.perf_counter() - start)
    return output


# ------------------------------------------------------------------------------------------------ outputs
def _labels(table: Table, label_col: int, key: str) -> list[float]:
    out = []
    for r in range(len(table.rows)):
        text = table.cell(r, label_col, key).strip()
        try:
            out.append(float(text) if text else math.nan)
        except ValueError:
            out.append(math.nan)
    return out


def _metrics(
    config: ScoreConfig,
    table: Table,
    label_col: int | None,
    scores: Sequence[float | None],
    mutants: Mutants,
    encoder: str,
    notes: list[str],
) -> dict[str, Any]:
    from prottasks.metrics import spearman

    metrics: dict[str, Any] = {
        "method": config.method,
        "multi": config.multi,
        "encoder": encoder,
        "csv": str(table.path),
        "rows": len(table.rows),
        "rows_in_file": table.total_rows,
        "scored": sum(s is not None for s in scores),
        "skipped": [{"line": table.lines[r], "reason": reason} for r, reason in mutants.bad],
        "offset": config.data.offset,
        "notes": notes,
    }
    if label_col is not None:
        labels = _labels(table, label_col, "data.label_column")
        pairs = [(s, y) for s, y in zip(scores, labels) if s is not None and math.isfinite(y)]
        metrics["label_column"] = config.data.label_column
        metrics["labelled"] = len(pairs)
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) >= 2 else math.nan
        metrics["spearman"] = None if math.isnan(rho) else rho
    return metrics


def _write(path: Path, table: Table, mutants: Mutants, scores: Sequence[float | None], column: str) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    extra = ["derived_mutant"] if mutants.derived else []
    writer.writerow([*table.header, *extra, column])
    for r, row in enumerate(table.rows):
        derived = [mutants.strings[r] or ""] if mutants.derived else []
        value = "" if scores[r] is None else repr(float(scores[r]))
        writer.writerow([*row, *derived, value])
    write_text_atomic(path, buffer.getvalue())


def _print(metrics: dict[str, Any], output: Path, mutants: Mutants, table: Table, seconds: float) -> None:
    for item in metrics["skipped"][:20]:
        print(f"skipped line {item['line']}: {item['reason']}", file=sys.stderr)
    if len(metrics["skipped"]) > 20:
        print(f"… and {len(metrics['skipped']) - 20} more skipped rows", file=sys.stderr)
    for note in metrics["notes"]:
        print(f"note: {note}", file=sys.stderr)
    line = f"scored {metrics['scored']} of {metrics['rows']} rows ({metrics['method']}"
    line += f", {metrics['multi']})" if metrics["method"] == "masked_marginal" else ")"
    line += f" in {seconds:.1f} s; skipped {len(metrics['skipped'])}"
    if "label_column" in metrics:
        rho = metrics["spearman"]
        shown = "undefined" if rho is None else f"{rho:.4f}"
        line += f"; Spearman rho {shown} vs {metrics['label_column']!r} (n={metrics['labelled']})"
    print(f"{line} -> {output} (+ {output.with_suffix('.json').name})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
