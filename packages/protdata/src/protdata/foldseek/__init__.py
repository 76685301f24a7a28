"""Foldseek's 3Di structural alphabet, reproduced exactly (batched; NumPy on the CPU, torch on GPUs).

``encode_3di(proteins)`` gives the strings ``foldseek createdb`` writes for the residues a reader yields
(use :func:`protdata.load_chains`, which follows Foldseek's residue and altloc rules). See
:mod:`protdata.foldseek.encoder` for the algorithm and the documented decisions (Cα-only chains, short chains).
"""

from protdata.foldseek.alphabet import CENTROIDS, INVALID_LETTER, INVALID_STATE, LETTERS, states_to_strings
from protdata.foldseek.encoder import (
    ThreeDiTrace,
    encode_3di,
    encode_3di_states,
    encode_backbone,
    with_3di,
    with_3di_or_skip,
)
from protdata.foldseek.network import EncoderNetwork, default_network, parse_kerasify
from protdata.foldseek.partners import find_partners, find_partners_bruteforce
from protdata.foldseek.partners_numpy import find_partners_numpy

__all__ = [
    "CENTROIDS",
    "INVALID_LETTER",
    "INVALID_STATE",
    "LETTERS",
    "EncoderNetwork",
    "ThreeDiTrace",
    "default_network",
    "encode_3di",
    "encode_3di_states",
    "encode_backbone",
    "find_partners",
    "find_partners_bruteforce",
    "find_partners_numpy",
    "parse_kerasify",
    "states_to_strings",
    "with_3di",
    "with_3di_or_skip",
]
