"""Training configuration: small frozen dataclasses, two presets, one override path.

Overrides are applied in one order: preset → ``--config FILE.toml`` → ``--set section.key=value`` flags and the
named flags (``--steps``, ``--batch``). A TOML file has one table per section (``[data]``, ``[clip]``,
``[targets]``, ``[model]``, ``[optim]``, ``[loss]``, ``[estimator]``, ``[run]``); unknown sections and keys are
errors naming the file. The resolved config is printed at start and saved in the run folder and in every
checkpoint.

Each section checks its own values when it is made (allowed values from one constant each). ``[model]`` is the
model's :class:`~gazeattn.models.config.ModelChoices` (same fields, defaults and checks), completed from the data
when the model is built (:func:`gazeattn.train.variants.model_config`). ``[clip]`` is the dataset's
:class:`~gazeattn.data.dataset.ClipChoices`; the rest of the dataset's :class:`~gazeattn.data.dataset.ClipConfig`
follows from the other sections, once (:meth:`TrainConfig.clip_config`): ``flow`` from model.streams (read for
two_stream and flow), ``strides`` from [model] (I3D's are fixed, the tiny backbone's are model.tiny_strides) and
``targets`` is the ``[targets]`` section. So the saved config holds no derived setting that could disagree with
what runs.

Configs written before (issue 18) had ``clip.flow``, ``clip.strides`` and ``clip.targets``; they still load and
run as they did (:func:`_moved_clip_keys`): an old ``clip.strides`` sets the tiny backbone's model.tiny_strides,
and a ``clip.flow`` or ``clip.targets`` that agrees with what runs (or, in a saved config, is the value every run
saved: ClipConfig's default) is dropped; any other value is an error naming the key. ``run.model`` was renamed
``run.variant`` (it names a variant of :mod:`gazeattn.train.variants`): ``[run] model = ...`` in a TOML file or a
saved config and ``--set run.model=...`` still set it (:func:`_renamed_run_keys`); configs are saved with
``variant``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection

from gazeattn.data.dataset import BAD_CLIP_POLICIES, ClipChoices, ClipConfig
from gazeattn.data.gaze_budget import BUDGET_UNITS
from gazeattn.data.source import FORMATS
from gazeattn.data.targets import GazeTargetConfig
from gazeattn.data.validation_split import MAX_VALIDATION_FRACTION, VALIDATION_UNITS
from gazeattn.estimators.direct import MODES
from gazeattn.inference.test_gaze import TEST_GAZE
from gazeattn.models.config import ATTENTIONS, I3D_STRIDES, TINY_SPATIAL_STRIDES, ModelChoices
from gazeattn.train.distributed import parse_device
from gazeattn.train.variants import VARIANTS
from gazeattn.utils.errors import DataError

MODELS = VARIANTS  # the variants' names (a live list: the table of gazeattn.train.variants)
PRESETS = ("cpu", "reference")
OPTIMIZERS = ("sgd", "adamw")
LR_SCHEDULES = ("step", "cosine")
EPS_SCHEDULES = ("reference", "constant", "exponential")  # see gazeattn.train.schedules
EVAL_ON = ("auto", "test", "validation", "both")  # see TrainConfig.eval_parts


def _check_allowed(section: str, config: Any, allowed: dict[str, Collection[str]]) -> None:
    for name, values in allowed.items():
        if getattr(config, name) not in values:
            raise ValueError(f"{section}.{name} must be one of {values}, got {getattr(config, name)!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how it is read. The gaze budget (:mod:`gazeattn.data.gaze_budget`): measured gaze
    is kept on ``gaze_fraction`` of the training clips (or of their sessions, ``gaze_budget_unit``), chosen by
    ``gaze_budget_seed`` (-1: ``run.seed``, so each seed of a study draws its own clips); the other training clips
    are read as if their session had no gaze file. 1.0 keeps every clip (the files as they are); the test split
    is never touched.

    The validation split (:mod:`gazeattn.data.validation_split`): ``validation_fraction`` of the training split's
    clips (``validation_unit`` "clips"), or of its sessions with all their clips ("sessions"), are held out of
    training, chosen by ``validation_seed``, a fixed seed (not run.seed) so that every cell and seed of a study
    trained on one dataset holds out the same clips. "clips" is the default because the test splits are drawn by
    clip too (EGTEA's split 1 has clips of all its 65 test sessions in training; the synthetic worlds split by
    clip), so a validation drawn by clip stands for the test split; "sessions" asks the harder question of unseen
    recordings. 0.0 holds out nothing (training as before). The gaze budget is then drawn from the clips trained
    on."""

    root: str = ""
    format: str = "egtea"  # one of FORMATS: "egtea" (EGTEA Gaze+'s layout) or "generic" (docs/data-generic.md)
    split: int = 1
    split_dir: str = ""  # read {train,test}_splitN.txt from here (e.g. the reference's modified split)
    frames_root: str = ""  # images_rgb/ and images_flow/ (default: root)
    workers: int = -1  # DataLoader workers (-1: chosen from the usable cores, see gazeattn.train.parallelism)
    prefetch: int = 2  # batches a thread receives from the workers ahead of the loop (0: receive in the loop)
    on_bad_clip: str = "error"  # one of BAD_CLIP_POLICIES
    gaze_fraction: float = 1.0  # share of the training clips (or sessions) that keep their measured gaze
    gaze_budget_unit: str = "clips"  # one of BUDGET_UNITS: "clips", or "sessions" (whole recordings kept or lost)
    gaze_budget_seed: int = -1  # -1: run.seed
    # where fewer than this share of the training clips have measured gaze, every batch gives round(share · batch)
    # places to clips with gaze (gazeattn.train.sampler.GazeRichBatchSampler); 0: plain permutations
    gaze_batch_share: float = 0.0
    validation_fraction: float = 0.0  # share of the training clips (or sessions) held out, in [0, 0.5]
    validation_unit: str = "clips"  # one of VALIDATION_UNITS: "clips", or "sessions" (no recording on both sides)
    validation_seed: int = 0  # fixed, not run.seed: the same validation clips for every cell and seed

    def __post_init__(self) -> None:
        _check_allowed("data", self, {"format": FORMATS, "on_bad_clip": BAD_CLIP_POLICIES,
                                      "gaze_budget_unit": BUDGET_UNITS, "validation_unit": VALIDATION_UNITS})
        if not 0.0 <= self.gaze_fraction <= 1.0:  # NaN fails too
            raise ValueError(f"data.gaze_fraction must be in [0, 1], got {self.gaze_fraction}")
        if not 0.0 <= self.gaze_batch_share < 1.0:
            raise ValueError(f"data.gaze_batch_share must be in [0, 1), got {self.gaze_batch_share}")
        if self.gaze_budget_seed < -1:
            raise ValueError(f"data.gaze_budget_seed must be >= 0 (or -1: run.seed), got {self.gaze_budget_seed}")
        if not 0.0 <= self.validation_fraction <= MAX_VALIDATION_FRACTION:
            raise ValueError(f"data.validation_fraction must be in [0, {MAX_VALIDATION_FRACTION}], got "
                             f"{self.validation_fraction}")
        if self.validation_seed < 0:
            raise ValueError(f"data.validation_seed must be >= 0, got {self.validation_seed}")
        if self.workers < -1 or self.prefetch < 0:
            raise ValueError(f"data.workers must be >= -1 (-1: chosen) and data.prefetch >= 0, got {self.workers} "
                             f"and {self.prefetch}")


