"""Semantic similarity inference: Spearman's ρ between embedding cosine similarity and GO semantic similarity.

``uv run apps/semantic_similarity.py --embeddings emb.safetensors --annotations records.jsonl --obo go-basic.obo``
prints one row per GO aspect and measure (Lin, Resnik; best-match average over the proteins' terms, IC counted
from the annotation file; :mod:`prottasks.go_similarity`). Embeddings: a file of ``apps/embed.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Literal

from engine.config import Section
from engine.errors import ConfigError, DataError
from pydantic import Field

from protdata.atomic import write_json_atomic

EXAMPLES = """\
example:
  uv run apps/semantic_similarity.py -e emb.safetensors -a ../shared/data/function/swissprot_records.jsonl \\
    --obo ../shared/data/go/go-basic_2021-12-15.obo pairs=5000 seed=1
"""


class SemanticSimilarityConfig(Section):
    embeddings: str | None = None  # apps/embed.py output: .safetensors, .parquet or a directory of parts
    annotations: str | None = (
        None  # Swiss-Prot records (.jsonl: accession, go, go_aspects) or CAFA terms (.tsv)
    )
    obo: str | None = None  # GO OBO (is_a + part_of)
    aspects: list[Literal["MFO", "BPO", "CCO"]] = Field(default_factory=lambda: ["MFO", "BPO", "CCO"])
    pairs: int | None = Field(None, ge=2)  # a random sample of pairs (None: every pair)
    seed: int = 0
    output: str | None = None  # also write the results as JSON
    strict: bool = False  # unresolved GO ids or annotated proteins without an embedding are an error


def run(config: SemanticSimilarityConfig) -> None:
    for key in ("embeddings", "annotations", "obo"):
        if getattr(config, key) is None:
            raise ConfigError(f"{key}: required (--{key} PATH or {key}=PATH)")
    from prottasks.go_similarity import semantic_similarity_files

    report = semantic_similarity_files(
        config.embeddings, config.annotations, config.obo,  # type: ignore[arg-type]
        n_pairs=config.pairs, seed=config.seed, aspects=config.aspects,
    )  # fmt: skip
    if config.strict and report.skipped:
        raise DataError(f"strict: {report.table().splitlines()[-1]}")
    print(report.table())
    if config.output:
        write_json_atomic(Path(config.output), report.to_dict())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="semantic_similarity.py",
        description=__doc__.split("\n\n")[0] + " Settings: --config YAML and key=value overrides.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. pairs=5000")
    parser.add_argument("--config", type=Path, metavar="FILE.yaml", help="a YAML config (keys as above)")
    parser.add_argument("--embeddings", "-e", metavar="PATH", help="embeddings written by apps/embed.py")
    parser.add_argument("--annotations", "-a", metavar="PATH", help="GO annotations (.jsonl records or .tsv)")
    parser.add_argument("--obo", metavar="PATH", help="GO OBO file")
    parser.add_argument("--output", "-o", metavar="FILE.json", help="also write the results as JSON")
    parser.add_argument("--strict", action="store_true", help="anything skipped is an error (exit 2)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    args = parser.parse_intermixed_args(argv)
    overrides = list(args.overrides)
    for key in ("embeddings", "annotations", "obo", "output"):
        if getattr(args, key):
            overrides.append(f"{key}={json.dumps(getattr(args, key))}")
    if args.strict:
        overrides.append("strict=true")
    from engine.app import load_and_run

    return load_and_run(SemanticSimilarityConfig, args.config, overrides, args.print_config, run)


if __name__ == "__main__":
    sys.exit(main())
