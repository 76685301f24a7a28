"""LoRA fine-tuning of a task model's sequence encoder with Hugging Face PEFT (``peft``; Hu et al., "LoRA: Low-Rank
Adaptation of Large Language Models", ICLR 2022): the chosen linear projections get ``W x + (alpha / r) · B A x``
with trainable ``A`` ``(r, in)`` and ``B`` ``(out, r)`` (``B = 0`` at the start), everything else of the encoder is
frozen and the head trains::

    model = TaskModel.from_encoder(esm2, {"type": "single_label", "num_classes": 10})
    summary = apply_lora(model, LoraConfig(), base="esm2_t33_650M_UR50D.pt")   # injects, freezes, counts
    print(summary)                       # trainable 1.2M of 652M parameters (adapters 1.1M, head 0.1M)
    model.save_pretrained("run")         # adapters + head (+ the reference to the base checkpoint)
    model = protdata.load_pretrained("run")   # base checkpoint (sha256-checked) + adapters
    merge_lora(model).save_pretrained("merged")   # a plain task model, no peft needed

The layers are injected with ``peft.inject_adapter_in_model`` (the model stays a :class:`~prottasks.TaskModel`;
PEFT's layer names: ``<module>.base_layer.weight``, ``<module>.lora_A.default.weight``, ``<module>.lora_B.default.weight``)
and merged with PEFT's own ``merge`` + unload (what ``LoraModel.merge_and_unload`` does layer by layer).

Defaults (:class:`LoraConfig`), from the protein-language-model PEFT literature:

* Sledzieski et al., "Democratizing protein language models with parameter-efficient fine-tuning", PNAS 121
  (2024) e2405840121 (microsoft/peft_proteomics, ``ppi/config/sample_config.yaml``): ``r = 8``,
  ``lora_alpha = 32``, ``lora_dropout = 0.1``, no bias, adapters on ESM-2's attention key and value projections;
  rank >= 4 on the attention projections was enough, and results were robust to these hyper-parameters.
* Schmirler, Heinzinger & Rost, "Fine-tuning protein language models boosts predictions across diverse tasks",
  Nat Commun 15 (2024) 7407 (RSchmirler/data-repo_plm-finetune-eval notebooks): ``r = 4``, ``lora_alpha = 1`` on
  ESM-2's ``query``, ``key``, ``value`` and ``dense`` projections.

protstack's ESM-2 / SaProt (and ESM C) blocks hold q, k and v as one fused ``qkv_proj`` and the attention output as
``out_proj`` (:mod:`protenc_seq.esm2.layer`), so the default targets are ``["qkv_proj", "out_proj"]``: the
attention projections of both papers (on the fused projection one rank-``r`` pair adapts q, k and v together).
Another encoder plugs in by naming its modules in ``target_modules`` (short names match the last part of a module
name, dotted names its tail), or by a class attribute ``lora_target_modules`` giving its defaults.

The export (:meth:`TaskModel.save_pretrained`) is protstack's model directory, not PEFT's ``adapter_model``
layout: ``config.json`` holds the task model config with its ``lora`` section (the resolved module names) and
``base_weights`` (``{module, path, sha256}``: the checkpoint the frozen encoder weights come from), and
``model.safetensors`` every tensor but those base weights (adapters, head, any other encoder part).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from prottasks.errors import TaskInputError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "DEFAULT_TARGET_MODULES",
    "BaseWeights",
    "LoraConfig",
    "LoraSummary",
    "apply_lora",
    "file_sha256",
    "inject_lora",
    "is_lora_parameter",
    "lora_summary",
    "merge_lora",
    "merge_pretrained",
]

#: Modules adapted by default: the attention projections of protstack's ESM-2 / SaProt / ESM C blocks (module doc).
DEFAULT_TARGET_MODULES = ("qkv_proj", "out_proj")
#: PEFT's adapter name (one adapter per model here).
ADAPTER = "default"


class LoraConfig(BaseModel):
    """The ``lora:`` section: which projections get LoRA adapters and their size (defaults: module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(8, ge=1)  # rank (Sledzieski et al. 2024: 8; >= 4 enough)
    alpha: float = Field(32.0, gt=0)  # lora_alpha: the update is scaled by alpha / r (Sledzieski et al.: 32)
    dropout: float = Field(0.1, ge=0, lt=1)  # lora_dropout on the adapter's input (Sledzieski et al.: 0.1)
    #: Module names to adapt (last part, or a dotted tail, of a module name of the sequence encoder); ``null``:
    #: the encoder's ``lora_target_modules``, else :data:`DEFAULT_TARGET_MODULES`.
    target_modules: list[str] | None = None
    #: Only the blocks with these indices (``layers.<i>.``; negative: from the end, e.g. ``[-8, …, -1]`` as
    #: Sledzieski et al. adapted the last 8 of ESM-2 650M's 33 layers); ``null``: every block.
    layers: list[int] | None = None
    #: The adapted modules' full names in the task model, filled in by :func:`apply_lora` (saved with the model
    #: so that loading injects exactly these); ``null`` in a user's config.
    modules: list[str] | None = None


class BaseWeights(BaseModel):
    """Where a LoRA task model's frozen encoder weights come from: the checkpoint ``path`` (a file or a Hugging
    Face directory), its ``sha256`` (:func:`file_sha256`) and the task-model ``module`` it initialises (``encoder``,
    or ``encoder.sequence`` for a fused encoder), whose config section gets ``checkpoint: path`` when loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str = "encoder"
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @classmethod
    def of(cls, path: str | os.PathLike[str], module: str = "encoder") -> BaseWeights:
        """The reference to checkpoint ``path`` (made absolute; hashed now)."""
        path = Path(path).expanduser().resolve()
        return cls(module=module, path=str(path), sha256=file_sha256(path))


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file; of a directory (a Hugging Face checkpoint): of its files' ``relative/path:sha256`` lines
    in sorted order. Cached per process by path, size and modification time."""
    path = Path(path)
    if path.is_dir():
        lines = [
            f"{p.relative_to(path).as_posix()}:{file_sha256(p)}\n"
            for p in sorted(path.rglob("*"))
            if p.is_file()
        ]
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


@dataclass(frozen=True)
class LoraSummary:
    """Parameter counts after :func:`apply_lora`: ``trainable`` of ``total`` (adapters + head + anything else
    left trainable), of which ``adapters`` in the LoRA matrices; ``modules``: adapted projections."""

    total: int
    trainable: int
    adapters: int
    modules: int

    def __str__(self) -> str:
        share = 100.0 * self.trainable / max(1, self.total)
        return (
            f"LoRA on {self.modules} projections: {self.trainable:,} of {self.total:,} parameters trainable "
            f"({share:.2f} %; adapters {self.adapters:,}, head and others {self.trainable - self.adapters:,})"
        )


def is_lora_parameter(name: str) -> bool:
    """Whether a parameter / state-dict name is one of PEFT's LoRA tensors (``…lora_A.<adapter>…``)."""
    return ".lora_" in name or name.startswith("lora_")


def _sequence_scope(model: nn.Module) -> str:
    """The task model's sequence encoder: ``encoder.sequence`` of a fused encoder, else ``encoder``."""
    encoder = model.get_submodule("encoder")
    return "encoder.sequence" if hasattr(encoder, "sequence") else "encoder"


def _target_names(model: nn.Module, config: LoraConfig, scope: str) -> list[str]:
    """Full names (in ``model``) of the modules ``config`` adapts under ``scope``."""
    from torch import nn

    root = model.get_submodule(scope)
    targets = config.target_modules
    if targets is None:
        targets = list(getattr(root, "lora_target_modules", DEFAULT_TARGET_MODULES))
    found: list[str] = []
    for name, module in root.named_modules():
        if not any(name == t or name.endswith("." + t) for t in targets):
            continue
        if not isinstance(module, nn.Linear):
            raise TaskInputError(
                f"lora.target_modules: {scope}.{name}",
                f"is a {type(module).__name__}, not a linear projection (LoRA here adapts nn.Linear modules)",
            )
        found.append(f"{scope}.{name}")
    if config.layers is not None:
        blocks = sorted({int(m.group(1)) for n in found if (m := re.search(r"\blayers\.(\d+)\.", n))})
        count = blocks[-1] + 1 if blocks else 0
        wanted = set()
        for i in config.layers:
            if not -count <= i < count:
                raise TaskInputError("lora.layers", f"{i} is not a block of this encoder (it has {count})")
            wanted.add(i % count)
        found = [n for n in found if (m := re.search(r"\blayers\.(\d+)\.", n)) and int(m.group(1)) in wanted]
    if not found:
        raise TaskInputError(
            "lora.target_modules",
            f"{targets} match no linear module of {scope} ({type(root).__name__}); name its projections",
        )
    return found


def inject_lora(model: nn.Module, config: LoraConfig, *, scope: str | None = None) -> LoraConfig:
    """Inject LoRA layers (``peft.inject_adapter_in_model``) into the modules ``config`` names (``config.modules``
    if given, else resolved under ``scope``, default the sequence encoder), freeze every parameter but the
    adapters and those under ``head``; returns ``config`` with ``modules`` filled in."""
    try:
        import peft
    except ImportError:
        raise TaskInputError(
            "lora",
            "LoRA needs Hugging Face PEFT: install prottasks' extra (pip install 'protstack-prottasks[lora]')",
        ) from None

    modules = list(config.modules) if config.modules is not None else None
    if modules is None:
        modules = _target_names(model, config, scope or _sequence_scope(model))
    names = {n for n, _ in model.named_modules()}
    unknown = [m for m in modules if m not in names]
    if unknown:
        raise TaskInputError("lora.modules", f"the task model has no module {unknown[0]!r}")
    peft_config = peft.LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        bias="none",
        target_modules=modules,  # full names: matched exactly (PEFT matches a key equal to a target)
    )
    peft.inject_adapter_in_model(peft_config, model, adapter_name=ADAPTER)
    for name, p in model.named_parameters():
        p.requires_grad_(is_lora_parameter(name) or name.startswith("head."))
    return config.model_copy(update={"modules": modules})


