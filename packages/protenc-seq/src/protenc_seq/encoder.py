"""``ESM2Encoder`` / ``SaProtEncoder``: the protstack encoder contract on top of our ESM-2 module.

``forward(batch: ProteinBatch) -> EncoderOutput``: per-residue features of the final layer after
``emb_layer_norm_after`` without BOS/EOS, ``(B, L_max, D)`` with zero padding rows; the protein feature is their
mean over real residues (TorchDrug's ESM readout and SaProt's ``get_hidden_states(reduction="mean")``).

With ``cls_output`` the output also carries the final-layer ``<cls>`` embedding as ``extras["cls"]`` ``(B, D)``
(the ESM2 Function Caller / SaProt annotation head: Hugging Face ``EsmClassificationHead`` reads
``features[:, 0, :]``).

Both classes are :class:`protdata.pretrained.Pretrained` models (types ``esm2`` / ``saprot``): ``self.config`` is a
:class:`~protenc_seq.config.SequenceEncoderConfig` read from the live encoder, ``save_pretrained(directory)``
writes it with the weights, ``ESM2Encoder.from_pretrained(directory)`` reads it back.

Fine-tuning helpers follow the seeds: ``freeze()`` / ``unfreeze_last_k_layers(k)`` (ESM2 Function Caller
``--unfreeze_last_k_layers``, default 0 = frozen encoder) and :meth:`parameter_groups` with an encoder learning
rate ratio (ESM-GearNet ``sequence_model_lr_ratio: 0.1``, FusionProt ``0.08``) and optional layer-wise decay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from protdata import EncoderOutput, ProteinBatch, ProteinEncoder, masked_mean
from protdata.device import autocast_for, resolve_precision
from protdata.pretrained import CONFIG_NAME, FORMAT, Pretrained
from protenc_seq.config import SequenceEncoderConfig
from protenc_seq.esm2.attention import varlen_available
from protenc_seq.esm2.config import ESM2Config
from protenc_seq.esm2.model import ESM2
from protenc_seq.esm2.packing import PackedBatch, pack
from protenc_seq.tokenize import NonStandard, OnLong, SequenceTokenizer
from protenc_seq.windows import windowed_forward

Precision = Literal["auto", "fp32", "bf16"]


class ESM2Encoder(ProteinEncoder, Pretrained):
    """ESM-2 as a protstack encoder.

    Args:
        model: Our :class:`ESM2` (e.g. from :func:`protenc_seq.load_model`) or a config for a fresh one.
        on_long: Sequences longer than the window: ``"error"`` (default), ``"crop"``, ``"full"`` or ``"window"``
            (``tokenize.py``). With ``"crop"``, residues past the window get zero features and are left out of
            the protein mean; ``extras["covered"]`` marks the residues the model saw. With ``"window"``, overlapping
            windows of the model's length every ``window_stride`` residues (default half the window), each
            residue's features averaged over the windows covering it (:mod:`protenc_seq.windows`).
        nonstandard: B/Z/U/O letters in string input: ``"error"`` (default), ``"x"`` or ``"keep"``.
        precision: ``"auto"`` = bf16 autocast on CUDA, fp32 on the CPU (exact by default); ``"fp32"``;
            ``"bf16"`` = bf16 autocast on CUDA or the CPU (:meth:`autocast`).
        plddt_threshold: SaProt: 3Di letters of residues below this pLDDT become ``#``.
        cls_output: Also return the final-layer ``<cls>`` embedding as ``extras["cls"]`` ``(B, D)``.
        preset: The preset name ``model`` was built from (kept in :attr:`config` while the architecture still
            equals it; informational otherwise).
    """

    model_type = "esm2"
    config_class = SequenceEncoderConfig

    def __init__(
        self,
        model: ESM2 | ESM2Config,
        *,
        on_long: OnLong = "error",
        nonstandard: NonStandard = "error",
        precision: Precision = "auto",
        plddt_threshold: float | None = 70.0,
        cls_output: bool = False,
        preset: str | None = None,
        window_stride: int | None = None,
    ) -> None:
        super().__init__()
        self.window_stride = window_stride
        self.model = ESM2(model) if isinstance(model, ESM2Config) else model
        self.output_dim = self.model.config.embed_dim
        self.precision = precision
        self.cls_output = cls_output
        self.preset = preset
        self.tokenizer = SequenceTokenizer(
            self.model.alphabet,
            max_residues=self.model.config.max_residues,
            on_long=on_long,
            nonstandard=nonstandard,
            plddt_threshold=plddt_threshold,
        )

    # ------------------------------------------------------------ config / io
    @property
    def config(self) -> SequenceEncoderConfig:  # type: ignore[override]
        """The config this encoder rebuilds from (read from the live encoder; ``checkpoint`` is None)."""
        architecture = self.model.config
        preset = self.preset
        if preset is not None:
            try:
                same = ESM2Config.preset(preset) == architecture
            except KeyError:
                same = False
            preset = preset if same else None
        tok = self.tokenizer
        return SequenceEncoderConfig(
            type="saprot" if architecture.vocab == "saprot" else "esm2",
            preset=preset,
            architecture=None if preset is not None else architecture,
            on_long=tok.on_long,
            window_stride=self.window_stride,
            nonstandard=tok.nonstandard,
            precision=self.precision,
            plddt_threshold=tok.plddt_threshold,
            cls_output=self.cls_output,
        )

    @classmethod
    def from_config(cls, config: Any) -> ESM2Encoder:
        """The encoder of a :class:`SequenceEncoderConfig` (or mapping): random weights of its architecture, or
        its local ``checkpoint``. The class follows ``type`` (``saprot`` -> :class:`SaProtEncoder`)."""
        from protenc_seq.build import build_sequence_encoder

        encoder = build_sequence_encoder(cls.parse_config(config))
        if not isinstance(encoder, cls):
            raise TypeError(
                f"a {encoder.config.type!r} config builds a {type(encoder).__name__}, not a {cls.__name__}"
            )
        return encoder

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls, path: str | Path, *, map_location: str | torch.device = "cpu", **options: Any
    ) -> ESM2Encoder:
        """Load a saved protstack encoder directory (``save_pretrained``) or a local checkpoint (fair-esm ``.pt``,
        Hugging Face directory or our safetensors; ``options`` are then the encoder's keyword arguments)."""
        if is_protstack_directory(path):
            if options:
                raise TypeError(
                    f"{path}: a saved protstack encoder keeps its options in {CONFIG_NAME}; got {sorted(options)}"
                )
            return super().from_pretrained(path, map_location=map_location)
        from protenc_seq.loading.auto import load_model

        return cls(load_model(path), **options).to(map_location)

    @classmethod
    def from_preset(cls, name: str, **options: Any) -> ESM2Encoder:
        """A randomly initialised encoder of a published size (``"8M"`` … ``"15B"``, ``"SaProt_650M_AF2"``)."""
        return cls(ESM2Config.preset(name), **options)

    def encoder_layers(self) -> list[nn.Module]:
        """The transformer blocks (prottasks' ``LayeredEncoder`` protocol: layer-wise fine-tuning)."""
        return list(self.model.layers)

    # -------------------------------------------------------------- running
    @property
    def device(self) -> torch.device:
        return self.model.embed_tokens.weight.device

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """bf16 autocast for :attr:`precision` on this device (:func:`protdata.device.autocast_for`): ``"auto"``
        = bf16 on CUDA and fp32 on the CPU (exact); ``"bf16"`` = bf16 on CUDA and on the CPU (native AMX /
        AVX512-BF16 GEMMs where the CPU has them, a one-time warning where it has not); ``"fp32"`` = a no-op.

        On the CPU the linear layers run as bf16 oneDNN GEMMs on cached bf16 weights and attention as bf16 SDPA,
        while the residual stream, LayerNorms, rotary angles and the LM head's output stay fp32
        (``esm2/linear.py``)."""
        return autocast_for(self.device, self.precision)

    def uses_varlen(self) -> bool:
        """True when attention will use the padding-free CUDA varlen kernel."""
        if self.device.type != "cuda":
            return False
        bf16 = resolve_precision(self.device, self.precision) == "bf16"
        return bf16 and varlen_available() and self.model.attention_backend in ("auto", "varlen")

    def pack(self, token_arrays: list) -> tuple[PackedBatch, list[int]]:
        """Sort by length and pack for this device (see :func:`~protenc_seq.esm2.packing.pack`)."""
        return pack(token_arrays, self.device, varlen=self.uses_varlen())

    @property
    def attention_channels(self) -> int:
        """``layers × heads``: the attention maps :meth:`forward` returns with ``return_attentions``."""
        return self.model.config.num_layers * self.model.config.attention_heads

    def forward(
        self, batch: ProteinBatch, *, return_logits: bool = False, return_attentions: bool = False
    ) -> EncoderOutput:
        """Encode ``batch`` (``residue_masked`` residues are hidden: ``<mask>`` for ESM-2, ``#`` for SaProt).

        ``extras["logits"]`` ``(B, L_max, V)`` at residues when ``return_logits``; ``extras["cls"]`` ``(B, D)``
        the final-layer ``<cls>`` embedding when :attr:`cls_output`; ``extras["attentions"]``
        ``(B, layers × heads, L_max, L_max)`` float32 attention probabilities between residues (``<cls>`` /
        ``<eos>`` rows and columns dropped, zero on padding; what fair-esm's ``ContactPredictionHead`` reads) when
        ``return_attentions``.
        """
        tok = self.tokenizer
        if tok.on_long == "window" and tok.max_residues is not None and batch.max_length > tok.max_residues:
            if return_attentions:
                raise ValueError(
                    f"{batch.ids[0]}: attention maps of proteins longer than the {tok.max_residues}-residue "
                    "window are not available with on_long='window' (use crop)"
                )
            stride = self.window_stride or max(1, tok.max_residues // 2)
            return windowed_forward(
                lambda part: self.forward(part, return_logits=return_logits), batch, tok.max_residues, stride
            )
        tokens = self.tokenizer.encode_batch(batch)
        packed, order = self.pack(tokens)
        with self.autocast():
            out = self.model.forward_packed(
                packed, return_logits=return_logits, need_head_weights=return_attentions
            )
        rows = packed.residue_rows
        seen = [packed.lengths[j] - 2 for j in range(len(order))]  # residues the model saw, sorted order
        inverse = [0] * len(order)
        for j, i in enumerate(order):
            inverse[i] = j
        parts = torch.split(out.hidden[rows], seen)  # per sorted sequence (L_seen, D)
        logit_parts = (
            torch.split(out.logits[rows], seen) if return_logits and out.logits is not None else None
        )
        lengths = batch.lengths.tolist()
        b, length = len(batch), batch.max_length
        residue = out.hidden.new_zeros((b, length, self.output_dim))
        covered = torch.zeros((b, length), dtype=torch.bool, device=residue.device)
        logits = out.hidden.new_zeros((b, length, self.model.config.vocab_size)) if logit_parts else None
        for i in range(b):
            j = inverse[i]
            n = min(seen[j], lengths[i])
            residue[i, :n] = parts[j][:n]
            covered[i, :n] = True
            if logits is not None and logit_parts is not None:
                logits[i, :n] = logit_parts[j][:n]
        extras: dict[str, Tensor] = {}
        if self.cls_output:
            firsts = [part[0] for part in packed.split(out.hidden)]  # <cls> row of each sorted sequence
            extras["cls"] = torch.stack([firsts[inverse[i]] for i in range(b)])  # (B, D)
        if logits is not None:
            extras["logits"] = logits
        if return_attentions and out.attentions is not None:
            maps = out.attentions.new_zeros((b, self.attention_channels, length, length))  # (B, C, L, L)
            for i in range(b):
                j = inverse[i]
                n = min(seen[j], lengths[i])
                # sorted sequence j: <cls> at token 0, its residues at tokens 1 … seen[j]
                maps[i, :, :n, :n] = out.attentions[j, :, :, 1 : 1 + n, 1 : 1 + n].flatten(0, 1).float()
            extras["attentions"] = maps
        mask = batch.mask.to(residue.device)
        if not torch.equal(covered, mask):
            extras["covered"] = covered
        return EncoderOutput(residue=residue, protein=masked_mean(residue, covered), mask=mask, extras=extras)

    # ------------------------------------------------------------ fine-tuning
    def masked_lm(self) -> nn.Module:
        """This encoder as a masked language model (:class:`~protenc_seq.MaskedLMAdapter`: prottasks'
        ``MaskedLanguageModel`` protocol, whose parameters are this encoder's).

        Raises:
            ValueError: the model has no LM head (a Hugging Face ``EsmModel`` checkpoint).
        """
        from protenc_seq.mlm_adapter import MaskedLMAdapter

        return MaskedLMAdapter(self)

    def freeze(self) -> ESM2Encoder:
        """Freeze every parameter (ESM-GearNet ``lr_ratio 0`` / Function Caller default)."""
        for p in self.model.parameters():
            p.requires_grad_(False)
        return self

    def unfreeze(self) -> ESM2Encoder:
        for p in self.model.parameters():
            p.requires_grad_(True)
        return self

    def unfreeze_last_k_layers(self, k: int, *, final_norm: bool = False) -> ESM2Encoder:
        """Freeze everything, then unfreeze the last ``k`` transformer blocks (Function Caller
        ``--unfreeze_last_k_layers``, which unfreezes ``encoder.layer[-k:]`` only); ``final_norm`` also
        unfreezes ``emb_layer_norm_after``."""
        n = self.model.num_layers
        if not 0 <= k <= n:
            raise ValueError(f"k must be in 0..{n}, got {k}")
        self.freeze()
        for layer in self.model.layers[n - k :]:
            for p in layer.parameters():
                p.requires_grad_(True)
        if final_norm and k > 0:
            for p in self.model.emb_layer_norm_after.parameters():
                p.requires_grad_(True)
        return self

    def layer_of(self, name: str) -> int:
        """Depth of parameter ``name`` of :attr:`model`: 0 = embeddings, 1 … L = blocks, L + 1 = heads / final norm."""
        if name.startswith("embed_tokens."):
            return 0
        if name.startswith("layers."):
            return int(name.split(".")[1]) + 1
        return self.model.num_layers + 1

    def parameter_groups(
        self,
        lr: float,
        *,
        lr_ratio: float = 1.0,
        layer_decay: float = 1.0,
        weight_decay: float = 0.0,
        no_decay_norm_and_bias: bool = True,
    ) -> list[dict[str, Any]]:
        """Optimizer parameter groups for the trainable encoder parameters.

        Every encoder parameter gets ``lr · lr_ratio`` (ESM-GearNet's ``sequence_model_lr_ratio`` 0.1, FusionProt
        0.08: the task head keeps ``lr``), times ``layer_decay ** (L + 1 - depth)`` for layer-wise decay
        (``layer_decay=1`` disables it). With ``no_decay_norm_and_bias`` LayerNorm weights and biases get no
        weight decay (SaProt's AdamW setting).
        """
        groups: dict[tuple[float, float], list[nn.Parameter]] = {}
        top = self.model.num_layers + 1
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            scale = lr_ratio * layer_decay ** (top - self.layer_of(name))
            decay = 0.0 if no_decay_norm_and_bias and (p.ndim < 2) else weight_decay
            groups.setdefault((lr * scale, decay), []).append(p)
        return [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in groups.items()]


class SaProtEncoder(ESM2Encoder):
    """SaProt: the ESM-2 network over the 446-token structure-aware vocabulary (Su et al., ICLR 2024;
    westlake-repl/SaProt).

    Proteins with ``structure_tokens`` (Foldseek 3Di) get ``aa + 3di`` tokens, ``#`` where the structure is
    unknown or pLDDT < ``plddt_threshold`` (70, SaProt's default); sequence-only proteins get ``#`` everywhere
    (amino-acid-only input, SaProt issue #66).
    """

    model_type = "saprot"

    def __init__(self, model: ESM2 | ESM2Config, **options: Any) -> None:
        super().__init__(model, **options)
        if self.model.config.vocab != "saprot":
            raise ValueError("SaProtEncoder needs a model with the 446-token SaProt vocabulary")


def encoder_for(model: ESM2, **options: Any) -> ESM2Encoder:
    """The encoder class matching ``model``'s vocabulary (an ESM C network: :class:`~protenc_seq.esmc.ESMCEncoder`)."""
    if model.config.vocab == "esmc":
        from protenc_seq.esmc.encoder import ESMCEncoder

        return ESMCEncoder(model, **options)  # type: ignore[arg-type]
    cls = SaProtEncoder if model.config.vocab == "saprot" else ESM2Encoder
    return cls(model, **options)


def is_protstack_directory(path: str | Path) -> bool:
    """True when ``path`` is a saved protstack model directory (its ``config.json`` says ``"format": "protstack"``),
    not a Hugging Face directory or a checkpoint file."""
    import json

    config = Path(path) / CONFIG_NAME
    if not config.is_file():
        return False
    try:
        header = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(header, dict) and header.get("format") == FORMAT


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in eval mode and restore its previous mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)
