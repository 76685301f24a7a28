"""The shared engine of the protstack apps: configuration, process groups, data, the DeepSpeed training loop,
checkpoints and reporting. The apps (``apps/*.py``) parse a config, build components and hand them to
:class:`engine.trainer.Trainer`; they hold no model code.

Modules:

* :mod:`engine.config` — YAML + ``key=value`` overrides + pydantic validation naming bad keys; the engine's
  config sections (optimizer, scheduler, deepspeed, train, data).
* :mod:`engine.distributed` — one-process group under ``uv run``, the launcher's under ``torchrun`` /
  ``deepspeed``; gloo on CPU, nccl on GPU; no JIT-compiled DeepSpeed op on CPU.
* :mod:`engine.cache` — the preprocessed structure cache (parsed once, safetensors on disk).
* :mod:`engine.batching` — length-bucketed / token-budget micro-batches and each rank's share of them.
* :mod:`engine.data` — the dataset over the cache, its DataLoader (workers), ``prepare_training_data``.
* :mod:`engine.optim` — torch optimizer with learning-rate-ratio parameter groups; warm-up + decay schedules.
* :mod:`engine.trainer` — the loop (DeepSpeed ZeRO 0–3, bf16 on GPU, accumulation, clipping, exact resume).
* :mod:`engine.checkpoint` — atomic, verified DeepSpeed checkpoints; the export (a protstack model directory).
* :mod:`engine.reporting` — progress bar, metrics log, TensorBoard, curves PNG, summary line.
* :mod:`engine.app` — the apps' command-line skeleton: parsers, ``main()`` (error boundary, Ctrl-C), config and
  checkpoint resolution for ``--resume``, the run directory and the :class:`~engine.trainer.Trainer` of a run.
* :mod:`engine.errors` — the one-line errors apps print for bad input.
* :mod:`engine.files` — atomic writes; :mod:`engine.runs` — run directories.
* :mod:`engine.pretraining` — the pretraining app's config and components (encoder + objective).
* :mod:`engine.finetuning` — the fine-tuning app's config, task model and metrics; :mod:`engine.labels` (label
  sources), :mod:`engine.labelled` (labelled splits), :mod:`engine.validation` (evaluation, model selection),
  :mod:`engine.plateau` (ReduceLROnPlateau); :mod:`engine.prediction` — ``apps/predict.py``'s export loading,
  scoring, DAG-consistent GO scores and ranked tables.
* :mod:`engine.inference` — an encoder from a config section or a protstack export, FASTA / structure inputs,
  length-bucketed inference (``apps/embed.py``, ``apps/score.py``).

An app is ~100 lines: ``load_config`` → build the model → ``preflight`` (every check that can fail on bad input,
before anything is written) → ``setup_distributed`` → ``prepare_training_data`` → ``Trainer(...).fit()``; see
``apps/pretrain.py``.
"""

import warnings

# torch-geometric (imported by protenc-struct) still calls torch.jit.script, which torch 2.x deprecates with a
# FutureWarning on every import; it says nothing a user of the apps can act on.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
