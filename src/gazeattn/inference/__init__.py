"""Inference: the one test-time forward, and a trained model run on a video.

- :mod:`~gazeattn.inference.forward`: :func:`forward_clips` (backbone → gaze logits → test-time z → class
  logits and the attention map); every test-time forward goes through it;
- :mod:`~gazeattn.inference.test_gaze`: every way the test-time z is formed (the modes, the ablations);
- :mod:`~gazeattn.inference.predictor`: :func:`load_predictor` / :class:`Predictor`: top-k actions, gaze and
  attention for one video under the test protocol (pictures of a prediction: :mod:`gazeattn.report.overlays`).

Imports data, models, estimators and :mod:`gazeattn.runs` (checkpoint lookup), never ``gazeattn.train``.
"""

from gazeattn.inference.forward import ClipForward, classify_with_gaze, forward_clips
from gazeattn.inference.test_gaze import (ABLATIONS, DEFAULT_SAMPLES, DETERMINISTIC, TEST_GAZE, predicted_gaze_map,
                                          uniform_gaze_map)
from gazeattn.inference.predictor import Prediction, Predictor, Ranked, load_predictor

__all__ = ["ABLATIONS", "DEFAULT_SAMPLES", "DETERMINISTIC", "TEST_GAZE", "ClipForward", "classify_with_gaze",
           "forward_clips", "predicted_gaze_map", "uniform_gaze_map", "Prediction", "Predictor", "Ranked",
           "load_predictor"]
