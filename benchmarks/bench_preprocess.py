"""Preprocessing throughput: protdata.dataset.preprocess with 1 vs 2 workers on one AlphaFold-DB-style tar, and vs the
structure cache it replaces (protdata.structure_cache.build_structure_cache, which splits work by file, so a single
tar builds serially). Each variant runs in a fresh process; we print proteins/s, ratios, peak RSS (the process and
its workers), shard bytes per residue, and extrapolate SwissProt (542k) and afdb_rep_v4 (2.27M) builds.

The tar is built from real structures in shared/data (AlphaFold DB models + PDB entries, gzip members named
``AF-X<i>-F1-model_v4``) repeated under new names, plus bad members (truncated gzip, garbage, empty, ``..`` path).

    uv run benchmarks/bench_preprocess.py --members 3000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from protdata.dataset.afdb_tar import write_afdb_style_tar
from protdata.testing import find_shared_data

RUN = """
import json, resource, sys, time
kind, tar, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t0 = time.perf_counter()
if kind == "dataset":
    from protdata.dataset import preprocess
    r = preprocess([tar], out, workers=workers)
    proteins, residues = r.proteins, r.residues
else:
    from protdata.structure_cache import build_structure_cache
    packed, _, _ = build_structure_cache([tar], out, parse_workers=workers)
    proteins, residues = len(packed), packed.num_residues
seconds = time.perf_counter() - t0
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "proteins": proteins, "residues": residues, "rss_mb": own.ru_maxrss / 1024,
                  "worker_rss_mb": kids.ru_maxrss / 1024, "cpu_main": own.ru_utime + own.ru_stime,
                  "cpu_workers": kids.ru_utime + kids.ru_stime}))
"""


def structures(root: Path) -> list[Path]:
    af = sorted((root / "structures" / "alphafold_db").glob("*.pdb")) + sorted(
        (root / "structures" / "alphafold_db").glob("*.cif")
    )
    pdb = sorted((root / "structures" / "experimental_mdanalysis_dssp").glob("*.pdb.gz"))
    return af + pdb


def run(kind: str, tar: Path, out: Path, workers: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", RUN, kind, str(tar), str(out), str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=3000)
    args = parser.parse_args()
    root = find_shared_data()
    if root is None:
        sys.exit("shared/data not found")
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    print(f"CPU: {cpu} ({os.cpu_count()} cores), Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        tar = tmp_path / "proteome.tar"
        files = structures(root)
        # no member escaping the archive, so both sides parse the same members (both skip and report such a member)
        names = write_afdb_style_tar(tar, files, args.members, bad_every=500, json_every=1000, unsafe=False)
        print(
            f"tar: {args.members} structure members from {len(files)} real files, {len(names) - args.members} "
            f"bad/non-structure members, {tar.stat().st_size / 1e6:.1f} MB"
        )
        res: dict[str, dict[str, float]] = {}
        for label, kind, workers in (
            ("dataset, 1 worker", "dataset", 1),
            ("dataset, 2 workers", "dataset", 2),
            ("structure cache, parse_workers=2", "cache", 2),
        ):
            out = tmp_path / label.replace(" ", "_").replace(",", "")
            t0 = time.perf_counter()
            r = run(kind, tar, out, workers)
            r["wall"] = time.perf_counter() - t0
            r["disk"] = du(out)
            res[label] = r
            print(
                f"{label:34s} {r['proteins']:6d} proteins {r['seconds']:7.1f} s "
                f"{r['proteins'] / r['seconds']:7.1f} proteins/s {r['residues'] / r['seconds']:9.0f} residues/s  "
                f"CPU {r['cpu_main']:.1f} s main + {r['cpu_workers']:.1f} s workers  "
                f"RSS {r['rss_mb']:.0f} MB (+workers {r['worker_rss_mb']:.0f} MB)  disk {r['disk'] / 1e6:.1f} MB"
            )
        one, two, _cache = (res[k] for k in res)
        rate = {k: v["proteins"] / v["seconds"] for k, v in res.items()}
        cpu = {k: v["cpu_main"] + v["cpu_workers"] for k, v in res.items()}
        total2 = two["cpu_main"] + two["cpu_workers"]
        bound = cpu["dataset, 1 worker"] / max(two["cpu_main"], two["cpu_workers"] / 2, total2 / 2)
        print(
            f"CPU: 2 workers use {total2 / cpu['dataset, 1 worker']:.2f}x the CPU of 1 worker (main process "
            f"{two['cpu_main']:.1f} s); speedup on 2 idle cores at most {bound:.2f}x"
        )
        print(
            f"2 vs 1 workers (wall clock, shared machine): "
            f"{rate['dataset, 2 workers'] / rate['dataset, 1 worker']:.2f}x (target >= 1.6x)"
        )
        print(
            "dataset (2 workers) vs structure cache (wall clock): "
            f"{rate['dataset, 2 workers'] / rate['structure cache, parse_workers=2']:.2f}x; "
            f"CPU-bound on 2 idle cores: {cpu['structure cache, parse_workers=2'] / (total2 / 2):.2f}x"
        )
        per_res = two["disk"] / two["residues"]
        per_core = one["residues"] / cpu["dataset, 1 worker"]  # residues per CPU second: a dedicated core
        efficiency = cpu["dataset, 1 worker"] / total2
        mean_len = two["residues"] / two["proteins"]
        print(f"shards: {per_res:.1f} bytes/residue; this tar: mean length {mean_len:.0f}")
        print(
            f"per core: {per_core:.0f} residues/s ({per_core / mean_len:.0f} proteins/s here); peak RSS "
            f"{two['worker_rss_mb']:.0f} MB per worker, {two['rss_mb']:.0f} MB main process (bounded by one shard "
            "buffer, not by the dataset size)"
        )
        for name, n, length in (("SwissProt (AFDB)", 542_378, 360), ("afdb_rep_v4", 2_270_000, 250)):
            residues = n * length
            one_process = residues / per_core / 3600
            hours = residues / (per_core * 32 * efficiency) / 3600
            print(
                f"  {name}: {n} proteins x ~{length} residues: {one_process:.1f} h in one process, {hours:.2f} h on "
                f"1 node x 32 workers ({hours * 60 / 8:.1f} min on 8 nodes), disk {residues * per_res / 1e9:.0f} GB, "
                f"RAM ~{(two['rss_mb'] + 32 * two['worker_rss_mb']) / 1024:.1f} GB per node"
            )


if __name__ == "__main__":
    main()
