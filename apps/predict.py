"""Predict GO terms, EC numbers, classes or values for proteins with a model fine-tuned by apps/finetune.py.

``uv run apps/predict.py -m runs/go-bp-…/best -i proteins.fasta -o predictions.tsv`` reads FASTA / structure
files, directories or tars (:func:`protdata.inputs.read_inputs`), runs the exported model and writes per protein
its ``top_k`` best labels (0: all) scoring at least ``threshold`` (``protein, rank, label, name, score``;
regression: ``protein, prediction``). GO scores are made DAG-consistent with the ontology of ``obo``
(:class:`prottasks.go.GoPropagation`) and named from it; other names come from ``names`` (e.g. ProtST's
``reaction_description.tsv``).

Bad files, FASTA records and proteins the model rejects are skipped and listed with reasons (``--strict``: an
error, exit 2, nothing written); notices (crops) are reported once; the output is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from engine.app import inference_parser, run_config_main
from engine.config import Section, expand_path
from engine.errors import CheckpointError, ConfigError, DataError
from pydantic import Field

EXAMPLES = """\
examples:
  uv run apps/predict.py -m runs/go-bp-20250101-120000/best -i proteins.fasta -o go_bp.tsv
  uv run apps/predict.py -m runs/ec/best -i structures/ -o ec.csv --top-k 5 --names reaction_description.tsv
  uv run apps/predict.py -m runs/go-mf/best -i a.pdb -i b.cif --threshold 0.4 --top-k 0 batch_size=32
