"""Check a data crop against a sequence encoder's window before anything runs (issue 11).

ESM-2 / SaProt read at most ``max_residues`` residues (1,022: 1,024 tokens with ``<cls>`` / ``<eos>``); with
``on_long: error`` a longer protein is an error. A truncation past the window lets such proteins through and would
stop a run at the first long one, so :func:`check_sequence_window` refuses the combination up front.
"""

from __future__ import annotations

from typing import Any

from protenc_seq.config import SequenceEncoderConfig
from protenc_seq.errors import SequenceWindowError

__all__ = ["check_sequence_window"]


def check_sequence_window(
    config: Any, transform: Any, key: str = "data.transform", *, encoder_key: str = "encoder"
) -> None:
    """Reject a truncation longer than the sequence encoder's window when that encoder stops on long proteins.

    Args:
        config: A :class:`SequenceEncoderConfig`, or a config holding one as ``sequence`` (a fusion); any other
            config passes.
        transform: A protdata transform config (or ``None``); its truncation (``inference_transform``) is checked.
        key: The config key of ``transform``, for the message.
        encoder_key: The config key of ``config``, for the message.

    Raises:
        SequenceWindowError: naming ``<key>.max_length``, the window and the fixes (one line).
    """
    from protdata.transforms import inference_transform

    seq = config if isinstance(config, SequenceEncoderConfig) else getattr(config, "sequence", None)
    if not isinstance(seq, SequenceEncoderConfig) or seq.on_long != "error":
        return
    window = seq.resolved_architecture().max_residues
    truncate = inference_transform(transform) if transform is not None else None
    if window is None or truncate is None or truncate.max_length <= window:
        return
    at = encoder_key if seq is config else f"{encoder_key}.sequence"
    raise SequenceWindowError(
        f"{key}.max_length",
        f"{truncate.max_length} residues exceed the {seq.type} encoder's window of {window} residues "
        f"({window + 2} tokens with <cls> / <eos>) and {at}.on_long is 'error'; set {key}.max_length={window}, "
        f"or {at}.on_long=crop (keep the first {window}), window (overlapping windows, features averaged) or full",
    )
