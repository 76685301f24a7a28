"""Training data of the pretraining app: ``data.dataset`` (a dataset written by ``apps/preprocess.py``,
memory-mapped) or ``data.sources`` (structure files parsed once into the structure cache) as a
:class:`protdata.loading.TrainingData` (:func:`protdata.loading.prepare_training_data`); this module turns the
config into its arguments and a :class:`~protdata.errors.ProtdataError` into a one-line :class:`DataError` naming
the config key. :func:`data_facts` is what a checkpoint records so that ``--resume`` on other data is refused
(:func:`engine.app.check_same_data`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.errors import DataError
from protdata.errors import ProtdataError

if TYPE_CHECKING:  # torch loads with the data, after the config is checked
    from protdata.loading import TrainingData

T = TypeVar("T")


def _translated(config: Any, call: Callable[[], T]) -> T:
    """``call()``; a bad input is a :class:`DataError` naming ``data.dataset`` (``data.sources`` errors name it)."""
    try:
        return call()
    except ProtdataError as exc:  # rank 0's DataError reaches every rank (engine.app.main_rank_first)
        raise DataError(f"data.dataset: {exc}" if config.dataset is not None else str(exc)) from None


def _dataset_path(config: Any, dataset: Path | None) -> Path | None:
    from engine.config import expand_path

    if config.dataset is None:
        return None
    return dataset if dataset is not None else expand_path(config.dataset)


def data_fingerprint(
    config: Any, sources: Sequence[Path] | None, *, dataset: Path | None = None, encode_3di: bool = False
) -> str:
    """What identifies the training data without reading a protein (:func:`protdata.loading.training_data_fingerprint`).
    Cheap enough for every rank before any collective (a missing / bad input is a one-line :class:`DataError`)."""
    from protdata.loading import training_data_fingerprint

    path = _dataset_path(config, dataset)
    return _translated(
        config,
        lambda: training_data_fingerprint(
            dataset=path,
            sources=sources or [],
            min_length=config.min_length,
            encode_3di=encode_3di,
            key="data.sources",
        ),
    )


def data_facts(config: Any, fingerprint: str) -> dict[str, Any]:
    """What a checkpoint records of its data (``trainer_state.json`` ``"data"``): the data's fingerprint and the
    micro-batch plan's parameters (with the processes × accumulation stored beside them, they fix which proteins
    every optimizer step sees; :attr:`protdata.loading.TrainingData.facts`)."""
    keys = ("min_length", "batch_size", "max_tokens", "bucket_window")
    return {"fingerprint": fingerprint} | {k: getattr(config, k) for k in keys}


def prepare_training_data(
    config: Any,
    cache_dir: Path | None,
    seed: int,
    sources: Sequence[Path] | None,
    *,
    encode_3di: bool = False,
    dataset: Path | None = None,
) -> TrainingData:
    """The :class:`~protdata.loading.TrainingData` of ``config`` (a :class:`~engine.config.DataConfig`: its
    ``dataset``, or its ``sources`` cached under ``cache_dir``; ``encode_3di``: SaProt's Foldseek 3Di strings).
    ``dataset`` is ``data.dataset`` already resolved. DataLoader workers leave stop signals to the main process
    (:mod:`engine.stopping`).

    Raises:
        DataError: the input is missing or holds no usable protein (the message names ``data.sources`` or
            ``data.dataset``).
    """
    from engine.stopping import ignore_stop_signals
    from protdata.loading import prepare_training_data as prepare

    keys = (
        "min_length",
        "batch_size",
        "max_tokens",
        "bucket_window",
        "transform",
        "parse_workers",
        "num_workers",
    )
    options = {k: getattr(config, k) for k in keys}
    path = _dataset_path(config, dataset)
    return _translated(
        config,
        lambda: prepare(
            seed=seed,
            dataset=path,
            sources=sources or [],
            cache_dir=cache_dir,
            prefetch_factor=config.prefetch_factor,
            encode_3di=encode_3di,
            worker_init=ignore_stop_signals,
            key="data.sources",
            **options,
        ),
    )
