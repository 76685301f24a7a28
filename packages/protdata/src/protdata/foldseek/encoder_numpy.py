"""The CPU path of Foldseek's 3Di encoder: the steps of :mod:`protdata.foldseek.encoder` on NumPy arrays.

Same computation, same operation order and the same bits as the torch path (Foldseek ``lib/3di/
structureto3di.cpp``, ``StructureTo3Di::structure2states``; see :mod:`.encoder` for the steps and decisions): the
geometry, descriptor and network functions are shared (they take either array type); only the flat bookkeeping
and the partner search (:mod:`.partners_numpy`) are written for NumPy here. On the CPU this path is faster than
torch for this workload: every array is small (one value per residue or per residue pair), so torch's per-call
dispatch and its OpenMP parallel regions (which stall when the cores are shared) cost more than the arithmetic;
NumPy runs every kernel on the calling thread. ``threads`` > 1 (opt-in) splits a large batch into groups of
whole proteins on worker threads: NumPy releases the GIL in its kernels, so that helps only where the cores are
idle (measured on 2 shared cores: slower than one thread while another process keeps one core busy).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from protdata.constants import ATOM_C, ATOM_CA, ATOM_CB, ATOM_N, ATOM_NAMES
from protdata.errors import InvalidCoordinatesError, MissingAtomsError
from protdata.foldseek import partners
from protdata.foldseek.alphabet import INVALID_STATE
from protdata.foldseek.features import NUM_FEATURES, gate, pair_features, take_rows
from protdata.foldseek.geometry import ideal_cb, virtual_center
from protdata.foldseek.network import EncoderNetwork, discretize
from protdata.foldseek.partners_numpy import find_partners_numpy


def encode_numpy(
    coords: np.ndarray,
    atom_mask: np.ndarray,
    lengths: np.ndarray,
    network: EncoderNetwork,
    cell_size: float,
    *,
    keep_trace: bool,
    threads: int = 1,
) -> np.ndarray | dict[str, np.ndarray]:
    """States ``(N,)`` int64 of flat backbone arrays (``(N, 5, 3)`` float, ``(N, 5)`` bool, ``(B,)`` int), or
    with ``keep_trace`` every intermediate, keyed as the fields of :class:`~.encoder.ThreeDiTrace`.

    ``threads`` > 1 encodes that many consecutive groups of whole proteins (about equal residue counts) on
    worker threads (states only; proteins are independent, so the result is the same). NumPy releases the GIL
    inside its kernels, so this only helps when that many cores are free: see :func:`split_for_threads`."""
    lengths = np.asarray(lengths, dtype=np.int64)
    parts = split_for_threads(lengths, threads) if not keep_trace else []
    if len(parts) > 1:
        return _encode_threaded(coords, atom_mask, lengths, network, cell_size, parts)
    with np.errstate(all="ignore"):  # NaN for missing atoms propagates as in Foldseek's C++
        return _encode(coords, atom_mask, lengths, network, cell_size, keep_trace)


#: Batches with fewer residues than this are never split across threads (per-call overhead dominates).
THREAD_MIN_RESIDUES: int = 4096


def split_for_threads(lengths: np.ndarray, threads: int) -> list[tuple[int, int]]:
    """Protein ranges ``[(b0, b1), …]`` of about equal residue counts, one per thread (at most ``threads``);
    a single range when the batch is small (``THREAD_MIN_RESIDUES``) or has one protein."""
    total = int(lengths.sum())
    if threads <= 1 or lengths.size < 2 or total < THREAD_MIN_RESIDUES:
        return [(0, int(lengths.size))]
    ends = np.cumsum(lengths)
    cuts = np.searchsorted(ends, total * np.arange(1, threads) / threads, side="left") + 1  # (threads-1,)
    bounds = sorted({0, int(lengths.size), *(int(c) for c in cuts if 0 < c < lengths.size)})
    return list(itertools.pairwise(bounds))


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads (created once per size; idle threads cost nothing)."""
    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="protdata-3di")
        return _POOLS[workers]


def _encode_threaded(
    coords: np.ndarray,
    atom_mask: np.ndarray,
    lengths: np.ndarray,
    network: EncoderNetwork,
    cell_size: float,
    parts: list[tuple[int, int]],
) -> np.ndarray:
    ends = np.concatenate([[0], np.cumsum(lengths)])

    def run(b0: int, b1: int) -> np.ndarray:
        r0, r1 = int(ends[b0]), int(ends[b1])
        with np.errstate(all="ignore"):  # (per thread)
            return _encode(coords[r0:r1], atom_mask[r0:r1], lengths[b0:b1], network, cell_size, False)

    pool = _pool(len(parts) - 1)
    futures = [pool.submit(run, b0, b1) for b0, b1 in parts[1:]]
    first = run(*parts[0])  # the calling thread takes the first part
    return np.concatenate([first, *(f.result() for f in futures)])


