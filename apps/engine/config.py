"""Configuration: a YAML file plus ``key=value`` overrides, validated by pydantic, with errors that name the key.

DESIGN.md "Configuration": every component has a pydantic model (``type`` discriminator + hyper-parameters with
the seed's defaults); a YAML file composes them. Here:

* :func:`load_yaml` reads a mapping (syntax errors name the file and line);
* :func:`apply_overrides` sets dotted keys (``optimizer.lr=2e-4``, ``encoder.hidden_dims=[64,64]``); values are
  parsed as YAML, so numbers, booleans and lists have their types;
* :func:`validate` checks the result against a model; unknown keys, wrong types and missing keys are one
  :class:`~engine.errors.ConfigError` that lists every bad key as a dotted path (``train.max_step: unknown key
  (did you mean 'max_steps'?)``);
* the engine's sections — :class:`OptimizerConfig`, :class:`SchedulerConfig`, :class:`DeepSpeedConfig`,
  :class:`TrainConfig`, :class:`DataConfig` — with commented defaults, shared by every app.

A config file may start from others: ``extends: base.yaml`` (or a list, merged in order; paths relative to the
file) — the file's own keys are merged over them, section by section (a section whose ``type`` differs from the
base's replaces it instead). Presets use it to share one task or encoder section between files.

Paths in configs may use ``${APPS_DIR}`` (the ``apps/`` directory), ``${CONFIG_DIR}`` (the directory of the YAML
file they came from), environment variables and ``~``; relative paths are taken from the working directory.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import ConfigError
from protdata.transforms import TruncateProteinConfig
from protdata.transforms.compose import AnyTransformConfig

#: The ``apps/`` directory (``${APPS_DIR}`` in config paths).
APPS_DIR = Path(__file__).resolve().parents[1]

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------------------------- loading
def load_yaml(path: str | os.PathLike[str], _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping in YAML file ``path``; ``${CONFIG_DIR}`` in its strings becomes the file's directory; the files
    named by its ``extends`` key are loaded first and the file's keys merged over them (:func:`merge_configs`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys, got {type(data).__name__}")
    data = _substitute(data, {"CONFIG_DIR": str(path.resolve().parent)})
    parents = data.pop("extends", None)
    if parents is None:
        return data
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(f"{path}: extends: expected a config file name or a list of them, got {parents!r}")
    chain = (*_chain, path.resolve())
    merged: dict[str, Any] = {}
    for parent in parents:
        parent_path = Path(os.path.expanduser(os.path.expandvars(parent)))
        if not parent_path.is_absolute():
            parent_path = path.parent / parent_path
        if not parent_path.is_file():
            raise ConfigError(f"{path}: extends {parent!r}: no such config file ({parent_path})")
        if parent_path.resolve() in chain:
            raise ConfigError(f"{path}: extends {parent!r}: circular extends")
        merged = merge_configs(merged, load_yaml(parent_path, chain))
    return merge_configs(merged, data)


def merge_configs(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings key by key (recursively), anything else replaced; a mapping
    whose ``type`` differs from the base's replaces it whole (another component, other keys)."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        same_kind = isinstance(old, dict) and isinstance(value, dict)
        if same_kind and ("type" not in value or "type" not in old or value["type"] == old["type"]):
            out[key] = merge_configs(old, value)
        else:
            out[key] = value
    return out


def _substitute(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, replacement in variables.items():
            value = value.replace("${" + name + "}", replacement)
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables) for v in value]
    return value


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=value"`` -> ``(["a", "b", "c"], parsed value)``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected key=value (e.g. optimizer.lr=2e-4)")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override {text!r}: empty component in key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # not YAML (e.g. an unbalanced bracket): keep the text, validation names the key
    if isinstance(value, str):
        value = _number(value)
    return parts, value


def _number(text: str) -> Any:
    """PyYAML reads ``1e-3`` as a string (YAML 1.1 floats need a dot); read it as the number a person meant."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``key=value`` override applied (later ones win)."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"override {text!r}: {where} is a {type(child).__name__}, not a section with keys"
                )
            node = child
        node[parts[-1]] = value
    return out


# ------------------------------------------------------------------------------------------ validation
def _dotted(loc: tuple[Any, ...], data: Any) -> str:
    """Pydantic's error location as a dotted key path, without the union tags pydantic inserts
    (``("encoder", "gearnet", "hidden_dims")`` -> ``encoder.hidden_dims``)."""
    parts: list[str] = []
    node = data
    for item in loc:
        if (isinstance(node, dict) and item in node) or (
            isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        ):
            parts.append(str(item))
            node = node[item]
        elif isinstance(node, dict) and item == node.get("type"):
            continue  # discriminated-union tag
        elif isinstance(item, str) and "[" in item:
            continue  # e.g. "function-after[...]" / "tagged-union[...]"
        else:
            parts.append(str(item))
            node = None
    return ".".join(parts) or "<root>"


