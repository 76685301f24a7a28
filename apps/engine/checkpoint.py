"""Checkpoints: DeepSpeed checkpoints for exact resume, written atomically and verified before use; the final
export as a protstack model directory (:func:`export_model`: the model's ``save_pretrained``).

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
import hashlib
import importlib
import io
import json
import os
import pickle
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.distributed import DistContext, barrier, environment
from engine.errors import CheckpointError, one_line
from engine.reporting import quiet_logger
from engine.runs import LATEST, MANIFEST, STEP_DIR, TRAINER_STATE
from engine.runs import resolve_checkpoint as resolve_checkpoint  # torch-free, for --resume
from protdata.atomic import atomic_path, temp_dir, write_json_atomic, write_text_atomic

FORMAT = "protstack-checkpoint"
_FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
    manifest_path = step_dir / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(
            f"{step_dir}: incomplete checkpoint (no {MANIFEST}; was the run killed while saving?)"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{manifest_path}: unreadable manifest ({one_line(str(exc))})") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path}: not a protstack checkpoint manifest")
    for rel, meta in files.items():
        f = step_dir / rel
        if not f.is_file():
            raise CheckpointError(f"{f}: checkpoint file is missing")
        size = f.stat().st_size
        if size != meta["bytes"]:
            raise CheckpointError(
                f"{f}: corrupted checkpoint file ({size} bytes, the manifest says {meta['bytes']})"
            )
        if sha256_file(f) != meta["sha256"]:
            raise CheckpointError(f"{f}: corrupted checkpoint file (sha256 differs from the manifest)")
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
            files = {
                str(p.relative_to(tmp)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                for p in sorted(tmp.rglob("*"))
                if p.is_file()
            }
            write_json_atomic(tmp / MANIFEST, {"format": FORMAT, "step": step, "files": files})
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
    """The full model state dict on rank 0 (``None`` on the other ranks), in the module's training dtype.

    Under ZeRO-3 the parameters are gathered from every rank, so every rank must call this.
    """
    if engine.zero_optimization_stage() == 3:
        state = engine._zero3_consolidated_16bit_state_dict()  # gathered on rank 0
    else:
        state = engine.module.state_dict()
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if rank != 0 or state is None:
        return None
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def export_model(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    out_dir: Path,
    metadata: Mapping[str, Any],
    select: Callable[[nn.Module], nn.Module] | None = None,
) -> tuple[Path, Path]:
    """Save ``select(module)`` (default: ``module``, a :class:`protdata.pretrained.Pretrained` model) as a
    protstack model directory in ``out_dir`` — exactly its ``save_pretrained(out_dir, **metadata)`` — with the
    weights of ``state``, the consolidated state dict of ``module`` (:func:`consolidated_state_dict`).

    When ``select`` picks a part of ``module``, the other tensors of ``state`` (e.g. a pretraining objective's
    heads) go to ``objective.safetensors`` beside it. Under ZeRO-3 the live parameters are partitioned: a fresh copy of the model is built from its config and
    given ``state`` (only then), so every export holds the full weights. Returns ``(weights, config.json)``.

    The apps always export protstack models; a module that is not one (the trainer's generic use, e.g. a custom
    objective) gets ``state`` as ``model.safetensors`` and ``metadata`` as ``config.json`` (not loadable with
    ``load_pretrained``).
    """
    from protdata.pretrained import CONFIG_NAME, WEIGHTS_NAME, Pretrained, build_model

    target = module if select is None else select(module)
    if not isinstance(
        target, Pretrained
    ):  # the engine's generic use (any nn.Module): its weights, as they are
        return _export_state(state, out_dir, metadata)
    prefix = "" if target is module else next(n for n, m in module.named_modules() if m is target) + "."
    if any(hasattr(p, "ds_id") for p in target.parameters()):  # ZeRO-3: partitioned parameters
        target = build_model(target.config_dict())
        target.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    target.save_pretrained(out_dir, **dict(metadata))
    rest = {k: v.contiguous() for k, v in state.items() if not k.startswith(prefix)} if prefix else {}
    if rest:  # e.g. a pretraining objective's heads (init_from reads them back)
        from safetensors.torch import save_file

        from prottasks.objectives.pretraining import OBJECTIVE_WEIGHTS

        with atomic_path(out_dir / OBJECTIVE_WEIGHTS) as tmp:
            save_file(rest, str(tmp), metadata={"format": "protstack-objective"})
    return out_dir / WEIGHTS_NAME, out_dir / CONFIG_NAME


def _export_state(
    state: Mapping[str, torch.Tensor], out_dir: Path, metadata: Mapping[str, Any]
) -> tuple[Path, Path]:
    """``state`` as ``model.safetensors`` and ``metadata`` as ``config.json`` in ``out_dir`` (each atomically)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights, cfg = out_dir / "model.safetensors", out_dir / "config.json"
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    write_json_atomic(cfg, dict(metadata))
    return weights, cfg