@dataclass(frozen=True)
class ModelSettings(ModelChoices):
    """``[model]``: the model's :class:`~gazeattn.models.config.ModelChoices` (their defaults and checks), with
    attention "" = the variant's (see gazeattn.train.variants.DEFAULT_GAZE_ATTENTION), the tiny backbone's total
    strides (I3D's are fixed; like tiny_widths, ignored by I3D) and where the initial weights come from. The rest
    of the model's config follows from the data and the variant."""

    ALLOWED = {**ModelChoices.ALLOWED, "attention": ATTENTIONS.allowing("")}

    attention: str = ""
    tiny_strides: tuple[int, int, int] = (8, 32, 32)  # (8, s, s), s in TINY_SPATIAL_STRIDES (was clip.strides)
    pretrained: str = ""  # "kinetics" or a path to I3D weights (.safetensors / piergiaj .pt) for the RGB stream

    def __post_init__(self) -> None:
        super().__post_init__()
        strides = tuple(self.tiny_strides)  # JSON gives a list
        object.__setattr__(self, "tiny_strides", strides)
        if len(strides) != 3 or strides[0] != 8 or strides[1] != strides[2] or strides[1] not in TINY_SPATIAL_STRIDES:
            raise ValueError(f"model.tiny_strides must be (8, s, s) with s in {TINY_SPATIAL_STRIDES}, "
                             f"got {self.tiny_strides}")

    @property
    def strides(self) -> tuple[int, int, int]:
        """The backbone's total (t, h, w) strides: I3D's, or tiny_strides."""
        return I3D_STRIDES if self.backbone == "i3d" else self.tiny_strides


