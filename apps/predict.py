"""Predict GO terms, EC numbers, classes or values for proteins with a model fine-tuned by apps/finetune.py.

``uv run apps/predict.py -m runs/go-bp-…/best -i proteins.fasta -o predictions.tsv`` reads FASTA files and/or
structure files / directories (PDB, mmCIF, BinaryCIF, gzipped, tar archives), runs the exported model and writes
one row per (protein, label): ``protein, rank, label, name, score`` — the ``top_k`` best labels of each protein
(``0``: all) with a score of at least ``threshold``. GO scores are made DAG-consistent first (a term never scores
below any of its descendants: max-propagation along is_a / part_of with the ontology of ``obo``), so the labels
above any threshold form a consistent subgraph; GO names come from the OBO, EC names from ``names`` (a table such
as ProtST's ``reaction_description.tsv``). Regression models write ``protein, prediction``.

Files that cannot be read, bad FASTA records (the rest of the file is read) and proteins the model rejects are
skipped, counted and listed with their reasons (file, line, record); ``--strict`` makes any skip an error (exit 2,
nothing written). A missing path, or no usable protein at all, is an error. Notices such as crops are counted and
reported once. The output is written atomically (a failed run leaves no partial file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from engine.config import Section, apply_overrides, dump_yaml, expand_path, load_yaml, validate
from engine.errors import ConfigError, DataError, error_boundary
from pydantic import Field

EXAMPLES = """\
examples:
  uv run apps/predict.py -m runs/go-bp-20250101-120000/best -i proteins.fasta -o go_bp.tsv
  uv run apps/predict.py -m runs/ec/best -i structures/ -o ec.csv --top-k 5 --names reaction_description.tsv
  uv run apps/predict.py -m runs/go-mf/best/config.json -i a.pdb -i b.cif --threshold 0.4 --top-k 0
  uv run apps/predict.py --config predict.yaml batch_size=32 device=cuda
