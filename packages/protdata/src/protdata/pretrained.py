"""Saved models: one directory format for every model protstack builds or trains, and one loader for all of them.

A saved model is a directory, as Hugging Face's ``save_pretrained`` writes it::

    my-model/
      config.json        {"format": "protstack", "format_version": 1, "type": "gearnet", "config": {...}, ...}
      model.safetensors  the state dict (no pickle: safe to load from anywhere)

``type`` names the model class through a registry that the packages fill: each package declares its model
types as entry points in the group ``protstack.models`` (``type = "package.module:Class"``), so this base package
never imports an encoder package, and :func:`load_pretrained` loads any model whose package is installed. A class
registers by subclassing :class:`Pretrained`: it sets ``model_type``, ``config_class`` (a pydantic model) and
builds itself from that config with :meth:`Pretrained.from_config`.

Composite models (a task model = encoder + head, a fused encoder = sequence + structure encoder) save *one*
config tree whose nested sections carry their own ``type``; :func:`build_model` builds any section by its type,
through the same registry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from protdata.errors import ProtdataError

FORMAT = "protstack"
#: Bumped when the layout of ``config.json`` or the tensor names change incompatibly.
FORMAT_VERSION = 1
ENTRY_POINT_GROUP = "protstack.models"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

T = TypeVar("T", bound="Pretrained")

_REGISTRY: dict[str, type[Pretrained]] = {}
#: The model directory :func:`load_pretrained` is reading (see :func:`loading_directory`).
_LOADING: ContextVar[Path | None] = ContextVar("protstack_loading_directory", default=None)


class PretrainedFormatError(ProtdataError):
    """A saved-model directory that is missing, unreadable, of an older format or of an unknown ``type``."""


class Pretrained(nn.Module):
    """Mixin base of every model that saves and loads as a protstack model directory (module docstring).

    Subclasses set the class attributes ``model_type`` (the ``type`` written to ``config.json``; also the
    entry-point name) and ``config_class`` (its pydantic config), keep the config they were built from in
    ``self.config`` and implement :meth:`from_config`.
    """

    model_type: ClassVar[str]
    config_class: ClassVar[type[BaseModel]]
    config: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model_type = cls.__dict__.get("model_type")
        if isinstance(model_type, str):
            register(model_type, cls)

    @classmethod
    def from_config(cls: type[T], config: Any) -> T:
        """A freshly initialised model (random weights) for ``config`` (a ``config_class`` or a mapping)."""
        return cls(cls.parse_config(config))

    @classmethod
    def parse_config(cls, config: Any) -> Any:
        """``config`` validated as ``config_class`` (a validation error names the key)."""
        if isinstance(config, cls.config_class):
            return config
        return cls.config_class.model_validate(config)

    def config_dict(self) -> dict[str, Any]:
        """The JSON-ready config this model rebuilds from (``type`` included)."""
        data = self.config.model_dump(mode="json")
        data.setdefault("type", self.model_type)
        return data

    def save_pretrained(self, directory: str | os.PathLike[str], **metadata: Any) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory`` (created); see :func:`save_pretrained`."""
        return save_pretrained(self, directory, **metadata)

    def save_files(self, directory: Path) -> None:
        """Write the files this model needs besides its config and weights into ``directory`` (e.g. a text
        encoder's tokenizer), before ``config.json`` is written; paths in :meth:`config_dict` that name them are
        relative to the model directory (resolve them with :func:`loading_directory`). Default: none."""

    def external_state(self) -> set[str]:
        """State-dict names whose values this model takes from elsewhere when it is built from its config (e.g. a
        LoRA task model's frozen base weights, read from the checkpoint its config references): left out of
        ``model.safetensors`` by :func:`save_pretrained` and not expected there by :func:`load_pretrained`.
        Default: none."""
        return set()

    @classmethod
    def from_pretrained(
        cls: type[T], directory: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
    ) -> T:
        """Load a saved model of this class (or a subclass) from ``directory``."""
        model = load_pretrained(directory, map_location=map_location)
        if not isinstance(model, cls):
            raise PretrainedFormatError(
                Path(directory) / CONFIG_NAME,
                f"holds a {type(model).__name__} (type {model.model_type!r}), not a {cls.__name__}; "
                "load it with protdata.load_pretrained",
            )
        return model


def register(model_type: str, cls: type[Pretrained]) -> None:
    """Register ``cls`` under ``model_type`` (done by subclassing :class:`Pretrained`)."""
    known = _REGISTRY.get(model_type)
    if known is not None and known is not cls and known.__qualname__ != cls.__qualname__:
        raise ValueError(f"model type {model_type!r} is registered twice: {known} and {cls}")
    _REGISTRY[model_type] = cls


