"""Inference: the one test-time forward, and a trained model run on a video.

- :mod:`~gazeattn.inference.forward`: :func:`forward_clips` (backbone → gaze logits → test-time z → class
  logits and the attention map) and the test-time gaze modes; every test-time forward goes through it;
- :mod:`~gazeattn.inference.predictor`: :func:`load_predictor` / :class:`Predictor`: top-k actions, gaze and
  attention for one video under the test protocol (pictures of a prediction: :mod:`gazeattn.report.overlays`).

Imports data, models, estimators and :mod:`gazeattn.runs` (checkpoint lookup), never ``gazeattn.train``.
"""

from gazeattn.inference.forward import (ABLATIONS, DEFAULT_SAMPLES, DETERMINISTIC, TEST_GAZE, ClipForward,
                                        classify_with_gaze, forward_clips, predicted_gaze_map, uniform_gaze_map)
from gazeattn.inference.predictor import Prediction, Predictor, Ranked, load_predictor

__all__ = ["ABLATIONS", "DEFAULT_SAMPLES", "DETERMINISTIC", "TEST_GAZE", "ClipForward", "classify_with_gaze",
           "forward_clips", "predicted_gaze_map", "uniform_gaze_map", "Prediction", "Predictor", "Ranked",
           "load_predictor"]
