"""Parsing + ProteinBatch building: protdata's gemmi reader vs an equivalent biotite-based reader, same process.

Both readers implement Foldseek's residue selection (foldseek-3di.md §1) and return identical proteins on these
files (tests/test_io_collection.py); the biotite one (``protdata.io.biotite_reader``) parses with biotite and
selects with NumPy. Every model of every file is read, then the proteins are collated into ``ProteinBatch``es of
16. A third line times gemmi's parse alone, to show what the Python-side extraction costs on top of it.

    uv run python benchmarks/bench_parse.py [--repeat 3] [--batch-size 16] [files or folders ...]

Default input: every structure file in ../shared/data (structures/*, foldseek/structures), read from disk (the
page cache is warm after the first, untimed pass).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gemmi

from protdata import Protein, ProteinBatch
from protdata.errors import ProtdataError
from protdata.io import load_chains
from protdata.io.biotite_reader import load_chains_biotite
from protdata.io.collection import expand_sources
from protdata.io.report import LoadReport
from protdata.testing import find_shared_data

FOLDERS = ("structures/alphafold_db", "structures/experimental_mdanalysis_dssp", "structures/experimental_mini3di",
           "structures/scop_globins", "foldseek/structures")  # fmt: skip


def default_files() -> list[Path]:
    root = find_shared_data()
    if root is None:
        sys.exit("shared data not found: set $PROTSTACK_SHARED_DATA or pass files")
    return expand_sources([root / f for f in FOLDERS], LoadReport())


def gemmi_reader(path: Path) -> list[Protein]:
    return load_chains(path, model="all")


def biotite_reader(path: Path) -> list[Protein]:
    return load_chains_biotite(path, model="all")


def gemmi_parse_only(path: Path) -> int:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    name = path.name.removesuffix(".gz")
    if name.endswith(".cif"):
        st = gemmi.make_structure_from_block(gemmi.cif.read_string(data)[0])
    else:
        st = gemmi.read_pdb_string(data)
    return sum(len(chain) for model in st for chain in model)


def run(reader: Callable[[Path], list[Protein]], files: list[Path], batch_size: int) -> tuple[int, int, int]:
    proteins: list[Protein] = []
    for path in files:
        # the RNA-only entry and the 2-residue DSSP edge case raise in both readers
        with contextlib.suppress(ProtdataError):
            proteins.extend(reader(path))
    residues = 0
    for i in range(0, len(proteins), batch_size):
        batch = ProteinBatch.collate(proteins[i : i + batch_size])
        residues += batch.num_residues
    return len(files), len(proteins), residues


def timed(fns: dict[str, Callable[[], tuple[int, int, int]]], repeat: int) -> dict[str, tuple[float, tuple]]:
    """Best-of-``repeat`` time of each function, the functions interleaved round by round (fairer on a busy
    machine than timing one after the other)."""
    results = {name: (float("inf"), fn()) for name, fn in fns.items()}  # warm-up: imports, page cache, caches
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            counts = fn()
            elapsed = time.perf_counter() - start
            results[name] = (min(results[name][0], elapsed), counts)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    files = expand_sources(args.paths, LoadReport()) if args.paths else default_files()
    print(
        f"{len(files)} files, best of {args.repeat} interleaved rounds, ProteinBatch.collate in batches of {args.batch_size}"
    )

    results = timed(
        {
            "gemmi": lambda: run(gemmi_reader, files, args.batch_size),
            "biotite": lambda: run(biotite_reader, files, args.batch_size),
            "parse": lambda: (sum(gemmi_parse_only(f) for f in files), 0, 0),
        },
        args.repeat,
    )
    t_gemmi, (n_files, n_prot, n_res) = results["gemmi"]
    t_bio, (_, n_prot_b, n_res_b) = results["biotite"]
    t_parse = results["parse"][0]
    assert (n_prot, n_res) == (n_prot_b, n_res_b), "the two readers disagree"

    print(f"{'reader':<32}{'seconds':>10}{'files/s':>10}{'proteins/s':>12}{'residues/s':>12}")
    for label, t in (("protdata (gemmi) + collate", t_gemmi), ("biotite reference + collate", t_bio)):
        print(f"{label:<32}{t:>10.3f}{n_files / t:>10.1f}{n_prot / t:>12.1f}{n_res / t:>12.0f}")
    print(f"{'gemmi parse only (no extraction)':<32}{t_parse:>10.3f}{n_files / t_parse:>10.1f}")
    print(f"proteins: {n_prot} chains (every model), {n_res} residues")
    print(f"speed-up gemmi reader vs biotite reader: {t_bio / t_gemmi:.2f}x")
    print(f"extraction + checks + collate on top of gemmi's parse: {t_gemmi / t_parse:.2f}x the parse time")


if __name__ == "__main__":
    main()