@dataclass(frozen=True)
class OptimConfig:
    """The optimizer (``sgd`` with momentum, or ``adamw``) and its learning-rate schedule, a pure function of the
    step: ``step`` (× ``gamma`` at each milestone) or ``cosine`` (to 0 at the last step); see gazeattn.train.optim."""

    optimizer: str = "sgd"
    lr_schedule: str = "step"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_steps: int = 0
    grad_clip: float = 20.0

    def __post_init__(self) -> None:
        _check_allowed("optim", self, {"optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES})
        if not math.isfinite(self.lr):
            raise ValueError(f"optim.lr must be finite, got {self.lr}")


KL_NORMALIZE = ("valid", "all")


@dataclass(frozen=True)
class LossConfig:
    """loss = ce·CE(y | x, z̃) + kl·KL(measured gaze ‖ q) + surrogate·(estimator's surrogate).

    ``gaze_dropout`` p: the z̃ the classifier trains on is the clip's z, or with probability p per clip the
    uniform map (no gaze information: for the glimpse head the pooled feature [GAP ; GAP]); the estimator
    still scores its candidates at the real maps. 0 (the default) takes no draw and changes no weight; see
    :func:`gazeattn.train.objective.gaze_dropout`.

    ``no_gaze_ce`` w (default 0, off): the no-gaze path. The classifier also takes every clip at the uniform map
    (what the ``uniform`` ablation feeds it: no gaze information), and w · that cross-entropy joins the loss, so
    the head learns a whole-scene decision for when the gaze says nothing while its gazed path trains on every
    clip as at w = 0 (unlike ``gaze_dropout``, which takes clips away from it). The estimator's candidates are
    scored by the gazed path alone; see :func:`gazeattn.train.objective.no_gaze_ce`.

    ``kl_normalize``: "valid" (the default) averages the KL over the batch's slots that have a measured target,
    so a batch with one gazed clip puts the whole KL weight on it; "all" divides by every slot of the batch, so a
    gazed clip weighs what it weighs when every clip has gaze (the KL's weight shrinks with the gaze budget).

    ``self_gaze`` w (default 0, off): self-training of the gaze head where gaze is scarce. On every slot without a
    measured target whose q is confident (max q ≥ ``self_gaze_threshold``), q's own argmax cell (no gradient
    through the target) is a target: w · the mean over those slots' cross-entropy, divided by the number of
    slots without a measured target (so the term grows as q grows confident); see
    :func:`gazeattn.train.objective.self_gaze_loss`."""

    ce: float = 1.0
    kl: float = 1.0
    surrogate: float = 1.0
    gaze_dropout: float = 0.0
    measured_z: float = 0.0
    no_gaze_ce: float = 0.0  # weight of the classifier's cross-entropy at the uniform map (0: off)
    kl_normalize: str = "valid"  # one of KL_NORMALIZE: the KL's mean over the slots with a target, or all slots
    self_gaze: float = 0.0  # weight of the own-gaze targets on slots without a measured one (0: off)
    self_gaze_threshold: float = 0.5  # a slot takes q's own argmax as its target when max q reaches this

    def __post_init__(self) -> None:
        if not all(math.isfinite(x) for x in (self.ce, self.kl, self.surrogate)):
            raise ValueError(f"loss weights must be finite, got {self}")
        if not 0.0 <= self.gaze_dropout <= 1.0:  # NaN fails too
            raise ValueError(f"loss.gaze_dropout must be in [0, 1], got {self.gaze_dropout}")
        if not 0.0 <= self.measured_z <= 1.0:
            raise ValueError(f"loss.measured_z must be in [0, 1], got {self.measured_z}")
        if not (math.isfinite(self.no_gaze_ce) and self.no_gaze_ce >= 0.0):
            raise ValueError(f"loss.no_gaze_ce must be a finite weight >= 0, got {self.no_gaze_ce}")
        if not (math.isfinite(self.self_gaze) and self.self_gaze >= 0.0):
            raise ValueError(f"loss.self_gaze must be a finite weight >= 0, got {self.self_gaze}")
        if not 0.0 < self.self_gaze_threshold <= 1.0:
            raise ValueError(f"loss.self_gaze_threshold must be in (0, 1], got {self.self_gaze_threshold}")
        _check_allowed("loss", self, {"kl_normalize": KL_NORMALIZE})


@dataclass(frozen=True)
class EstimatorConfig:
    """ε for direct optimization, τ for (straight-through) Gumbel-Softmax, S for REINFORCE."""

    eps_schedule: str = "reference"  # one of EPS_SCHEDULES; see gazeattn.train.schedules
    eps: float = 1.0  # constant ε, or the start of "exponential"
    eps_rate: float = 1e-3
    eps_floor: float = 0.1
    eps_every: int = 100
    eps_relative: bool = False  # ε relative to the spread (std) of each slot's candidate losses
    mode: str = "one_sided"  # one of gazeattn.estimators.direct.MODES
    tau: float = 1.0
    tau_floor: float = 0.5
    tau_rate: float = 0.0  # 0: constant τ; else max(tau_floor, tau·exp(-rate·step))
    samples: int = 8  # REINFORCE samples per clip
    chunk_size: int = 0  # candidate maps scored per chunk (0: all at once)
    test_gaze: str = ""  # "" = the variant's default (its row's test_gaze in gazeattn.train.variants)

    def __post_init__(self) -> None:
        _check_allowed("estimator", self, {"eps_schedule": EPS_SCHEDULES, "mode": MODES,
                                           "test_gaze": ("", *TEST_GAZE)})
        if not (self.eps > 0 and self.tau > 0 and self.samples >= 2):
            raise ValueError("estimator.eps and tau must be > 0 and samples >= 2")


MAX_SEED = 2**32 - 1  # derived seeds (seed * 1_000_003 + step ...) stay in torch's 64 bits; numpy wants >= 0


@dataclass(frozen=True)
class RunConfig:
    variant: str = "gaze-direct"  # one of VARIANTS (gazeattn.train.variants); was run.model (RENAMED_RUN_KEYS)
    steps: int = 300
    batch: int = 8  # per process
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    eval_on: str = "auto"  # one of EVAL_ON: the clips training evaluates (TrainConfig.eval_parts)
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps (gazeattn.train.distributed.DEVICE_TYPES)
    amp: bool = False  # bf16 autocast on the forward where the device has native bf16 (gazeattn.train.precision)
    channels_last: bool = False  # weights and clips in channels-last 3D memory (faster oneDNN convolutions)
    threads: int = 0  # torch intra-op threads (0: chosen with data.workers from the usable cores)
    tensorboard: bool = False  # also write RUN_DIR/tensorboard (needs the tensorboard package)
    diagnostics: bool = True  # log the attention's z-sensitivity and the estimator/KL gradient ratio
    diagnose_every_step: bool = False  # the diagnostics on every step (else on the logged steps only; same weights)
    reuse_memory: bool = True  # keep freed memory for reuse (glibc malloc; same weights, fewer page faults)

    def __post_init__(self) -> None:
        _check_allowed("run", self, {"variant": VARIANTS, "eval_on": EVAL_ON})
        if self.steps < 1 or self.batch < 1:
            raise ValueError("run.steps and run.batch must be >= 1")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"run.seed must be in 0..{MAX_SEED}, got {self.seed}")
        for name, low, note in (("log_every", 1, ""), ("checkpoint_every", 1, ""), ("eval_every", 0, " (0: at the end)"),
                                ("keep_checkpoints", 0, " (0: all)"), ("threads", 0, " (0: chosen)")):
            if getattr(self, name) < low:
                raise ValueError(f"run.{name} must be >= {low}{note}, got {getattr(self, name)}")
        try:  # only the spelling: whether this machine has the device is checked when training starts
            parse_device(self.device)
        except ValueError as err:
            raise ValueError(f"run.device: {err}") from None


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "cpu"
    data: DataConfig = field(default_factory=DataConfig)
    clip: ClipChoices = field(default_factory=ClipChoices)
    targets: GazeTargetConfig = field(default_factory=GazeTargetConfig)
    model: ModelSettings = field(default_factory=ModelSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def clip_config(self) -> ClipConfig:
        """The dataset's ClipConfig: ``clip`` with the gaze-target policy of ``targets`` and what [model] decides:
        flow is read for the two_stream and flow streams; the strides are the backbone's (ModelSettings.strides).
        The one place these are derived."""
        return ClipConfig.complete(self.clip, strides=self.model.strides, flow=self.model.reads_flow,
                                   targets=self.targets)

    def gaze_budget_seed(self) -> int:
        """The seed that picks the clips keeping their gaze: data.gaze_budget_seed, or run.seed when it is -1."""
        return self.run.seed if self.data.gaze_budget_seed == -1 else self.data.gaze_budget_seed

    def eval_parts(self) -> tuple[str, ...]:
        """The parts training's evaluations (``run.eval_every`` and the end of ``train --eval``) run on:
        ``run.eval_on`` "auto" is the validation clips when the run holds some out (data.validation_fraction > 0),
        else the test split; "both" is validation, then test. ValueError for "validation" or "both" without a
        validation split."""
        on, held_out = self.run.eval_on, self.data.validation_fraction > 0
        if on in ("validation", "both") and not held_out:
            raise ValueError(f"run.eval_on = {on!r} needs a validation split: set data.validation_fraction > 0")
        parts = {"auto": ("validation",) if held_out else ("test",), "test": ("test",),
                 "validation": ("validation",), "both": ("validation", "test")}
        return parts[on]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


SECTIONS = ("data", "clip", "targets", "model", "optim", "loss", "estimator", "run")
# the [clip] keys of configs written before they left the section (see the module's docstring)
MOVED_CLIP_KEYS = ("flow", "strides", "targets")
RENAMED_RUN_KEYS = {"model": "variant"}  # [run] keys of configs written before: old name → new name


def preset(name: str) -> TrainConfig:
    """``cpu``: the tiny RGB backbone on 24×80² clips of the whole frame, AdamW, 3,000 steps: trains a
    synthetic world in about 10 minutes on 2 cores. 3,000 steps were chosen on validation clips for i3d and
    gaze-direct alike (``studies/tuning.toml``, docs/results.md "A fair baseline"): at 1,500 both were still
    learning, i3d most. Where fewer than a quarter of the training clips have measured gaze, gaze-rich batches
    (``data.gaze_batch_share = 0.25``; docs/results.md "Gaze on 10 % of the clips at the tuned budget").
    ``reference``: the WACV 2021 recipe (two-stream I3D, 24×224², SGD 0.032, ×0.1 at 8k/15k, 18k steps,
    clip 20, the reference ε schedule, batch 4 = 4 GPUs × 1)."""
    if name == "cpu":
        return TrainConfig(
            preset="cpu",
            # the whole frame squashed to 80-96 px squares (a random 80² crop in training, all of it at test):
            # objects near the frame's edges stay in view, unlike a centre crop of a 4:3 frame
            clip=ClipChoices(frames=24, crop=80, short_side=80, train_short_side=(80, 96), resize="square"),
            model=ModelSettings(backbone="tiny", streams="rgb", dropout=0.5, tiny_widths=(16, 32, 48, 64, 96),
                                tiny_strides=(8, 16, 16)),
            # AdamW with a cosine decay trains the from-scratch tiny backbone (SGD at 600 steps left it near
            # chance on worlds where the answer is a small object)
            optim=OptimConfig(optimizer="adamw", lr=3e-3, lr_schedule="cosine", warmup_steps=20),
            # the reference's annealing, compressed: max(1, 1000·exp(-0.01 i)), every 10 (floor near step 690)
            estimator=EstimatorConfig(eps_schedule="exponential", eps=1000.0, eps_rate=0.01, eps_floor=1.0,
                                      eps_every=10),
            # float32: run.amp + run.channels_last make the step 1.7x faster on an AMX CPU, but their effect on
            # i3d's accuracy is +0.5 points with a 95 % CI of -15.0 to +16.1 (4 seeds, docs/benchmarks.md): opt-in
            run=RunConfig(steps=3000, batch=8, checkpoint_every=250, log_every=20),
            # where fewer than a quarter of the training clips have measured gaze, 2 of every 8 places of a batch
            # go to clips with gaze (docs/results.md, "Gaze on 10 % of the clips at the tuned budget"); with more
            # gaze the batches are exactly the plain permutation's
            data=DataConfig(gaze_batch_share=0.25),
        )
    if name == "reference":
        return TrainConfig(
            preset="reference",
            clip=ClipChoices(frames=24, crop=224, short_side=256, train_short_side=(256, 256)),
            targets=GazeTargetConfig(points="fixation", reduce="first", missing="mask"),
            model=ModelSettings(backbone="i3d", streams="two_stream", dropout=0.7, pretrained="kinetics"),
            optim=OptimConfig(lr=0.032, momentum=0.9, weight_decay=4e-5, milestones=(8000, 15000), gamma=0.1,
                              grad_clip=20.0),
            estimator=EstimatorConfig(eps_schedule="reference"),
            run=RunConfig(steps=18000, batch=4, checkpoint_every=1000, eval_every=0, log_every=20),
        )
    raise ValueError(f"unknown preset {name!r}; one of {PRESETS}")


def _coerce(value: Any, current: Any, where: str) -> Any:
    """Convert a TOML/flag value to the type of the current field value."""
    if isinstance(current, bool):
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise ValueError(f"{where}: expected true/false, got {value!r}")
        return bool(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        kind = type(current[0]) if current else (int if all(str(v).strip().lstrip("-").isdigit() for v in value) else float)
        return tuple(kind(v) if not isinstance(v, str) else kind(v.strip()) for v in value)
    if isinstance(current, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return int(value)
    if isinstance(current, float):
        return float(value)
    return str(value)


def _replace_section(section: Any, name: str, values: dict[str, Any], source: str) -> Any:
    where = f"{source}: {name}"
    fields = {f.name: f for f in dataclasses.fields(section)}
    changes = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(f"{where}: unknown key {key!r}; known: {sorted(fields)}")
        current = getattr(section, key)
        if dataclasses.is_dataclass(current):
            raise ValueError(f"{where}: {key!r} is a section; set its keys instead")
        try:
            changes[key] = _coerce(value, current, f"{where}.{key}")
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}.{key}: cannot use {value!r}: {err}") from err
    try:
        return dataclasses.replace(section, **changes)  # the section checks its values
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from err


def apply_overrides(config: TrainConfig, overrides: dict[str, dict[str, Any]], where: str, *,
                    saved: bool = False) -> TrainConfig:
    """Apply ``{section: {key: value}}``; unknown sections or keys and values a section refuses raise ValueError
    naming ``where``. The [clip] keys of configs written before (``clip.flow``, ``clip.strides``,
    ``clip.targets``) are read last by :func:`_moved_clip_keys` (``saved``: a config.json written by a run);
    ``run.model`` is read as ``run.variant``."""
    moved: dict[str, Any] = {}
    for name, values in overrides.items():
        if name not in SECTIONS:
            raise ValueError(f"{where}: unknown section [{name}]; known: {list(SECTIONS)}")
        if not isinstance(values, dict):
            raise ValueError(f"{where}: [{name}] must be a table of key = value")
        if name == "clip":
            moved = {k: v for k, v in values.items() if k in MOVED_CLIP_KEYS}
            values = {k: v for k, v in values.items() if k not in MOVED_CLIP_KEYS}
        if name == "run":
            values = _renamed_run_keys(values, where)
        section = _replace_section(getattr(config, name), name, values, where)
        config = dataclasses.replace(config, **{name: section})
    return _moved_clip_keys(config, moved, overrides.get("model", {}), where, saved=saved)


def _renamed_run_keys(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``[run]`` values with the old key names (:data:`RENAMED_RUN_KEYS`) under their new ones; both names with
    different values is a ValueError naming ``where``."""
    out = dict(values)
    for old, new in RENAMED_RUN_KEYS.items():
        if old in out:
            value = out.pop(old)
            if new in out and str(out[new]) != str(value):
                raise ValueError(f"{where}: run.{old} (the old name of run.{new}) = {value!r} and run.{new} = "
                                 f"{out[new]!r} disagree; set run.{new} only")
            out.setdefault(new, value)
    return out


def _moved_clip_keys(config: TrainConfig, moved: dict[str, Any], model: dict[str, Any], where: str, *,
                     saved: bool) -> TrainConfig:
    """The [clip] keys that left the section, read as they ran. ``strides``: the tiny backbone's
    model.tiny_strides (I3D: must be I3D's, or in a saved config anything: I3D ran with its own); ``flow``: must be
    what model.streams reads; ``targets``: must be the [targets] section. In a saved config flow = false and the
    default targets are also accepted: ClipConfig's defaults, which every run saved whatever it read. A value that
    would change or contradict what runs is a ValueError naming the key."""
    def refuse(key: str, value: Any, why: str) -> ValueError:
        return ValueError(f"{where}: clip.{key} = {value} would be ignored: {why} (model.streams = "
                          f"{config.model.streams!r}, model.backbone = {config.model.backbone!r})")

    if "strides" in moved:
        strides = _coerce(moved["strides"], I3D_STRIDES, f"{where}: clip.strides")
        if config.model.backbone == "tiny":
            if "tiny_strides" in model and config.model.tiny_strides != strides:
                raise ValueError(f"{where}: clip.strides = {strides} and model.tiny_strides = "
                                 f"{config.model.tiny_strides} disagree; set model.tiny_strides only")
            try:
                config = dataclasses.replace(config, model=dataclasses.replace(config.model, tiny_strides=strides))
            except ValueError as err:
                raise ValueError(f"{where}: clip.strides (now model.tiny_strides): {err}") from None
        elif strides != I3D_STRIDES and not saved:
            raise refuse("strides", strides, f"the i3d backbone's strides are {I3D_STRIDES} (model.tiny_strides "
                                             "sets the tiny backbone's)")
    if "flow" in moved:
        flow = _coerce(moved["flow"], False, f"{where}: clip.flow")
        if flow != config.model.reads_flow and not (saved and flow is False):
            raise refuse("flow", flow, "flow is read exactly for model.streams two_stream and flow")
    if "targets" in moved:
        values = moved["targets"]
        try:
            targets = GazeTargetConfig(**values) if isinstance(values, dict) else None
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: clip.targets: cannot use {values!r}: {err}") from err
        if targets is None:
            raise ValueError(f"{where}: clip.targets must be a table; the gaze-target settings are [targets]")
        if targets != config.targets and not (saved and targets == GazeTargetConfig()):
            raise ValueError(f"{where}: clip.targets = {values} disagrees with [targets] "
                             f"{dataclasses.asdict(config.targets)}; the gaze-target settings are [targets] only")
    return config


def load_toml(path: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(path, "config file not found") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise DataError(path, f"not valid TOML: {err}") from err


def parse_set_flags(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["optim.lr=0.01", "run.steps=50"]`` → ``{"optim": {"lr": "0.01"}, "run": {"steps": "50"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set wants section.key=value, got {item!r}")
        out.setdefault(section, {})[name] = value.strip()
    return out


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a TrainConfig saved with :meth:`TrainConfig.to_dict` (exact round trip). A config written before
    the dataset's derived settings left [clip] loads as it ran (see :func:`_moved_clip_keys`)."""
    base = TrainConfig(preset=values.get("preset", "cpu"))
    return apply_overrides(base, {k: v for k, v in values.items() if k != "preset"}, "saved config", saved=True)
