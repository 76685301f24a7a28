"""prottasks.outputs.unpack_output: the loss and scalar metrics of every output form a training step meets."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from prottasks.objectives.base import ObjectiveOutput
from prottasks.outputs import unpack_output


@dataclass
class _ClipLike:  # protalign's ProtCLIPOutput, duck-typed
    loss: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    logit_scale: torch.Tensor | None = None


def test_unpack_output_forms() -> None:
    loss = torch.tensor(2.0)
    assert unpack_output(loss) == (loss, {})
    assert unpack_output({"loss": loss, "acc": torch.tensor(0.5), "ids": [1]}) == (loss, {"acc": 0.5})
    out = ObjectiveOutput(loss=loss, metrics={"loss": 2.0, "accuracy": 0.25})
    assert unpack_output(out) == (loss, {"accuracy": 0.25})
    clip = _ClipLike(loss, {"loss": loss, "mlm": torch.tensor(1.5), "map": torch.ones(2)}, torch.tensor(14.0))
    assert unpack_output(clip) == (loss, {"mlm": 1.5, "logit_scale": 14.0})
