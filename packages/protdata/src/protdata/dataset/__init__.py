"""Sharded on-disk protein datasets: build with :func:`preprocess` (``apps/preprocess.py``), read with
:func:`open_dataset`.

A dataset is a directory of memory-mapped safetensors shards (:mod:`protdata.dataset.shard`) and a
``manifest.json`` (:mod:`protdata.dataset.manifest`): counts, shard digests, the canonical protein order, a
content fingerprint, the preprocessing options and every skipped member with its reason.
"""

from protdata._lazy import lazy_exports

__all__ = [
    "FORMAT_VERSION",
    "ManifestError",
    "ParseOptions",
    "PreprocessResult",
    "ShardError",
    "ShardedDataset",
    "open_dataset",
    "preprocess",
    "rank_from_env",
]

_EXPORTS = {
    "FORMAT_VERSION": "protdata.dataset.manifest",
    "ManifestError": "protdata.dataset.manifest",
    "ShardError": "protdata.dataset.manifest",
    "ParseOptions": "protdata.dataset.parse",
    "PreprocessResult": "protdata.dataset.preprocess",
    "preprocess": "protdata.dataset.preprocess",
    "rank_from_env": "protdata.dataset.ranks",
    "ShardedDataset": "protdata.dataset.sharded",
    "open_dataset": "protdata.dataset.sharded",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
