"""The training loop: :func:`setup` (data, model, optimizer, resume, torchrun) → :func:`train_step` (forward,
non-finite check, backward, clip, update) → bookkeeping at the due steps (log record, checkpoint, evaluation;
:mod:`gazeattn.train.bookkeeping`). :func:`train` is the loop that joins them.

Everything random is a function of (seed, step, rank) or restored from the checkpoint (the global torch RNG
that drives dropout), so ``--resume`` after a kill reaches the same weights as an uninterrupted run on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from gazeattn.data.annotations import SplitEntry
from gazeattn.data.dataset import EgteaClips, collate_clips
from gazeattn.data.gaze_budget import gaze_budget
from gazeattn.data.source import ClipCatalog, open_dataset
from gazeattn.utils.errors import DataError
from gazeattn.models import GazeAttentionModel, build_model
from gazeattn.train import distributed
from gazeattn.utils.atomic import write_text_atomic
from gazeattn.utils.provenance import code_text, provenance
from gazeattn.runs.lock import OutputLock, acquire as acquire_lock, LOCK_NAME
from gazeattn.runs.checkpoints import (LoadedCheckpoint, checkpoint_root, load_latest, list_checkpoints,
                                      save_checkpoint)
from gazeattn.runs.provenance import append_provenance
from gazeattn.train.bookkeeping import MetricsWindow, ProgressBar, RunLog, eval_record, report_skips
from gazeattn.train.config import TrainConfig, from_dict
from gazeattn.train.evaluate import evaluate
from gazeattn.train.objective import GazeObjective
from gazeattn.train.malloc import reuse_freed_memory
from gazeattn.train.optim import build_optimizer, set_learning_rate
from gazeattn.train.parallelism import Parallelism, parallelism_of
from gazeattn.train.precision import Precision, resolve as resolve_precision
from gazeattn.train.prefetch import Prefetcher
from gazeattn.train.sampler import GazeRichBatchSampler, train_sampler
from gazeattn.train.schedules import learning_rate
from gazeattn.train.shared_memory import shared_memory_warning
from gazeattn.train.splits import RunSplits, read_run_splits
from gazeattn.train.variants import build_estimator, model_config

log = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    """Training stops: a non-finite loss, or weights that became non-finite (never saved as a checkpoint)."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    eval: dict[str, dict[str, Any]] | None  # the end-of-run evaluation of each part (TrainConfig.eval_parts)
    seconds: float


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          evaluate_at_end: bool = False) -> TrainResult:
    """Train ``config`` into ``run_dir`` (``resume``: from its newest good checkpoint)."""
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    try:
        device = distributed.pick_device(config.run.device, int(os.environ.get("LOCAL_RANK", "0")))
    except ValueError as err:
        raise ValueError(f"run.device: {err}") from None
    dist = distributed.setup(device)
    torch.set_num_threads(parallelism_of(config).threads)  # before the model is built, as the loop will run
    lock: OutputLock | None = None
    try:
        lock = _lock_run_folder(run_dir, dist)  # one writer per run folder: before anything is read or written
        run = setup(config, run_dir, resume=resume, device=device, dist=dist)
        _apply_cpu_settings(run)
        cfg, total, step = config.run, config.run.steps, run.start_step
        bar = ProgressBar(progress and dist.is_main, total=total, initial=step, desc=config.run.variant)
        window, steps_without_clips = MetricsWindow(), 0
        run.model.train()
        # Batches are received from the workers on a thread, ahead of the loop (gazeattn.train.prefetch).
        with Prefetcher(run.loader, depth=config.data.prefetch if run.parallel.workers else 0) as batches:
            t_ready = time.perf_counter()
            for batch in batches:
                data_wait = time.perf_counter() - t_ready  # the previous batch was released before t_ready
                lr = learning_rate(step, config)
                set_learning_rate(run.optimizer, lr)
                if batch is None:  # every clip of this batch was skipped as unreadable: no update, same bookkeeping
                    steps_without_clips += 1
                    window.add_step_without_clips()
                else:
                    terms, grad_norm = train_step(run, batch, step, diagnose=_diagnose(config, step))
                    window.add_step(terms, grad_norm, clips=len(batch["label"]), data_wait=data_wait)
                    bar.show(terms, window)
                    del batch, terms  # release the batch (its shared memory) now, not while waiting for the next
                step += 1
                bar.advance()
                # bookkeeping at the due steps, whether or not this step's batch had a readable clip
                if step % cfg.log_every == 0 or step == total:
                    run.log(window.record(step=step, lr=lr, world=dist.world))
                if step % cfg.checkpoint_every == 0 or step == total:
                    run.checkpoint(step)
                if cfg.eval_every and step % cfg.eval_every == 0 and step < total:
                    run.evaluate_and_log(step)
                    run.model.train()
                t_ready = time.perf_counter()
        bar.close()
        report_skips(run_dir, run.dataset, steps_without_clips, write=dist.is_main, say=run.say)
        result = run.evaluate_and_log(step) if evaluate_at_end else None
        distributed.barrier(dist)
        return TrainResult(run_dir, step, run.last_checkpoint, result, time.perf_counter() - t_start)
    finally:
        if lock is not None:
            lock.release()
        distributed.teardown(dist)


