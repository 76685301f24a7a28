"""Build (or extend) a sharded dataset from structure files, directories, tar archives and foldcomp databases.

Work is split by *member*: every member of every source gets a running number in canonical source order
(:mod:`protdata.dataset.sources`), consecutive members form chunks of ``chunk_members``, chunk ``c`` belongs to rank
``c % world_size``, and each rank parses its chunks in ``workers`` local processes (at most ``2 * workers`` chunks
in flight, results taken back in order) and writes its own shards (``g<generation>-r<rank>-<k>.safetensors``,
bounded by ``shard_residues``) plus a partial manifest. Rank 0 then waits for every rank's partial manifest
(file-based: the output directory must be shared by the ranks; no ``torch.distributed``), orders all pieces by
chunk number — the canonical order, whatever the worker count or world size — computes the fingerprint and writes
``manifest.json``. ``append=True`` adds a new generation of shards for new sources; old shards are not touched.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from protdata.dataset.manifest import (
    MANIFEST,
    ManifestError,
    read_manifest,
    write_json_atomic,
)
from protdata.dataset.merge import PARTS_DIR, merge, part_name
from protdata.dataset.parse import ChunkResult, ParseOptions, parse_chunk
from protdata.dataset.ranks import rank_from_env, run_id_from_env
from protdata.dataset.shard import RESIDUE_ARRAYS, write_shard
from protdata.dataset.sources import Leaf, Listing, Member, Skip, expand_leaves, is_foldcomp_db, iter_members
from protdata.errors import DatasetError
from protdata.io.archive import is_tar_name
from protdata.packed import PackedProteins

#: bytes a shard stores per residue (the per-residue arrays) — for the ``shard_bytes`` bound
BYTES_PER_RESIDUE = 78


@dataclass
class PreprocessResult:
    """What :func:`preprocess` did: counts of this call's rank (of the whole generation on rank 0 after the
    merge), the output directory and whether this process wrote ``manifest.json``."""

    output: Path
    rank: int
    world_size: int
    proteins: int
    residues: int
    shards: int
    skipped: int
    too_short: int
    seconds: float
    merged: bool
    fingerprint: str | None = None

    @property
    def proteins_per_second(self) -> float:
        return self.proteins / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: proteins, residues, shards, skipped, seconds, proteins/s."""
        who = "" if self.world_size == 1 else f"rank {self.rank}/{self.world_size}: "
        return (
            f"{who}{self.proteins} proteins, {self.residues} residues, {self.shards} shards, "
            f"{self.skipped} skipped, {self.too_short} too short, {self.seconds:.1f} s, "
            f"{self.proteins_per_second:.1f} proteins/s -> {self.output}"
        )


