"""Preprocess structures into a sharded dataset: structure files, directories, AlphaFold-DB tars, foldcomp databases.

``uv run apps/preprocess.py --input UP000005640_9606_HUMAN_v4.tar --input afdb_rep_v4/afdb_rep_v4 --output data/afdb
--workers 8`` parses every member (tar members are streamed, never extracted) in 8 local processes and writes
memory-mapped safetensors shards plus ``manifest.json`` (counts, shard digests, content fingerprint, options, every
skipped member with its reason) — :func:`protdata.dataset.preprocess`. Under torchrun / deepspeed / srun / mpirun each
rank builds its share of the members and rank 0 writes the manifest (the output directory must be shared).
``--append`` adds new sources as new shards. Read the result with ``protdata.open_dataset(DIR)`` or train on it with
``data.dataset=DIR``. Prints one summary line: proteins, residues, shards, skipped, seconds, proteins/s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Literal

from engine.config import Section, expand_path
from pydantic import Field

EXAMPLES = """\
examples:
  uv run apps/preprocess.py --input afdb/UP000000625_83333_ECOLI_v4.tar --output data/ecoli --workers 2
  uv run apps/preprocess.py --input pdbs/ --output data/pdb --3di min_length=30
  uv run apps/preprocess.py --input more.tar --output data/ecoli --append
  torchrun --nnodes 4 --nproc-per-node 1 apps/preprocess.py --input afdb_rep_v4/afdb_rep_v4 --output /shared/afdb \\
    --workers 32
"""


class PreprocessConfig(Section):
    """``apps/preprocess.py``: which sources, where, how (see :func:`protdata.dataset.preprocess`)."""

    #: Structure files, directories, globs, tar archives, foldcomp databases (the data file).
    inputs: list[str] = Field(min_length=1)
    #: The dataset directory (shared by all ranks).
    output: str
    #: Local worker processes (per rank).
    workers: int = Field(1, ge=1)
    #: Add the inputs to the dataset in ``output`` as new shards.
    append: bool = False
    min_length: int = Field(1, ge=1)
    #: Store Foldseek 3Di tokens (SaProt's structure-aware vocabulary).
    encode_3di: bool = False
    plddt: Literal["auto"] | bool = "auto"
    #: Bounds of a shard: residues, and (optionally) bytes.
    shard_residues: int = Field(1 << 21, ge=1)
    shard_bytes: int | None = Field(None, ge=1)
    #: Members per unit of work (does not change the dataset).
    chunk_members: int = Field(64, ge=1)
    #: Seconds rank 0 waits for the other ranks.
    merge_timeout: float = Field(7200.0, gt=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="preprocess.py",
        description=__doc__.split("\n\n")[0]
        + " Settings: flags, a YAML --config and key=value overrides; unknown "
        "keys and wrong types are errors that name the key.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. min_length=30"
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE.yaml", help="a YAML config (PreprocessConfig keys)"
    )
    parser.add_argument("--input", "-i", action="append", metavar="SRC", help="a source (repeatable)")
    parser.add_argument("--output", "-o", metavar="DIR", help="the dataset directory")
    parser.add_argument("--workers", "-j", type=int, metavar="N", help="local worker processes (default 1)")
    parser.add_argument("--append", action="store_true", help="add the inputs to an existing dataset")
    parser.add_argument("--3di", dest="encode_3di", action="store_true", help="store Foldseek 3Di tokens")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def run(config: PreprocessConfig) -> None:
    from protdata.dataset import preprocess

    result = preprocess(
        [expand_path(s) for s in config.inputs],
        expand_path(config.output),
        workers=config.workers,
        append=config.append,
        min_length=config.min_length,
        encode_3di=config.encode_3di,
        plddt=config.plddt,
        shard_residues=config.shard_residues,
        shard_bytes=config.shard_bytes,
        chunk_members=config.chunk_members,
        merge_timeout=config.merge_timeout,
    )
    print(result.summary(), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    overrides = list(args.overrides)
    if args.input:
        overrides.append("inputs=" + json.dumps(args.input))
    if args.output:
        overrides.append("output=" + json.dumps(args.output))
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    if args.append:
        overrides.append("append=true")
    if args.encode_3di:
        overrides.append("encode_3di=true")
    from engine.app import load_and_run

    return load_and_run(PreprocessConfig, args.config, overrides, args.print_config, run)


if __name__ == "__main__":
    sys.exit(main())
