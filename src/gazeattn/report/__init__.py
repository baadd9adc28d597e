"""Reports and pictures: what a person reads after a run.

- :mod:`~gazeattn.report.overlays`: a prediction's gaze and attention over the frames (PNG contact sheet, GIF or
  mp4), and measured gaze on training clips, laid out to be read at a glance (large panels, action names, legend);
- :mod:`~gazeattn.report.draw` / :mod:`~gazeattn.report.font`: drawing on uint8 RGB arrays with numpy (heat maps,
  cells, crosses, a bitmap font);
- :mod:`~gazeattn.report.images`: PNG, GIF and mp4 files from arrays (PyAV), written atomically;
- :mod:`~gazeattn.report.plots`: learning curves with matplotlib (the optional ``report`` extra);
- :mod:`~gazeattn.report.demo`: the demo's ``report.md``.

Imports inference (a :class:`~gazeattn.inference.Prediction` to draw), data and utils; never train.
"""
