"""A run folder on disk: who may write it, its checkpoints, and how to find the one to load.

- :mod:`~gazeattn.runs.lock`: one writer per run folder (or output file), a lock naming its holder;
- :mod:`~gazeattn.runs.checkpoints`: checkpoints written atomically, verified by SHA-256 on load, and their
  lookup (a run folder, a checkpoint folder or a ``model.safetensors`` → the checkpoint to load).

Training writes run folders; evaluation, ``predict`` and studies read them: both import this package, so
inference never imports the trainer. Imports ``gazeattn.models`` (weights I/O) and ``gazeattn.utils`` only;
:mod:`~gazeattn.runs.lock` imports neither torch nor models.
"""
