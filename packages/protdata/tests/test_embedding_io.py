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


def _rows(n: int, dim: int = 4) -> list[tuple[Protein, Embedded]]:
    gen = torch.Generator().manual_seed(n)
    proteins = [Protein.from_sequence(f"p{i}", "MKTAYIAKQR"[: 3 + i % 7], source="s.fa") for i in range(n)]
    return [
        (p, Embedded(i, torch.randn(dim, generator=gen), torch.randn(len(p), dim, generator=gen)))
        for i, p in enumerate(proteins)
    ]


def test_part_writer_parts_resume_and_manifest(tmp_path) -> None:
    """Parts of 4 rows read back with pyarrow (the whole directory as one table) = the rows added; a killed run's
    temporary file is removed on resume and the committed ids are skipped; without resume the parts are an error;
    two ranks: the manifest appears when the second finishes and lists every part."""
    import pyarrow.parquet as pq

    from protdata.embedding_io import MANIFEST, EmbeddingOutputError, EmbeddingPartWriter, embedding_parts

    rows, out = _rows(10), tmp_path / "emb"
    meta = {"encoder": "x", "pooling": "mean", "per_residue": "true"}
    writer = EmbeddingPartWriter(out, rank=0, world_size=2, part_rows=4)
    writer.start(meta)
    for p, e in rows[:6]:  # rank 0 takes 6 rows: one part committed, 2 rows lost in the "crash"
        writer.add(p, e)
    (out / ".part-r0-00001.parquet.abc.tmp").write_bytes(b"half a part")
    assert [p.name for p in embedding_parts(out)] == ["part-r0-00000.parquet"]
    with pytest.raises(EmbeddingOutputError, match=r"part-r0-00000\.parquet: a part of an earlier run"):
        EmbeddingPartWriter(out, rank=0, world_size=2)
    other = EmbeddingPartWriter(out, rank=1, world_size=2, part_rows=4)  # rank 1 needs no resume
    other.start(meta)
    for p, e in rows[8:]:
        other.add(p, e)
    assert other.finish() is None and not (out / MANIFEST).exists()  # rank 0 has not finished

    resumed = EmbeddingPartWriter(out, rank=0, world_size=2, part_rows=4, resume=True)
    assert resumed.done == {"p0", "p1", "p2", "p3", "p8", "p9"}
    assert not list(out.glob(".part-r0-*.tmp"))
    with pytest.raises(EmbeddingOutputError, match="pooling='mean', this run has pooling='cls'"):
        resumed.start({**meta, "pooling": "cls"})
    resumed.start(meta)
    for p, e in rows[:8]:
        if p.id not in resumed.done:
            resumed.add(p, e)
    manifest = json.loads(resumed.finish().read_text())
    assert manifest["rows"] == 10 and manifest["world_size"] == 2
    assert manifest["parts"] == {
        "part-r0-00000.parquet": 4,
        "part-r0-00001.parquet": 4,
        "part-r1-00000.parquet": 2,
    }

    table = pq.read_table(out)  # pyarrow's own directory reader: the _-prefixed files are not parts
    assert sorted(table.column("id").to_pylist()) == sorted(p.id for p, _ in rows)
    by_id = dict(zip(table.column("id").to_pylist(), table.to_pylist()))
    for p, e in rows:
        got = by_id[p.id]
        assert got["length"] == len(p) and got["source"] == "s.fa"
        assert torch.equal(torch.tensor(got["embedding"]), e.protein)
        assert torch.equal(torch.tensor(got["residue_embedding"]), e.residue)
    assert table.schema.metadata[b"format"] == PARQUET_FORMAT.encode()


def test_part_writer_commits_by_bytes_and_file_writer_keeps_input_order(tmp_path) -> None:
    import pyarrow.parquet as pq

    from protdata.embedding_io import EmbeddingFileWriter, EmbeddingPartWriter, embedding_parts

    rows = _rows(5, dim=8)
    writer = EmbeddingPartWriter(tmp_path / "parts", part_bytes=1)  # every row is a part
    writer.start({"pooling": "mean"})
    for p, e in rows:
        writer.add(p, e)
    writer.finish()
    assert len(embedding_parts(tmp_path / "parts")) == 5
    assert writer.rows == 5 and writer.dim == 8 and writer.residue_rows == sum(len(p) for p, _ in rows)
    single = EmbeddingFileWriter(tmp_path / "one.parquet", "parquet")
    single.start({"pooling": "mean"})
    for p, e in reversed(rows):  # encoding order is not input order
        single.add(p, e)
    table = pq.read_table(single.finish())
    assert table.column("id").to_pylist() == [p.id for p, _ in rows]


def test_part_written_row_group_by_row_group_is_committed_by_rename(tmp_path) -> None:
    """Row groups of about one row go to a hidden temporary file; only the rename at ``part_rows`` makes a part."""
    import pyarrow.parquet as pq

    from protdata.embedding_io import EmbeddingPartWriter, embedding_parts

    rows = _rows(7)
    writer = EmbeddingPartWriter(tmp_path, part_rows=5, group_bytes=1)
    writer.start({"pooling": "mean"})
    for p, e in rows[:4]:
        writer.add(p, e)
    (tmp,) = tmp_path.glob(".part-r0-00000.parquet.*.tmp")  # four row groups written, not yet a part
    assert tmp.stat().st_size > 0 and embedding_parts(tmp_path) == {}
    for p, e in rows[4:]:
        writer.add(p, e)
    writer.finish()
    first, second = embedding_parts(tmp_path)
    assert (
        pq.ParquetFile(first).metadata.num_row_groups == 5 and pq.ParquetFile(second).metadata.num_rows == 2
    )
    table = pq.read_table(tmp_path)
    assert table.column("id").to_pylist() == [p.id for p, _ in rows]
    got = torch.tensor([x for r in table.column("residue_embedding").to_pylist() for x in r])
    assert torch.equal(got, torch.cat([e.residue for _, e in rows]))
    assert not list(tmp_path.glob(".*.tmp"))
