"""Turn sequences (strings or a ``ProteinBatch``) into token ids, with a documented policy for bad input.

Policy (README "Input policy"):

* Upper-case one-letter codes only. Lower-case letters, ``*`` (stop), alignment gaps (``-``, ``.``),
  whitespace, digits and any other character are an :class:`InputSequenceError` naming the sequence (index and
  id), the 1-based position and the character -- never silently dropped or mapped.
* ``X`` is the unknown residue (ESM token ``X``; SaProt ``<unk>``, as SaProt's own tokenizer does).
* ``B``/``Z``/``U``/``O`` (ambiguous / rare residues): ``nonstandard="error"`` (default) raises;
  ``"x"`` reads them as ``X``; ``"keep"`` uses ESM-2's own ``B``/``Z``/``U``/``O`` tokens (what fair-esm's
  ``BatchConverter`` does; SaProt has no such tokens, so there ``"keep"`` means ``<unk>`` as in SaProt).
* Empty sequences raise.
* Longer than the model's window (``max_residues``, 1022 for ESM-2 and SaProt: 1024 tokens with BOS/EOS, the
  length ``esm-extract`` truncates to): ``on_long="error"`` (default) raises; ``"crop"`` keeps the first
  ``max_residues`` residues (as ``esm-extract`` and TorchDrug do) and warns, naming the cropped sequences;
  ``"full"`` runs the whole sequence (rotary positions have no hard limit, but the model never saw them in
  training) and warns; ``"window"`` runs overlapping windows of the model's length and averages each residue's
  features over the windows covering it (:mod:`protenc_seq.windows`: the encoders split a long protein before
  tokenising; scoring takes ProteinGym's window centred on each site), so the tokenizer itself never sees one.

Token arrays always carry ``<cls>`` first and ``<eos>`` last (fair-esm ``BatchConverter``,
facebookresearch/esm; SaProt likewise).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from protdata import Protein, ProteinBatch, saprot
from protenc_seq.alphabet import ESM_ALPHABET, Alphabet
from protenc_seq.errors import CroppedSequencesWarning, InputSequenceError, LongSequencesWarning

OnLong = Literal["error", "crop", "full", "window"]
NonStandard = Literal["error", "x", "keep"]
#: An SA input: a plain amino-acid string, an interleaved SA string (``"M#EvVp"``) or an ``(aa, 3Di)`` pair.
SequenceInput = str | tuple[str, str]

#: ESM-2 / SaProt context window in residues (1024 positions minus BOS and EOS).
DEFAULT_MAX_RESIDUES = 1022
_STANDARD = "ACDEFGHIKLMNPQRSTVWY"
_RARE = "BZUO"

_INVALID, _RARE_CODE = -1, -2
_ESM_LUT = np.full(256, _INVALID, dtype=np.int64)
for _c in _STANDARD + "X":
    _ESM_LUT[ord(_c)] = ESM_ALPHABET.tokens.index(_c)
for _c in _RARE:
    _ESM_LUT[ord(_c)] = _RARE_CODE
_X_ESM = ESM_ALPHABET.tokens.index("X")

# SaProt amino-acid slot: index into saprot.AA_VOCAB (20 = '#', masked); X -> unknown.
_UNKNOWN = -3
_SA_AA_LUT = np.full(256, _INVALID, dtype=np.int64)
for _i, _c in enumerate(saprot.AA_VOCAB):
    _SA_AA_LUT[ord(_c)] = _i
_SA_AA_LUT[ord("X")] = _UNKNOWN
for _c in _RARE:
    _SA_AA_LUT[ord(_c)] = _RARE_CODE
# SaProt 3Di slot: index into saprot.STRUCT_VOCAB ('#' = unknown structure).
_SA_STRUCT_LUT = np.full(256, _INVALID, dtype=np.int64)
for _i, _c in enumerate(saprot.STRUCT_VOCAB):
    _SA_STRUCT_LUT[ord(_c)] = _i


def _describe(ch: str) -> str:
    """Why ``ch`` is not an acceptable residue letter."""
    if ch == "*":
        return "stop codon '*' (remove it; sequences end at the last residue)"
    if ch in "-.":
        return f"alignment gap {ch!r} (remove gaps: encoders read ungapped sequences)"
    if ch.isspace():
        return f"whitespace {ch!r}"
    if ch.isalpha() and ch.islower():
        return f"lower-case letter {ch!r} (one-letter codes must be upper case; pass sequence.upper())"
    if ch in _RARE:
        return (
            f"non-standard residue {ch!r} (pass nonstandard='x' to read B/Z/U/O as X, or nonstandard='keep' "
            "for ESM-2's own tokens)"
        )
    return f"character {ch!r} (not an amino-acid code)"


class SequenceTokenizer:
    """Validated tokenisation for one alphabet (ESM-2's 33 tokens or SaProt's 446).

    Args:
        alphabet: The model's vocabulary.
        max_residues: Window in residues (``None``: unlimited).
        on_long: What to do with longer sequences: ``"error"``, ``"crop"``, ``"full"`` or ``"window"`` (module
            docstring).
        nonstandard: What to do with B/Z/U/O: ``"error"``, ``"x"`` or ``"keep"``.
        plddt_threshold: SaProt only: 3Di letters of residues with pLDDT below this become ``#`` (SaProt's
            ``plddt_threshold`` 70; ``None`` disables it). Only applies to ``ProteinBatch`` input with pLDDT.
    """

    def __init__(
        self,
        alphabet: Alphabet,
        *,
        max_residues: int | None = DEFAULT_MAX_RESIDUES,
        on_long: OnLong = "error",
        nonstandard: NonStandard = "error",
        plddt_threshold: float | None = saprot.DEFAULT_PLDDT_THRESHOLD,
    ) -> None:
        if on_long not in ("error", "crop", "full", "window"):
            raise ValueError(f"on_long must be 'error', 'crop', 'full' or 'window', not {on_long!r}")
        if nonstandard not in ("error", "x", "keep"):
            raise ValueError(f"nonstandard must be 'error', 'x' or 'keep', not {nonstandard!r}")
        self.alphabet = alphabet
        self.max_residues = max_residues
        self.on_long = on_long
        self.nonstandard = nonstandard
        self.plddt_threshold = plddt_threshold

    # ------------------------------------------------------------------ strings
    def encode(
        self, sequences: Sequence[SequenceInput], ids: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        """Token ids ``(L + 2,)`` int64 (``<cls>`` … ``<eos>``) for each input, in input order.

        ESM-2 takes amino-acid strings; SaProt also takes SA strings and ``(aa, 3Di)`` pairs (3Di in either
        case, ``#`` for unknown structure); a plain amino-acid string gets ``#`` for every 3Di letter.
        """
        if isinstance(sequences, str):
            raise TypeError("encode() takes a list of sequences, not a single string")
        if ids is not None and len(ids) != len(sequences):
            raise ValueError(f"{len(ids)} ids for {len(sequences)} sequences")
        out = []
        for index, seq in enumerate(sequences):
            name = f"sequence {index}" + (f" ({ids[index]!r})" if ids is not None else "")
            if self.alphabet.name == "esm":
                if not isinstance(seq, str):
                    raise InputSequenceError(
                        name, f"ESM-2 takes amino-acid strings, got {type(seq).__name__}"
                    )
                residues = self._esm_residue_ids(seq, name)
            else:
                residues = self._saprot_residue_ids(seq, name)
            out.append(residues)
        return self._finish(out, ids)

    def _esm_residue_ids(self, seq: str, name: str) -> np.ndarray:
        codes = _ascii_codes(seq, name)
        tokens = _ESM_LUT[codes]
        bad = tokens == _INVALID
        if self.nonstandard == "error":
            bad |= tokens == _RARE_CODE
        _raise_first_bad(seq, bad, name)
        rare = tokens == _RARE_CODE
        if rare.any():
            tokens = tokens.copy()
            if self.nonstandard == "x":
                tokens[rare] = _X_ESM
            else:  # keep: ESM's own B/Z/U/O tokens
                tokens[rare] = [ESM_ALPHABET.tokens.index(seq[i]) for i in np.flatnonzero(rare)]
        return tokens

    def _saprot_residue_ids(self, seq: SequenceInput, name: str) -> np.ndarray:
        if isinstance(seq, tuple):
            if len(seq) != 2 or not all(isinstance(s, str) for s in seq):
                raise InputSequenceError(name, "an SA pair must be (amino-acid string, 3Di string)")
            aa, struct = seq
            if len(aa) != len(struct):
                raise InputSequenceError(
                    name, f"amino-acid string has {len(aa)} letters but 3Di string has {len(struct)}"
                )
            struct = struct.lower()
        elif not isinstance(seq, str):
            raise InputSequenceError(
                name, f"expected a string or an (aa, 3Di) pair, got {type(seq).__name__}"
            )
        elif _looks_structure_aware(seq):  # interleaved SA string "M#EvVp…"
            if len(seq) % 2:
                raise InputSequenceError(
                    name, f"structure-aware string has odd length {len(seq)} (it must be aa/3Di pairs)"
                )
            aa, struct = seq[0::2], seq[1::2]
        else:  # plain amino-acid sequence: no structure
            aa, struct = seq, "#" * len(seq)
        aa_index = _SA_AA_LUT[_ascii_codes(aa, name)]
        bad = aa_index == _INVALID
        if self.nonstandard == "error":
            bad |= aa_index == _RARE_CODE
        hint = " (a structure-aware string alternates upper-case amino acids and lower-case 3Di letters)"
        _raise_first_bad(aa, bad, name, hint=hint if any(c.islower() for c in aa) else "")
        struct_index = _SA_STRUCT_LUT[_ascii_codes(struct, name)]
        bad_struct = struct_index == _INVALID
        if bad_struct.any():
            i = int(np.flatnonzero(bad_struct)[0])
            raise InputSequenceError(
                name,
                f"3Di letter {struct[i]!r} of residue {i + 1} is not a Foldseek 3Di state "
                f"({saprot.STRUCT_VOCAB[:-1]} or '#')",
            )
        known = aa_index >= 0
        return np.where(known, 5 + 21 * aa_index + struct_index, saprot.UNK_ID).astype(np.int64)

    # ------------------------------------------------------------ ProteinBatch
    def encode_batch(self, batch: ProteinBatch) -> list[np.ndarray]:
        """Token ids for every protein of ``batch``.

        Residues flagged in ``batch.residue_masked`` are hidden: ESM-2 gets ``<mask>``; SaProt gets ``#`` in the
        amino-acid slot with the 3Di letter kept (SaProt's MLM masking, westlake-repl/SaProt). SaProt reads
        ``structure_tokens`` (``#`` where absent or where pLDDT < ``plddt_threshold``).
        """
        offsets = batch.offsets.tolist()
        masked = batch.residue_masked.cpu().numpy()
        plddt = None if batch.plddt is None else batch.plddt.cpu().numpy()
        out = []
        for i, seq in enumerate(batch.sequences):
            sl = slice(offsets[i], offsets[i + 1])
            name = f"protein {i} ({batch.ids[i]!r})"
            if self.alphabet.name == "esm":
                residues = self._esm_residue_ids(seq, name)
                residues = np.where(masked[sl], self.alphabet.mask_id, residues)
            else:
                p_plddt = None if plddt is None else plddt[sl]
                if p_plddt is not None and np.isnan(p_plddt).all():
                    p_plddt = None
                protein = Protein(
                    id=batch.ids[i],
                    sequence=seq,
                    structure_tokens=batch.structure_tokens[i],
                    plddt=p_plddt,
                    residue_masked=masked[sl],
                )
                sa = saprot.structure_aware_sequence(
                    protein, plddt_threshold=self.plddt_threshold, mask_residues=True
                )
                residues = self._saprot_residue_ids(sa, name)
            out.append(residues)
        return self._finish(out, batch.ids, kind="protein")

    # ---------------------------------------------------------------- shared
    def _finish(
        self, residues: list[np.ndarray], ids: Sequence[str] | None, kind: str = "sequence"
    ) -> list[np.ndarray]:
        cropped, long = [], []
        out = []
        for index, r in enumerate(residues):
            name = f"{kind} {index}" + (f" ({ids[index]!r})" if ids is not None else "")
            if len(r) == 0:
                raise InputSequenceError(name, "empty sequence")
            if self.max_residues is not None and len(r) > self.max_residues:
                if self.on_long in ("error", "window"):  # window: split by the encoder before tokenising
                    raise InputSequenceError(
                        name,
                        f"{len(r)} residues exceed the model's window of {self.max_residues} "
                        "(pass on_long='window' for overlapping windows, 'crop' to keep the first residues, "
                        "or 'full' to run it anyway)",
                    )
                if self.on_long == "crop":
                    cropped.append(name)
                    r = r[: self.max_residues]
                else:
                    long.append(name)
            a = self.alphabet
            out.append(np.concatenate([[a.cls_id], r, [a.eos_id]]).astype(np.int64))
        if cropped:
            message = (
                f"cropped {len(cropped)} sequence(s) to their first {self.max_residues} residues: "
                + ", ".join(cropped[:10])
                + (" …" if len(cropped) > 10 else "")
            )
            warnings.warn(
                CroppedSequencesWarning(message, len(cropped), self.max_residues, cropped[:10]), stacklevel=3
            )
        if long:
            message = (
                f"{len(long)} sequence(s) are longer than the {self.max_residues}-residue training window and run "
                "in full: " + ", ".join(long[:10]) + (" …" if len(long) > 10 else "")
            )
            warnings.warn(
                LongSequencesWarning(message, len(long), self.max_residues, long[:10]), stacklevel=3
            )
        return out


def _ascii_codes(seq: str, name: str) -> np.ndarray:
    try:
        raw = seq.encode("ascii")
    except UnicodeEncodeError as err:
        raise InputSequenceError(
            name, f"non-ASCII character {seq[err.start]!r} at position {err.start + 1}"
        ) from None
    return np.frombuffer(raw, dtype=np.uint8)


def _looks_structure_aware(seq: str) -> bool:
    """An interleaved SA string: upper-case / ``#`` amino acids at even offsets, lower-case / ``#`` 3Di letters
    at odd offsets (an odd length is still reported as a malformed SA string)."""
    if not any(c.islower() or c == "#" for c in seq):
        return False
    return all(c.islower() or c == "#" for c in seq[1::2]) and not any(c.islower() for c in seq[0::2])


def _raise_first_bad(seq: str, bad: np.ndarray, name: str, hint: str = "") -> None:
    """Raise for the first ``bad`` position of ``seq`` (1-based residue position in the message)."""
    if not bad.any():
        return
    where = np.flatnonzero(bad)
    i = int(where[0])
    more = f" (and {len(where) - 1} more bad position(s))" if len(where) > 1 else ""
    raise InputSequenceError(name, f"{_describe(seq[i])} at position {i + 1}{more}{hint}")
