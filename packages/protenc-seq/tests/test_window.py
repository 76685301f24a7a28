"""protenc_seq.window: a truncation past the encoder's window is refused when the encoder stops on long input."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from protdata.errors import ProtdataError
from protdata.transforms import ComposeConfig, GaussianNoiseConfig, TruncateProteinConfig
from protenc_seq import SequenceEncoderConfig, check_sequence_window
from protenc_seq.errors import SequenceWindowError

#: ESM-2 reads 1,024 tokens: 1,022 residues between <cls> and <eos> (fair-esm ``BatchConverter``).
WINDOW = 1022


def _crop(n: int) -> TruncateProteinConfig:
    return TruncateProteinConfig(max_length=n, random=True)


def test_a_crop_past_the_window_is_one_line_naming_key_window_and_fixes() -> None:
    seq = SequenceEncoderConfig(type="esm2", preset="esm2_t33_650M_UR50D")
    assert seq.on_long == "error"
    with pytest.raises(SequenceWindowError) as info:
        check_sequence_window(seq, _crop(1024))
    message = str(info.value)
    assert isinstance(info.value, ProtdataError) and "\n" not in message
    assert message.startswith(
        f"data.transform.max_length: 1024 residues exceed the esm2 encoder's window of {WINDOW} residues "
        f"({WINDOW + 2} tokens with <cls> / <eos>) and encoder.on_long is 'error'"
    )
    assert f"data.transform.max_length={WINDOW}" in message and "encoder.on_long=crop" in message


def test_crops_within_the_window_and_other_policies_pass() -> None:
    seq = SequenceEncoderConfig(type="saprot", preset="SaProt_650M_AF2")
    check_sequence_window(seq, _crop(WINDOW))
    check_sequence_window(seq, None)
    check_sequence_window(seq, GaussianNoiseConfig())  # no truncation: nothing to check
    for on_long in ("crop", "full"):
        check_sequence_window(seq.model_copy(update={"on_long": on_long}), _crop(2048))
    check_sequence_window(SimpleNamespace(type="gearnet"), _crop(2048))  # no sequence encoder


def test_a_fusion_names_its_sequence_section_and_composed_crops_count() -> None:
    fusion = SimpleNamespace(
        type="serial", sequence=SequenceEncoderConfig(type="saprot", preset="SaProt_650M_AF2")
    )
    crops = ComposeConfig(transforms=[GaussianNoiseConfig(), _crop(1500)])
    with pytest.raises(
        SequenceWindowError, match=r"^train\.crop\.max_length: 1500 residues exceed the saprot"
    ) as info:
        check_sequence_window(fusion, crops, "train.crop", encoder_key="model")
    assert "model.sequence.on_long is 'error'" in str(info.value)
