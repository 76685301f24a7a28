"""The 3Di alphabet: Foldseek's 20 states, their letters and the VQ-VAE centroids.

Sources (Foldseek commit d5b1d3d4, GPL-3.0; see ``NOTICE``):

* ``CENTROIDS``: ``lib/3di/structureto3di.h`` lines 18-39 (``Alphabet3Di::centroids``); the same 20 x 2 table
  is in biotite's ``biotite/structure/alphabet/encoder.py`` (``Encoder._CENTROIDS``, BSD-3).
* ``LETTERS``: the column order of ``data/mat3di.out`` (Foldseek's 3Di substitution matrix) line 4, used
  through ``mat.num2aa`` in ``structcreatedb.cpp``: state ``k`` is printed as ``LETTERS[k]``.
* ``INVALID_STATE``: ``Alphabet3Di::INVALID_STATE = 2`` ("assign invalid residues to coil state"), i.e. ``'D'``.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Letter of each 3Di state (state k -> LETTERS[k]).
LETTERS: str = "ACDEFGHIKLMNPQRSTVWY"
#: Number of 3Di states.
NUM_STATES: int = 20
#: State given to residues that cannot be encoded (ends, missing atoms, no partner); ``LETTERS[2] == "D"``.
INVALID_STATE: int = 2
INVALID_LETTER: str = LETTERS[INVALID_STATE]

#: (20, 2) centroids of the VQ-VAE embedding space, in state order (structureto3di.h:18-39).
CENTROIDS: tuple[tuple[float, float], ...] = (
    (-1.0729, -0.3600),
    (-0.1356, -1.8914),
    (0.4948, -0.4205),
    (-0.9874, 0.8128),
    (-1.6621, -0.4259),
    (2.1394, 0.0486),
    (1.5558, -0.1503),
    (2.9179, 1.1437),
    (-2.8814, 0.9956),
    (-1.1400, -2.0068),
    (3.2025, 1.7356),
    (1.7769, -1.3037),
    (0.6901, -1.2554),
    (-1.1061, -1.3397),
    (2.1495, -0.8030),
    (2.3060, -1.4988),
    (2.5522, 0.6046),
    (0.7786, -2.1660),
    (-2.3030, 0.3813),
    (1.0290, 0.8772),
)

_LETTER_CODES = torch.tensor(list(LETTERS.encode("ascii")), dtype=torch.uint8)


def states_to_strings(states: Tensor, lengths: Tensor | list[int]) -> list[str]:
    """Flat ``(N,)`` states of consecutive proteins -> one upper-case 3Di string per protein."""
    codes = _LETTER_CODES[states.detach().to("cpu", torch.long)].numpy().tobytes()
    out: list[str] = []
    start = 0
    for n in lengths.tolist() if isinstance(lengths, Tensor) else lengths:
        out.append(codes[start : start + n].decode("ascii"))
        start += n
    return out


def strings_to_states(tokens: str) -> Tensor:
    """A 3Di string (either case) -> ``(L,)`` int64 states; letters outside the alphabet raise ``ValueError``."""
    table = {c: i for i, c in enumerate(LETTERS)}
    try:
        return torch.tensor([table[c] for c in tokens.upper()], dtype=torch.long)
    except KeyError as err:
        raise ValueError(f"not a 3Di letter: {err.args[0]!r} (alphabet {LETTERS})") from None
