"""The training loop's bookkeeping: the metrics of the steps since the last log record, the log itself
(``log.jsonl``, optionally TensorBoard), the progress bar, and the report of what was skipped.

A ``log.jsonl`` training record holds ``kind``, ``step``, ``lr``, ``world``, ``acc``, ``seconds``, then the means
per trained step of ``data_wait_s``, ``loss``, ``ce``, ``kl``, ``grad_norm`` and of every statistic of the
objective and the estimator (``eps``, ``flip_rate``, ``attn_z_sensitivity``, ``grad_ratio``, ...; a statistic
that only some steps report, as the diagnostics of the logged steps, is the mean over those steps), and
``steps_without_clips`` when some steps of the window had no readable clip (a window of only such steps has no
loss or accuracy). An evaluation record holds ``kind`` "eval", ``step``, ``split`` (the clips evaluated: "test", or
"validation" for the clips held out of training) and the evaluation's summary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from torch import Tensor

from gazeattn.utils.atomic import write_text_atomic
from gazeattn.utils.errors import output_error

__all__ = ["MetricsWindow", "ProgressBar", "RunLog", "eval_record", "report_skips"]

_OWN_TERMS = ("loss", "ce", "kl", "grad_norm")  # an estimator statistic of one of these names gets "est_" before it


class MetricsWindow:
    """Sums over the steps since the last log record; :meth:`record` turns them into one record and starts over."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}  # steps that reported each statistic (diagnostics: the logged steps)
        self.started = time.perf_counter()

    def _add(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value
        self.counts[key] = self.counts.get(key, 0) + 1

    def add_step_without_clips(self) -> None:
        self._add("steps_without_clips", 1)

    def add_step(self, terms: dict[str, Any], grad_norm: Tensor, *, clips: int, data_wait: float) -> None:
        """One trained step: the objective's ``terms``, the gradient norm before clipping, the clips it trained
        on and the seconds the loop waited for its batch."""
        self._add("data_wait_s", data_wait)
        for key, value in (("loss", float(terms["loss"].detach())), ("ce", float(terms["ce"].detach())),
                           ("kl", float(terms["kl"].detach())), ("grad_norm", float(grad_norm))):
            self._add(key, value)
        self._add("correct", float(terms["correct"]))
        self._add("clips", clips)
        self._add("steps", 1)
        for key, value in terms["stats"].items():
            self._add(f"stat_est_{key}" if key in _OWN_TERMS else f"stat_{key}", float(value))

    @property
    def accuracy(self) -> float:
        return self.sums["correct"] / self.sums["clips"]

    def record(self, *, step: int, lr: float, world: int) -> dict[str, Any]:
        """The training record of the window (means per trained step), which then starts over."""
        sums = dict(self.sums)
        record: dict[str, Any] = {"kind": "train", "step": step, "lr": lr, "world": world}
        k = sums.pop("steps", 0.0)
        clips = sums.pop("clips", 0.0)
        correct = sums.pop("correct", 0.0)
        without = sums.pop("steps_without_clips", 0.0)
        if k:
            record["acc"] = correct / clips
        record["seconds"] = time.perf_counter() - self.started
        if k:  # a statistic not reported by every step (the diagnostics) is the mean over the steps that did
            record.update({key.removeprefix("stat_"): value / (self.counts[key] if key.startswith("stat_") else k)
                           for key, value in sums.items()})
        if without:
            record["steps_without_clips"] = int(without)
        self.sums, self.counts, self.started = {}, {}, time.perf_counter()
        return record


def eval_record(step: int, result: dict[str, Any], *, split: str = "test") -> dict[str, Any]:
    """The log record of an evaluation at ``step`` on ``split`` (the part evaluated): its headline numbers and its
    gaze metrics."""
    out: dict[str, Any] = {"kind": "eval", "step": step, "split": split}
    out.update({k: result[k] for k in ("mean_class_accuracy", "overall_accuracy", "n_clips")})
    if result.get("gaze"):
        out["gaze"] = result["gaze"]
    return out


class RunLog:
    """``RUN_DIR/log.jsonl``, one JSON record a line, and TensorBoard's scalars when asked, written by rank 0
    (``enabled``). A record that cannot be written is an error naming the file and the last good checkpoint."""

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool, say: Callable[[str], None]):
        self.path = run_dir / "log.jsonl"
        self.enabled = enabled
        self.board = _tensorboard(run_dir, say) if (tensorboard and enabled) else None

    def write(self, record: dict[str, Any], *, last_checkpoint: Path | None) -> None:
        if not self.enabled:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as err:
            raise output_error(self.path, err, note=_last_good(last_checkpoint)) from err
        if self.board is not None:
            group = record["kind"] if record.get("split", "test") == "test" else f"{record['kind']}_{record['split']}"
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "world"):
                    self.board.add_scalar(f"{group}/{key}", value, record["step"])
            self.board.flush()


def _last_good(last_checkpoint: Path | None) -> str:
    if last_checkpoint is None:
        return "no checkpoint had been written yet"
    return f"the last good checkpoint is {last_checkpoint} (--resume continues from it)"


def _tensorboard(run_dir: Path, say: Callable[[str], None]):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        say("run.tensorboard is set but the tensorboard package is not installed (pip install tensorboard): "
            "logging to log.jsonl only")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


class ProgressBar:
    """tqdm's bar when ``enabled``: the step's loss, the window's accuracy, and ε and flip rate or τ."""

    def __init__(self, enabled: bool, *, total: int, initial: int, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True)

    def show(self, terms: dict[str, Any], window: MetricsWindow) -> None:
        if self.bar is None:
            return
        stats = terms["stats"]
        post = {"loss": f"{float(terms['loss'].detach()):.3f}", "acc": f"{window.accuracy:.2f}"}
        if "eps" in stats:
            post["eps"] = f"{stats['eps']:.3g}"
            post["flip"] = f"{stats.get('flip_rate', 0):.2f}"
        if "tau" in stats:
            post["tau"] = f"{stats['tau']:.3g}"
        self.bar.set_postfix(post, refresh=False)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def report_skips(run_dir: Path, dataset, steps_without_clips: int, *, write: bool,
                 say: Callable[[str], None]) -> None:
    """``RUN_DIR/skipped.json`` (written when ``write``: rank 0) and the printed lines: the clips left out as
    unreadable (found up front, plus those that failed while read in any worker), the steps that had no readable
    clip, the sessions without gaze and the clips longer than their gaze recording."""
    skipped = dataset.all_skipped()
    if write:
        write_text_atomic(run_dir / "skipped.json", json.dumps({
            "clips": [{"clip": name, "reason": why} for name, why in skipped],
            "steps_without_clips": steps_without_clips,
            "sessions_without_gaze": dataset.sessions_without_gaze,
            "clips_beyond_gaze": [{"clip": c, "untracked_frames": k, "frames": n}
                                  for c, k, n in dataset.clips_beyond_gaze]}, indent=2) + "\n")
    if skipped or steps_without_clips:
        say(f"skipped {len(skipped)} unreadable clip(s); {steps_without_clips} step(s) had no readable clip "
            f"(list in {run_dir / 'skipped.json'})")
        for name, why in skipped:
            say(f"  skipped {name}: {why}")
