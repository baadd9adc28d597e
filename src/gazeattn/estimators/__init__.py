"""Gradient estimators for the discrete gaze latent z (B, T', H', W'): a product of T' categoricals over the
K = H'·W' cells of each slot, q = softmax(logits) per slot.

Every ``*_gradient`` function returns an estimate of ∇_logits E_q[L] shaped like the logits (descend along minus
it); ``surrogate_from_grad`` turns one into a loss term. ``loss_fn`` contract: see :mod:`gazeattn.estimators.losses`.

==========================  =========================================  ==================================
estimator                   bias                                       loss evaluations per clip
==========================  =========================================  ==================================
direct (one-sided/central)  O(ε) / O(ε²)                               T'·K
local expectation           unbiased                                   T'·K (the same candidates)
REINFORCE (LOO / none)      unbiased                                   S
Gumbel-Softmax              biased for τ > 0 (relaxed objective)       1 forward + backward through z
straight-through            biased, even as τ → 0                      1 forward + backward through z
exact enumeration           exact                                      K^T' (≤ max_maps)
==========================  =========================================  ==================================

Trainer-facing objects share one method, ``est.surrogate(logits, loss_fn, step, generator) -> EstimatorOutput``,
so that ``loss = ce(z=out.z) + kl + out.surrogate``.
"""

from gazeattn.estimators.base import EstimatorOutput, GradientEstimator, surrogate_from_grad
from gazeattn.estimators.candidates import CandidateScores, coordinate_candidates, score_coordinate_candidates
from gazeattn.estimators.direct import (
    DirectOptimization,
    DirectResult,
    direct_estimate,
    direct_from_scores,
    direct_gradient,
    direct_joint_gradient,
)
from gazeattn.estimators.exact import (
    DEFAULT_MAX_MAPS,
    exact_expected_loss,
    exact_gradient,
    exact_moments,
    joint_indices,
)
from gazeattn.estimators.gumbel import gumbel_argmax, one_hot_maps, sample_gumbel, slot_softmax
from gazeattn.estimators.local_expectation import (
    LocalExpectation,
    local_expectation_from_scores,
    local_expectation_gradient,
)
from gazeattn.estimators.losses import ClassLosses, LossFn
from gazeattn.estimators.reinforce import Reinforce, ReinforceResult, reinforce_estimate, reinforce_gradient
from gazeattn.estimators.relaxed import (
    GumbelSoftmax,
    gumbel_softmax_gradient,
    relaxed_sample,
    straight_through_gradient,
)
from gazeattn.estimators.schedules import (
    Constant,
    ExponentialDecay,
    reference_eps_schedule,
)

__all__ = [
    "CandidateScores",
    "ClassLosses",
    "Constant",
    "DEFAULT_MAX_MAPS",
    "DirectOptimization",
    "DirectResult",
    "EstimatorOutput",
    "ExponentialDecay",
    "GradientEstimator",
    "GumbelSoftmax",
    "LocalExpectation",
    "LossFn",
    "Reinforce",
    "ReinforceResult",
    "coordinate_candidates",
    "direct_estimate",
    "direct_from_scores",
    "direct_gradient",
    "direct_joint_gradient",
    "exact_expected_loss",
    "exact_gradient",
    "exact_moments",
    "gumbel_argmax",
    "gumbel_softmax_gradient",
    "joint_indices",
    "local_expectation_from_scores",
    "local_expectation_gradient",
    "one_hot_maps",
    "reference_eps_schedule",
    "reinforce_estimate",
    "reinforce_gradient",
    "relaxed_sample",
    "sample_gumbel",
    "score_coordinate_candidates",
    "slot_softmax",
    "straight_through_gradient",
    "surrogate_from_grad",
]