def model_types() -> dict[str, str]:
    """Every model type an installed package declares -> ``module:Class`` (entry points) or the loaded class."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, cls in _REGISTRY.items():
        found.setdefault(name, f"{cls.__module__}:{cls.__qualname__}")
    return dict(sorted(found.items()))


def model_class(model_type: str, *, source: str | os.PathLike[str] | None = None) -> type[Pretrained]:
    """The class registered for ``model_type``: already imported, or imported through its entry point."""
    cls = _REGISTRY.get(model_type)
    if cls is not None:
        return cls
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=model_type):
        loaded = ep.load()
        if not (isinstance(loaded, type) and issubclass(loaded, Pretrained)):
            raise PretrainedFormatError(
                source, f"entry point {ep.value} of type {model_type!r} is not a model"
            )
        return _REGISTRY.get(model_type, loaded)
    known = ", ".join(model_types()) or "none"
    raise PretrainedFormatError(
        source,
        f"unknown model type {model_type!r} (installed types: {known}); is the package that defines it installed?",
    )


def build_model(
    config: Mapping[str, Any] | BaseModel, *, source: str | os.PathLike[str] | None = None
) -> Any:
    """A freshly initialised model for a config section that carries its ``type`` (any registered model)."""
    model_type = config.get("type") if isinstance(config, Mapping) else getattr(config, "type", None)
    if not isinstance(model_type, str):
        raise PretrainedFormatError(source, "the model config has no 'type'")
    cls = model_class(model_type, source=source)
    try:
        return cls.from_config(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "config"
        raise PretrainedFormatError(source, f"invalid {model_type!r} config: {key}: {first['msg']}") from None


def save_pretrained(model: Pretrained, directory: str | os.PathLike[str], **metadata: Any) -> Path:
    """Save ``model`` as a protstack model directory and return its path.

    Args:
        model: A :class:`Pretrained` model.
        directory: Created if missing; ``config.json`` and ``model.safetensors`` are overwritten atomically
            (written to a temporary name, then renamed).
        metadata: Extra JSON-ready entries for ``config.json`` (e.g. ``labels``, ``training`` provenance).
    """
    from safetensors.torch import save_file

    if not isinstance(model, Pretrained):
        raise TypeError(f"{type(model).__name__} is not a protstack Pretrained model")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    reserved = {"format", "format_version", "type", "config"} & set(metadata)
    if reserved:
        raise ValueError(f"metadata may not set {sorted(reserved)}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "type": model.model_type,
        "config": model.config_dict(),
        **metadata,
    }
    model.save_files(directory)
    tmp_weights = directory / f".{WEIGHTS_NAME}.tmp"
    save_file(_owned_state(model), str(tmp_weights), metadata={"format": FORMAT, "type": model.model_type})
    tmp_config = directory / f".{CONFIG_NAME}.tmp"
    tmp_config.write_text(json.dumps(header, indent=2) + "\n")
    os.replace(tmp_weights, directory / WEIGHTS_NAME)
    os.replace(tmp_config, directory / CONFIG_NAME)
    return directory


def _owned_state(model: Any) -> dict[str, Any]:
    """``model``'s state dict with tied tensors stored once and every tensor in its own storage.

    Parameters may be views into one flat buffer (DeepSpeed ZeRO flattens them), which safetensors refuses to
    save as they are. Tied tensors (same storage, offset, shape and stride) keep their first name in sorted order;
    :func:`load_pretrained` restores the tie, as safetensors' ``load_model`` does.
    """
    kept: dict[tuple[Any, ...], str] = {}
    state: dict[str, Any] = {}
    external = model.external_state()
    for name, tensor in sorted(model.state_dict().items()):
        if name in external:
            continue
        key = (tensor.device, tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype)
        if tensor.numel() and key in kept:
            continue
        kept[key] = name
        state[name] = tensor.detach().contiguous().clone()  # own storage, whatever the model's layout
    return state


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``config.json`` of a model directory, checked for format and version (errors are one line)."""
    directory = Path(directory)
    path = directory / CONFIG_NAME if directory.is_dir() else directory
    if not path.is_file():
        raise PretrainedFormatError(directory, f"no {CONFIG_NAME}: not a saved protstack model directory")
    try:
        header = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PretrainedFormatError(path, f"not readable JSON ({exc})") from None
    if not isinstance(header, dict):
        raise PretrainedFormatError(path, "config.json must hold a JSON object")
    if header.get("format") != FORMAT:
        hint = _legacy_hint(header)
        raise PretrainedFormatError(path, f'not a protstack model config (no "format": "{FORMAT}"){hint}')
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PretrainedFormatError(
            path,
            f"format_version {version!r} is newer than this protdata reads ({FORMAT_VERSION}): upgrade protstack",
        )
    if not isinstance(header.get("type"), str) or not isinstance(header.get("config"), dict):
        raise PretrainedFormatError(path, "config.json needs a string 'type' and an object 'config'")
    return header


