"""The shared engine of the protstack apps: configuration, process groups, data, the DeepSpeed training loop,
checkpoints and reporting. The apps (``apps/*.py``) parse a config, build components and hand them to
:class:`engine.trainer.Trainer`; they hold no model code.

Modules (the library parts live in the packages: inputs, batching, the structure cache and data loading in
:mod:`protdata`; label tables, splits, metrics, optimizers and schedules in :mod:`prottasks`; pair files in
:mod:`protalign`; encoders in :mod:`protfusion`):

* :mod:`engine.config` — YAML + ``key=value`` overrides (:mod:`protdata.configfile`) and the engine's config
  sections (optimizer, scheduler, deepspeed, train, data).
* :mod:`engine.distributed` — :mod:`protdata.distributed`'s process group (one process under ``uv run``, the
  launcher's under ``torchrun`` / ``deepspeed`` / ``srun`` / ``mpirun``) + DeepSpeed's comm layer; gloo on CPU,
  nccl on GPU; no JIT-compiled DeepSpeed op on CPU.
* :mod:`engine.data` — the pretraining app's structure cache and micro-batch plan (:mod:`protdata.loading`).
* :mod:`engine.trainer` — the loop (DeepSpeed ZeRO 0–3, bf16 on GPU, accumulation, clipping, exact resume).
* :mod:`engine.checkpoint` — atomic, verified DeepSpeed checkpoints; the engine's fp32 state for the export
  (:func:`prottasks.export.export_model`: a protstack model directory).
* :mod:`engine.stopping` — finishing the step and checkpointing on SIGINT / SIGTERM / SIGUSR1.
* :mod:`engine.validation` — evaluation in the loop, model selection, torch's ``ReduceLROnPlateau``.
* :mod:`prottasks.reporting` — progress bar, metrics log, TensorBoard, curves PNG (the trainer wires it).
* :mod:`engine.app` — the apps' command-line skeleton: parsers, ``main()`` (error boundary, Ctrl-C), config and
  checkpoint resolution for ``--resume``, the run directory and the :class:`~engine.trainer.Trainer` of a run.
* :mod:`engine.errors` — the one-line errors apps print for bad input; :mod:`engine.notices` — skipped inputs;
  :mod:`engine.runs` — run directories.
* :mod:`engine.builders` — config paths with environment variables; encoders come from
  :func:`protfusion.build_encoder`.
* :mod:`engine.pretraining`, :mod:`engine.finetuning`, :mod:`engine.alignment` — each training app's config and
  the package calls that build its model and data; :mod:`engine.inference` — the encoder of ``apps/embed.py`` /
  ``apps/score.py`` (a config section or a protstack export).

An app is ~200 lines: ``load_config`` → build the model → ``preflight`` (every check that can fail on bad input,
before anything is written) → ``distributed`` → the packages' training data → ``Trainer(...).fit()``; see
``apps/pretrain.py``.
"""

import warnings

# torch-geometric (imported by protenc-struct) still calls torch.jit.script, which torch 2.x deprecates with a
# FutureWarning on every import; it says nothing a user of the apps can act on.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