def _apply_cpu_settings(run: Run) -> None:
    """Say the threads and workers (:mod:`gazeattn.train.parallelism`, set by :func:`train`) and, with
    ``run.reuse_memory``, keep freed memory for reuse (:mod:`gazeattn.train.malloc`). Neither changes a weight."""
    run.say(run.parallel.describe())
    if run.config.run.reuse_memory and run.device.type == "cpu":
        kept = reuse_freed_memory()
        run.say("memory: freed blocks kept for reuse (glibc malloc)" if kept else
                "memory: run.reuse_memory has no effect here (not glibc's malloc)")


def _diagnose(config: TrainConfig, step: int) -> bool:
    """Whether step ``step`` computes the objective's diagnostics: every step with ``run.diagnose_every_step``,
    else the steps whose log record is written right after them (the window's last step)."""
    cfg = config.run
    if not cfg.diagnostics:
        return False
    return cfg.diagnose_every_step or (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps


def train_step(run: Run, batch: dict[str, Any], step: int, *, diagnose: bool = True) -> tuple[dict[str, Any], Tensor]:
    """One update on ``batch``: the objective's terms (forward, under bf16 autocast where ``run.precision`` says
    so; the diagnostics with ``diagnose`` and ``run.diagnostics``), a stop on a non-finite loss, backward, gradient
    clipping, the optimizer step. Returns the terms and the gradient norm before clipping."""
    config, precision = run.config, run.precision
    batch = {k: (precision.prepare_input(v.to(run.device, non_blocking=True)) if isinstance(v, Tensor) else v)
             for k, v in batch.items()}
    with precision.autocast(run.device):
        terms = run.step_module(batch, step, step_generator(config.run.seed, step, run.dist.rank),
                                diagnose=diagnose and config.run.diagnostics)
    loss = terms["loss"]
    if not torch.isfinite(loss):
        raise NonFiniteLoss(f"non-finite loss at step {step + 1} (ce={float(terms['ce'].detach()):.4g}, "
                            f"kl={float(terms['kl'].detach()):.4g}); the last good checkpoint "
                            f"{run.last_checkpoint or 'none'} is intact")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.optim.grad_clip)
    run.optimizer.step()
    return terms, grad_norm


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The Gumbel noise of one step on one rank."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 4099 + rank)


