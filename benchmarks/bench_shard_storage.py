"""Which on-disk layout for dataset shards: safetensors read through one mmap (protdata.dataset.shard, chosen), the
same file read with ``safetensors.safe_open`` (copies), ``.npy`` files with ``np.load(mmap_mode="r")``, and Parquet
(pyarrow, memory-mapped, one row per protein). Same proteins (real structures from shared/data, repeated), each
layout measured in a fresh process: open time, random access (proteins/s, each access materialising the protein's
coords / mask / sequence), and RSS after touching every protein, split into private (anonymous) memory — what grows
per process — and file-backed pages (page cache, shared by every process of the node).

    uv run benchmarks/bench_shard_storage.py --proteins 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

READ = r"""
import json, sys, time
import numpy as np
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) / 1024 for k in ("RssAnon", "RssFile")}

from pathlib import Path
import pyarrow.parquet as pq
from safetensors import safe_open
from protdata.dataset.shard import Shard
base = status()
t0 = time.perf_counter()
if kind == "safetensors-mmap":
    shard = Shard(Path(path))
    arrays, offsets = shard.arrays, shard.offsets
    def get(i):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        c = arrays["coords"][lo:hi]; arrays["sequence"][lo:hi].tobytes(); arrays["atom_mask"][lo:hi]
        return float(c[:, 1].sum())
elif kind == "protdata-Shard.protein":
    shard = Shard(Path(path))
    def get(i):
        p = shard.protein(i)
        return float(p.coords[:, 1].sum())
elif kind == "safetensors-safe_open":
    f = safe_open(path, framework="numpy")
    offsets = f.get_tensor("offsets")
    coords, seq, mask = f.get_slice("coords"), f.get_slice("sequence"), f.get_slice("atom_mask")
    def get(i):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        c = coords[lo:hi]; seq[lo:hi]; mask[lo:hi]
        return float(c[:, 1].sum())
elif kind == "npy-mmap":
    d = Path(path)
    arrays = {f.stem: np.load(f, mmap_mode="r") for f in d.glob("*.npy")}
    offsets = arrays["offsets"]
    def get(i):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        c = np.asarray(arrays["coords"][lo:hi]); arrays["sequence"][lo:hi].tobytes(); np.asarray(arrays["atom_mask"][lo:hi])
        return float(c[:, 1].sum())
else:
    table = pq.read_table(path, memory_map=True)
    coords, seq, mask = table.column("coords"), table.column("sequence"), table.column("atom_mask")
    def get(i):
        c = np.asarray(coords[i].values.to_numpy(zero_copy_only=False)).reshape(-1, 5, 3)
        seq[i].as_py(); mask[i].values.to_numpy(zero_copy_only=False)
        return float(c[:, 1].sum())
opened = time.perf_counter() - t0
rng = np.random.default_rng(0)
order = rng.integers(0, n, 5000)
t0 = time.perf_counter()
for i in order:
    get(int(i))
random_rate = len(order) / (time.perf_counter() - t0)
for i in range(n):
    get(i)
after = status()
print(json.dumps({"open_ms": opened * 1e3, "random_per_s": random_rate,
                  "anon_mb": after["RssAnon"] - base["RssAnon"], "file_mb": after["RssFile"] - base["RssFile"]}))
"""


def build(n: int, tmp: Path) -> dict[str, Path]:
    from protdata.dataset.shard import protein_digests, shard_arrays, write_shard
    from protdata.packed import PackedProteins
    from protdata.testing import find_shared_data

    root = find_shared_data()
    if root is None:
        sys.exit("shared/data not found")
    files = sorted((root / "structures" / "experimental_mdanalysis_dssp").glob("*.pdb.gz"))
    files += sorted((root / "structures" / "alphafold_db").glob("*.pdb"))
    from protdata.io import load_many

    base = load_many(files).proteins
    proteins = [base[i % len(base)].replace(id=f"p{i}") for i in range(n)]
    packed = PackedProteins.from_proteins(proteins)
    digests = protein_digests(packed)
    paths = {"safetensors-mmap": tmp / "shard.safetensors"}
    write_shard(paths["safetensors-mmap"], [packed], [digests])
    paths["safetensors-safe_open"] = paths["protdata-Shard.protein"] = paths["safetensors-mmap"]
    npy = tmp / "npy"
    npy.mkdir()
    for name, array in shard_arrays(packed, digests).items():
        np.save(npy / f"{name}.npy", array)
    paths["npy-mmap"] = npy
    import pyarrow as pa
    import pyarrow.parquet as pq

    lengths = packed.lengths
    table = pa.table(
        {
            "id": packed.ids,
            "sequence": [p.sequence for p in proteins],
            "coords": pa.array(
                [np.asarray(p.coords, np.float32).ravel() for p in proteins], pa.list_(pa.float32())
            ),
            "atom_mask": pa.array([np.asarray(p.atom_mask).ravel() for p in proteins], pa.list_(pa.bool_())),
            "length": lengths,
        }
    )
    paths["parquet"] = tmp / "shard.parquet"
    pq.write_table(table, paths["parquet"], compression="none")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proteins", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = build(args.proteins, Path(tmp))
        for kind, path in paths.items():
            size = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
            out = subprocess.run(
                [sys.executable, "-c", READ, kind, str(path), str(args.proteins)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{kind:22s} {size / 1e6:7.1f} MB  open {r['open_ms']:7.1f} ms  random {r['random_per_s']:8.0f} "
                f"proteins/s  after touching all: private +{r['anon_mb']:6.1f} MB, file-backed +{r['file_mb']:6.1f} MB"
            )


if __name__ == "__main__":
    main()
