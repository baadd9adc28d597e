"""The model variants of `gazeattn train --variant` (alias ``--model``): one row each, in :data:`VARIANTS`.

A row (:class:`Variant`) says everything that differs between variants: the estimator that trains the gaze
(a factory of the training config, or None), what the objective feeds the attention head in training (``z``:
the estimator's ``sample``, the ``measured`` gaze, or ``none``), whether the model has a gaze head and an
attention head, and the test-time gaze evaluation uses by default. The config's allowed values
(``run.variant``), the CLI's and the study's choices, the objective, evaluation and the model config all read
the table; nothing else compares variant names. A new variant is one :func:`register_variant` call (its
estimator in :mod:`gazeattn.estimators`). The table (:func:`variant_table`; tests/test_train_registries.py checks this
copy):

| variant | gaze at train time | estimator | z in training | gaze head | attention | test-time gaze |
|---|---|---|---|---|---|---|
| `gaze-direct` | Gumbel-Max sample, direct optimization | DirectOptimization | sample | yes | yes | argmax |
| `gaze-gumbel` | relaxed Gumbel-Softmax sample (Li et al.) | GumbelSoftmax | sample | yes | yes | expectation |
| `gaze-st` | straight-through Gumbel-Softmax | GumbelSoftmax | sample | yes | yes | argmax |
| `gaze-reinforce` | REINFORCE with a leave-one-out baseline | Reinforce | sample | yes | yes | argmax |
| `gaze-local` | local expectation (unbiased) | LocalExpectation | sample | yes | yes | argmax |
| `gaze-oracle` | measured gaze (head trained by KL only) | – | measured | yes | yes | measured |
| `gaze-aux` | head trained by KL only, no attention | – | none | yes | no | none |
| `i3d` | no gaze head | – | none | no | no | none |

The attention head is separate from the estimator: every variant with attention uses
:data:`DEFAULT_GAZE_ATTENTION` unless ``model.attention`` says otherwise (``min2021`` is the paper's, ``li2018``
Li et al.'s), so comparing two estimators changes one thing. Every variant with a gaze head gets the same
KL(measured gaze ‖ q) term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from gazeattn.estimators import DirectOptimization, GumbelSoftmax, LocalExpectation, Reinforce
from gazeattn.inference.test_gaze import TEST_GAZE
from gazeattn.models import ATTENTIONS, ModelConfig
from gazeattn.train.schedules import eps_schedule, tau_schedule
from gazeattn.utils.registry import Registry

if TYPE_CHECKING:
    from gazeattn.train.config import TrainConfig

__all__ = ["Variant", "VARIANTS", "register_variant", "variant_table", "DEFAULT_GAZE_ATTENTION",
           "default_attention", "default_test_gaze", "model_config", "build_estimator"]

# The project's head for every variant with attention; chosen from the study in docs/results.md ("Choosing the head").
DEFAULT_GAZE_ATTENTION = "glimpse"
Z_SOURCES = ("sample", "measured", "none")  # what the objective feeds the attention head in training


@dataclass(frozen=True)
class Variant:
    """One row of the table. ``estimator``: config → estimator object (None: no gradient through a sample);
    ``z``: the classifier's z in training -- the estimator's ``sample``, the ``measured`` gaze (the KL alone
    trains the gaze head) or ``none`` (no attention); ``gaze_head``/``attention``: what the model has;
    ``test_gaze``: evaluation's default z (one of TEST_GAZE, "none" without attention); ``train_gaze``: a few
    words for the table."""

    name: str
    train_gaze: str
    estimator: Callable[[TrainConfig], Any] | None = None
    z: str = "sample"
    gaze_head: bool = True
    attention: bool = True
    test_gaze: str = "argmax"

    def __post_init__(self) -> None:
        where = f"variant {self.name!r}"
        if self.z not in Z_SOURCES:
            raise ValueError(f"{where}: z must be one of {Z_SOURCES}, got {self.z!r}")
        if (self.z == "none") == self.attention:
            raise ValueError(f"{where}: z is 'none' exactly when the variant has no attention")
        if (self.z == "sample") != (self.estimator is not None):
            raise ValueError(f"{where}: an estimator exactly when z is 'sample' (the z is the estimator's sample)")
        if self.z == "sample" and not self.gaze_head:
            raise ValueError(f"{where}: z 'sample' is drawn from the gaze head's q: it needs a gaze head")
        allowed = TEST_GAZE if self.attention else ("none",)
        if self.test_gaze not in allowed:
            raise ValueError(f"{where}: test_gaze must be one of {allowed}, got {self.test_gaze!r}")
        if self.test_gaze not in ("measured", "none") and not self.gaze_head:
            raise ValueError(f"{where}: test gaze {self.test_gaze!r} needs a gaze head")

    @property
    def reads_gaze(self) -> bool:
        """Whether training reads measured gaze at all (the KL of a gaze head, or the measured z)."""
        return self.gaze_head or self.z == "measured"


VARIANTS: Registry[Variant] = Registry("variant")


def register_variant(name: str, train_gaze: str, *, estimator: Callable[[TrainConfig], Any] | None = None,
                     z: str = "sample", gaze_head: bool = True, attention: bool = True,
                     test_gaze: str = "argmax") -> Variant:
    """Add the variant ``name`` (``run.variant = name``): the one step that adds a variant. See :class:`Variant`."""
    return VARIANTS.add(name, Variant(name, train_gaze, estimator, z, gaze_head, attention, test_gaze))


def _chunk(config: TrainConfig) -> int | None:
    return config.estimator.chunk_size or None


register_variant("gaze-direct", "Gumbel-Max sample, direct optimization", estimator=lambda c: DirectOptimization(
    eps_schedule=eps_schedule(c), mode=c.estimator.mode, chunk_size=_chunk(c), relative=c.estimator.eps_relative))
register_variant("gaze-gumbel", "relaxed Gumbel-Softmax sample (Li et al.)", test_gaze="expectation",  # relaxed z
                 estimator=lambda c: GumbelSoftmax(tau_schedule=tau_schedule(c), hard=False))
register_variant("gaze-st", "straight-through Gumbel-Softmax",
                 estimator=lambda c: GumbelSoftmax(tau_schedule=tau_schedule(c), hard=True))
register_variant("gaze-reinforce", "REINFORCE with a leave-one-out baseline",
                 estimator=lambda c: Reinforce(n_samples=c.estimator.samples, baseline="loo", chunk_size=_chunk(c)))
register_variant("gaze-local", "local expectation (unbiased)",
                 estimator=lambda c: LocalExpectation(chunk_size=_chunk(c)))
register_variant("gaze-oracle", "measured gaze (head trained by KL only)", z="measured", test_gaze="measured")
register_variant("gaze-aux", "head trained by KL only, no attention", z="none", attention=False, test_gaze="none")
register_variant("i3d", "no gaze head", z="none", gaze_head=False, attention=False, test_gaze="none")


def variant_table() -> str:
    """The registered variants as a Markdown table (the estimator named by the class it builds)."""
    from gazeattn.train.config import TrainConfig  # same package; only to name each factory's class

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    rows = ["| variant | gaze at train time | estimator | z in training | gaze head | attention | test-time gaze |",
            "|---|---|---|---|---|---|---|"]
    for v in VARIANTS.values():
        est = "–" if v.estimator is None else type(v.estimator(TrainConfig())).__name__
        rows.append(f"| `{v.name}` | {v.train_gaze} | {est} | {v.z} | {yes(v.gaze_head)} | {yes(v.attention)} | "
                    f"{v.test_gaze} |")
    return "\n".join(rows)


def default_attention(variant: str) -> str:
    return DEFAULT_GAZE_ATTENTION if VARIANTS[variant].attention else "none"


def default_test_gaze(variant: str) -> str:
    """How a variant's z is formed at test time by default: as it was formed in training, without the noise
    ("none" for a variant without attention)."""
    return VARIANTS[variant].test_gaze


def model_config(config: TrainConfig, *, num_classes: int) -> ModelConfig:
    """The model a training config builds: ``[model]`` completed from the data (``num_classes``), the clip
    settings (input size and strides) and the variant (its default attention; a gaze head beside no attention)."""
    variant, clip = VARIANTS[config.run.variant], config.clip_config()
    attention = config.model.attention or default_attention(variant.name)
    if not variant.attention and ATTENTIONS[attention].attends:
        raise ValueError(f"the {variant.name} variant has no attention: leave model.attention empty")
    # None: the gaze head follows the attention (ModelConfig.has_gaze_head); only a variant without attention
    # that has a gaze head (gaze-aux) says so
    gaze_head = True if variant.gaze_head and not variant.attention else None
    return ModelConfig.complete(config.model, attention=attention, num_classes=num_classes,
                                clip=(clip.frames, clip.crop, clip.crop), strides=clip.strides, gaze_head=gaze_head)


def build_estimator(config: TrainConfig):
    """The estimator object of the variant, or None (no gradient through a sample: oracle, aux, i3d)."""
    factory = VARIANTS[config.run.variant].estimator
    return None if factory is None else factory(config)