class _TrainStep(nn.Module):
    """Wraps model + objective so DistributedDataParallel sees one forward per step."""

    def __init__(self, model: GazeAttentionModel, objective: GazeObjective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch, step: int, generator, diagnose: bool = True):
        return self.objective(self.model, batch, step, generator, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------------ setup

@dataclass
class Run:
    """What :func:`setup` made for one training run; the loop steps it and writes through it."""

    config: TrainConfig
    run_dir: Path
    device: torch.device
    dist: distributed.DistInfo
    say: Callable[[str], None]  # print on rank 0, nothing elsewhere
    parallel: Parallelism  # torch threads and DataLoader workers, chosen from the usable cores
    precision: Precision  # bf16 autocast and memory format of the training step (gazeattn.train.precision)
    layout: ClipCatalog
    splits: RunSplits  # the clips of each part: train, validation, test
    class_names: list[str]
    model: GazeAttentionModel
    optimizer: torch.optim.Optimizer
    step_module: nn.Module  # the model and the objective, under DistributedDataParallel with torchrun
    dataset: EgteaClips
    loader: DataLoader
    start_step: int
    meta: dict[str, Any]  # saved with every checkpoint (meta.json)
    run_log: RunLog
    last_checkpoint: Path | None

    def log(self, record: dict[str, Any]) -> None:
        self.run_log.write(record, last_checkpoint=self.last_checkpoint)

    def checkpoint(self, step: int) -> None:
        """Rank 0 saves the weights, the optimizer, the step and the RNG that drives dropout. Weights that are not
        finite stop the run instead (every rank: they hold the same weights), so no checkpoint is ever non-finite
        and the last good one is what ``--resume`` continues from."""
        broken = [name for name, t in self.model.state_dict().items()  # buffers too (BatchNorm statistics)
                  if t.is_floating_point() and not bool(torch.isfinite(t).all())]
        if broken:
            raise NonFiniteLoss(f"non-finite weights after step {step} (NaN or inf in {len(broken)} tensor(s), "
                                f"{broken[0]} first), not saved; the last good checkpoint "
                                f"{self.last_checkpoint or 'none'} is intact")
        if not self.dist.is_main:
            return
        state = {"optimizer": self.optimizer.state_dict(), "step": step, "rng_torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        self.last_checkpoint = save_checkpoint(self.run_dir, model=self.model, state=state, meta=self.meta,
                                               step=step, keep=self.config.run.keep_checkpoints) or self.last_checkpoint

    def evaluate_and_log(self, step: int) -> dict[str, dict[str, Any]]:
        """Evaluate on each part of ``TrainConfig.eval_parts`` (the validation clips when the run holds some out,
        else the test split; every rank takes part) and log each result; returns them by part.

        The global RNG states (CPU, and this run's GPU) are restored afterwards: an evaluation draws from them (a
        DataLoader's base seed), and training's dropout must not see whether or how often a run evaluated, so
        ``run.eval_every`` never changes the weights."""
        config, results = self.config, {}
        with (torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []),
              self.precision.evaluating(self.model)):
            for part in config.eval_parts():
                results[part] = evaluate(
                    self.model, self.layout, self.splits.part(part), config.clip_config(),
                    variant=config.run.variant, test_gaze=config.estimator.test_gaze, seed=config.run.seed,
                    batch=config.run.batch, workers=self.parallel.workers, prefetch=config.data.prefetch,
                    device=self.device, dist=self.dist, on_bad_clip=config.data.on_bad_clip,
                    class_names=self.class_names)
                self.log(eval_record(step, results[part], split=part))
        return results


