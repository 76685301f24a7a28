"""Which labelled proteins train, select and test: the data config of a fine-tuning task
(:class:`LabelledDataConfig`), PDB chain keys and :func:`assign_splits`. No torch is imported here (configs
validate fast); the datasets are in :mod:`prottasks.data.labelled`.

Splits: the id files of ``splits.{train,valid,test}`` (one id per line, ``#`` comments), else the benchmark's
official split, else a seeded random split of the labelled proteins that have an input (``valid_fraction``,
``test_fraction``). A protein in two splits is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protdata.transforms import TruncateProteinConfig
from protdata.transforms.compose import AnyTransformConfig
from prottasks.data.sources import LabelsConfig
from prottasks.errors import LabelError

SPLITS = ("train", "valid", "test")
_PDB_CHAIN = re.compile(r"^([0-9][A-Za-z0-9]{3})([A-Za-z0-9]{0,4})[-_.]([A-Za-z0-9]+)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Section):
    """Which proteins train, select and test (module docstring)."""

    train: str | None = None  # file of ids, one per line (None: official split, else the rest)
    valid: str | None = None
    test: str | None = None
    valid_fraction: float = Field(0.1, ge=0, lt=1)  # random split when no file / official split names valid
    test_fraction: float = Field(0.0, ge=0, lt=1)
    seed: int = Field(0, ge=0)


class LabelledDataConfig(_Section):
    """Labelled proteins in, micro-batches with targets out (:func:`prottasks.data.labelled.prepare_labelled_data`)."""

    labels: LabelsConfig
    #: FASTA files (sequence-only proteins; ids = first word of the header).
    sequences: list[str] = Field(default_factory=list)
    #: Structure files, directories, globs or tar archives (ids = ``<file stem>_<chain>``).
    structures: list[str] = Field(default_factory=list)
    #: A preprocessed dataset directory (``apps/preprocess.py``; memory-mapped) as the structures, instead of
    #: ``structures``.
    dataset: str | None = None
    splits: SplitConfig = Field(default_factory=SplitConfig)
    #: Per-protein transform (ESM-GearNet EC/GO: TruncateProtein max_length 550, prefix kept).
    transform: AnyTransformConfig | None = Field(
        default_factory=lambda: TruncateProteinConfig(max_length=550)
    )
    min_length: int = Field(1, ge=1)
    batch_size: int = Field(2, ge=1)  # seed: 2 per GPU × 4 GPUs
    max_tokens: int | None = Field(None, ge=1)
    bucket_window: int = Field(100, ge=1)
    num_workers: int = Field(0, ge=0)
    prefetch_factor: int = Field(4, ge=1)
    parse_workers: int = Field(1, ge=1)
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _one_structure_input(self) -> LabelledDataConfig:
        if self.structures and self.dataset is not None:
            raise ValueError("structures and dataset are both set: give the structures one way")
        return self


def chain_key(pid: str) -> str:
    """The DeepFRI / TorchDrug chain key of a protein id: ``1abc_A`` / ``1ABC-A`` / ``1abc.A`` -> ``1ABC-A`` (PDB id
    upper case, chain as is); a file named for its chain (``1abcA.pdb`` -> structure id ``1abcA_A``) -> ``1ABC-A``.
    Other ids are returned unchanged."""
    m = _PDB_CHAIN.match(pid)
    if m is None or (m.group(2) and m.group(2) != m.group(3)):
        return pid
    return f"{m.group(1).upper()}-{m.group(3)}"


def read_id_file(path: Path, key: str) -> list[str]:
    """The ids of a split file: the first word (before a comma) of each line, ``#`` comments ignored.

    Raises:
        LabelError: a missing file or one without ids (naming ``key``).
    """
    if not path.is_file():
        raise LabelError(f"{key}: {path}", "no such file")
    ids = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line.split()[0].split(",")[0])
    if not ids:
        raise LabelError(f"{key}: {path}", "no ids in the file")
    return ids


def assign_splits(
    table: Any,
    config: SplitConfig,
    available: Container[str],
    *,
    resolve: Callable[[str, str], Path] = lambda value, key: Path(value),
    key: str = "splits",
) -> tuple[dict[str, list[str]], list[str]]:
    """``{split: ids}`` (module docstring) and report lines.

    Args:
        table: The :class:`~prottasks.data.tables.LabelTable` (its targets and official splits).
        config: The split config.
        available: Labelled ids that have an input (the random split draws from these).
        resolve: ``resolve(path, key) -> Path`` for the id files.
        key: The config key of ``config``, named in messages.

    Raises:
        LabelError: an unreadable id file, a protein in two splits.
    """
    report: list[str] = []
    splits: dict[str, list[str]] = {}
    for s in SPLITS:
        path = getattr(config, s)
        if path is not None:
            splits[s] = read_id_file(resolve(path, f"{key}.{s}"), f"{key}.{s}")
    if table.splits is not None:
        for s in SPLITS:
            splits.setdefault(s, list(table.splits[s]))
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        import numpy as np

        taken = {i for ids in splits.values() for i in ids}
        rest = [i for i in table.targets if i not in taken and i in available]
        order = [rest[k] for k in np.random.default_rng(config.seed).permutation(len(rest))]
        n = len(order)
        n_test = round(config.test_fraction * n) if "test" in missing else 0
        n_valid = round(config.valid_fraction * n) if "valid" in missing else 0
        if "valid" in missing and config.valid_fraction > 0:
            n_valid = max(n_valid, 1)
        cut = {
            "test": order[:n_test],
            "valid": order[n_test : n_test + n_valid],
            "train": order[n_test + n_valid :],
        }
        for s in missing:
            splits[s] = cut[s]
        counts = ", ".join(f"{s} {len(splits[s])}" for s in missing)
        report.append(f"random split (seed {config.seed}) of {n} proteins: {counts}")
    owner: dict[str, str] = {}
    for s in SPLITS:
        for pid in splits[s]:
            if pid in owner and owner[pid] != s:
                raise LabelError(key, f"protein {pid} is in both the {owner[pid]} and the {s} split")
            owner[pid] = s
    return splits, report
