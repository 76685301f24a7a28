"""Benchmark data: label vocabularies, the nrPDB-EC benchmark (538 EC classes, official splits) and the
nrPDB-GO splits."""

from prottasks.data.ec import ECBenchmark, load_nrpdb_ec
from prottasks.data.go_splits import GOSplits, load_nrpdb_go_splits
from prottasks.data.labels import EncodingReport, LabelVocabulary

__all__ = [
    "ECBenchmark",
    "EncodingReport",
    "GOSplits",
    "LabelVocabulary",
    "load_nrpdb_ec",
    "load_nrpdb_go_splits",
]
