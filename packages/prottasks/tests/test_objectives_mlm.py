"""MLM corruption and training: SaProt's 80 / 10 / 10 with ``#`` + 3Di (checked on the token *strings* of
protdata's vocabulary), ESM-2's ``<mask>``, ProtCLIP's 100 % mask, the redraw until one token is selected, the
rates (binomial bounds), and a falling loss on real structures with Foldseek 3Di tokens."""

from __future__ import annotations

import math

import pytest
import torch
from prottasks_tiny import ESM_LIKE_TOKENS, TinyMLM, learned, train_objective

from protdata import ProteinBatch, saprot
from protdata.foldseek import with_3di
from prottasks.errors import TaskInputError
from prottasks.objectives import MaskedLMObjective, MLMConfig, saprot_mask_tokens
from prottasks.objectives.mlm import IGNORE_INDEX, corrupt

pytestmark = pytest.mark.numerics


@pytest.fixture(scope="module")
def sa_batch(cropped_globins) -> ProteinBatch:
    return ProteinBatch.collate(with_3di(cropped_globins))


def _within(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_saprot_mask_token_keeps_the_3di_letter():
    ids = torch.arange(len(saprot.SPECIAL_TOKENS), saprot.VOCAB_SIZE)
    masked = saprot_mask_tokens(ids)
    for i, m in zip(ids.tolist(), masked.tolist()):
        assert saprot.TOKENS[m] == "#" + saprot.TOKENS[i][1]
    specials = torch.arange(len(saprot.SPECIAL_TOKENS))
    assert torch.equal(saprot_mask_tokens(specials), specials)


def test_saprot_corruption_rates_and_tokens(sa_batch):
    model = TinyMLM("saprot")
    tok = model.tokenize(sa_batch)
    tokens = tok.tokens.repeat(200, 1)  # many draws of the same sequences
    maskable = tok.maskable.repeat(200, 1)
    inputs, labels, action = corrupt(
        tokens, maskable, model.mask_tokens(tokens), model.random_token_ids(), MLMConfig.saprot(),
        torch.Generator().manual_seed(0),
    )  # fmt: skip
    selected = labels != IGNORE_INDEX
    n, k = int(maskable.sum()), int(selected.sum())
    assert not bool((selected & ~maskable).any())
    assert _within(k, n, 0.15)
    for code, p in ((0, 0.8), (1, 0.1), (2, 0.1)):
        assert _within(int((action == code).sum()), k, p)
    assert torch.equal(labels[selected], tokens[selected])
    assert torch.equal(inputs[~selected], tokens[~selected])
    kept = action == 2
    assert torch.equal(inputs[kept], tokens[kept])
    masked = (action == 0) & (tokens >= len(saprot.SPECIAL_TOKENS))  # <unk> (X residues) stays <unk>
    strings = [
        (saprot.TOKENS[a], saprot.TOKENS[b]) for a, b in zip(inputs[masked].tolist(), tokens[masked].tolist())
    ]
    assert all(m == "#" + t[1] for m, t in strings)  # amino acid hidden, 3Di letter kept
    random = inputs[action == 1]
    assert int(random.min()) >= 0 and int(random.max()) < saprot.VOCAB_SIZE
    assert len(set(random.tolist())) > 300  # drawn from the whole 446-token vocabulary


def test_every_sequence_gets_a_selected_token(cropped_globins):
    short = ProteinBatch.collate([p.select(slice(0, 2)) for p in cropped_globins] * 50)  # 2 residues each
    model = TinyMLM("saprot")
    tok = model.tokenize(short)
    _, labels, _ = corrupt(tok.tokens, tok.maskable, model.mask_tokens(tok.tokens), model.random_token_ids(),
                           MLMConfig.saprot(), torch.Generator().manual_seed(1))  # fmt: skip
    assert bool(((labels != IGNORE_INDEX).sum(1) >= 1).all())
    _, labels, _ = corrupt(tok.tokens, tok.maskable, model.mask_tokens(tok.tokens), model.random_token_ids(),
                           MLMConfig.esm2(), torch.Generator().manual_seed(1))  # fmt: skip
    assert bool(((labels != IGNORE_INDEX).sum(1) == 0).any())  # BERT / HF: no redraw


def test_esm_and_protclip_policies(sa_batch):
    model = TinyMLM("esm")
    tok = model.tokenize(sa_batch)
    tokens, maskable = tok.tokens.repeat(100, 1), tok.maskable.repeat(100, 1)
    mask_id = ESM_LIKE_TOKENS.index("<mask>")
    inputs, labels, action = corrupt(tokens, maskable, model.mask_tokens(tokens), model.random_token_ids(),
                                     MLMConfig.protclip(), torch.Generator().manual_seed(2))  # fmt: skip
    selected = labels != IGNORE_INDEX
    assert bool((inputs[selected] == mask_id).all()) and bool((action[selected] == 0).all())
    inputs, labels, action = corrupt(tokens, maskable, model.mask_tokens(tokens), model.random_token_ids(),
                                     MLMConfig.esm2(), torch.Generator().manual_seed(3))  # fmt: skip
    assert bool((inputs[action == 0] == mask_id).all())
    assert _within(int((action == 0).sum()), int((labels != IGNORE_INDEX).sum()), 0.8)


@pytest.mark.parametrize("vocab", ["saprot", "esm"])
def test_loss_finite_and_decreasing(sa_batch, vocab):
    torch.manual_seed(0)
    objective = MaskedLMObjective(TinyMLM(vocab), MLMConfig.saprot())
    losses, out = train_objective(objective, sa_batch, steps=30)
    assert learned(losses), losses
    assert out.metrics["num_selected"] >= len(sa_batch)
    if vocab == "saprot":  # 446-way: the first loss is about log(446) for an untrained model
        assert abs(losses[0] - math.log(saprot.VOCAB_SIZE)) < 1.0


def test_bad_model_and_config():
    with pytest.raises(TypeError, match="MaskedLanguageModel"):
        MaskedLMObjective(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="exceeds 1"):
        MLMConfig(mask_prob=0.8, random_prob=0.3)
    with pytest.raises(ValueError, match="mask_rat"):
        MLMConfig(mask_rat=0.1)


def test_sequence_without_maskable_token_is_an_error():
    tokens = torch.tensor([[0, 2, 1], [0, 10, 2]])
    maskable = torch.tensor([[False, False, False], [False, True, False]])
    with pytest.raises(TaskInputError, match="sequence 0"):
        corrupt(tokens, maskable, tokens, torch.arange(5), MLMConfig.saprot())
