"""A task model — any protstack encoder + a prottasks head — that saves and loads as one protstack model
directory (:mod:`protdata.pretrained`, type ``"task"``)::

    model = TaskModel.from_encoder(encoder, {"type": "multi_label", "num_labels": "auto"}, labels=go_terms)
    model.save_pretrained("my-task")              # config.json + model.safetensors
    model = protdata.pretrained.load_pretrained("my-task")
    scores = model.predict(proteins)              # (N, C) probabilities, input order

A ``contact`` task (:class:`prottasks.heads.ContactHead`) trains on the contact maps of the batch's own structures
(any targets the data gives are placeholders: the labels are recomputed from the coordinates, so crops stay
aligned; binary cross-entropy over the pairs with both residues' Cβ / Cα and ``|i − j| ≥ 6``, padding masked) and
predicts one ``(L, L)`` contact-probability map per protein.

The config (:class:`TaskModelConfig`) nests the encoder's own config (with its ``type``: the encoder is built
through :func:`protdata.pretrained.build_model`, so prottasks imports no encoder package), the head config, the
labels in score-column order and the task kind. A head's label count may be given as ``"auto"``: it is resolved
from ``labels`` when the config is validated, so a saved config always holds the number (and
:func:`prottasks.heads.build_head` accepts it as written).

Tensor names: ``encoder.*`` (the encoder's own names) and ``head.*`` (the head's layers and buffers, e.g. the
regression head's normalisation ``head.shift`` / ``head.scale`` / ``head.fitted``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, model_validator
from torch import Tensor, nn

from protdata import Protein, ProteinBatch
from protdata.pretrained import CONFIG_NAME, Pretrained, PretrainedFormatError, build_model, loading_directory
from prottasks.config import TaskConfig
from prottasks.errors import TaskInputError
from prottasks.heads.base import HeadOutput
from prottasks.heads.build import HeadConfig, build_head
from prottasks.heads.configs import head_kind
from prottasks.lora import BaseWeights, LoraConfig

Kind = Literal["multi_label", "single_label", "regression", "pair", "msp", "contact"]
#: The config key holding a head's number of outputs, by head type.
COUNT_KEYS = {
    "multi_label": "num_labels",
    "function_caller": "num_labels",
    "single_label": "num_classes",
    "pair": "num_classes",
}
#: Heads that read two protein batches (``forward(first, second)``).
PAIRED_HEADS = ("pair", "msp")


def _as_dict(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


class TaskModelConfig(TaskConfig):
    """``{type: task, encoder: {type: …, …}, head: {type: …, …}, labels: [...], kind: …}`` (module docstring)."""

    type: Literal["task"] = "task"
    #: The encoder's config, with its registered ``type`` (e.g. ``{"type": "esm2", "preset": …}``).
    encoder: dict[str, Any]
    #: The head config (``num_labels`` / ``num_classes`` given, or ``"auto"`` = the number of ``labels``).
    head: HeadConfig
    #: The labels in score-column order (a label's id is its index); ``None`` when the task has no names.
    labels: list[str] | None = None
    #: ``multi_label``, ``single_label``, ``regression``, ``pair``, ``msp`` or ``contact``; derived from the head if
    #: omitted.
    kind: Kind | None = None
    #: :meth:`TaskModel.predict` keeps the first ``max_length`` residues of each protein (the truncation the model
    #: was validated with, e.g. ESM-GearNet's 550; the apps' inference transform); ``None``: whole proteins.
    max_length: int | None = Field(default=None, ge=1)
    #: LoRA adapters on the encoder (:mod:`prottasks.lora`; ``modules`` resolved); ``None``: a plain model.
    lora: LoraConfig | None = None
    #: The checkpoint the frozen encoder weights of a LoRA model come from (not saved with the model).
    base_weights: BaseWeights | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        encoder = _as_dict(data.get("encoder"))
        if isinstance(encoder, Mapping):
            if not isinstance(encoder.get("type"), str):
                raise ValueError("encoder: the encoder config needs its 'type' (a registered model type)")
            data["encoder"] = dict(encoder)
        head = _as_dict(data.get("head"))
        if isinstance(head, Mapping):
            head = dict(head)
            key = COUNT_KEYS.get(str(head.get("type")))
            if key is not None and head.get(key, "auto") == "auto":
                labels = data.get("labels")
                if not isinstance(labels, (list, tuple)):
                    raise ValueError(f"head.{key}: 'auto' needs the labels (give labels or the number)")
                head[key] = len(labels)
            data["head"] = head
            if data.get("kind") is None:
                data["kind"] = head_kind(head)
        return data

    @model_validator(mode="after")
    def _check(self) -> TaskModelConfig:
        kind = head_kind(self.head)
        if self.kind != kind:
            raise ValueError(f"kind: {self.kind!r}, but a {self.head.type} head makes a {kind!r} task")
        if self.labels is not None:
            seen: set[str] = set()
            for label in self.labels:
                if label in seen:
                    raise ValueError(f"labels: {label!r} is listed twice")
                seen.add(label)
            key = COUNT_KEYS.get(self.head.type)
            expected = getattr(self.head, key) if key else 1
            if len(self.labels) != expected:
                what = f"head.{key}: {expected}" if key else f"a {self.head.type} head has 1 output"
                raise ValueError(f"{what}, but labels lists {len(self.labels)} labels")
        return self


class TaskModel(Pretrained):
    """An encoder under a prottasks head (module docstring).

    Args:
        config: A :class:`TaskModelConfig` (or a mapping validated as one).
        encoder: The encoder to use instead of building one from ``config.encoder`` (whose config it must be;
            :meth:`from_encoder` makes both from an encoder).

    Raises:
        TaskInputError: a Function Caller head that pools ``<cls>`` on an encoder configured not to return it.
    """

    model_type = "task"
    config_class = TaskModelConfig

    def __init__(self, config: TaskModelConfig | Mapping[str, Any], encoder: nn.Module | None = None) -> None:
        super().__init__()
        config = self.parse_config(config)
        if encoder is None:
            encoder = _build_encoder(_with_base(config))
        _check_cls_output(config, encoder)
        head = build_head(config.head, encoder)
        # the encoder is registered here (tensor names "encoder.*"); the head keeps a plain reference to it
        del head._modules["encoder"]
        object.__setattr__(head, "encoder", encoder)
        self.config = config
        self.encoder = encoder
        self.head = head
        if config.lora is not None:  # a saved LoRA model: the same adapters on the same modules
            from prottasks.lora import inject_lora

            self.config = config.model_copy(update={"lora": inject_lora(self, config.lora)})

    def external_state(self) -> set[str]:
        """The frozen base weights of a LoRA model with ``base_weights`` (read from that checkpoint, not saved)."""
        from prottasks.lora import external_names

        return external_names(self, self.config.base_weights)

    @classmethod
    def from_encoder(
        cls,
        encoder: Pretrained,
        head: Mapping[str, Any] | BaseModel,
        *,
        labels: Sequence[str] | None = None,
        kind: str | None = None,
    ) -> TaskModel:
        """A task model on an existing encoder (its weights are kept) with a fresh head."""
        if not isinstance(encoder, Pretrained):
            raise TypeError(
                f"{type(encoder).__name__} is not a protstack Pretrained encoder (a task model must be saveable)"
            )
        config = TaskModelConfig.model_validate(
            {
                "encoder": encoder.config_dict(),
                "head": head,
                "labels": None if labels is None else list(labels),
                "kind": kind,
            }
        )
        return cls(config, encoder)

    def config_dict(self) -> dict[str, Any]:
        """The config with the encoder's current config (no weights path: the weights are saved with the model)."""
        data = self.config.model_dump(mode="json")
        if not isinstance(self.encoder, Pretrained):
            raise TaskInputError(
                "TaskModel",
                f"the encoder {type(self.encoder).__name__} is not a protstack Pretrained model: cannot save it",
            )
        data["encoder"] = self.encoder.config_dict()
        return data

    # ------------------------------------------------------------------------------------------------ use
    @property
    def kind(self) -> str:
        return str(self.config.kind)

    @property
    def labels(self) -> list[str] | None:
        return None if self.config.labels is None else list(self.config.labels)

    @property
    def num_inputs(self) -> int:
        """Protein batches per example: 2 for the pair and MSP heads, else 1."""
        return 2 if self.config.head.type in PAIRED_HEADS else 1

    @property
    def device(self) -> torch.device:
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def forward(self, *batches: ProteinBatch, targets: Any = None) -> HeadOutput:
        """The head's output (logits, or regression values in target units) and, with targets, its loss. A
        contact task takes :class:`~prottasks.heads.ContactTargets`, ``"structure"`` or the data's per-protein
        placeholders (then the labels come from the batch's coordinates, as ``"structure"``)."""
        pair = getattr(batches[0], "pair", None) if len(batches) == 1 else None
        if self.num_inputs == 2 and isinstance(pair, tuple):
            batches = pair  # a PairBatch (prottasks.data.atom3d: MSP wild type, mutant)
        if len(batches) != self.num_inputs:
            raise TaskInputError(
                "TaskModel",
                f"a {self.config.head.type} head takes {self.num_inputs} protein batch(es), got {len(batches)}",
            )
        if self.kind == "contact" and targets is not None and not isinstance(targets, (str, tuple)):
            targets = "structure"  # e.g. the (B,) placeholders of prottasks.data.contacts' label table
        return self.head(*batches, targets=targets)

    def fit(self, train_targets: Any) -> TaskModel:
        """Fit the regression head's target normalisation on the training targets (no-op for other heads)."""
        fit = getattr(self.head, "fit", None)
        if callable(fit):
            fit(train_targets)
        return self

    def to_scores(self, output: Tensor) -> Tensor:
        """Scores from the head's output: sigmoid (multi-label, MSP, contact), softmax (single-label, pair) or the
        regression values (already in target units)."""
        output = output.float()
        if self.kind in ("multi_label", "msp", "contact"):
            return torch.sigmoid(output)
        if self.kind in ("single_label", "pair"):
            return torch.softmax(output, dim=-1)
        return output

    @torch.no_grad()
    def predict(
        self, *inputs: ProteinBatch | Sequence[Protein], batch_size: int = 8
    ) -> np.ndarray | list[np.ndarray]:
        """Scores of the proteins, in input order, as float64: ``(N, C)`` probabilities (sigmoid for multi-label,
        softmax for single-label / pair), ``(N,)`` MSP probabilities or regression values (de-normalised); for a
        contact task a list of ``N`` symmetric ``(L_i, L_i)`` contact-probability maps.

        Each input is a :class:`~protdata.ProteinBatch` (run as one batch, as given) or a sequence of proteins
        (each cut to its first ``config.max_length`` residues, if set, then run in length-sorted batches of
        ``batch_size``; pairs in input order). The model runs in eval mode.
        """
        if len(inputs) != self.num_inputs:
            raise TaskInputError(
                "TaskModel.predict",
                f"a {self.config.head.type} head takes {self.num_inputs} input(s), got {len(inputs)}",
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        was_training = self.training
        self.eval()
        try:
            if all(isinstance(x, ProteinBatch) for x in inputs):
                return self._scores(list(inputs))  # type: ignore[arg-type]
            if any(isinstance(x, ProteinBatch) for x in inputs):
                raise TaskInputError(
                    "TaskModel.predict", "give every input as a ProteinBatch or every as proteins"
                )
            lists = [[self.truncate(p) for p in x] for x in inputs]
            n = len(lists[0])
            if any(len(x) != n for x in lists):
                raise TaskInputError(
                    "TaskModel.predict", f"inputs of different lengths: {[len(x) for x in lists]}"
                )
            if n == 0:
                raise TaskInputError("TaskModel.predict", "no proteins given")
            order = sorted(range(n), key=lambda i: len(lists[0][i])) if len(lists) == 1 else list(range(n))
            results: dict[int, np.ndarray] = {}
            for lo in range(0, n, batch_size):
                chunk = order[lo : lo + batch_size]
                batches = [ProteinBatch.collate([x[i] for i in chunk]) for x in lists]
                results.update(zip(chunk, self._scores(batches)))
            ordered = [results[i] for i in range(n)]
            return ordered if self.kind == "contact" else np.stack(ordered)
        finally:
            self.train(was_training)

    def truncate(self, protein: Protein) -> Protein:
        """``protein`` cut to its first ``config.max_length`` residues (unchanged if shorter or unset)."""
        limit = self.config.max_length
        return protein if limit is None or len(protein) <= limit else protein.select(slice(0, limit))

    def _scores(self, batches: list[ProteinBatch]) -> Any:
        device = self.device
        output = self.forward(*(b.to(device) for b in batches)).output
        scores = self.to_scores(output).cpu().numpy().astype(np.float64)
        if self.kind == "contact":  # (B, L, L) padded -> one (L_i, L_i) map per protein
            return [scores[b, :n, :n] for b, n in enumerate(batches[0].lengths.tolist())]
        return scores


def _with_base(config: TaskModelConfig) -> dict[str, Any]:
    """The encoder section, with a LoRA model's base checkpoint (checked) where ``base_weights`` puts it."""
    if config.base_weights is None:
        return config.encoder
    from prottasks.lora import with_base_checkpoint

    directory = loading_directory()
    return with_base_checkpoint(
        config.encoder, config.base_weights, None if directory is None else directory / CONFIG_NAME
    )


def _build_encoder(section: dict[str, Any]) -> nn.Module:
    """The encoder of the ``encoder`` section (errors name the saved config.json being loaded, if any)."""
    directory = loading_directory()
    source = None if directory is None else directory / CONFIG_NAME
    try:
        return build_model(section, source=source)
    except PretrainedFormatError as exc:
        raise PretrainedFormatError(source, f"encoder: {exc.reason}") from None


def _check_cls_output(config: TaskModelConfig, encoder: nn.Module) -> None:
    """A Function Caller head pooling ``<cls>`` on an encoder whose config turns the ``<cls>`` output off."""
    head = config.head
    if head.type != "function_caller" or head.pooling != "cls":
        return
    if getattr(getattr(encoder, "config", None), "cls_output", None) is False:
        raise TaskInputError(
            "encoder.cls_output",
            "false, but the function_caller head pools the <cls> embedding: set encoder.cls_output: true "
            "(or head.pooling: protein)",
        )
