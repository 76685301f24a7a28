"""prottasks.objectives.validation: validation values are means over every prediction of the held-out set.

Truths: the masked-LM cross-entropy and accuracy recomputed here in float64 from the same corrupted inputs
(``details["inputs"]``, ``details["labels"]``) through the model's own ``token_logits``; a per-residue model whose
loss and accuracy are written out by hand over whole proteins; the shares of 1–3 simulated ranks added together."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from prottasks_tiny import TinyMLM

from protdata import PackedProteins, ProteinBatch, load_chains
from protdata.evaluation import MetricSums
from protdata.testing import shared_data
from protdata.transforms import TruncateProtein
from prottasks.objectives import MaskedLMObjective, MLMConfig, ObjectiveOutput
from prottasks.objectives.validation import ObjectiveValidation, objective_sums


@pytest.fixture(scope="module")
def store() -> PackedProteins:
    files = sorted(shared_data("structures", "experimental_mdanalysis_dssp").glob("*.pdb.gz"))[:7]
    return PackedProteins.from_proteins([p for f in files for p in load_chains(f)])


class PerResidue(torch.nn.Module):
    """Predicts residue type ``(t + position) mod 20`` with confidence 2: a loss and accuracy known by hand."""

    def forward(self, batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        target = batch.residue_type.clamp(max=19)  # (N,)
        position = torch.cat([torch.arange(n) for n in batch.lengths.tolist()])  # (N,)
        logits = 2.0 * F.one_hot((target + position) % 20, 20).float()  # (N, 20)
        loss = F.cross_entropy(logits, target)
        accuracy = (logits.argmax(-1) == target).float().mean()
        return ObjectiveOutput(loss, {"loss": float(loss), "accuracy": float(accuracy)}, {"target": target})


def test_sums_of_a_residue_model_against_hand(store: PackedProteins) -> None:
    validation = ObjectiveValidation(store, None, batch_size=3, max_tokens=None, seed=5)
    values = validation(PerResidue())
    # by hand: over all residues, correct where (position mod 20) == 0, loss -log softmax of the target
    n = correct = 0
    loss = 0.0
    p_right = math.exp(2.0) / (math.exp(2.0) + 19)
    p_wrong = 1 / (math.exp(2.0) + 19)
    for i in range(len(store)):
        length = int(store.lengths[i])
        hits = len(range(0, length, 20))
        n, correct = n + length, correct + hits
        loss += -hits * math.log(p_right) - (length - hits) * math.log(p_wrong)
    assert values["val_accuracy"] == correct / n
    assert values["val_loss"] == pytest.approx(loss / n, rel=1e-6)
    # not the mean of per-batch means (batches differ in size)
    batches = validation.plan.epoch(0)
    assert len({int(store.lengths[b].sum()) for b in batches}) > 1


def test_masked_lm_values_against_float64_recomputation(store: PackedProteins) -> None:
    torch.manual_seed(0)
    model = MaskedLMObjective(TinyMLM("esm"), MLMConfig.esm2()).eval()
    seen: list[ObjectiveOutput] = []

    def forward(batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        with torch.no_grad():
            out = model(batch, generator=generator)
        seen.append(out)
        return out

    crop = TruncateProtein(max_length=80, random=True)
    validation = ObjectiveValidation(store, crop, batch_size=2, max_tokens=None, seed=11)
    values = validation(forward)
    loss = correct = count = 0.0
    with torch.no_grad():
        for out in seen:
            labels = out.details["labels"]
            selected = labels != -100
            logits = model.model.token_logits(out.details["inputs"]).double()[selected]  # (M, V)
            loss += float(F.cross_entropy(logits, labels[selected], reduction="sum"))
            correct += float((logits.argmax(-1) == labels[selected]).sum())
            count += float(selected.sum())
    assert count > 50
    assert values["val_accuracy"] == correct / count
    assert values["val_loss"] == pytest.approx(loss / count, rel=1e-6)
    assert values["val_perplexity"] == pytest.approx(math.exp(loss / count), rel=1e-6)
    assert "val_num_selected" not in values
    # the same masks and crops at every evaluation
    assert validation(forward) == values


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_shares_add_up_to_one_process(store: PackedProteins, world: int) -> None:
    torch.manual_seed(0)
    model = MaskedLMObjective(TinyMLM("esm"), MLMConfig.esm2()).eval()

    def forward(batch: ProteinBatch, generator: torch.Generator | None = None) -> ObjectiveOutput:
        with torch.no_grad():
            return model(batch, generator=generator)

    validation = ObjectiveValidation(store, None, batch_size=2, max_tokens=None, seed=3)
    single = validation(forward)
    total = MetricSums()
    for rank in range(world):
        total.add(
            {k: (v[0], v[1]) for k, v in validation.local_sums(forward, "cpu", rank, world).sums.items()}
        )
    merged = total.means("val_")
    for key in ("val_loss", "val_accuracy"):
        assert merged[key] == pytest.approx(single[key], rel=1e-12)


def test_objective_sums_weights() -> None:
    t = torch.tensor
    mlm = ObjectiveOutput(t(1.5), {"loss": 1.5, "accuracy": 0.25, "num_selected": 4.0},
                          {"labels": t([[-100, 3, 4], [5, 6, -100]])})  # fmt: skip
    assert objective_sums(mlm, 2) == {"loss": (6.0, 4.0), "accuracy": (1.0, 4.0)}
    geometry = ObjectiveOutput(t(0.5), {"loss": 0.5, "accuracy": 1 / 3}, {"target": t([1, 2, 3])})
    assert objective_sums(geometry, 2) == {"loss": (1.5, 3.0), "accuracy": (1.0, 3.0)}
    contrast = ObjectiveOutput(t(2.0), {"loss": 2.0, "accuracy": 0.5}, {"keep_1": t([1])})
    assert objective_sums(contrast, 4) == {"loss": (8.0, 4.0), "accuracy": (2.0, 4.0)}
    nothing = ObjectiveOutput(t(0.0), {"loss": 0.0, "num_selected": 0.0}, {"labels": t([[-100]])})
    assert objective_sums(nothing, 1) == {"loss": (0.0, 0.0)}
    assert np.isnan(MetricSums().means().get("loss", float("nan")))
