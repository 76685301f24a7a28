"""Zero-shot mutation scores for a deep mutational scan: a DMS CSV in, the same CSV with a score column out.

``uv run apps/score.py --config apps/configs/score/esm2_masked_marginal.yaml data.csv=BLAT.csv data.offset=24
wild_type=BLAT_wt.txt data.label_column=2500 --output scores.csv`` scores every mutant of the table (CSV, or TSV
for ``.tsv``) with an ESM-2 or SaProt masked language model and writes ``scores.csv`` (every input row and column,
plus ``score``) and ``scores.json`` (method, counts, skipped rows, and Spearman's ρ against ``data.label_column``).

``method``: ``masked_marginal`` (``multi``: ``joint`` or ``independent``) or ``wt_marginal``
(:func:`protenc_seq.score_mutants`). SaProt reads the 3Di string of ``structure`` (pLDDT below
``encoder.plddt_threshold`` → ``#``; :func:`protdata.saprot.read_structure_tokens`), else ``#`` everywhere. A mutant
(``data.mutant_column``, or derived from ``data.sequence_column``) that does not match ``wild_type`` (or the
structure's sequence) is an error naming the CSV line, or with ``data.on_mismatch: skip`` an empty score listed in
the JSON (``--strict``: an error). Nothing is written unless every check passed; both files are written atomically.

``assays=FOLDER`` instead of ``data``: every ProteinGym substitution CSV of the folder (wild type read off each
file), one summary row per assay (Spearman, NDCG@10%, top-10% recall, AUC, number of mutants) and the average
(:mod:`prottasks.data.proteingym`); a bad assay is skipped and listed (``--strict``: an error).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from engine.app import inference_parser, run_config_main
from engine.builders import resolve_path
from engine.config import Section, expand_path
from engine.errors import ConfigError, DataError
from engine.notices import report_skipped
from pydantic import Field, model_validator

from protdata.atomic import write_json_atomic, write_text_atomic
from protenc_seq.config import SequenceEncoderConfig
from protenc_seq.notices import Notices
from prottasks.data.dms import DMSTableConfig

EXAMPLES = """\
examples:
  ESM2_650M=~/weights/esm2_t33_650M_UR50D.pt uv run apps/score.py \\
    --config apps/configs/score/esm2_masked_marginal.yaml data.csv=BLAT_ECOLX_Ranganathan2015.csv \\
    data.offset=24 wild_type=BLAT_ECOLX_wildtype.txt data.label_column=2500 --output blat_scores.csv
  SAPROT_650M_AF2=~/weights/SaProt_650M_AF2 uv run apps/score.py \\
    --config apps/configs/score/saprot_zero_shot.yaml structure=AF-P62593-F1-model_v4.pdb data.csv=dms.csv \\
    --output saprot_scores.csv
  uv run apps/score.py --config my.yaml data.sequence_column=x data.label_column=y wild_type=MTYKLILNGK…
  ESM2_650M=~/weights/esm2_t33_650M_UR50D.pt uv run apps/score.py --config \
    apps/configs/score/proteingym_esm2.yaml assays=DMS_ProteinGym_substitutions/ --output proteingym.csv
"""


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
    #: The scan: CSV / TSV, mutant or sequence column, label column, numbering offset, mismatch policy.
    data: DMSTableConfig | None = None
    #: Instead of data: a folder of ProteinGym substitution CSVs (mutant, mutated_sequence, DMS_score[, _bin]).
    assays: str | None = None
    #: Output CSV; the summary goes to the same name with ``.json``.
    output: str
    score_column: str = "score"
    #: Tokens per forward batch of masked copies.
    max_tokens: int = Field(8192, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    num_threads: int | None = Field(None, ge=1)
    #: Any skipped row (``data.on_mismatch: skip``) is an error instead of a warning.
    strict: bool = False

    @model_validator(mode="after")
    def _one_table(self) -> ScoreConfig:
        if (self.data is None) == (self.assays is None):
            raise ValueError(
                "give data (one scan: data.csv=…) or assays (a folder of ProteinGym CSVs), not both"
            )
        return self


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


@contextlib.contextmanager
def _named(key: str) -> Iterator[None]:
    """A package's bad-input error (it names the file and line) prefixed with the config key it came from."""
    from protdata.errors import ProtdataError

    try:
        yield
    except ProtdataError as exc:
        raise DataError(f"{key}: {exc}") from None


