"""Config files: YAML plus ``key=value`` overrides, validated by pydantic, with errors that name the key.

Every protstack component has a pydantic config (``type`` discriminator + hyper-parameters with the seeds'
defaults); a YAML file composes them. Here:

* :func:`load_yaml` reads a mapping (syntax errors name the file and line); a file may start from others --
  ``extends: base.yaml`` (or a list, merged in order; paths relative to the file) -- and its own keys are merged
  over them section by section (:func:`merge_configs`: a section whose ``type`` differs from the base's replaces
  it). ``${CONFIG_DIR}`` in its strings becomes the file's directory.
* :func:`apply_overrides` sets dotted keys (``optimizer.lr=2e-4``, ``encoder.hidden_dims=[64,64]``); values are
  parsed as YAML, so numbers, booleans and lists have their types.
* :func:`validate` / :func:`load_config` check the result against a model; unknown keys, wrong types and missing
  keys are one :class:`ConfigFileError` listing every bad key as a dotted path (``train.max_step: unknown key
  (did you mean 'max_steps'?)``).

Imports no torch: a program can validate its config before loading any model code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from protdata.errors import ProtdataError

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ProtdataError):
    """A config file or ``key=value`` override is unreadable, names an unknown key or has a wrong type."""


def _error(message: str) -> ConfigFileError:
    """A :class:`ConfigFileError` from ``"<where>: <what>"`` (the part before the first ``": "`` is the source)."""
    where, _, reason = message.partition(": ")
    return ConfigFileError(where, reason) if reason else ConfigFileError(None, message)


# --------------------------------------------------------------------------------------------- loading
def load_yaml(path: str | os.PathLike[str], _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping in YAML file ``path``; ``${CONFIG_DIR}`` in its strings becomes the file's directory; the files
    named by its ``extends`` key are loaded first and the file's keys merged over them (:func:`merge_configs`)."""
    path = Path(path)
    if not path.is_file():
        raise _error(f"{path}: no such config file")
    try:
        text = path.read_text()
    except OSError as exc:
        raise _error(f"{path}: cannot read config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _error(f"{where}: invalid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _error(f"{path}: a config file must hold a mapping of keys, got {type(data).__name__}")
    data = _substitute(data, {"CONFIG_DIR": str(path.resolve().parent)})
    parents = data.pop("extends", None)
    if parents is None:
        return data
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise _error(f"{path}: extends: expected a config file name or a list of them, got {parents!r}")
    chain = (*_chain, path.resolve())
    merged: dict[str, Any] = {}
    for parent in parents:
        parent_path = Path(os.path.expanduser(os.path.expandvars(parent)))
        if not parent_path.is_absolute():
            parent_path = path.parent / parent_path
        if not parent_path.is_file():
            raise _error(f"{path}: extends {parent!r}: no such config file ({parent_path})")
        if parent_path.resolve() in chain:
            raise _error(f"{path}: extends {parent!r}: circular extends")
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
        raise _error(f"override {text!r}: expected key=value (e.g. optimizer.lr=2e-4)")
    parts = key.split(".")
    if any(not p for p in parts):
        raise _error(f"override {text!r}: empty component in key {key!r}")
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
                raise _error(
                    f"override {text!r}: {where} is a {type(child).__name__}, not a section with keys"
                )
            node = child
        node[parts[-1]] = value
    return out


# ------------------------------------------------------------------------------------------ validation
def key_parts(loc: tuple[Any, ...], data: Any) -> list[str]:
    """Pydantic's error location as config keys, without the union tags pydantic inserts
    (``("encoder", "gearnet", "hidden_dims")`` -> ``["encoder", "hidden_dims"]``)."""
    parts: list[str] = []
    node = data
    for item in loc:
        if (isinstance(node, Mapping) and item in node) or (
            isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        ):
            parts.append(str(item))
            node = node[item]
        elif isinstance(node, Mapping) and item == node.get("type"):
            continue  # discriminated-union tag
        elif isinstance(item, str) and "[" in item:
            continue  # e.g. "function-after[...]" / "tagged-union[...]"
        else:
            parts.append(str(item))
            node = None
    return parts


def _dotted(loc: tuple[Any, ...], data: Any) -> str:
    """:func:`key_parts` as a dotted key path (``<root>`` for the whole config)."""
    return ".".join(key_parts(loc, data)) or "<root>"


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
    """``model`` validated from ``data``; a :class:`ConfigFileError` naming ``source`` and every bad key otherwise."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise _error(f"{source}: {format_validation_error(exc, dict(data), model)}") from None


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
