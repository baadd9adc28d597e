"""`gazeattn bench speed`: what a training step, the data pipeline and inference cost (time, memory).

Run: ``gazeattn bench speed [--shape cpu reference] [--batch B] [--repeat N] [--variants ...] [--contention [STEPS]]
[--json]``; ``--quick`` is the few-second smoke run of the tests. Reports numbers, never pass/fail. One module per
part (``train_step``, ``before_after``, ``data``, ``inference``, ``contention``: the benchmark and its markdown
table), ``common`` for what they share, ``machine`` for the peak FLOP/s, ``cli`` for the command.

Four parts (``--parts``), and the contention runs:

* ``step`` (CPU only): the cpu preset's training step before and after the speed-ups of issue 16 (threads chosen
  from the usable cores, the diagnostics on the logged steps only, freed memory kept for reuse), each in fresh
  processes, interleaved, with the ratio and the achieved FLOP/s beside the machine's peak
  (:mod:`gazeattn.benchmarks.speed.before_after`; ``--step-variants``, ``--step-steps``).
* ``--contention [STEPS]``: ``gazeattn train --preset cpu`` alone and two runs at once, with today's defaults and
  the new ones (:mod:`gazeattn.benchmarks.speed.contention`).

* ``train``: one optimizer step of each model variant at each ``--shape`` -- ``cpu`` (the cpu preset: tiny RGB
  backbone, 24×80², batch 8) or ``reference`` (two-stream I3D, 24×224², batch 8; ``--batch`` overrides) --
  through the real training path: the preset's :class:`TrainConfig` with ``run.variant`` set to the variant,
  ``build_model(model_config(...))``, :class:`GazeObjective` with ``build_estimator``, SGD with the preset's
  momentum and weight decay, backward, grad-norm clipping, ``optimizer.step()``, and the engine's per-step
  lr and Gumbel generator. Inputs are random tensors of the right shapes with a fixed random one-hot gaze
  target (106 classes). ``copy-per-candidate`` is a gaze-direct step whose candidate losses are scored the
  reference's way: x5 copied for every candidate and ``model.classify`` run on the (B·147) stack
  (:func:`gazeattn.benchmarks.candidates.copy_losses`); the losses equal ``model.candidate_losses``'s, so the
  comparison is fair. ``direct_overhead_ratio`` = gaze-direct / i3d step time at the reference shape (the
  cpu shape when only that one ran), ``copy_per_candidate_overhead_ratio`` the same for the copying step.
* ``data``: clips/s of decode + sampling + augmentation + gaze targets from mp4 with 0 and N workers against
  bare PyAV decode of the same clips (:mod:`gazeattn.benchmarks.data_pipeline`, on a synthetic world written
  to a temporary folder, at the cpu preset's clip config), and the fraction of step time the training loop
  waits on data at the cpu preset: a DataLoader with the preset's workers and the engine's
  :class:`StepBatchSampler`, read through the engine's :class:`~gazeattn.train.prefetch.Prefetcher`, timing
  ``next(iterator)`` against the compute of the step; once with the preset's prefetch depth and once with
  none (batches unpickled in the loop, as a bare DataLoader does).
* ``inference``: latency and clips/s of ``gazeattn predict``'s model forward (backbone, gaze head, argmax
  gaze, attention map, classifier; RGB stream only, as ``predict`` supports) at batch 1 and 16: eager fp32,
  channels-last 3d, bf16 autocast, both, and ``torch.compile`` (compile time reported apart from the
  steady-state time; a failure is reported, not raised). ``max_abs_diff`` is the largest logit difference to
  eager fp32 on the same input.

Timing: ``--warmup`` untimed steps (default 1), then the median of ``--repeat`` timed calls (default 3 at the
reference shape, 5 at the cpu shape). The timed training steps of all variants are interleaved (variant A,
B, ..., then A, B, ... again) so a change in machine load hits every variant alike. On CUDA every timed call
is synchronised. ``threads`` is ``torch.get_num_threads()``; the load averages at start and end are reported
because other processes compete for the cores: on a busy 2-core machine two OpenMP threads can stall on each
other's barriers, which makes small kernels (batch-1 inference, the optimizer step) slow and bimodal;
``--threads 1`` shows whether that is happening.

Memory: on CPU torch has no peak-memory counter, so ``peak_mb`` is the peak of live tensor storage bytes
allocated during one (untimed) step, measured with
:class:`~gazeattn.benchmarks.candidates.PeakTensorMemory` (a ``TorchDispatchMode``): activations, gradients
and temporaries; parameters and existing optimizer state excluded (they are ``state_mb``); allocator slack,
the Python heap and BLAS/oneDNN scratch space are not counted. On CUDA ``peak_mb`` is
``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before it. ``max_rss_mb`` is
the process's resident-set high-water mark (``resource.getrusage``) at the end, everything included.
"""

from gazeattn.benchmarks.speed.cli import format_markdown, main, run

__all__ = ["format_markdown", "main", "run"]
