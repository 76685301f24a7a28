"""The exception protfusion raises when two encoders cannot be fused as asked."""

from __future__ import annotations


class FusionError(ValueError):
    """A fusion cannot be built from these encoders or this configuration (widths, encoder kinds, schedule).

    The message names the encoders, the widths or the configuration key involved and what would fix it.
    """