"""


class PredictConfig(Section):
    """``apps/predict.py``: which model, which proteins, what to write."""

    #: The export: a directory with config.json + model.safetensors (``<run>/best`` = the selected model), or its
    #: config.json.
    model: str
    #: FASTA files and structure files / directories / globs / tar archives.
    inputs: list[str] = Field(min_length=1)
    #: The table to write (``.csv``: comma-separated, anything else tab-separated).
    output: str = "predictions.tsv"
    #: Labels per protein, best first (0: every label above the threshold; seed predict-rank.py: --top_k 10).
    top_k: int = Field(10, ge=0)
    #: Keep labels scoring at least this (probability).
    threshold: float = Field(0.0, ge=0.0, le=1.0)
    #: GO ontology (OBO) for names and DAG-consistent scores (default: the one the model was trained with).
    obo: str | None = None
    #: Label names table (e.g. EC numbers: ProtST's reaction_description.tsv with EC_number / name columns).
    names: str | None = None
    #: Max-propagate GO scores up the ontology (a parent never scores below a child).
    propagate: bool = True
    batch_size: int = Field(8, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: Any skipped input (file, FASTA record, protein the model rejects) is an error instead of a warning.
    strict: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="predict.py",
        description=__doc__.split("\n\n")[0]
        + " Settings come from the flags, a YAML config (--config) and key=value overrides (later wins); unknown "
        "keys and wrong types are errors that name the key.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. top_k=5")
    parser.add_argument(
        "--config", type=Path, metavar="FILE.yaml", help="config file (keys of PredictConfig)"
    )
    parser.add_argument("-m", "--model", help="export directory (e.g. <run>/best) or its config.json")
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        dest="inputs",
        metavar="PATH",
        help="FASTA / structure file or directory",
    )
    parser.add_argument("-o", "--output", help="output table (.tsv or .csv; default predictions.tsv)")
    parser.add_argument(
        "-k", "--top-k", type=int, dest="top_k", help="labels per protein (0: all; default 10)"
    )
    parser.add_argument("-t", "--threshold", type=float, help="keep scores >= this (default 0)")
    parser.add_argument("--obo", help="GO OBO file (names, DAG-consistent scores)")
    parser.add_argument("--names", help="label names table (e.g. EC_number / name)")
    parser.add_argument("--no-propagate", action="store_true", help="do not max-propagate GO scores")
    parser.add_argument("--batch-size", type=int, dest="batch_size", help="proteins per forward pass (8)")
    parser.add_argument("--device", help="auto, cpu or cuda")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="any skipped input (file, FASTA record, protein) is an error (exit 2)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def resolve_config(args: argparse.Namespace) -> PredictConfig:
    data: dict[str, Any] = load_yaml(args.config) if args.config is not None else {}
    flags = {
        k: getattr(args, k)
        for k in ("model", "inputs", "output", "top_k", "threshold", "obo", "names", "batch_size", "device")
    }
    for key, value in flags.items():
        if value is not None:
            data[key] = value
    if args.no_propagate:
        data["propagate"] = False
    if args.strict:
        data["strict"] = True
    data = apply_overrides(data, args.overrides)
    source = str(args.config) if args.config is not None else "predict"
    return validate(PredictConfig, data, source)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    args = build_parser().parse_intermixed_args(argv)
    with error_boundary():
        config = resolve_config(args)
        if args.print_config:
            print(dump_yaml(config), end="")
            return 0
        print(run(config), flush=True)
    return 0


def run(config: PredictConfig) -> str:
    """Predict and write ``config.output``; returns the summary line."""

    from engine.inference import choose_device
    from engine.notices import Notices, report_skipped, strict_failure
    from engine.prediction import (
        load_export,
        predict_scores,
        ranked_rows,
        read_names,
        read_proteins,
        write_table,
    )

    device = choose_device(config.device)  # before anything is loaded: names --device, not a training key
    output = expand_path(config.output)
    if output.is_dir():
        raise ConfigError(
            f"output: {output} is a directory (give a file name, e.g. {output}/predictions.tsv)"
        )
    if not output.parent.is_dir():
        raise ConfigError(f"output: {output.parent}: no such directory")
    export = load_export(expand_path(config.model))
    task = export.task
    label_kind = task.get("label_kind", "generic")
    # ---- names and the ontology (before reading inputs: bad settings fail fast)
    extra_names = read_names(expand_path(config.names)) if config.names else {}
    propagation = None
    if export.kind == "multi_label" and label_kind == "go" and (config.propagate or config.obo):
        propagation = _go(config, task)
    proteins, report = read_proteins(
        [expand_path(s) for s in config.inputs],
        needs_structures=bool(task.get("needs_structures")),
        encode_3di=task.get("vocabulary") == "saprot",
        strict=config.strict,
    )
    notices = Notices()
    with notices.capture():  # the encoder's per-batch warnings (e.g. crops): counted, reported once below
        scores, kept = predict_scores(
            export, proteins, batch_size=config.batch_size, device=device, report=report, notices=notices
        )
    if config.strict and report.skipped:
        raise strict_failure(report.skipped)
    ids = [proteins[i].id for i in kept]
    if export.kind == "regression":
        rows = [(pid, float(v)) for pid, v in zip(ids, scores)]
        n = write_table(output, ("protein", "prediction"), rows)
        what = f"{n} predictions"
    else:
        if propagation is not None and config.propagate:
            scores = propagation(scores)
        known = dict(task.get("label_names") or {})

        def name(label: str) -> str:
            if label in extra_names:
                return extra_names[label]
            if propagation is not None and propagation.current_of(label) is not None:
                return propagation.name(label)
            return known.get(label, "")

        rows = ranked_rows(ids, scores, export.labels, name, top_k=config.top_k, threshold=config.threshold)
        n = write_table(output, ("protein", "rank", "label", "name", "score"), rows)
        limit = f"top {config.top_k}" if config.top_k else "all labels"
        dag = ", DAG-consistent GO scores" if propagation is not None and config.propagate else ""
        what = f"{n} rows ({limit}, score >= {config.threshold:g}{dag})"
    summary = f"predicted {len(ids)} proteins with {export.directory}: {what} -> {output}"
    notices.report()
    if report.skipped:
        report_skipped(report.skipped)
        print(
            f"warning: {len(report.skipped)} inputs skipped (first: {report.skipped[0][0]}: "
            f"{report.skipped[0][1]}); --strict makes this an error",
            file=sys.stderr,
            flush=True,
        )
        summary += f" ({len(report.skipped)} inputs skipped)"
    if propagation is not None and propagation.unresolved:
        print(
            f"warning: {len(propagation.unresolved)} GO labels are not in {propagation.ontology.source} (e.g. "
            f"{propagation.unresolved[0]}): their scores are not propagated",
            file=sys.stderr,
            flush=True,
        )
    return summary


def _go(config: PredictConfig, task: dict[str, Any]) -> Any:
    """The ontology of ``obo`` (or the model's own) and the propagation over the model's labels."""
    from engine.prediction import GoPropagation

    from prottasks.go import GeneOntology

    path = expand_path(config.obo) if config.obo else (Path(task["obo"]) if task.get("obo") else None)
    if path is None:
        raise ConfigError(
            "obo: this model predicts GO terms; give the ontology (--obo go-basic.obo) to make its scores "
            "DAG-consistent and name them, or --no-propagate"
        )
    if not path.is_file():
        raise DataError(f"obo: {path}: no such file")
    return GoPropagation(GeneOntology.from_obo(path), task["labels"])


if __name__ == "__main__":
    sys.exit(main())