def setup(config: TrainConfig, run_dir: Path, *, resume: bool, device: torch.device,
          dist: distributed.DistInfo) -> Run:
    """Everything the loop needs, in the order that makes a resumed run reach the same weights: the splits
    (refusing a run folder that holds checkpoints unless ``resume``), the model and optimizer
    (:func:`_model_and_optimizer`), the objective (under DDP with torchrun), ``config.json``, the loader."""
    say = print if dist.is_main else (lambda *_a, **_k: None)
    data = config.data
    if not data.root:
        raise ValueError("no dataset: pass --data ROOT (or data.root in the config)")
    layout = open_dataset(data.root, format=data.format, frames_root=data.frames_root or None)
    splits = read_run_splits(layout, data)  # the validation clips leave the training clips here
    config.eval_parts()  # run.eval_on = "validation" without a validation split: refused before anything is written
    num_classes = layout.n_actions(splits.training, splits.test)
    names = class_names_of(layout, num_classes)
    existing = list_checkpoints(run_dir)
    if existing and not resume:
        raise DataError(run_dir, f"already holds {len(existing)} checkpoint(s); use --resume to continue it "
                                 "or choose another --out (nothing was overwritten)")
    precision = resolve_precision(config.run.amp, config.run.channels_last, device)
    model, optimizer, loaded = _model_and_optimizer(config, run_dir, num_classes, resume=resume, device=device,
                                                    say=say, precision=precision)
    step_module: nn.Module = _TrainStep(model, GazeObjective(config.run.variant, build_estimator(config), config.loss))
    if dist.enabled:
        step_module = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.json", config.to_json() + "\n")
    say("resolved config:\n" + config.to_json())
    start_step = int(loaded.state["step"]) if loaded is not None else 0
    made_by = provenance()  # what decides this run's floats, and the code version
    if dist.is_main:
        append_provenance(run_dir, made_by, start_step=start_step)
    say(f"floats: {made_by['fingerprint']}\ncode: {code_text(made_by['code'])}\nprecision: {precision.why}")
    parallel = parallelism_of(config)
    if splits.held_out is not None:
        say(splits.held_out.describe())
    dataset, loader = _train_loader(config, layout, splits.train, run_dir, start_step=start_step, device=device,
                                    dist=dist, workers=parallel.workers, say=say)
    clip = json.loads(json.dumps(dataclasses.asdict(config.clip_config())))
    meta = {"config": config.to_dict(), "class_names": names, "clip": clip, "variant": config.run.variant,
            "num_classes": num_classes, "provenance": made_by}
    run_log = RunLog(run_dir, enabled=dist.is_main, tensorboard=config.run.tensorboard, say=say)
    return Run(config=config, run_dir=run_dir, device=device, dist=dist, say=say, parallel=parallel, layout=layout,
               splits=splits, class_names=names, precision=precision, model=model, optimizer=optimizer,
               step_module=step_module,
               dataset=dataset, loader=loader, start_step=start_step, meta=meta, run_log=run_log,
               last_checkpoint=loaded.path if loaded is not None else None)


def _model_and_optimizer(config: TrainConfig, run_dir: Path, num_classes: int, *, resume: bool,
                         device: torch.device, say: Callable[[str], None], precision: Precision
                         ) -> tuple[GazeAttentionModel, torch.optim.Optimizer, LoadedCheckpoint | None]:
    """The model, seeded, then resumed from the newest good checkpoint of ``run_dir`` (same model settings) or
    started from the pretrained weights of ``config``, in ``precision``'s memory format; its optimizer; on resume,
    the optimizer state and the RNG restored last."""
    torch.manual_seed(config.run.seed)
    model = build_model(model_config(config, num_classes=num_classes))
    loaded = load_latest(run_dir) if resume else None
    if resume and loaded is None:
        found = list_checkpoints(run_dir)
        if found:  # the user's checkpoints stay as they are: never restarted over, never pruned
            raise DataError(checkpoint_root(run_dir), f"--resume found {len(found)} checkpoint(s), none usable (the "
                            "warnings above say why); move them away to start again in this folder, or train "
                            "into a new one")
        say(f"no checkpoint in {run_dir}: starting from step 0")
    if loaded is not None:
        if loaded.model.config != model.config:
            raise DataError(loaded.path / "meta.json", "the checkpoint's model differs from this config's "
                            f"({loaded.model.config} vs {model.config}); resume with the same model settings")
        # read as this version writes it: a config saved before (with clip.flow, ...) is not a change
        saved, now = loaded.meta.get("config"), config.to_dict()
        before = from_dict(saved).to_dict() if saved else {}
        changed = [k for k, v in before.items() if now.get(k) != v]
        if changed:
            say(f"note: resuming with changed config sections {changed}")
        model.load_state_dict(loaded.model.state_dict())
        say(f"resuming from {loaded.path} (step {int(loaded.state['step'])})")
    else:
        _load_pretrained(model, config, say)
    precision.prepare_model(model.to(device))
    optimizer = build_optimizer(model.parameters(), config.optim)
    if loaded is not None:
        optimizer.load_state_dict(loaded.state["optimizer"])
        torch.set_rng_state(loaded.state["rng_torch"])
        if device.type == "cuda" and "rng_cuda" in loaded.state:
            torch.cuda.set_rng_state(loaded.state["rng_cuda"], device)
    return model, optimizer, loaded


