"""The training objective: a separate object that takes the model and a batch and returns loss terms.

    loss = w_ce · CE(y | x, z) + w_kl · KL(measured gaze ‖ q(z|x)) + w_s · surrogate

- KL is the forward KL per temporal slot, averaged over the slots with a measured target (``gaze_mask``);
  with a one-hot target it is the cross-entropy of the fixation cell (the reference's term).
- z: as the variant's row says (:data:`gazeattn.train.variants.VARIANTS`, its ``z``): the estimator's sample
  (one-hot, or relaxed for Gumbel-Softmax), the measured gaze (gaze-oracle), or none (no attention: gaze-aux,
  i3d).
- Gaze dropout (``loss.gaze_dropout`` p, default 0): CE is taken at z̃, z with each clip's map replaced with
  probability p by the uniform map, what "no gaze information" means at test time (the ``uniform`` ablation,
  :func:`gazeattn.inference.test_gaze.uniform_gaze_map`; for the glimpse head the pooled feature [GAP ; GAP]).
  The classifier then learns to fall back on the scene when the gaze tells it nothing, while a wrong (shuffled)
  gaze still points its gazed half at the wrong thing. Only the classifier's z changes: the estimator samples z
  and scores its candidates at the real maps, so the surrogate and its gradient are those of p = 0 (given the
  weights). The draws come from a generator derived from the step's (:func:`gaze_dropout`).
- The no-gaze path (``loss.no_gaze_ce`` w, default 0): w · CE(y | x, uniform map) joins the loss
  (:func:`no_gaze_ce`): the classifier learns a whole-scene decision for the uniform map (no gaze information)
  beside its gazed one, on the same x5. Unlike gaze dropout, every clip still trains the gazed path, so a wrong
  gaze should still cost while no gaze costs no more than a model that never attends. The estimator scores its
  candidates by the gazed path's CE alone.
- Own-gaze targets (``loss.self_gaze`` w, default 0): on the slots without a measured target, q's own confident
  argmax (max q ≥ ``loss.self_gaze_threshold``, detached) is a one-hot target (:func:`self_gaze_loss`):
  self-training of the gaze head, so the few clips with gaze teach the trunk on the clips without.
- The estimator's candidate losses are CE(y | x, z) of each candidate map, scored by
  ``model.candidate_losses`` on a detached x5, without autograd, without dropout (the candidates must be
  comparable) and in float32 with autocast off (under bf16 autocast the 25–147 candidates of a slot tie). The
  surrogate's value is 0; its gradient, on the gaze logits, is the estimate of ∇ E_q[CE]: it reaches the gaze
  head (and the trunk that feeds it), never the attention head or the classifier, whose gradient is CE's at z.

Diagnostics (``terms["stats"]`` of the steps that compute them, averaged over those steps into the training
records of ``log.jsonl``; the engine asks for them on the logged steps only unless ``run.diagnose_every_step``:
they take no random draw from the model's generators and change no weight):

- ``attn_z_sensitivity``: mean |a(z₁) − a(z₂)| of the head's attention map (cell weights in units of global
  average pooling, see :mod:`gazeattn.models.attention`) between two independent Gumbel-Max samples of q;
- ``decision_z_sensitivity``: mean total-variation distance between p(y | x, z₁) and p(y | x, z₂) (no dropout):
  0 when the classifier ignores where it looks, 1 when the look decides everything;
- ``kl_target_share``: the share of the batch's slots with a KL target (``gaze_mask``): below 1 where gaze is
  missing, untracked, or left out by the gaze budget (:mod:`gazeattn.data.gaze_budget`); logged always;
- ``self_gaze_share``: the share of the slots without a measured target that took their own argmax (logged with
  ``loss.self_gaze`` > 0);
- ``grad_est_norm``, ``grad_kl_norm`` and ``grad_ratio`` = ‖∂(w_ce·CE + w_s·surrogate)/∂π‖ / ‖∂(w_kl·KL)/∂π‖ on
  the gaze logits π: how much the estimator, against the gaze supervision, moves the gaze head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from gazeattn.estimators import gumbel_argmax, one_hot_maps, sample_gumbel
from gazeattn.inference.test_gaze import measured_gaze_map, uniform_gaze_map
from gazeattn.train.config import LossConfig
from gazeattn.train.variants import VARIANTS


def gaze_kl(gaze_logits: Tensor, target: Tensor, mask: Tensor, normalize: str = "valid") -> Tensor:
    """KL(target_t ‖ softmax(logits_t)) summed over the valid slots, divided by their number (``normalize``
    "valid") or by every slot of the batch ("all"); (B,T',H',W') logits and targets, (B,T') mask."""
    logq = F.log_softmax(gaze_logits.flatten(2).float(), dim=-1)  # (B, T', K)
    p = target.flatten(2).float()
    plogp = torch.where(p > 0, p * torch.log(p.clamp_min(1e-30)), torch.zeros_like(p))
    kl = (plogp - p * logq).sum(-1)  # (B, T')
    m = mask.float()
    if normalize == "all":
        return (kl * m).sum() / max(1, m.numel())
    return (kl * m).sum() / m.sum().clamp_min(1.0)


GAZE_DROPOUT_SALT = 0xD209  # the gaze dropout's draws: a stream of their own, beside the estimator's noise


def gaze_dropout(z: Tensor, p: float, generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
    """(z̃, dropped): z (B, T', H', W') with each clip's map replaced, with probability ``p``, by the uniform map.

    ``dropped`` (B,) bool says which clips were replaced (None when p = 0). p = 0 returns z itself and draws
    nothing. The B uniform draws come from a CPU generator seeded from ``generator``'s seed (the step's: a pure
    function of seed, step and rank) xor :data:`GAZE_DROPOUT_SALT`: never the global RNG, and the step
    generator's own stream (the estimator's noise) is left as it is.
    """
    if p <= 0.0:
        return z, None
    if generator is None:
        raise ValueError("gaze dropout needs the step's generator (its draws must not come from the global RNG)")
    draws = torch.Generator().manual_seed(generator.initial_seed() ^ GAZE_DROPOUT_SALT)
    dropped = torch.rand(z.shape[0], generator=draws) < p  # (B,); always True at p = 1 (rand < 1)
    dropped = dropped.to(z.device)
    return torch.where(dropped[:, None, None, None], uniform_gaze_map(z), z), dropped


MEASURED_Z_SALT = 0x7EAC  # teacher forcing's draws: a stream of their own, beside the estimator's and dropout's


def measured_z(z: Tensor, batch: dict[str, Tensor], p: float,
               generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
    """(z̃, forced): teacher forcing. Each clip with a measured target in some slot is chosen with probability
    ``p``; a chosen clip's z (B, T', H', W') takes the measured target map in every slot that has one
    (``gaze_mask``) and keeps its own map elsewhere.

    ``forced`` (B,) bool says which clips took measured maps (None when p = 0). p = 0 returns z itself and draws
    nothing; the draws come from a CPU generator seeded from the step's seed xor :data:`MEASURED_Z_SALT`, as
    :func:`gaze_dropout`'s do.
    """
    if p <= 0.0:
        return z, None
    if generator is None:
        raise ValueError("loss.measured_z needs the step's generator (its draws must not come from the global RNG)")
    draws = torch.Generator().manual_seed(generator.initial_seed() ^ MEASURED_Z_SALT)
    mask = batch["gaze_mask"].to(z.device).bool()  # (B, T')
    forced = (torch.rand(z.shape[0], generator=draws) < p).to(z.device) & mask.any(1)  # (B,)
    slots = forced[:, None] & mask  # (B, T')
    target = batch["gaze_target"].to(device=z.device, dtype=z.dtype)  # (B, T', H', W')
    return torch.where(slots[..., None, None], target, z), forced


def no_gaze_ce(model, z: Tensor, x5: Tensor, labels: Tensor) -> Tensor:
    """CE(y | x, uniform map): the classifier's cross-entropy with every clip's z (B, T', H', W') replaced by the
    uniform map (:func:`gazeattn.inference.test_gaze.uniform_gaze_map`), on the same features x5, with the head's
    dropout as in training. Its gradient reaches the classifier, the attention head and the trunk, never the
    gaze head (the uniform map does not depend on q)."""
    logits = model.classify(uniform_gaze_map(z).to(z.dtype), x5)
    return F.cross_entropy(logits.float(), labels)


def self_gaze_loss(gaze_logits: Tensor, mask: Tensor, threshold: float) -> tuple[Tensor, float]:
    """(loss, share): the own-gaze targets' term. On each slot without a measured target (``mask`` (B, T') False)
    whose q = softmax(logits) (B, T', H', W') has max q ≥ ``threshold``, the cross-entropy of q's own argmax
    cell (the target detached); summed and divided by the number of slots without a measured target (at least
    1). ``share``: the share of those slots that took a target (0 when every slot has a measured one)."""
    logq = F.log_softmax(gaze_logits.float().flatten(2), -1)  # (B, T', K)
    with torch.no_grad():
        top, cell = logq.max(-1)  # (B, T')
        free = ~mask.to(logq.device).bool()
        taken = free & (top >= math.log(threshold))
    nll = -logq.gather(-1, cell[..., None]).squeeze(-1)  # (B, T')
    n_free = int(free.sum())
    loss = (nll * taken).sum() / max(1, n_free)
    return loss, (float(taken.sum()) / n_free if n_free else 0.0)


def candidate_loss_fn(model, x5: Tensor, labels: Tensor):
    """loss_fn(z) for the estimators: CE (B, M) of candidate maps (B, M, T', H', W'), x5 computed once.

    Scored without autograd, without dropout, in float32 with autocast off, whatever the training precision.
    """
    x5 = x5.detach().float()

    def loss_fn(cands: Tensor) -> Tensor:
        with torch.no_grad(), torch.autocast(x5.device.type, enabled=False):
            return model.candidate_losses(cands.float(), x5, labels, dropout=False)

    return loss_fn


@torch.no_grad()
def z_sensitivity(model, gaze_logits: Tensor, x5: Tensor, generator: torch.Generator | None) -> dict[str, float]:
    """``attn_z_sensitivity`` and ``decision_z_sensitivity`` for two independent Gumbel-Max samples of q."""
    logits = gaze_logits.detach().float()
    grid = tuple(logits.shape[-2:])
    gen = None if generator is None else torch.Generator().manual_seed(generator.initial_seed() ^ 0x5EED)
    zs = [one_hot_maps(gumbel_argmax(logits, sample_gumbel(logits.shape, gen, device=logits.device)), grid,
                       dtype=torch.float32) for _ in range(2)]  # two independent samples of q, (B, T', H', W')
    a = [model.attention.attention_map(z) for z in zs]  # (B, T', H', W') each
    with torch.autocast(x5.device.type, enabled=False):
        p = F.softmax(model.candidate_logits(torch.stack(zs, 1), x5.detach().float(), dropout=False), -1)  # (B, 2, C)
    return {"attn_z_sensitivity": float((a[0] - a[1]).abs().mean()),
            "decision_z_sensitivity": float(0.5 * (p[:, 0] - p[:, 1]).abs().sum(-1).mean())}


def _norm(grad: Tensor | None) -> float:
    return 0.0 if grad is None else float(grad.detach().double().norm())


@dataclass
class GazeObjective:
    variant: str  # a registered variant (gazeattn.train.variants.VARIANTS): its row says what z is in training
    estimator: Any  # an estimator object from gazeattn.estimators, or None
    weights: LossConfig
    diagnostics: bool = True

    def __post_init__(self) -> None:
        self.z_source = VARIANTS[self.variant].z  # "sample", "measured" or "none"

    def _gaze_terms(self, model, x4: Tensor, x5: Tensor, batch: dict[str, Tensor], step: int,
                    generator: torch.Generator | None, stats: dict[str, float]):
        """(gaze logits, KL, z, surrogate): the gaze head's terms and the z it samples (the measured gaze for a
        variant whose z is "measured"); (None, 0, None, 0) without a gaze head, z None without an estimator. Adds
        the estimator's statistics to ``stats``."""
        zero = x5.new_zeros(())
        if model.gaze_head is None:
            return None, zero, None, zero
        logits = model.gaze_logits(x4)  # (B, T', H', W')
        kl = gaze_kl(logits, batch["gaze_target"], batch["gaze_mask"], self.weights.kl_normalize)
        if self.z_source == "measured":
            return logits, kl, measured_gaze_map(batch).to(x5.dtype), zero
        if self.estimator is None:
            return logits, kl, None, zero
        loss_fn = candidate_loss_fn(model, x5, batch["label"]) if self.estimator.needs_loss_fn else None
        out = self.estimator.surrogate(logits.float(), loss_fn, step, generator)
        stats.update({k: v for k, v in out.stats.items() if isinstance(v, (int, float))})
        return logits, kl, out.z.to(x5.dtype), out.surrogate

    def __call__(self, model, batch: dict[str, Tensor], step: int, generator: torch.Generator | None, *,
                 diagnose: bool | None = None) -> dict[str, Any]:
        """The loss terms of ``batch``; ``diagnose`` (default ``self.diagnostics``) adds the diagnostics."""
        diagnose = self.diagnostics if diagnose is None else diagnose
        rgb, flow = batch.get("rgb"), batch.get("flow")
        if model.config.streams == "flow":
            rgb = None
        labels = batch["label"]
        x4, x5 = model.backbone(rgb, flow)
        terms: dict[str, Any] = {"stats": {"kl_target_share": float(batch["gaze_mask"].float().mean())}}
        stats = terms["stats"]
        w = self.weights
        attends = model.config.attends
        logits, kl, z, surrogate = self._gaze_terms(model, x4, x5, batch, step, generator, stats)
        if logits is not None:
            terms["gaze_logits"] = logits
        own = x5.new_zeros(())
        if logits is not None and w.self_gaze > 0:
            own, stats["self_gaze_share"] = self_gaze_loss(logits, batch["gaze_mask"], w.self_gaze_threshold)
        if z is not None and attends:
            z, forced = measured_z(z, batch, w.measured_z, generator)
            if forced is not None:
                stats["measured_z_share"] = float(forced.float().mean())
            z, dropped = gaze_dropout(z, w.gaze_dropout, generator)
            if dropped is not None:
                stats["gaze_dropped"] = float(dropped.float().mean())
        class_logits = model.classify(z if attends else None, x5)
        ce = F.cross_entropy(class_logits.float(), labels)
        no_gaze = x5.new_zeros(())
        if z is not None and attends and w.no_gaze_ce > 0:
            no_gaze = no_gaze_ce(model, z, x5, labels)
            stats["no_gaze_ce"] = float(no_gaze.detach())
        estimator_part = w.ce * ce + w.surrogate * surrogate
        if diagnose and logits is not None and torch.is_grad_enabled():
            if attends:
                stats.update(z_sensitivity(model, logits, x5, generator))
            (g_kl,) = torch.autograd.grad(w.kl * kl, logits, retain_graph=True, allow_unused=True)
            g_est = None
            if estimator_part.requires_grad:
                (g_est,) = torch.autograd.grad(estimator_part, logits, retain_graph=True, allow_unused=True)
            est, sup = _norm(g_est), _norm(g_kl)
            stats.update(grad_est_norm=est, grad_kl_norm=sup, grad_ratio=est / sup if sup > 0 else 0.0)
        terms.update(
            loss=estimator_part + w.kl * kl + w.self_gaze * own + w.no_gaze_ce * no_gaze,
            ce=ce, kl=kl, class_logits=class_logits,
            correct=(class_logits.argmax(-1) == labels).sum(),
        )
        return terms