def _encode(
    coords: np.ndarray,
    atom_mask: np.ndarray,
    lengths: np.ndarray,
    network: EncoderNetwork,
    cell_size: float,
    keep_trace: bool,
) -> np.ndarray | dict[str, np.ndarray]:
    n_res = coords.shape[0]
    batch = np.repeat(np.arange(lengths.size), lengths)  # (N,)
    offsets = np.cumsum(lengths) - lengths  # (B,)
    position = np.arange(n_res) - offsets[batch]  # (N,)
    interior = (position > 0) & (position < lengths[batch] - 1)  # positions 1 … L-2

    xyz = np.empty((coords.shape[1], 3, n_res))  # (5, 3, N) float64: one widening copy of every atom
    np.copyto(xyz, coords.transpose(1, 2, 0))

    def atom(k: int) -> np.ndarray:  # (N, 3) float64 column-major, NaN where the atom is absent
        x = xyz[k].T
        if k != ATOM_CB:  # (rows without CB are all rebuilt below)
            absent = np.flatnonzero(~atom_mask[:, k])
            if absent.size:
                x[absent] = np.nan
        return x

    n, ca, c, cb = atom(ATOM_N), atom(ATOM_CA), atom(ATOM_C), atom(ATOM_CB)
    no_cb = np.flatnonzero(~atom_mask[:, ATOM_CB])  # glycines and residues with a missing CB
    if no_cb.size:
        cb[no_cb] = ideal_cb(take_rows(ca, no_cb), take_rows(n, no_cb), take_rows(c, no_cb))
    vc = virtual_center(ca, cb, n)  # (N, 3)
    valid = atom_mask[:, ATOM_N] & atom_mask[:, ATOM_CA] & atom_mask[:, ATOM_C]

    partner = find_partners_numpy(
        vc, valid & interior, interior, batch, cell_size=cell_size, chunk_pairs=partners._CHUNK_PAIRS
    )  # (N,) flat index or -1
    valid = valid & (~interior | (partner >= 0))

    i = np.flatnonzero(interior & (partner >= 0))  # (M,)
    j = partner[i]
    passed = np.flatnonzero(gate(valid, i, j))  # (M',)
    i, j = i[passed], j[passed]
    feats = pair_features(ca, i, j)  # (M, 10) float64
    emb = network(feats.astype(np.float32))  # (M, 2) float32
    states = np.full(n_res, INVALID_STATE, dtype=np.int64)
    states[i] = discretize(emb)
    if not keep_trace:
        return states
    encoded = np.zeros(n_res, dtype=bool)
    encoded[i] = True
    features = np.full((n_res, NUM_FEATURES), np.nan)
    features[i] = feats
    embedding = np.full((n_res, 2), np.nan, dtype=np.float32)
    embedding[i] = emb
    partner_pos = np.where(partner >= 0, partner - offsets[batch], partner)
    return {
        "virtual_center": vc,
        "valid": valid,
        "partner": partner_pos,
        "encoded": encoded,
        "features": features,
        "embedding": embedding,
        "states": states,
    }


def check_backbone_numpy(
    coords: np.ndarray, atom_mask: np.ndarray, lengths: np.ndarray, ids: Sequence[str], *, ca_only: str
) -> None:
    """Raise a clear error for input Foldseek's encoder cannot take (see :func:`.encoder.encode_3di_states`)."""
    if ca_only not in ("raise", "encode"):
        raise ValueError(f"ca_only must be 'raise' or 'encode', not {ca_only!r}")
    n_res = coords.shape[0]
    if n_res == 0:
        return
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths

    def locate(flat: int) -> tuple[int, int]:  # (protein, position)
        b = int(np.searchsorted(starts, flat, side="right")) - 1  # the last of equal starts is non-empty
        return b, flat - int(starts[b])

    def where(flat: int) -> str:
        b, pos = locate(flat)
        return f"{ids[b]}: residue {pos + 1} (position {pos})"

    no_ca = np.flatnonzero(~atom_mask[:, ATOM_CA])
    if no_ca.size:
        k = int(no_ca[0])
        raise MissingAtomsError(ids[locate(k)[0]], f"{where(k)} has no CA atom ({no_ca.size} such residues)")
    total = coords[:, :, 0] + coords[:, :, 1]
    total += coords[:, :, 2]
    suspect = ~np.isfinite(total) & atom_mask  # (N, 5) NaN/inf in a present atom, or a (rare) overflow
    if suspect.any():
        bad = ~np.isfinite(coords).all(axis=2) & atom_mask  # (N, 5) a present atom with NaN/inf coordinates
        if bad.any():
            k, a = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidCoordinatesError(
                ids[locate(k)[0]], f"{where(k)}: atom {ATOM_NAMES[a]} has non-finite coordinates"
            )
    if ca_only == "raise":
        lacks_nc = ~atom_mask[:, ATOM_N] & ~atom_mask[:, ATOM_C]  # (N,)
        first4 = np.flatnonzero(lacks_nc)
        if first4.size:
            batch = np.repeat(np.arange(lengths.size), lengths)
            first4 = first4[first4 - starts[batch[first4]] < 4]
            count = np.bincount(batch[first4], minlength=lengths.size)
            flagged = np.flatnonzero((count == 4) & (lengths >= 4)).tolist()
            if flagged:
                names = ", ".join(ids[b] for b in flagged[:5]) + (" …" if len(flagged) > 5 else "")
                raise MissingAtomsError(
                    ids[flagged[0]],
                    f"Cα-only chain ({len(flagged)} in batch: {names}): its first four residues lack both N "
                    "and C, so Foldseek would rebuild N and C with PULCHRA, which protdata does not reproduce; "
                    "pass ca_only='encode' to encode the atoms as given (residues without N or C become 'D')",
                )