def lora_summary(model: nn.Module) -> LoraSummary:
    """The parameter counts of a LoRA task model (:class:`LoraSummary`)."""
    params = list(model.named_parameters())
    adapted = sum(1 for n, _ in model.named_modules() if n.endswith(".lora_A"))
    return LoraSummary(
        total=sum(p.numel() for _, p in params),
        trainable=sum(p.numel() for _, p in params if p.requires_grad),
        adapters=sum(p.numel() for n, p in params if is_lora_parameter(n)),
        modules=adapted,
    )


def apply_lora(
    model: Any,
    config: LoraConfig,
    *,
    base: str | os.PathLike[str] | BaseWeights | None = None,
    scope: str | None = None,
) -> LoraSummary:
    """Make ``model`` (a :class:`~prottasks.TaskModel`) a LoRA task model in place: adapters on ``config``'s
    projections of its sequence encoder (or of ``scope``), everything frozen except the adapters and the head;
    ``model.config`` records the LoRA section and, with ``base`` (the checkpoint the encoder was loaded from, or
    a :class:`BaseWeights`), the reference that lets its export leave the base weights out. Returns the
    parameter counts (``print`` it).

    Raises:
        TaskInputError: the model already has adapters, or the targets match no linear module.
    """
    if getattr(model.config, "lora", None) is not None:
        raise TaskInputError("lora", "this task model already has LoRA adapters")
    scope = scope or _sequence_scope(model)
    if base is not None and not isinstance(base, BaseWeights):
        base = BaseWeights.of(base, module=scope)
    resolved = inject_lora(model, config, scope=scope)
    model.config = model.config.model_copy(update={"lora": resolved, "base_weights": base})
    return lora_summary(model)


