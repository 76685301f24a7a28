"""Rank 0's merge: every rank's partial manifest (+ the previous manifest when appending) → ``manifest.json``.

File-based, so no ``torch.distributed`` is needed: each rank writes ``.parts/g<generation>-rank<r>.json`` into the
shared output directory; rank 0 polls for all of them (a timeout names the ranks that never wrote one), orders the
pieces by chunk number (the canonical source order), computes the fingerprint from the shards' per-protein digests
and writes the manifest atomically.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from protdata.dataset.manifest import FORMAT, FORMAT_VERSION, MANIFEST, fingerprint, write_json_atomic
from protdata.dataset.shard import Shard
from protdata.errors import DatasetError

PARTS_DIR = ".parts"
#: without a launcher run id, rank 0 takes partial manifests of ranks started within this many seconds of itself
START_WINDOW = 300.0


def part_name(generation: int, rank: int) -> str:
    """File name of a rank's partial manifest."""
    return f"g{generation:03d}-rank{rank:05d}.json"


def wait_for_parts(
    parts: Path, generation: int, world: int, run_id: str | None, start: float, timeout: float
) -> list[dict[str, Any]]:
    """Every rank's partial manifest of this generation and run (rank 0 polls the shared directory)."""
    deadline = time.monotonic() + timeout
    found: dict[int, dict[str, Any]] = {}
    while True:
        for r in range(world):
            if r in found:
                continue
            path = parts / part_name(generation, r)
            try:
                part = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            same_run = (
                part.get("run_id") == run_id
                if run_id is not None
                else abs(part["started"] - start) <= START_WINDOW
            )
            if same_run and part.get("world_size") == world:
                found[r] = part
        if len(found) == world:
            return [found[r] for r in range(world)]
        if time.monotonic() > deadline:
            missing = [r for r in range(world) if r not in found]
            raise DatasetError(
                parts,
                f"ranks {missing} of {world} wrote no partial manifest within {timeout:.0f} s "
                "(did they fail, or do the ranks not share the output directory?)",
            )
        time.sleep(0.5)


def merge(
    out: Path,
    old: dict[str, Any] | None,
    generation: int,
    world: int,
    run_id: str | None,
    start: float,
    timeout: float,
    own: dict[str, Any],
) -> dict[str, Any]:
    """Rank 0: combine the partial manifests (and the previous manifest) into ``manifest.json``."""
    parts = [own] + (
        wait_for_parts(out / PARTS_DIR, generation, world, run_id, start, timeout)[1:] if world > 1 else []
    )
    for p in parts:
        if p["sources"] != own["sources"] or p["options"] != own["options"]:
            raise DatasetError(
                out / PARTS_DIR, f"rank {p['rank']} was given other sources or options than rank 0"
            )
    shards = list(old["shards"]) if old else []
    order = [list(r) for r in old["order"]] if old else []
    index: dict[str, int] = {}
    for p in parts:
        for entry in p["shards"]:
            index[entry["name"]] = len(shards)
            shards.append(entry)
    runs = sorted(
        (r for p in parts for r in p["runs"]), key=lambda r: (r[0], r[1])
    )  # stable: split chunks in order
    for _gen, _chunk, name, lo, hi in runs:
        s = index[name]
        if order and order[-1][0] == s and order[-1][2] == lo:
            order[-1][2] = hi
        else:
            order.append([s, lo, hi])
    opened: dict[int, Shard] = {}

    def digest_runs() -> Iterator[bytes]:
        for s, lo, hi in order:
            if s not in opened:
                opened[s] = Shard(out / shards[s]["name"])
            yield opened[s].arrays["digest"][lo:hi].tobytes()

    skipped = sorted((s for p in parts for s in p["skipped"]), key=lambda s: (s["generation"], s["number"]))
    new_shards = [e for p in parts for e in p["shards"]]
    summary = {
        "generation": generation,
        "sources": own["sources"],
        "world_size": world,
        "workers": own["workers"],
        "members": own["members"],
        "proteins": sum(e["proteins"] for e in new_shards),
        "residues": sum(e["residues"] for e in new_shards),
        "shards": len(new_shards),
        "skipped": len(skipped),
        "too_short": sum(p["too_short"] for p in parts),
        "ignored": sum(p["ignored"] for p in parts),
        "seconds": round(time.time() - start, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if summary["proteins"] == 0:
        first = skipped[0] if skipped else None
        why = (
            f"; first: {first['source']} {first['member']}: {first['error']}: {first['reason']}"
            if first
            else ""
        )
        raise DatasetError(
            out,
            f"no usable protein in {summary['members']} members ({len(skipped)} skipped, "
            f"{summary['too_short']} too short){why}",
        )
    all_skipped = (old["skipped"] if old else []) + skipped
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "proteins": sum(hi - lo for _, lo, hi in order),
        "residues": sum(e["residues"] for e in shards),
        "bytes": sum(e["bytes"] for e in shards),
        "fingerprint": fingerprint(digest_runs()),
        "options": own["options"],
        "sources": (old["sources"] if old else [])
        + [dict(source, generation=generation) for source in own["sources"]],
        "shards": shards,
        "order": order,
        "n_skipped": len(all_skipped),
        "too_short": (old["too_short"] if old else 0) + summary["too_short"],
        "ignored": (old["ignored"] if old else 0) + summary["ignored"],
        "generations": (old["generations"] if old else []) + [summary],
        "skipped": all_skipped,
    }
    for shard in opened.values():
        shard.close()
    write_json_atomic(out / MANIFEST, manifest)
    for r in range(world):
        (out / PARTS_DIR / part_name(generation, r)).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (out / PARTS_DIR).rmdir()
    return manifest
