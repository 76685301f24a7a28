"""When FusionProt's structure layers run: the injection schedule, derived from the two encoders' depths.

FusionProt (``model/model.py``) hard-codes ``inject_step = 5`` ("sequence_layers / structure_layers") and runs
GearNet layer ``k`` after the ESM layer with 0-based index ``i`` whenever ``i > 0 and i % inject_step == 0``:
after ESM layers 5, 10, 15, 20, 25, 30 of ESM-2-650M (33 layers) for GearNet's 6 layers. That rule only works
for some depth pairs: when ``S`` divides ``n`` (30 ESM layers, 6 GearNet layers: ``5 · 6 = 30`` is past the last
index 29) GearNet's last layer never runs, and when ``(n mod S) - 1 ≥ ⌊n / S⌋`` it asks for more than ``S``
GearNet layers (11 and 4: after 2, 4, 6, 8 and 10).

Our rule, for ``n`` sequence layers and ``S`` structure layers (``1 ≤ S ≤ n - 1``)::

    step = inject_every or ⌊(n - 1) / S⌋          # ≥ 1
    structure layer k (k = 0 … S-1) runs after sequence layer (k + 1) · step   (0-based)

It always schedules exactly ``S`` structure layers, never after layer 0 (the token first passes one ESM layer,
as in the seed) and never past the last layer. ``⌊(n - 1) / S⌋ = ⌊n / S⌋`` whenever ``S`` does not divide ``n``,
so wherever the seed's rule schedules exactly ``S`` layers the two coincide (33 and 6 → 5, 10, …, 30).
"""

from __future__ import annotations

from protfusion.errors import FusionError


def injection_step(num_sequence_layers: int, num_structure_layers: int) -> int:
    """``⌊(n - 1) / S⌋``: sequence layers between two structure layers (FusionProt's ``inject_step``, 5 for 33/6)."""
    _check_depths(num_sequence_layers, num_structure_layers)
    return (num_sequence_layers - 1) // num_structure_layers


def injection_layers(
    num_sequence_layers: int, num_structure_layers: int, inject_every: int | None = None
) -> list[int]:
    """0-based sequence layers after which structure layers ``0 … S-1`` run (module docstring).

    Args:
        num_sequence_layers: ``n``, transformer blocks of the sequence encoder (33 for ESM-2-650M).
        num_structure_layers: ``S``, GearNet layers (6 in FusionProt).
        inject_every: Explicit step; default ``⌊(n - 1) / S⌋``.

    Raises:
        FusionError: ``S > n - 1`` or a step that would run a structure layer past the last sequence layer.
    """
    step = (
        inject_every
        if inject_every is not None
        else injection_step(num_sequence_layers, num_structure_layers)
    )
    _check_depths(num_sequence_layers, num_structure_layers)
    if step < 1:
        raise FusionError(f"inject_every must be >= 1, got {step}")
    last = step * num_structure_layers
    if last > num_sequence_layers - 1:
        raise FusionError(
            f"inject_every={step} runs structure layer {num_structure_layers} after sequence layer {last} (0-based), "
            f"but the sequence encoder has {num_sequence_layers} layers (0 … {num_sequence_layers - 1}); use "
            f"inject_every <= {(num_sequence_layers - 1) // num_structure_layers} or leave it unset"
        )
    return [(k + 1) * step for k in range(num_structure_layers)]


def _check_depths(num_sequence_layers: int, num_structure_layers: int) -> None:
    if num_structure_layers < 1:
        raise FusionError(f"the structure encoder needs at least one layer, got {num_structure_layers}")
    if num_structure_layers > num_sequence_layers - 1:
        raise FusionError(
            f"{num_structure_layers} structure layers cannot be interleaved with {num_sequence_layers} sequence "
            f"layers: each needs at least one sequence layer before it, and none runs after layer 0 (FusionProt); "
            f"use at most {num_sequence_layers - 1} structure layers or a deeper sequence encoder"
        )