def external_names(model: nn.Module, base: BaseWeights | None) -> set[str]:
    """State-dict names of ``model`` that ``base`` provides: every tensor under ``base.module`` but the adapters."""
    if base is None:
        return set()
    prefix = base.module + "."
    return {n for n in model.state_dict() if n.startswith(prefix) and not is_lora_parameter(n)}


def with_base_checkpoint(encoder: dict[str, Any], base: BaseWeights, source: Any = None) -> dict[str, Any]:
    """The ``encoder`` config section with ``checkpoint: base.path`` in the section of ``base.module``, after
    checking the file's SHA-256.

    Raises:
        PretrainedFormatError: the checkpoint is missing or its SHA-256 differs from the recorded one.
    """
    from protdata.pretrained import PretrainedFormatError

    path = Path(base.path)
    if not path.exists():
        raise PretrainedFormatError(
            source,
            f"base_weights.path: {path} is missing (the LoRA export holds only its adapters; put the base "
            f"checkpoint with sha256 {base.sha256} there, or edit base_weights.path)",
        )
    found = file_sha256(path)
    if found != base.sha256:
        raise PretrainedFormatError(
            source,
            f"base_weights.path: {path} has sha256 {found}, not {base.sha256} (not the checkpoint these adapters "
            "were trained on)",
        )
    section = encoder = dict(encoder)
    parts = base.module.split(".")[1:]  # "encoder" -> [], "encoder.sequence" -> ["sequence"]
    for part in parts:
        child = section.get(part)
        if not isinstance(child, dict):
            raise PretrainedFormatError(
                source, f"base_weights.module: {base.module!r} has no config section in encoder"
            )
        section[part] = dict(child)
        section = section[part]
    section["checkpoint"] = str(path)
    return encoder


def merge_lora(model: Any) -> Any:
    """Merge the adapters into their base projections (PEFT's ``merge``, then the LoRA layer is replaced by its
    base layer, as ``merge_and_unload`` does) in place: ``model`` becomes a plain task model (no peft needed, its
    export holds every weight). Returns ``model``."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)]
    for name, layer in layers:
        layer.merge(safe_merge=True)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.get_base_layer())
    for p in model.parameters():
        p.requires_grad_(True)
    model.config = model.config.model_copy(update={"lora": None, "base_weights": None})
    return model


def merge_pretrained(
    directory: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, keep: Sequence[str] | None = None
) -> Path:
    """Load the LoRA task model saved in ``directory`` (base checkpoint + adapters), merge it
    (:func:`merge_lora`) and save it as a plain model directory in ``out_dir``, with the other entries of its
    ``config.json`` (or only those in ``keep``). Returns ``out_dir``."""
    from protdata.pretrained import load_pretrained, read_config

    header = read_config(directory)
    model = merge_lora(load_pretrained(directory))
    reserved = {"format", "format_version", "type", "config"}
    metadata = {k: v for k, v in header.items() if k not in reserved and (keep is None or k in keep)}
    return model.save_pretrained(out_dir, **metadata)
