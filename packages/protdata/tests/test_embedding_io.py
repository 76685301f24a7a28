"""protdata.embedding_io: the safetensors and Parquet embedding files, read back with safetensors / pyarrow
themselves against the rows written."""

from __future__ import annotations

import json

import pytest
import torch

from protdata import Protein
from protdata.embedding_io import PARQUET_FORMAT, SAFETENSORS_FORMAT, write_embeddings
from protdata.encoding import Embedded


@pytest.fixture
def rows() -> list[tuple[Protein, Embedded]]:
    torch.manual_seed(0)
    proteins = [Protein.from_sequence("a", "MKV", source="x.fasta"), Protein.from_sequence("b", "MKTAY")]
    return [(p, Embedded(i, torch.randn(4), torch.randn(len(p), 4))) for i, p in enumerate(proteins)]


def test_safetensors(rows, tmp_path) -> None:
    from safetensors import safe_open

    out = write_embeddings(tmp_path / "e.safetensors", rows, {"pooling": "mean"})
    with safe_open(str(out), framework="pt") as handle:
        meta = handle.metadata()
        assert meta["format"] == SAFETENSORS_FORMAT and meta["pooling"] == "mean"
        assert json.loads(meta["protein_ids"]) == ["a", "b"] and json.loads(meta["sources"]) == [
            "x.fasta",
            "",
        ]
        assert torch.equal(handle.get_tensor("protein"), torch.stack([e.protein for _, e in rows]))
        assert handle.get_tensor("lengths").tolist() == [3, 5]
        assert handle.get_tensor("residue_offsets").tolist() == [0, 3, 8]
        assert torch.equal(handle.get_tensor("residue"), torch.cat([e.residue for _, e in rows]))
    assert [p.name for p in tmp_path.iterdir()] == ["e.safetensors"]  # no temporary file left


def test_parquet_without_residues(rows, tmp_path) -> None:
    import pyarrow.parquet as pq

    rows = [(p, Embedded(e.index, e.protein, None)) for p, e in rows]
    table = pq.read_table(write_embeddings(tmp_path / "e.parquet", rows, {"encoder": "x"}, "parquet"))
    assert (
        table.schema.metadata[b"format"] == PARQUET_FORMAT.encode()
        and table.schema.metadata[b"encoder"] == b"x"
    )
    assert table.column("id").to_pylist() == ["a", "b"] and table.column("length").to_pylist() == [3, 5]
    assert "residue_embedding" not in table.column_names
    got = torch.tensor(table.column("embedding").to_pylist())
    assert torch.equal(got, torch.stack([e.protein for _, e in rows]))
