"""The training loop: wiring of data, model, objective, optimizer, checkpoints, logs and torchrun.

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
from torch import nn
from torch.utils.data import DataLoader

from gazeattn.data.dataset import EgteaClips, collate_clips
from gazeattn.data.layout import EgteaLayout
from gazeattn.data.prefetch import Prefetcher
from gazeattn.data.shared_memory import shared_memory_warning
from gazeattn.errors import DataError, output_error
from gazeattn.models import GazeAttentionModel, build_model
from gazeattn.train import distributed
from gazeattn.atomic import write_text_atomic
from gazeattn.runlock import OutputLock, acquire as acquire_lock, LOCK_NAME
from gazeattn.train.checkpoint import load_latest, list_checkpoints, save_checkpoint
from gazeattn.train.config import TrainConfig
from gazeattn.train.evaluate import evaluate
from gazeattn.train.objective import GazeObjective
from gazeattn.train.optim import build_optimizer, learning_rate
from gazeattn.train.sampler import StepBatchSampler
from gazeattn.train.variants import build_estimator, model_config

log = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    pass


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The Gumbel noise of one step on one rank."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 4099 + rank)


class _TrainStep(nn.Module):
    """Wraps model + objective so DistributedDataParallel sees one forward per step."""

    def __init__(self, model: GazeAttentionModel, objective: GazeObjective):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch, step: int, generator):
        return self.objective(self.model, batch, step, generator)


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _load_pretrained(model: GazeAttentionModel, config: TrainConfig, say: Callable[[str], None]) -> None:
    spec = config.model.pretrained
    if not spec:
        return
    from gazeattn.models.weights import kinetics_weights, load_stream_weights

    path = kinetics_weights() if spec == "kinetics" else Path(spec)
    report = load_stream_weights(model, path, stream="rgb")  # also copies the gaze head (gaze_head_init="backbone")
    say(f"loaded RGB stream weights from {path}: {report}")


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    eval: dict[str, Any] | None
    seconds: float


def class_names_of(layout: EgteaLayout, num_classes: int) -> list[str]:
    if layout.actions is not None:
        return list(layout.actions.names)
    return [f"class {i}" for i in range(num_classes)]


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          evaluate_at_end: bool = False, stop_after: int | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir``. ``stop_after`` ends the process's loop early (tests of resume)."""
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    device = distributed.pick_device(config.run.device, int(os.environ.get("LOCAL_RANK", "0")))
    dist = distributed.setup(device)
    say = print if dist.is_main else (lambda *_a, **_k: None)
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    lock: OutputLock | None = None
    try:
        lock = _lock_run_folder(run_dir, dist)  # one writer per run folder: before anything is read or written
        data = config.data
        if not data.root:
            raise ValueError("no dataset: pass --data ROOT (or data.root in the config)")
        layout = EgteaLayout(data.root, data.frames_root or None)
        split_dir = Path(data.split_dir) if data.split_dir else None
        train_entries = layout.read_split(data.split, "train", split_dir / f"train_split{data.split}.txt" if split_dir else None)
        test_entries = layout.read_split(data.split, "test", split_dir / f"test_split{data.split}.txt" if split_dir else None)
        num_classes = layout.n_actions(train_entries, test_entries)
        names = class_names_of(layout, num_classes)
        clip_cfg = config.clip_config()

        existing = list_checkpoints(run_dir)
        if existing and not resume:
            raise DataError(run_dir, f"already holds {len(existing)} checkpoint(s); use --resume to continue it "
                                     "or choose another --out (nothing was overwritten)")
        torch.manual_seed(config.run.seed)
        model = build_model(model_config(config, num_classes=num_classes))
        start_step = 0
        loaded = load_latest(run_dir) if resume else None
        if resume and loaded is None:
            say(f"no checkpoint in {run_dir}: starting from step 0")
        if loaded is not None:
            if loaded.model.config != model.config:
                raise DataError(loaded.path / "meta.json", "the checkpoint's model differs from this config's "
                                f"({loaded.model.config} vs {model.config}); resume with the same model settings")
            changed = [k for k, v in loaded.meta.get("config", {}).items() if config.to_dict().get(k) != v]
            if changed:
                say(f"note: resuming with changed config sections {changed}")
            model.load_state_dict(loaded.model.state_dict())
            start_step = int(loaded.state["step"])
            say(f"resuming from {loaded.path} (step {start_step})")
        else:
            _load_pretrained(model, config, say)
        model.to(device)

        optimizer = build_optimizer(model.parameters(), config.optim)
        if loaded is not None:
            optimizer.load_state_dict(loaded.state["optimizer"])
            torch.set_rng_state(loaded.state["rng_torch"])
            if device.type == "cuda" and "rng_cuda" in loaded.state:
                torch.cuda.set_rng_state(loaded.state["rng_cuda"], device)

        objective = GazeObjective(config.run.model, build_estimator(config), config.loss)
        step_module: nn.Module = _TrainStep(model, objective)
        if dist.enabled:
            step_module = nn.parallel.DistributedDataParallel(
                step_module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)

        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(run_dir / "config.json", config.to_json() + "\n")
        say("resolved config:\n" + config.to_json())

        dataset = EgteaClips(layout, train_entries, clip_cfg, train=True, on_bad_clip=data.on_bad_clip,
                             seed=config.run.seed, validate=True, skip_log=run_dir / "skipped.jsonl")
        total = config.run.steps
        sampler = StepBatchSampler(len(dataset), config.run.batch, seed=config.run.seed, start_step=start_step,
                                   total_steps=total, rank=dist.rank, world=dist.world)
        shm = shared_memory_warning(clip_cfg, config.run.batch, data.workers, data.prefetch,
                                    processes=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        if shm and dist.is_main:
            log.warning(shm)
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=data.workers, collate_fn=collate_clips,
                            pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0),
                            persistent_workers=False)
        meta = {"config": config.to_dict(), "class_names": names, "clip": json.loads(json.dumps(dataclasses.asdict(clip_cfg))),
                "variant": config.run.model, "num_classes": num_classes}
        log_path = run_dir / "log.jsonl"
        last_ckpt: Path | None = loaded.path if loaded is not None else None
        board = _tensorboard(run_dir, say) if (config.run.tensorboard and dist.is_main) else None

        def log_record(record: dict[str, Any]) -> None:
            if dist.is_main:
                try:
                    with open(log_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                except OSError as err:
                    raise output_error(log_path, err, note=_last_good(last_ckpt)) from err
                if board is not None:
                    for key, value in record.items():
                        if isinstance(value, (int, float)) and key not in ("step", "world"):
                            board.add_scalar(f"{record['kind']}/{key}", value, record["step"])
                    board.flush()

        def evaluate_and_log(step_done: int) -> dict[str, Any]:
            result = evaluate(model, layout, test_entries, clip_cfg, variant=config.run.model,
                              test_gaze=config.estimator.test_gaze, seed=config.run.seed, batch=config.run.batch,
                              workers=data.workers, prefetch=data.prefetch, device=device, dist=dist,
                              on_bad_clip=data.on_bad_clip, class_names=names)
            log_record({"kind": "eval", "step": step_done, **_eval_summary(result)})
            return result

        def checkpoint(step_done: int) -> Path | None:
            if not dist.is_main:
                return None
            state = {"optimizer": optimizer.state_dict(), "step": step_done, "rng_torch": torch.get_rng_state()}
            if device.type == "cuda":
                state["rng_cuda"] = torch.cuda.get_rng_state(device)
            return save_checkpoint(run_dir, model=model, state=state, meta=meta, step=step_done,
                                   keep=config.run.keep_checkpoints)

        bar = None
        if progress and dist.is_main:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=start_step, desc=config.run.model, unit="step", dynamic_ncols=True)
        window: dict[str, float] = {}
        skipped_steps = 0
        model.train()
        step = start_step
        t_window = time.perf_counter()
        # Batches are received from the workers on a thread, ahead of the loop (gazeattn.data.prefetch).
        with Prefetcher(loader, depth=data.prefetch if data.workers else 0) as batches:
            t_ready = time.perf_counter()
            for batch in batches:
                data_wait = time.perf_counter() - t_ready  # the previous batch was released before t_ready
                if stop_after is not None and step >= stop_after:
                    break
                lr = learning_rate(step, config)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if batch is None:  # every clip of this batch was skipped as unreadable: no update, same bookkeeping
                    skipped_steps += 1
                    window["steps_without_clips"] = window.get("steps_without_clips", 0.0) + 1
                else:
                    window["data_wait_s"] = window.get("data_wait_s", 0.0) + data_wait
                    batch = _to_device(batch, device)
                    amp = config.run.amp and device.type == "cuda"
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                        terms = step_module(batch, step, step_generator(config.run.seed, step, dist.rank))
                    loss = terms["loss"]
                    if not torch.isfinite(loss):
                        raise NonFiniteLoss(f"non-finite loss at step {step} (ce={float(terms['ce'].detach()):.4g}, "
                                            f"kl={float(terms['kl'].detach()):.4g}); the last good checkpoint "
                                            f"{last_ckpt or 'none'} is intact")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
                    optimizer.step()
                    n = len(batch["label"])
                    for key, value in (("loss", float(loss.detach())), ("ce", float(terms["ce"].detach())),
                                       ("kl", float(terms["kl"].detach())), ("grad_norm", float(grad_norm))):
                        window[key] = window.get(key, 0.0) + value
                    window["correct"] = window.get("correct", 0.0) + float(terms["correct"])
                    window["clips"] = window.get("clips", 0.0) + n
                    window["steps"] = window.get("steps", 0.0) + 1
                    for key, value in terms["stats"].items():
                        name = f"stat_{key}" if key not in ("loss", "ce", "kl", "grad_norm") else f"stat_est_{key}"
                        window[name] = window.get(name, 0.0) + float(value)
                    if bar is not None:
                        post = {"loss": f"{float(loss.detach()):.3f}",
                                "acc": f"{window['correct'] / window['clips']:.2f}"}
                        if "eps" in terms["stats"]:
                            post["eps"] = f"{terms['stats']['eps']:.3g}"
                            post["flip"] = f"{terms['stats'].get('flip_rate', 0):.2f}"
                        if "tau" in terms["stats"]:
                            post["tau"] = f"{terms['stats']['tau']:.3g}"
                        bar.set_postfix(post, refresh=False)
                    del batch, terms, loss  # release the batch (its shared memory) now, not while waiting for the next
                step += 1
                if bar is not None:
                    bar.update(1)
                # bookkeeping at the due steps, whether or not this step's batch had a readable clip
                if step % config.run.log_every == 0 or step == total:
                    log_record(_train_record(window, step=step, lr=lr, world=dist.world,
                                             seconds=time.perf_counter() - t_window))
                    window = {}
                    t_window = time.perf_counter()
                if step % config.run.checkpoint_every == 0 or step == total:
                    last_ckpt = checkpoint(step) or last_ckpt
                if config.run.eval_every and step % config.run.eval_every == 0 and step < total:
                    evaluate_and_log(step)
                    model.train()
                t_ready = time.perf_counter()
        if bar is not None:
            bar.close()
        skipped = dataset.all_skipped()  # found up front, plus those that failed while read in any worker
        if dist.is_main:
            write_text_atomic(run_dir / "skipped.json", json.dumps({
                "clips": [{"clip": name, "reason": why} for name, why in skipped],
                "steps_without_clips": skipped_steps,
                "sessions_without_gaze": dataset.sessions_without_gaze,
                "clips_beyond_gaze": [{"clip": c, "untracked_frames": k, "frames": n}
                                      for c, k, n in dataset.clips_beyond_gaze]}, indent=2) + "\n")
        if skipped or skipped_steps:
            say(f"skipped {len(skipped)} unreadable clip(s); {skipped_steps} step(s) had no readable clip "
                f"(list in {run_dir / 'skipped.json'})")
            for name, why in skipped:
                say(f"  skipped {name}: {why}")
        result = None
        if evaluate_at_end and (stop_after is None or step >= total):
            result = evaluate_and_log(step)
        distributed.barrier(dist)
        return TrainResult(run_dir, step, last_ckpt, result, time.perf_counter() - t_start)
    finally:
        if lock is not None:
            lock.release()
        distributed.teardown(dist)


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


