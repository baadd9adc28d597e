"""`gazeattn study`: a declared grid of training runs (worlds × cells × seeds), resumable, with intervals.

- :mod:`gazeattn.study.spec`: the grid as frozen dataclasses or a TOML file (``load_spec``, ``quick_spec``);
- :mod:`gazeattn.study.runner`: writes/reuses the worlds, trains, resumes and evaluates the runs (``run_study``,
  ``plan_study``, ``evaluate_run``: evaluate a finished run folder);
- :mod:`gazeattn.study.stats`: means, 95 % t intervals, paired differences, the sentences;
- :mod:`gazeattn.study.report`: ``study.json``, ``study.md`` and the plots.

Importing this package loads the spec module only; the runner (torch, training) is imported on use.
"""

from gazeattn.study.spec import CellSpec, StudySpec, WorldSpec, load_spec, quick_spec

__all__ = ["CellSpec", "StudySpec", "WorldSpec", "load_spec", "quick_spec"]
