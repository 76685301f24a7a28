"""The exceptions protfusion raises when two encoders cannot be fused as asked, or an encoder config is invalid.

Both are :class:`protdata.errors.ProtdataError` subclasses (hence ``ValueError``), so ``except ProtdataError``
catches every bad-input error of the stack.
"""

from __future__ import annotations

from os import PathLike

from protdata.errors import ProtdataError


class FusionError(ProtdataError):
    """A fusion cannot be built from these encoders or this configuration (widths, encoder kinds, schedule).

    The message names the encoders, the widths or the configuration key involved and what would fix it. Raised
    with the message alone (``FusionError("...")``); ``source`` optionally names a file.
    """

    def __init__(self, reason: str, *, source: str | PathLike[str] | None = None) -> None:
        super().__init__(source, reason)
        if source is None:
            self.args = (reason,)  # the message is the reason alone (no "<input>:" prefix)


class EncoderConfigError(FusionError):
    """An encoder config section (:func:`protfusion.build_encoder`) has an unknown ``type``, an unknown key or a
    wrong value; the message names the key (``structure.hidden_dims``) and what is wrong."""