def _known_keys(model: type[BaseModel] | None, data: Any, loc: tuple[Any, ...]) -> list[str]:
    """Sibling keys the model accepts at the location of an unknown key (for 'did you mean')."""
    if model is None:
        return []
    current: Any = model
    node = data
    for item in loc[:-1]:
        if isinstance(node, dict) and item in node:
            node = node[item]
        elif isinstance(node, dict) and item == node.get("type"):
            continue
        else:
            return []
        field = current.model_fields.get(item) if isinstance(current, type) else None
        current = _model_of(field.annotation if field else None, node)
        if current is None:
            return []
    return list(current.model_fields) if isinstance(current, type) else []


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation resolves to for this input (unions: the member whose ``type`` fits)."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    members = [a for a in _flatten(args) if isinstance(a, type) and issubclass(a, BaseModel)]
    tag = node.get("type") if isinstance(node, dict) else None
    for member in members:
        field = member.model_fields.get("type")
        if tag is not None and field is not None and tag in typing.get_args(field.annotation):
            return member
    return members[0] if len(members) == 1 else None


def _flatten(args: tuple[Any, ...]) -> list[Any]:
    import typing

    out: list[Any] = []
    for a in args:
        sub = typing.get_args(a)
        out.extend(_flatten(sub) if sub and not (isinstance(a, type) and issubclass(a, BaseModel)) else [a])
    return out


def format_validation_error(exc: ValidationError, data: Any, model: type[BaseModel] | None = None) -> str:
    """Every error of ``exc`` as ``key: problem``, joined with ``; ``."""
    messages = []
    for err in exc.errors():
        key = _dotted(tuple(err["loc"]), data)
        if err["type"] == "extra_forbidden":
            name = str(err["loc"][-1])
            close = difflib.get_close_matches(name, _known_keys(model, data, tuple(err["loc"])), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            messages.append(f"{key}: unknown key{hint}")
        elif err["type"] == "missing":
            messages.append(f"{key}: required key is missing")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict) else "a mapping"
            if len(shown) > 60:
                shown = shown[:57] + "..."
            messages.append(f"{key}: {err['msg']} (got {shown})")
    return "; ".join(messages)


def validate(model: type[M], data: Mapping[str, Any], source: str = "config") -> M:
    """``model`` validated from ``data``; a :class:`ConfigError` naming ``source`` and every bad key otherwise."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc, dict(data), model)}") from None


def load_config(
    model: type[M],
    path: str | os.PathLike[str] | None,
    overrides: Iterable[str] = (),
) -> M:
    """``model`` from YAML file ``path`` (``None``: defaults only) with ``key=value`` overrides applied."""
    overrides = list(overrides)
    data = load_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    source = str(path) if path is not None else "config"
    if overrides:
        source += f" + {len(overrides)} override{'s' if len(overrides) > 1 else ''}"
    return validate(model, data, source)


def dump_yaml(config: BaseModel) -> str:
    """The config as YAML (every key, defaults included), loadable by :func:`load_config`."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def expand_path(value: str | os.PathLike[str]) -> Path:
    """``${APPS_DIR}``, environment variables and ``~`` expanded (``${CONFIG_DIR}`` is expanded on loading)."""
    text = str(value).replace("${APPS_DIR}", str(APPS_DIR))
    return Path(os.path.expanduser(os.path.expandvars(text)))


# -------------------------------------------------------------------------------------- engine sections
class Section(BaseModel):
    """Base of every config section: unknown keys and wrong types are errors that name the key."""

    model_config = ConfigDict(extra="forbid")


class OptimizerConfig(Section):
    """The optimizer (a torch optimizer handed to DeepSpeed as its client optimizer — no compiled ops)."""

    type: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-4, gt=0)  # ESM-GearNet downstream: Adam 1e-4; pretraining 2e-4
    betas: tuple[float, float] = (0.9, 0.999)  # SaProt / FusionProt: (0.9, 0.98)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)  # SaProt / FusionProt: 0.01
    momentum: float = Field(0.0, ge=0)  # sgd only
    #: No weight decay on biases and norm weights (parameters with fewer than 2 dimensions; SaProt's AdamW).
    no_decay_norm_and_bias: bool = False
    #: Parameter-name prefix -> learning-rate multiplier, e.g. ``{encoder.sequence: 0.1}`` (ESM-GearNet
    #: ``sequence_model_lr_ratio`` 0.1, FusionProt 0.08); 0 freezes those parameters. A module at the prefix that
    #: has ``parameter_groups(lr, lr_ratio=…, weight_decay=…)`` (protenc-seq encoders) builds its own groups.
    lr_ratios: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ratios(self) -> OptimizerConfig:
        for prefix, ratio in self.lr_ratios.items():
            if ratio < 0:
                raise ValueError(f"lr_ratios[{prefix!r}] must be >= 0, got {ratio}")
        return self