#: How to convert an export of the older apps layout (``{"app": NAME, ...}`` without ``"format": "protstack"``),
#: by the app that wrote it. Kept here (strings only) so the hint is given whichever packages are imported.
LEGACY_HINTS: dict[str, str] = {
    "finetune": "it is an apps/finetune.py export of the older layout: convert it with "
    "prottasks.convert_finetune_export(old_dir, new_dir)",
    "align": "it is an apps/align.py export of the older layout: convert it with "
    "protalign.convert_align_export(old_dir, new_dir)",
    "pretrain": "it is an apps/pretrain.py export of the older layout: its weights still initialise a run "
    "(apps/finetune.py init_from=<dir>/model.safetensors); re-export with this version to load it here",
}


def _legacy_hint(header: Mapping[str, Any]) -> str:
    app = header.get("app")
    if isinstance(app, str) and app in LEGACY_HINTS:
        return f"; {LEGACY_HINTS[app]}"
    if "model_type" in header or "architectures" in header:
        return (
            "; it looks like a Hugging Face model directory: load it with protenc_seq.load_encoder "
            "(ESM-2 / SaProt) instead"
        )
    return ""


@contextmanager
def _loading(directory: Path) -> Iterator[None]:
    """Make ``directory`` the answer of :func:`loading_directory` while a model is built from it."""
    token = _LOADING.set(directory)
    try:
        yield
    finally:
        _LOADING.reset(token)


def loading_directory() -> Path | None:
    """The model directory :func:`load_pretrained` is building a model from (``None`` outside it): a model whose
    :meth:`Pretrained.save_files` wrote side files (e.g. ProtCLIP's ``text_encoder/``) finds them here."""
    return _LOADING.get()


def load_pretrained(
    directory: str | os.PathLike[str],
    *,
    map_location: str | torch.device = "cpu",
    on_model: Callable[[Pretrained], None] | None = None,
) -> Any:
    """Load any saved protstack model (its class is found by ``type`` through the registry).

    Args:
        directory: A directory written by :func:`save_pretrained` (or a path to its ``config.json``).
        map_location: Device the weights are loaded onto.
        on_model: Called with the freshly built model before its weights are loaded (rarely needed).

    Raises:
        PretrainedFormatError: missing / unreadable files, an older export format (the message says how to
            convert it), an unknown type, or weights that do not match the config (names the first tensor).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    directory = Path(directory)
    if directory.name == CONFIG_NAME:
        directory = directory.parent
    header = read_config(directory)
    with _loading(directory):
        model = build_model(header["config"], source=directory / CONFIG_NAME)
    if on_model is not None:
        on_model(model)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise PretrainedFormatError(directory, f"no {WEIGHTS_NAME} beside {CONFIG_NAME}")
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise PretrainedFormatError(weights, f"not a readable safetensors file ({exc})") from None
    except RuntimeError as exc:  # size mismatch
        line = str(exc).strip().splitlines()
        detail = next((s.strip() for s in line if "size mismatch" in s), line[-1] if line else str(exc))
        raise PretrainedFormatError(
            weights, f"weights do not fit the model its config builds: {detail}"
        ) from None
    missing = set(missing) - model.external_state()
    if missing or unexpected:
        what = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise PretrainedFormatError(
            weights,
            f"weights do not fit the {header['type']!r} model its config builds: {what} "
            f"({len(missing)} missing, {len(unexpected)} unexpected)",
        )
    model.to(map_location)
    model.eval()
    return model


#: Where a saved model of each type keeps its protein encoder (types not listed: the model is the encoder).
#: Strings only, like :data:`LEGACY_HINTS`, so protdata needs none of the packages that define the types.
ENCODER_ATTRIBUTES: dict[str, str] = {"task": "encoder", "protclip": "protein_encoder"}


def load_encoder(
    directory: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """The protein encoder of any saved protstack model and its ``config.json``: a task model's ``encoder``,
    ProtCLIP's ``protein_encoder``, or a saved encoder itself (:data:`ENCODER_ATTRIBUTES`), loaded with
    :func:`load_pretrained` (eval mode).

    Raises:
        PretrainedFormatError: as :func:`load_pretrained`.
    """
    directory = Path(directory)
    header = read_config(directory.parent if directory.name == CONFIG_NAME else directory)
    model = load_pretrained(directory, map_location=map_location)
    attribute = ENCODER_ATTRIBUTES.get(header["type"])
    return (getattr(model, attribute) if attribute else model), header
