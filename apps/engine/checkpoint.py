"""Checkpoints: DeepSpeed checkpoints for exact resume, written atomically and verified before use; the full fp32
state dict of an engine for the export (:func:`consolidated_state_dict`; the export itself is
:func:`prottasks.export.export_model`: the model's ``save_pretrained``).

Layout of a run's ``checkpoints/``::

    latest                      # name of the newest complete checkpoint, replaced last
    step_0000100/
        mp_rank_00_model_states.pt, zero_pp_rank_*_optim_states.pt, …   # DeepSpeed (model, optimizer,
                                                                        #   scheduler, our trainer state)
        trainer_state.json      # step, data position, world size, ZeRO stage, parameter shapes
        manifest.json           # size + sha256 of every file above, written after them

A checkpoint is written into ``.tmp-step_…`` and renamed when complete; ``latest`` is updated after the rename,
so a run killed at any moment leaves either the previous checkpoint or the new one, never a partial one.
:func:`verify_checkpoint` checks the manifest (missing / truncated / corrupted file → :class:`CheckpointError`
naming it) and :func:`check_parameter_shapes` the model (wrong-size checkpoint → the parameter and both shapes)
before DeepSpeed reads anything.

DeepSpeed stores its files with ``torch.save`` (pickle). They are read here with ``weights_only=True`` and a short
allow-list of DeepSpeed's own state classes (:func:`restricted_torch_load`: torch's forced weights-only
loading and ``safe_globals``), never with full unpickling.

A ZeRO checkpoint written by ``W`` processes is loaded by a different number of processes through DeepSpeed's
universal checkpoint format (``deepspeed.checkpoint.ds_to_universal``), converted once next to the checkpoint.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import pickle
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.distributed import DistContext, environment
from engine.errors import CheckpointError, one_line
from engine.runs import LATEST, MANIFEST, STEP_DIR, TRAINER_STATE
from protdata.atomic import temp_dir, write_json_atomic, write_text_atomic
from protdata.distributed import barrier
from protdata.errors import ProtdataError
from protdata.file_manifest import verify_file_manifest, write_file_manifest
from prottasks.reporting import quiet_logger

FORMAT = "protstack-checkpoint"
_FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


# ----------------------------------------------------------------------------- restricted unpickling
def _deepspeed_safe_globals() -> list[Any]:
    """DeepSpeed state classes that its checkpoints pickle (loss scalers, ZeRO enums, fragment addresses)."""
    allowed: list[Any] = []
    for module, names in _DEEPSPEED_STATE_CLASSES.items():
        with contextlib.suppress(ImportError, AttributeError):
            found = importlib.import_module(module)
            allowed += [getattr(found, name) for name in names]
    return allowed


_DEEPSPEED_STATE_CLASSES = {
    "deepspeed.runtime.fp16.loss_scaler": ("LossScaler", "DynamicLossScaler", "LossScalerBase"),
    "deepspeed.runtime.zero.config": ("ZeroStageEnum",),
    "deepspeed.utils.tensor_fragment": ("fragment_address",),
}


@contextlib.contextmanager
def restricted_torch_load(where: str | os.PathLike[str] = "checkpoint") -> Iterator[None]:
    """Within the block, every ``torch.load`` (DeepSpeed's too, which asks for ``weights_only=False``) runs with
    ``weights_only=True`` (torch's ``TORCH_FORCE_WEIGHTS_ONLY_LOAD``) and DeepSpeed's state classes as
    ``torch.serialization.safe_globals``; a file that needs anything else is a :class:`CheckpointError` naming
    ``where``."""
    try:
        with (
            environment(_FORCE_WEIGHTS_ONLY, "1"),
            torch.serialization.safe_globals(_deepspeed_safe_globals()),
        ):
            yield
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL \S+", str(exc))
        reason = found[0] if found else one_line(str(exc))[:300]
        raise CheckpointError(f"{where}: cannot read checkpoint file ({reason})") from None


# ---------------------------------------------------------------------------------------- manifests
def parameter_shapes(model: nn.Module) -> dict[str, list[int]]:
    """Name -> shape of every parameter and buffer in ``model.state_dict()``."""
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def verify_checkpoint(step_dir: Path) -> dict[str, Any]:
    """Check every file against the manifest; return the trainer state.

    Raises:
        CheckpointError: no manifest, a missing / truncated / corrupted file, or an unreadable trainer state.
    """
    try:
        verify_file_manifest(step_dir, MANIFEST, FORMAT, what="checkpoint")
    except ProtdataError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        state = json.loads((step_dir / TRAINER_STATE).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{step_dir / TRAINER_STATE}: unreadable ({one_line(str(exc))})") from None
    state["path"] = str(step_dir)
    return state


def check_parameter_shapes(state: Mapping[str, Any], model: nn.Module, where: str) -> None:
    """Raise a :class:`CheckpointError` naming the first parameter whose name or shape differs."""
    saved: dict[str, list[int]] = state["parameters"]
    current = parameter_shapes(model)
    for name, shape in current.items():
        if name not in saved:
            raise CheckpointError(
                f"{where}: checkpoint has no parameter {name!r} (was it written for another model?)"
            )
        if list(saved[name]) != shape:
            raise CheckpointError(
                f"{where}: wrong-size checkpoint: {name} has shape {tuple(saved[name])} in the checkpoint but "
                f"{tuple(shape)} in the model built from the config"
            )
    extra = sorted(set(saved) - set(current))
    if extra:
        raise CheckpointError(f"{where}: checkpoint has parameters the model lacks, e.g. {extra[0]!r}")


# -------------------------------------------------------------------------------------------- saving
class CheckpointManager:
    """Saves and loads the resumable checkpoints of one run (``<run>/checkpoints``)."""

    def __init__(self, root: Path, dist: DistContext, keep: int = 2) -> None:
        self.root = Path(root)
        self.dist = dist
        self.keep = keep

    @staticmethod
    def tag(step: int) -> str:
        return f"step_{step:07d}"

    def save(self, engine: Any, step: int, trainer_state: dict[str, Any]) -> Path:
        """Write the checkpoint of ``step`` atomically (module docstring); returns its directory."""
        tag = self.tag(step)
        tmp_tag = f".tmp-{tag}"
        tmp, final = self.root / tmp_tag, self.root / tag
        if self.dist.is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        barrier()
        client_state = {"protstack": trainer_state, "universal_checkpoint_info": {}}
        with contextlib.redirect_stdout(io.StringIO()):
            engine.save_checkpoint(str(self.root), tag=tmp_tag, client_state=client_state, save_latest=False)
        barrier()
        if self.dist.is_main:
            write_json_atomic(tmp / TRAINER_STATE, trainer_state)
            write_file_manifest(tmp, MANIFEST, FORMAT, step=step)
            if final.exists():  # the same step saved again (e.g. after a resume): swap it out
                old = self.root / f".old-{tag}"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            write_text_atomic(self.root / LATEST, tag + "\n")
            self._prune(keep_tag=tag)
        barrier()
        return final

    def _prune(self, keep_tag: str) -> None:
        steps = sorted(p for p in self.root.glob("step_*") if p.is_dir() and STEP_DIR.fullmatch(p.name))
        for p in steps[: max(0, len(steps) - self.keep)]:
            if p.name != keep_tag:
                shutil.rmtree(p, ignore_errors=True)
                shutil.rmtree(p.with_name(p.name + ".universal"), ignore_errors=True)
        for p in self.root.glob(".tmp-step_*"):
            shutil.rmtree(p, ignore_errors=True)

    # ----------------------------------------------------------------------------------- loading
    def load(self, engine: Any, step_dir: Path, state: Mapping[str, Any]) -> None:
        """Load model, optimizer and scheduler (DeepSpeed) from ``step_dir``. No generator state: the trainer seeds
        every generator from ``(seed, micro-batch index)`` before each micro-batch (:mod:`engine.trainer`)."""
        load_dir, tag = self.loadable(step_dir, state)
        # DeepSpeed warns that no model-parallel unit was given when it reads a universal checkpoint; we use none
        with (
            restricted_torch_load(step_dir),
            contextlib.redirect_stdout(io.StringIO()),
            quiet_logger("DeepSpeed"),
        ):
            path, _ = engine.load_checkpoint(
                str(load_dir), tag=tag, load_optimizer_states=True, load_lr_scheduler_states=True
            )
        if path is None:
            raise CheckpointError(f"{step_dir}: DeepSpeed found no checkpoint to load")

    def loadable(self, step_dir: Path, state: Mapping[str, Any]) -> tuple[Path, str]:
        """``(load_dir, tag)`` to hand DeepSpeed: the checkpoint itself, or its universal conversion when it was
        written with ZeRO by a different number of processes."""
        if not needs_universal(state, self.dist.world_size):
            return step_dir.parent, step_dir.name
        out = step_dir.with_name(step_dir.name + ".universal")
        if self.dist.is_main and not (out / "done").is_file():
            convert_to_universal(step_dir, out)
        barrier()
        return out, step_dir.name


def needs_universal(state: Mapping[str, Any], world_size: int) -> bool:
    """True when a ZeRO (stage >= 1) checkpoint of another world size must be loaded via the universal format."""
    return int(state.get("zero_stage", 0)) > 0 and int(state.get("world_size", 1)) != world_size


def convert_to_universal(step_dir: Path, out: Path) -> None:
    """DeepSpeed's ``ds_to_universal`` on ``step_dir`` into ``out/<tag>`` (temp dir, then rename)."""
    from argparse import Namespace

    from deepspeed.checkpoint import ds_to_universal

    tmp = temp_dir(out.parent, prefix=f".{out.name}.")
    try:
        args = Namespace(
            input_folder=str(step_dir),
            output_folder=str(tmp / step_dir.name),
            num_extract_workers=1,
            num_merge_workers=1,
            keep_temp_folder=False,
            strict=True,
            inject_missing_state=False,
        )
        sink = io.StringIO()
        with (
            restricted_torch_load(step_dir),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            ds_to_universal.main(args)
        (tmp / "done").write_text("ok\n")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -------------------------------------------------------------------------------------------- export


def consolidated_state_dict(engine: Any) -> dict[str, torch.Tensor] | None:
    """The full model state dict on rank 0 (``None`` on the other ranks).

    In fp32 the module's own parameters are the weights. Under bf16 / fp16 the module holds a low-precision copy
    and the optimizer the fp32 master weights that training updates: those are exported
    (:func:`master_weights`), with the floating buffers in fp32, so an export of a bf16 run is not rounded to
    bf16. Under ZeRO-1/2/3 the master weights (ZeRO-3: the parameters too) are partitioned: every rank must call
    this.
    """
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if engine.bfloat16_enabled() or engine.fp16_enabled():
        masters = master_weights(engine)
        if rank != 0:
            return None
        return {k: v.detach().cpu().contiguous().clone() for k, v in masters.items()}
    if engine.zero_optimization_stage() == 3:
        state = engine._zero3_consolidated_16bit_state_dict()  # gathered on rank 0
    else:
        state = engine.module.state_dict()
    if rank != 0 or state is None:
        return None
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def master_weights(engine: Any) -> dict[str, torch.Tensor]:
    """``engine.module``'s state dict with every parameter taken from the optimizer's fp32 master copy (DeepSpeed's
    ``safe_get_full_fp32_param`` for ZeRO-1/2/3 and its BF16 optimizer — gathered over the ranks, so every rank
    must call it, in the same order; the fp32 groups of its FP16 optimizers without ZeRO) and floating buffers
    cast to fp32. Tied parameters appear under each of their names, like ``state_dict()``.

    Raises:
        CheckpointError: the optimizer keeps no fp32 copy of a parameter.
    """
    from deepspeed.utils import safe_get_full_fp32_param

    module = engine.module
    by_id: dict[int, torch.Tensor] = {}
    optimizer = engine.optimizer
    if engine.zero_optimization_stage() == 0 and hasattr(optimizer, "fp16_groups"):
        if hasattr(optimizer, "fp32_groups_flat"):  # FP16_Optimizer (fused): one flat fp32 tensor per group
            from torch._utils import _unflatten_dense_tensors

            for low, flat in zip(optimizer.fp16_groups, optimizer.fp32_groups_flat, strict=True):
                for p, hp in zip(low, _unflatten_dense_tensors(flat, low), strict=True):
                    by_id[id(p)] = hp
        else:  # FP16_UnfusedOptimizer: one fp32 tensor per parameter
            for low, high in zip(optimizer.fp16_groups, optimizer.fp32_groups, strict=True):
                for p, hp in zip(low, high, strict=True):
                    by_id[id(p)] = hp
    names = list(module.state_dict(keep_vars=True))
    params = dict(module.named_parameters(remove_duplicate=False))
    buffers = dict(module.named_buffers(remove_duplicate=False))
    out: dict[str, torch.Tensor] = {}
    for name, p in params.items():  # one collective per distinct parameter, in module order on every rank
        if id(p) not in by_id:
            hp = safe_get_full_fp32_param(p)
            if hp is None and not p.requires_grad and not hasattr(p, "ds_id"):
                hp = p.detach()  # frozen (a LoRA base weight): no master copy, its own value
            if hp is None:
                raise CheckpointError(f"{name}: the optimizer keeps no fp32 master copy of this parameter")
            by_id[id(p)] = hp
    for name in names:
        if name in params:
            out[name] = by_id[id(params[name])].float()
        else:
            b = buffers[name]
            out[name] = b.float() if b.is_floating_point() else b
    return out