class SchedulerConfig(Section):
    """Learning-rate schedule, as a multiplier of every parameter group's learning rate (ratios are kept).

    * ``constant`` — linear warm-up, then 1.
    * ``linear`` / ``cosine`` — linear warm-up over ``warmup_steps``, then linear / half-cosine decay to
      ``min_lr_ratio`` at ``decay_steps`` (default: the run's total steps); Hugging Face's
      ``get_{linear,cosine}_schedule_with_warmup`` when ``min_lr_ratio`` is 0.
    * ``esm2`` — SaProt's ``Esm2LRScheduler``: ``init_lr_ratio → 1`` linearly over ``warmup_steps``, constant
      until ``decay_start_step``, linear to ``min_lr_ratio`` at ``decay_steps``, then constant (SaProt: warm-up
      2,000, decay 150,000 → 1,500,000, 4e-4 → 4e-5, i.e. ``min_lr_ratio`` 0.1).
    """

    type: Literal["constant", "linear", "cosine", "esm2"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    decay_steps: int | None = Field(None, ge=1)
    decay_start_step: int = Field(0, ge=0)  # esm2 only
    init_lr_ratio: float = Field(0.0, ge=0, le=1)  # esm2 only


class DeepSpeedConfig(Section):
    """The DeepSpeed engine: ZeRO stage, precision, gradient accumulation and clipping (+ raw DeepSpeed keys)."""

    zero_stage: Literal[0, 1, 2, 3] = 0
    #: ``auto``: bf16 on a GPU that supports it, fp32 on CPU.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    gradient_accumulation_steps: int = Field(1, ge=1)  # FusionProt: gradient_interval 8
    gradient_clipping: float = Field(1.0, ge=0)  # 0 disables clipping
    #: Raw DeepSpeed config keys merged last (e.g. ``zero_optimization.offload_optimizer``).
    extra: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(Section):
    """The loop: how long, how often to log and checkpoint, where to run."""

    #: Optimizer steps (exactly one of max_steps / epochs).
    max_steps: int | None = Field(None, ge=1)
    #: Passes over the data (converted to steps with the first epoch's micro-batch count).
    epochs: float | None = Field(None, gt=0)
    log_every: int = Field(10, ge=1)
    #: Save a resumable checkpoint every N steps (and always at the end); None = only at the end.
    checkpoint_every: int | None = Field(None, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: torch intra-op threads per process (None: torch's default).
    num_threads: int | None = Field(None, ge=1)
    #: Stop with an error naming the proteins when the loss is NaN / infinite.
    stop_on_nonfinite: bool = True

    @model_validator(mode="after")
    def _length(self) -> TrainConfig:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("set exactly one of train.max_steps and train.epochs")
        return self


class DataConfig(Section):
    """Structures in, micro-batches out: sources, the preprocessed cache, cropping and batching."""

    #: Structure files, directories (walked recursively) or globs; tar archives are streamed.
    sources: list[str] = Field(default_factory=lambda: ["${APPS_DIR}/data/demo_structures"], min_length=1)
    #: Where the preprocessed cache lives (None: ``<output_root>/.cache``).
    cache_dir: str | None = None
    #: Proteins shorter than this are left out (and counted in the data report).
    min_length: int = Field(1, ge=1)
    #: Per-protein transform (protdata.transforms config; ESM-GearNet residue-type pretraining: random crop 100).
    transform: AnyTransformConfig | None = Field(
        default_factory=lambda: TruncateProteinConfig(max_length=100, random=True)
    )
    #: Most proteins in one micro-batch.
    batch_size: int = Field(8, ge=1)
    #: Most padded residues in one micro-batch (``proteins × longest``); None: no token budget.
    max_tokens: int | None = Field(None, ge=1)
    #: Proteins shuffled together and sorted by length before cutting batches (1: no length bucketing).
    bucket_window: int = Field(100, ge=1)
    #: DataLoader worker processes (0: load in the training process).
    num_workers: int = Field(1, ge=0)
    prefetch_factor: int = Field(4, ge=1)
    #: Processes that parse structure files when the cache is built.
    parse_workers: int = Field(1, ge=1)
