"""Predict GO terms, EC numbers, classes or values for proteins with a model fine-tuned by apps/finetune.py.

``uv run apps/predict.py -m runs/go-bp-…/best -i proteins.fasta -o predictions.tsv`` reads FASTA / structure
files, directories or tars (:func:`protdata.inputs.read_inputs`), runs the exported model and writes per protein
its ``top_k`` best labels (0: all) scoring at least ``threshold`` (``protein, rank, label, name, score``;
regression: ``protein, prediction``). GO scores are made DAG-consistent with the ontology of ``obo``
(:class:`prottasks.go.GoPropagation`) and named from it; other names come from ``names`` (e.g. ProtST's
``reaction_description.tsv``).

``--interactive`` asks for sequences and prints each one's top labels as ``0.6195: cellular anatomical entity`` (the
ESM2 Function Caller's predict-rank.py; :class:`prottasks.predictor.Predictor`); ``-i -`` reads FASTA from stdin,
``--sequence`` ranks one raw sequence, ``-o -`` writes the table to stdout (the summary line then goes to stderr).

Bad files, FASTA records and proteins the model rejects are skipped and listed with reasons (``--strict``: an
error, exit 2, nothing written); notices (crops) are reported once; the output is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Literal

from engine.app import inference_parser, run_config_main
from engine.config import Section, expand_path
from pydantic import Field, model_validator

EXAMPLES = """\
examples:
  uv run apps/predict.py -m runs/go-bp-20250101-120000/best -i proteins.fasta -o go_bp.tsv
  uv run apps/predict.py -m runs/ec/best -i structures/ -o ec.csv --top-k 5 --names reaction_description.tsv
  uv run apps/predict.py -m runs/go-mf/best -i a.pdb -i b.cif --threshold 0.4 --top-k 0 batch_size=32
  uv run apps/predict.py -m runs/go-cc/best --interactive -k 5      # Enter a sequence: … (empty line ends)
  cat proteins.fasta | uv run apps/predict.py -m runs/go-cc/best -i - -o - > go.tsv
  uv run apps/predict.py -m runs/go-cc/best --sequence MASMAGVGGG… -o -
"""


class PredictConfig(Section):
    """``apps/predict.py``: which model, which proteins, what to write."""

    #: The export: a model directory (``<run>/best`` = the selected model), or its config.json.
    model: str
    inputs: list[str] = Field(
        default_factory=list
    )  # FASTA / structure files, directories, globs, tar archives; ["-"]: FASTA on stdin
    sequence: str | None = None  # one raw sequence instead of inputs
    interactive: bool = False  # ask for sequences, print each one's top_k labels (seed predict-rank.py)
    output: str = (
        "predictions.tsv"  # the table (``.csv``: comma-separated, else tab-separated; ``-``: stdout)
    )
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

    @model_validator(mode="after")
    def _one_source(self) -> PredictConfig:
        if sum((bool(self.inputs), self.sequence is not None, self.interactive)) != 1:
            raise ValueError(
                "give one of inputs (-i FILE, -i - for FASTA on stdin), --sequence or --interactive"
            )
        return self


#: Predict's own flags: config key -> (flags, type, help); each becomes a ``key=value`` override.
FLAGS: dict[str, tuple[tuple[str, ...], type, str]] = {
    "model": (("-m", "--model"), str, "export directory (e.g. <run>/best) or its config.json"),
    "top_k": (("-k", "--top-k"), int, "labels per protein (0: all; default 10)"),
    "threshold": (("-t", "--threshold"), float, "keep scores >= this (default 0)"),
    "obo": (("--obo",), str, "GO OBO file (names, DAG-consistent scores)"),
    "names": (("--names",), str, "label names table (e.g. EC_number / name)"),
    "batch_size": (("--batch-size",), int, "proteins per forward pass (8)"),
    "sequence": (("--sequence",), str, "one raw amino-acid sequence instead of -i"),
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
    ask = "ask for sequences, print each one's top-k labels (empty line or EOF ends)"
    parser.add_argument("--interactive", action="store_const", const=True, help=ask)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (bad input: one ``error:`` line and status 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_intermixed_args(argv)
    keys = [*FLAGS, "propagate", "interactive"]
    flags = [f"{k}={json.dumps(v)}" for k in keys if (v := getattr(args, k)) is not None]
    return run_config_main(build_parser(), [*flags, *argv], PredictConfig, run)


def run(config: PredictConfig) -> str:
    """Predict, write ``config.output`` (``-``: stdout) or answer ``--interactive``; print the summary line."""
    from engine.inference import choose_device
    from engine.notices import report_skipped

    from protdata.inputs import SkippedInputsError
    from protenc_seq.notices import Notices
    from prottasks.predictions import check_output, write_table
    from prottasks.predictor import Predictor

    device = choose_device(config.device)  # before anything is loaded: names --device, not a training key
    output = None if config.output == "-" else check_output(expand_path(config.output))
    paths = {k: expand_path(v) if v else None for k, v in config.model_dump(include={"obo", "names"}).items()}
    settings = config.model_dump(include={"top_k", "threshold", "batch_size", "propagate"})
    predictor = Predictor.load(expand_path(config.model), **paths, **settings, device=device)
    for message in predictor.warnings():
        warn(message)
    if config.interactive:
        return f"ranked {predictor.interactive()} sequences with {predictor.directory}"
    sources = [s if s == "-" else expand_path(s) for s in config.inputs]
    proteins, skipped, notes = predictor.read_proteins(
        sources, sequence=config.sequence, strict=config.strict
    )
    notices = Notices()
    with notices.capture():  # the encoder's per-batch warnings (e.g. crops): counted, reported once below
        found = predictor.scores(proteins, skipped)
    notices.cropped(found.cropped, predictor.model.config.max_length or 0)
    if config.strict and skipped:
        raise SkippedInputsError(skipped, "inputs", "--strict")
    ids = [proteins[i].id for i in found.kept]
    n = write_table(output or "-", *predictor.table(ids, found.scores))
    what = f"{n} predictions" if predictor.kind == "regression" else f"{n} rows ({predictor.describe()})"
    summary = f"predicted {len(ids)} proteins with {predictor.directory}: {what} -> {output or 'stdout'}"
    notices.report()
    print("".join(f"note: {note}\n" for note in notes), end="", file=sys.stderr)
    if skipped:
        report_skipped(skipped)
        warn(f"{len(skipped)} inputs skipped (first: {skipped[0][0]}: {skipped[0][1]}); --strict: an error")
        summary += f" ({len(skipped)} inputs skipped)"
    print(summary, file=sys.stdout if output else sys.stderr, flush=True)
    return summary


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