def _load_pretrained(model: GazeAttentionModel, config: TrainConfig, say: Callable[[str], None]) -> None:
    spec = config.model.pretrained
    if not spec:
        return
    from gazeattn.models.weights import kinetics_weights, load_stream_weights

    path = kinetics_weights() if spec == "kinetics" else Path(spec)
    report = load_stream_weights(model, path, stream="rgb")  # also copies the gaze head (gaze_head_init="backbone")
    say(f"loaded RGB stream weights from {path}: {report}")


def _train_loader(config: TrainConfig, layout: ClipCatalog, entries: list[SplitEntry], run_dir: Path, *,
                  start_step: int, device: torch.device, dist: distributed.DistInfo, workers: int,
                  say: Callable[[str], None] = print) -> tuple[EgteaClips, DataLoader]:
    """The training clips (every file checked before the first step) and their loader (``workers`` processes),
    which yields the batches of steps ``start_step`` … ``run.steps`` − 1 of this rank (:func:`train_sampler`).
    ``entries`` are the clips trained on (the training split less the validation clips); under a gaze budget
    (data.gaze_fraction < 1) only the clips it chooses among them keep their measured gaze."""
    data, clip = config.data, config.clip_config()
    kept = None
    if data.gaze_fraction < 1.0:
        budget = gaze_budget((e.clip for e in entries), fraction=data.gaze_fraction, unit=data.gaze_budget_unit,
                             seed=config.gaze_budget_seed())
        say(budget.describe())
        kept = budget.kept
    dataset = EgteaClips(layout, entries, clip, train=True, on_bad_clip=data.on_bad_clip, seed=config.run.seed,
                         validate=True, skip_log=run_dir / "skipped.jsonl", gaze_clips=kept)
    gazed = [dataset.clip_has_gaze(i) for i, _ in dataset.items]
    sampler = train_sampler(gazed, config.run.batch, share=data.gaze_batch_share, seed=config.run.seed,
                            start_step=start_step, total_steps=config.run.steps, rank=dist.rank, world=dist.world)
    if isinstance(sampler, GazeRichBatchSampler):
        say(f"gaze-rich batches: {sampler.k} of every {config.run.batch} places go to the {len(sampler.with_gaze)} "
            f"of {len(gazed)} training clips with measured gaze")
    shm = shared_memory_warning(clip, config.run.batch, workers, data.prefetch,
                                processes=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if shm and dist.is_main:
        log.warning(shm)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_clips,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0),
                        persistent_workers=False)
    return dataset, loader


def class_names_of(layout: ClipCatalog, num_classes: int) -> list[str]:
    if layout.actions is not None:
        return list(layout.actions.names)
    return [f"class {i}" for i in range(num_classes)]


def _lock_run_folder(run_dir: Path, dist: distributed.DistInfo) -> OutputLock | None:
    """Rank 0 takes ``RUN_DIR/.lock`` for the whole run (creating the folder); every rank stops if it could not."""
    lock, refusal = None, None
    if dist.is_main:
        try:
            lock = acquire_lock(run_dir / LOCK_NAME, target=run_dir, folder=run_dir)
        except DataError as err:
            refusal = err
    message = distributed.broadcast_object(dist, None if refusal is None else str(refusal))
    if refusal is not None:
        raise refusal
    if message is not None:
        raise DataError(None, message)
    return lock