def _last_good(last_ckpt: Path | None) -> str:
    if last_ckpt is None:
        return "no checkpoint had been written yet"
    return f"the last good checkpoint is {last_ckpt} (--resume continues from it)"


def _train_record(window: dict[str, float], *, step: int, lr: float, world: int, seconds: float) -> dict[str, Any]:
    """One log record of the steps since the last: means per trained step; ``steps_without_clips`` counts the steps
    whose clips were all skipped (a window of only such steps has no loss or accuracy)."""
    window = dict(window)
    record: dict[str, Any] = {"kind": "train", "step": step, "lr": lr, "world": world}
    k = window.pop("steps", 0.0)
    clips = window.pop("clips", 0.0)
    correct = window.pop("correct", 0.0)
    without = window.pop("steps_without_clips", 0.0)
    if k:
        record["acc"] = correct / clips
    record["seconds"] = seconds
    if k:
        record.update({key.removeprefix("stat_"): value / k for key, value in window.items()})
    if without:
        record["steps_without_clips"] = int(without)
    return record


def _tensorboard(run_dir: Path, say: Callable[[str], None]):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        say("run.tensorboard is set but the tensorboard package is not installed (pip install tensorboard): "
            "logging to log.jsonl only")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _eval_summary(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result[k] for k in ("mean_class_accuracy", "overall_accuracy", "n_clips")}
    if result.get("gaze"):
        out["gaze"] = result["gaze"]
    return out