def run(config: ScoreConfig) -> Path:
    """Score the table of ``config``, write the CSV + JSON, return the CSV path. Every check of the small files
    (table, wild type, structure, mutants) runs before the model loads; nothing is written before every score."""
    import torch
    from engine.inference import load_inference_encoder

    from protdata.device import choose_device
    from protenc_seq import check_mutants, score_mutants
    from prottasks.data.dms import check_mismatched_rows, read_dms_table, scan_summary, summary_line

    start, data = time.perf_counter(), config.data
    device = choose_device(config.device, name="--device")  # before any file is read
    if data is None:
        return run_assays(config, device)
    output = expand_path(config.output)
    if output.suffix.lower() == ".json":
        raise ConfigError(f"output: {output}: the scores are a CSV (the summary goes next to it as .json)")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    with _named("data.csv"):  # the table, its label column and its mutant (or sequence) column
        table = read_dms_table(resolve_path(data.csv, "data.csv"), limit=data.limit)
        labels = table.numbers(data.label_column) if data.label_column else None
        cells = table.values(data.variant_column[1])
    if config.score_column in table.header:
        raise ConfigError(f"score_column: {config.score_column!r} is already a column of {table.path}")
    wild_type, structure, notes = _wild_type(config)
    mutants = check_mutants(cells, wild_type, data.offset, full_sequences=data.sequence_column is not None)
    skipped = [(table.lines[r], reason) for r, reason in mutants.bad]
    options = {"on_mismatch": data.on_mismatch, "offset": data.offset, "strict": config.strict}
    check_mismatched_rows(table.path, skipped, len(mutants.strings), **options)
    loaded = load_inference_encoder(config.encoder, config.export, device=device, precision=config.precision)
    notices = Notices()
    with notices.capture():  # the model's per-batch warnings: counted, reported once
        options = config.model_dump(include={"multi", "max_tokens", "method"})
        options.update(offset=data.offset, structure=structure)
        found = score_mutants(loaded.module, wild_type, mutants.distinct, **options)
    scores = mutants.row_scores(found)
    info = {"method": config.method, "multi": config.multi, "encoder": loaded.description}
    info["notes"] = notes + notices.lines()
    summary = scan_summary(table, scores, skipped, labels, data, info)
    extra = {"derived_mutant": [s or "" for s in mutants.strings]} if data.sequence_column else {}
    extra[config.score_column] = ["" if s is None else repr(s) for s in scores]
    write_text_atomic(output, table.to_csv(extra))
    write_json_atomic(output.with_suffix(".json"), summary)
    report_skipped([(f"line {item['line']}", item["reason"]) for item in summary["skipped"]])
    print("".join(f"note: {note}\n" for note in summary["notes"]), end="", file=sys.stderr)
    print(summary_line(summary, output, time.perf_counter() - start), flush=True)
    return output


def _wild_type(config: ScoreConfig) -> tuple[str, str | None, list[str]]:
    """The wild type, SaProt's 3Di string of ``structure`` (None without one) and notes for the summary."""
    from engine.inference import read_export

    from protdata.saprot import read_structure_tokens
    from prottasks.data.dms import read_wild_type

    seq_config = config.encoder
    if seq_config is None and config.export is not None:
        seq_config = read_export(config.export)[0]  # the export's encoder section (config.json only)
        if seq_config.type not in ("esm2", "saprot", "esmc"):
            raise ConfigError(
                f"export: scoring needs an ESM-2 / SaProt / ESM C encoder, not {seq_config.type!r}"
            )
    with _named("wild_type"):
        given = resolve_path(config.wild_type, "wild_type") if config.wild_type else None
        wild_type = read_wild_type(str(given)) if given else None
    saprot = seq_config is not None and seq_config.type == "saprot"
    if config.structure is None:
        if wild_type is None:
            raise ConfigError("wild_type: required (a sequence or a FASTA / text file) without a structure")
        note = "no structure: SaProt reads '#' for every 3Di token (sequence only)"
        return wild_type, None, [note] if saprot else []
    if seq_config is not None and not saprot:
        raise ConfigError(f"structure: only SaProt reads a structure (the encoder is {seq_config.type!r})")
    threshold = seq_config.plddt_threshold if seq_config is not None else None
    with _named("structure"):
        path = resolve_path(config.structure, "structure")
        found = read_structure_tokens(path, chain=config.chain, plddt_threshold=threshold)
        if wild_type is not None:
            found.check_sequence(wild_type, config.data.offset)
    return found.sequence, found.tokens, [f"structure {found.describe()}"]


def run_assays(config: ScoreConfig, device: str) -> Path:
    """ProteinGym style: score every assay of the ``assays`` folder, write the summary CSV (one row per assay and
    the average), its JSON and each assay's scores (``<output stem>_scores/<DMS_id>.csv``); return the CSV."""
    from engine.inference import load_inference_encoder

    from protenc_seq import check_mutants, score_mutants
    from prottasks.data.proteingym import benchmark_assays, benchmark_line, list_assays, write_benchmark

    start, output = time.perf_counter(), expand_path(config.output)
    if config.structure is not None or config.wild_type is not None:
        raise ConfigError("assays: each assay's wild type comes from its file (no structure / wild_type)")
    with _named("assays"):
        paths = list_assays(resolve_path(config.assays, "assays"))
    loaded = load_inference_encoder(config.encoder, config.export, device=device, precision=config.precision)
    options = {**config.model_dump(include={"multi", "max_tokens", "method"}), "offset": 1, "structure": None}

    def score(assay: Any) -> list[float | None]:  # None: a row check_mutants rejects (an error there)
        mutants = check_mutants(assay.mutants, assay.wild_type, 1)
        return mutants.row_scores(score_mutants(loaded.module, assay.wild_type, mutants.distinct, **options))

    with (notices := Notices()).capture():  # the model's per-batch warnings: counted, reported once
        result = benchmark_assays(paths, score, strict=config.strict)
    info = {**config.model_dump(include={"method", "multi"}), "encoder": loaded.description}
    table = write_benchmark(result, output, info, config.score_column)
    report_skipped(result.skipped)
    print(table + "".join(f"note: {note}\n" for note in notices.lines()), end="", flush=True)
    what = f"{config.method}, {config.multi}" if config.method == "masked_marginal" else config.method
    print(benchmark_line(result, what, time.perf_counter() - start, output), flush=True)
    return output


if __name__ == "__main__":
    sys.exit(main())