def preprocess(
    sources: Sequence[str | Path],
    output: str | Path,
    *,
    workers: int = 1,
    rank: int | None = None,
    world_size: int | None = None,
    append: bool = False,
    min_length: int = 1,
    encode_3di: bool = False,
    plddt: bool | Literal["auto"] = "auto",
    shard_residues: int = 1 << 21,
    shard_bytes: int | None = None,
    chunk_members: int = 64,
    merge_timeout: float = 7200.0,
    run_id: str | None = None,
) -> PreprocessResult:
    """Parse ``sources`` into a sharded dataset in ``output`` (see the module docstring).

    Args:
        sources: Structure files, directories (walked in sorted order), globs, tar archives (streamed members,
            never extracted) and foldcomp databases (the data file's path).
        output: The dataset directory (created; shared by all ranks).
        workers: Local worker processes of this rank (1: parse in this process).
        rank, world_size: This process's rank; ``None``: from the launcher's environment
            (:func:`protdata.dataset.ranks.rank_from_env`), else 0 of 1.
        append: Add the sources as a new generation to the dataset in ``output``.
        min_length, encode_3di, plddt: Parse options (:class:`~protdata.dataset.parse.ParseOptions`); on append
            they must equal the dataset's.
        shard_residues, shard_bytes: Bounds of a shard (a single longer protein gets a shard of its own); bytes are
            counted at :data:`BYTES_PER_RESIDUE` per residue.
        chunk_members: Members per chunk (unit of work; does not change the dataset's order or fingerprint).
        merge_timeout: Seconds rank 0 waits for the other ranks' partial manifests.
        run_id: Same on every rank of one build (default: the launcher's job id, if any); rank 0 ignores partial
            manifests of other runs.

    Raises:
        DatasetError: a source is missing; ``output`` already holds a dataset (without ``append``) or a source is
            already in it (with ``append``); other ranks did not finish within ``merge_timeout`` (names them).
        ManifestError: ``append`` to a directory without a readable manifest, or with other parse options.
    """
    start = time.time()
    env_rank, env_world = rank_from_env()
    rank = env_rank if rank is None else rank
    world_size = env_world if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0 … {world_size - 1}")
    for name, value in (
        ("workers", workers),
        ("shard_residues", shard_residues),
        ("chunk_members", chunk_members),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    out = Path(output)
    options = ParseOptions(min_length=min_length, encode_3di=encode_3di, plddt=plddt)
    leaves = expand_leaves([str(s) for s in sources])
    old = _previous(out, append, options, leaves)
    generation = len(old["generations"]) if old else 0
    run_id = run_id if run_id is not None else run_id_from_env()
    parts = out / PARTS_DIR
    parts.mkdir(parents=True, exist_ok=True)
    part_path = parts / part_name(generation, rank)
    part_path.unlink(missing_ok=True)
    for stale in out.glob(f"g{generation:03d}-r{rank:05d}-*.safetensors"):  # of an earlier, failed run
        stale.unlink()

    limit = (
        shard_residues
        if shard_bytes is None
        else max(1, min(shard_residues, shard_bytes // BYTES_PER_RESIDUE))
    )
    writer = _ShardWriter(out, f"g{generation:03d}-r{rank:05d}", limit)
    listing = Listing()
    counts = {"loaded": 0, "too_short": 0}
    skipped: list[dict[str, Any]] = []
    chunks = _chunks(leaves, generation, chunk_members, rank, world_size, listing)
    for result in _parse_all(chunks, options, workers):
        counts["loaded"] += result.loaded
        counts["too_short"] += result.too_short
        skipped.extend(dict(s, generation=generation) for s in result.skipped)
        if result.packed is not None:
            writer.add(result.key, result.packed, result.digests)
    writer.flush()
    _report_skips(skipped, rank, world_size)
    part = {
        "rank": rank,
        "world_size": world_size,
        "run_id": run_id,
        "generation": generation,
        "started": start,
        "sources": _describe([str(s) for s in sources]),
        "options": options.as_dict(),
        "workers": workers,
        "shards": writer.shards,
        "runs": writer.runs,
        "skipped": skipped,
        "members": listing.members,
        "ignored": listing.ignored,
        **counts,
        "seconds": time.time() - start,
    }
    write_json_atomic(part_path, part)
    if rank != 0:
        return PreprocessResult(
            out,
            rank,
            world_size,
            writer.proteins,
            writer.residues,
            len(writer.shards),
            len(skipped),
            counts["too_short"],
            time.time() - start,
            merged=False,
        )
    manifest = merge(out, old, generation, world_size, run_id, start, merge_timeout, part)
    new = manifest["generations"][-1]
    return PreprocessResult(
        out,
        rank,
        world_size,
        new["proteins"],
        new["residues"],
        new["shards"],
        new["skipped"],
        new["too_short"],
        time.time() - start,
        merged=True,
        fingerprint=manifest["fingerprint"],
    )


def _describe(sources: Sequence[str]) -> list[dict[str, str]]:
    """The sources as given (absolute paths) with their kind, for the manifest."""
    out = []
    for s in sources:
        path = Path(s)
        if is_foldcomp_db(path):
            kind = "foldcomp"
        elif path.is_dir():
            kind = "directory"
        elif path.is_file():
            kind = "tar" if is_tar_name(path.name) else "file"
        else:
            kind = "glob"
        out.append({"path": str(path.resolve()) if kind != "glob" else s, "kind": kind})
    return out


def _previous(out: Path, append: bool, options: ParseOptions, leaves: list[Leaf]) -> dict[str, Any] | None:
    """The existing manifest when appending (checked against the new options and sources), else ``None``."""
    if not append:
        if (out / MANIFEST).exists():
            raise DatasetError(out, "already holds a dataset (manifest.json); append=True adds to it")
        return None
    old = read_manifest(out)
    if old["options"] != options.as_dict():
        raise ManifestError(out / MANIFEST, f"built with options {old['options']}, not {options.as_dict()}")
    known = [Path(s["path"]) for s in old["sources"] if s["kind"] != "glob"]
    for leaf in leaves:
        path = Path(leaf.path).resolve()
        if any(path == k or k in path.parents for k in known):
            raise DatasetError(leaf.path, "this source is already in the dataset")
    return old


def _chunks(
    leaves: list[Leaf], generation: int, size: int, rank: int, world: int, listing: Listing
) -> Iterator[tuple[tuple[int, int], list[Member | Skip]]]:
    """This rank's chunks ``((generation, chunk number), members)`` in order (chunk ``c`` is rank
    ``c % world``'s)."""
    current: list[Member | Skip] = []
    chunk = -1
    for item in iter_members(leaves, lambda n: (n // size) % world == rank, listing):
        c = item.number // size
        if c != chunk and current:
            yield (generation, chunk), current
            current = []
        chunk = c
        current.append(item)
    if current:
        yield (generation, chunk), current


def _parse_all(
    chunks: Iterator[tuple[tuple[int, int], list[Member | Skip]]], options: ParseOptions, workers: int
) -> Iterator[ChunkResult]:
    """Parse the chunks in order; with ``workers > 1`` in a process pool, ``2 * workers`` chunks in flight."""
    if workers == 1:
        for key, items in chunks:
            yield parse_chunk(key, items, options)
        return
    # fork is cheap, but not safe once torch's threads exist in this process
    context = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
    pending: collections.deque[Future[ChunkResult]] = collections.deque()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
        for key, items in chunks:
            pending.append(pool.submit(parse_chunk, key, items, options))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _one_thread() -> None:
    """Worker start: one compute thread (parallelism comes from the processes; torch reads this on import)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _report_skips(skipped: list[dict[str, Any]], rank: int, world: int) -> None:
    if not skipped:
        return
    kinds = collections.Counter(s["error"] for s in skipped)
    who = f"rank {rank}/{world}: " if world > 1 else ""
    detail = ", ".join(f"{k}: {v}" for k, v in kinds.most_common())
    print(f"preprocess: {who}skipped {len(skipped)} members ({detail})", file=sys.stderr)


class _ShardWriter:
    """Collects packed chunks and writes shards of at most ``limit`` residues; records the runs
    ``[generation, chunk, shard name, first row, end row]`` each chunk occupies."""

    def __init__(self, directory: Path, prefix: str, limit: int) -> None:
        self.directory, self.prefix, self.limit = directory, prefix, limit
        self.parts: list[PackedProteins] = []
        self.digests: list[np.ndarray] = []
        self.rows = self.buffered = 0
        self.shards: list[dict[str, Any]] = []
        self.runs: list[list[Any]] = []
        self.proteins = self.residues = 0

    @property
    def name(self) -> str:
        return f"{self.prefix}-{len(self.shards):05d}.safetensors"

    def add(self, key: tuple[int, int], packed: PackedProteins, digests: np.ndarray) -> None:
        lengths = packed.lengths
        i = 0
        while i < len(packed):
            fits = int(np.searchsorted(np.cumsum(lengths[i:]), self.limit - self.buffered, side="right"))
            if fits == 0 and self.rows:
                self.flush()
                continue
            take = max(fits, 1)
            self.runs.append([*key, self.name, self.rows, self.rows + take])
            self.parts.append(_slice(packed, i, i + take))
            self.digests.append(digests[i : i + take])
            self.rows += take
            self.buffered += int(lengths[i : i + take].sum())
            i += take
            if self.buffered >= self.limit:
                self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        entry = write_shard(self.directory / self.name, self.parts, self.digests)
        self.shards.append(entry)
        self.proteins += entry["proteins"]
        self.residues += entry["residues"]
        self.parts, self.digests, self.rows, self.buffered = [], [], 0, 0


def _slice(p: PackedProteins, a: int, b: int) -> PackedProteins:
    """Proteins ``a:b`` of ``p`` as a new :class:`PackedProteins` (views)."""
    lo, hi = int(p.offsets[a]), int(p.offsets[b])
    fields = {name: getattr(p, name)[lo:hi] for name in RESIDUE_ARRAYS}
    return PackedProteins(
        offsets=p.offsets[a : b + 1] - lo,
        **fields,
        has_plddt=p.has_plddt[a:b],
        has_tokens=p.has_tokens[a:b],
        ids=p.ids[a:b],
        chain_ids=p.chain_ids[a:b],
        sources=p.sources[a:b],
    )
