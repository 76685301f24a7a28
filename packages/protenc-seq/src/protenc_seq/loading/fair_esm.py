"""Read fair-esm checkpoint files (``esm2_t*_UR50D.pt``) and SaProt's ``.pt`` files, without unpickling code.

Layout (fair-esm ``esm/pretrained.py``, facebookresearch/esm): ``{"model": state dict with
encoder.sentence_encoder./encoder. prefixes, "cfg": {"model": argparse.Namespace(encoder_layers,
encoder_embed_dim, encoder_attention_heads, token_dropout, …)}, "args": None}``, plus the optional side file
``<stem>-contact-regression.pt`` whose ``"model"`` is merged before the prefixes are stripped (fair-esm
``load_model_and_alphabet_local``). SaProt's ``.pt`` (westlake-repl/SaProt ``utils/esm_loader.py``) has
``"model"`` with unprefixed names and ``"config"`` = {num_layers, embed_dim, attention_heads, token_dropout}.

Files are read with ``torch.load(weights_only=True)``; the only non-tensor global allowed is
``argparse.Namespace`` (fair-esm's ``cfg``). Unlike fair-esm we do not require the stem to start with ``esm2``:
the architecture comes from the tensors.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from protenc_seq.errors import CheckpointError
from protenc_seq.loading.checkpoint import RawCheckpoint
from protenc_seq.loading.convert import fair_to_ours, strip_fair_prefix


@contextlib.contextmanager
def _allow_namespace() -> Iterator[None]:
    if hasattr(torch.serialization, "safe_globals"):  # torch >= 2.5
        with torch.serialization.safe_globals([argparse.Namespace]):
            yield
    else:  # pragma: no cover - torch 2.4
        torch.serialization.add_safe_globals([argparse.Namespace])
        yield


def torch_load_weights_only(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with ``argparse.Namespace`` allowed; clear errors otherwise."""
    if not path.is_file():
        raise CheckpointError(path, "no such file")
    try:
        with _allow_namespace():
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            path,
            f"refused to unpickle it: {str(err).splitlines()[0]} (only tensors, containers and argparse.Namespace "
            "are loaded; protenc-seq never uses weights_only=False)",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(
            path,
            f"cannot be read as a PyTorch checkpoint (truncated or corrupt?): {str(err).splitlines()[0]}",
        ) from None


def regression_path(path: Path) -> Path:
    """fair-esm's contact-regression side file for ``path``: ``<path without suffix>-contact-regression.pt``."""
    return Path(str(path.with_suffix("")) + "-contact-regression.pt")


def _field(cfg: Any, name: str) -> Any:
    return cfg.get(name) if isinstance(cfg, dict) else getattr(cfg, name, None)


def read_fair_esm(path: str | Path, *, contact_regression: str | Path | None = None) -> RawCheckpoint:
    """Read a fair-esm (or SaProt) ``.pt`` file and, if present, its contact-regression side file."""
    path = Path(path)
    data = torch_load_weights_only(path)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        keys = list(data)[:6] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            path, f"not a fair-esm checkpoint (expected a 'model' state dict; found {keys})"
        )
    state = dict(data["model"])
    files = [path]
    side = Path(contact_regression) if contact_regression is not None else regression_path(path)
    if side.is_file():
        reg = torch_load_weights_only(side)
        if not isinstance(reg, dict) or not isinstance(reg.get("model"), dict):
            raise CheckpointError(side, "not a fair-esm contact-regression file (no 'model' dict)")
        state.update(reg["model"])
        files.append(side)
    elif contact_regression is not None:
        raise CheckpointError(side, "no such contact-regression file")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(path, f"entry {bad[0]!r} of 'model' is not a tensor")
    ours, unknown = fair_to_ours(strip_fair_prefix(state), str(path))
    if unknown:
        raise CheckpointError(path, f"unrecognised tensor(s) for ESM-2: {', '.join(unknown[:5])}")
    hints: dict[str, object] = {}
    cfg = data.get("cfg")
    model_cfg = _field(cfg, "model") if cfg is not None else None
    if model_cfg is not None:  # fair-esm ESM-2
        hints = {
            "num_layers": _field(model_cfg, "encoder_layers"),
            "embed_dim": _field(model_cfg, "encoder_embed_dim"),
            "attention_heads": _field(model_cfg, "encoder_attention_heads"),
            "token_dropout": _field(model_cfg, "token_dropout"),
        }
    elif isinstance(data.get("config"), dict):  # SaProt .pt
        c = data["config"]
        hints = {k: c.get(k) for k in ("num_layers", "embed_dim", "attention_heads", "token_dropout")}
    hints = {k: v for k, v in hints.items() if v is not None}
    return RawCheckpoint(state=ours, source=str(path), files=files, hints=hints)