"""


class PredictConfig(Section):
    """``apps/predict.py``: which model, which proteins, what to write."""

    #: The export: a model directory (``<run>/best`` = the selected model), or its config.json.
    model: str
    inputs: list[str] = Field(min_length=1)  # FASTA / structure files, directories, globs, tar archives
    output: str = "predictions.tsv"  # the table (``.csv``: comma-separated, anything else tab-separated)
    #: Labels per protein scoring at least ``threshold``, best first (0: all; seed predict-rank.py: --top_k 10).
    top_k: int = Field(10, ge=0)
    threshold: float = Field(0.0, ge=0.0, le=1.0)
    #: GO ontology (OBO) for names and DAG-consistent scores (default: the one the model was trained with).
    obo: str | None = None
    #: Label names table (e.g. EC numbers: ProtST's reaction_description.tsv with EC_number / name columns).
    names: str | None = None
    propagate: bool = True  # max-propagate GO scores up the ontology (a parent never below a child)
    batch_size: int = Field(8, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: Any skipped input (file, FASTA record, protein the model rejects) is an error instead of a warning.
    strict: bool = False


#: Predict's own flags: config key -> (flags, type, help); each becomes a ``key=value`` override.
FLAGS: dict[str, tuple[tuple[str, ...], type, str]] = {
    "model": (("-m", "--model"), str, "export directory (e.g. <run>/best) or its config.json"),
    "top_k": (("-k", "--top-k"), int, "labels per protein (0: all; default 10)"),
    "threshold": (("-t", "--threshold"), float, "keep scores >= this (default 0)"),
    "obo": (("--obo",), str, "GO OBO file (names, DAG-consistent scores)"),
    "names": (("--names",), str, "label names table (e.g. EC_number / name)"),
    "batch_size": (("--batch-size",), int, "proteins per forward pass (8)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = inference_parser(
        "predict.py",
        __doc__,
        EXAMPLES,
        config_help="config file (keys of PredictConfig)",
        override_example="top_k=5",
        output_metavar="FILE",
        output_help="output table (.tsv or .csv; default predictions.tsv)",
        inputs=True,
    )
    for key, (flags, kind, text) in FLAGS.items():
        parser.add_argument(*flags, dest=key, type=kind, help=text)
    off = {"action": "store_false", "dest": "propagate", "default": None}  # given: propagate=false
    parser.add_argument("--no-propagate", **off, help="do not max-propagate GO scores")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_intermixed_args(argv)
    flags = [f"{k}={json.dumps(v)}" for k in [*FLAGS, "propagate"] if (v := getattr(args, k)) is not None]
    return run_config_main(build_parser(), [*flags, *argv], PredictConfig, run)


def run(config: PredictConfig) -> str:
    """Predict, write ``config.output``, print the summary line and return it."""
    from engine.inference import choose_device
    from engine.notices import report_skipped

    from protdata.errors import ProtdataError
    from protdata.inputs import SkippedInputsError, read_inputs
    from protenc_seq.notices import Notices
    from prottasks import predictions as pred

    device = choose_device(config.device)  # before anything is loaded: names --device, not a training key
    output = expand_path(config.output)
    if output.is_dir():
        raise ConfigError(f"output: {output} is a directory (give a file name, e.g. predictions.tsv)")
    if not output.parent.is_dir():
        raise ConfigError(f"output: {output.parent}: no such directory")
    try:
        model, directory, meta = pred.load_task_model(expand_path(config.model))
    except ProtdataError as exc:  # not a fine-tuned model, or weights that do not fit: name the key
        raise CheckpointError(f"model: {' '.join(str(exc).split())}") from None
    task = meta.get("task") or {}
    names = pred.read_label_names(expand_path(config.names)) if config.names else {}  # bad settings fail fast
    go = model.kind == "multi_label" and task.get("label_kind") == "go"
    propagation = _go(config, task) if go else None
    inputs = read_inputs(
        [expand_path(s) for s in config.inputs],
        needs_structures=bool(task.get("needs_structures")),
        structure_tokens=task.get("vocabulary") == "saprot",
        strict=config.strict,
        strict_option="--strict",
    )
    proteins, skipped, notices = inputs.proteins, inputs.report.items(), Notices()
    with notices.capture():  # the encoder's per-batch warnings (e.g. crops): counted, reported once below
        found = pred.predict_scores(
            model, proteins, batch_size=config.batch_size, device=device, skipped=skipped
        )
    notices.cropped(found.cropped, model.config.max_length or 0)
    if config.strict and skipped:
        raise SkippedInputsError(skipped, "inputs", "--strict")
    ids, scores = [proteins[i].id for i in found.kept], found.scores
    if model.kind == "regression":
        rows = [(pid, float(v)) for pid, v in zip(ids, scores)]
        what = f"{pred.write_table(output, ('protein', 'prediction'), rows)} predictions"
    else:
        dag = propagation is not None and config.propagate
        scores = propagation(scores) if dag else scores
        go_names = propagation.names(model.labels) if propagation else {}
        named = {**(task.get("label_names") or {}), **go_names, **names}  # table, else OBO, else export
        rows = pred.ranked_rows(
            ids, scores, model.labels, named, top_k=config.top_k, threshold=config.threshold
        )
        n = pred.write_table(output, ("protein", "rank", "label", "name", "score"), rows)
        limit = f"top {config.top_k}" if config.top_k else "all labels"
        limit += f", score >= {config.threshold:g}" + (", DAG-consistent GO scores" if dag else "")
        what = f"{n} rows ({limit})"
    summary = f"predicted {len(ids)} proteins with {directory}: {what} -> {output}"
    notices.report()
    if skipped:
        report_skipped(skipped)
        warn(f"{len(skipped)} inputs skipped (first: {skipped[0][0]}: {skipped[0][1]}); --strict: an error")
        summary += f" ({len(skipped)} inputs skipped)"
    if propagation is not None and propagation.unresolved:
        bad, obo = propagation.unresolved, propagation.ontology.source
        warn(f"{len(bad)} GO labels are not in {obo} (e.g. {bad[0]}): their scores are not propagated")
    print(summary, flush=True)
    return summary


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _go(config: PredictConfig, task: dict[str, Any]) -> Any:
    """The ontology of ``obo`` (or the model's own) and the propagation over the model's labels (or None)."""
    from prottasks.go import GeneOntology, GoPropagation

    if not (config.propagate or config.obo):
        return None
    path = expand_path(config.obo) if config.obo else (Path(task["obo"]) if task.get("obo") else None)
    if path is None:
        hint = "to make its scores DAG-consistent and name them, or --no-propagate"
        raise ConfigError(f"obo: this model predicts GO terms; give the ontology (--obo go-basic.obo) {hint}")
    if not path.is_file():
        raise DataError(f"obo: {path}: no such file")
    return GoPropagation(GeneOntology.from_obo(path), task["labels"])


if __name__ == "__main__":
    sys.exit(main())
