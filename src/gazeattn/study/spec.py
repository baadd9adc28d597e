"""What a study runs: worlds × cells × seeds, as frozen dataclasses or a TOML file (one cohesive thing, ~400
lines: the three dataclasses, their checks and the TOML reading that names the file, table and key of an error).

::

    [study]
    seeds = [0, 1, 2, 3, 4]
    baseline = "i3d"                    # every other cell is compared with it, seed by seed (optional)
    pairs = [["direct", "gumbel"]]      # more paired comparisons, a − b seed by seed (optional)
    preset = "cpu"                      # the training preset of every cell (default cpu)
    set = { "run.steps" = 600 }         # train overrides applied to every cell (optional)
    title = "..."                       # the report's heading (optional)

    [worlds.crowded]                    # synthetic: one world per seed (its seed = the seed),
    synth = "crowded"                   #   written under OUT/worlds/crowded-s0, ...; a named world (optional)
    sessions = 20                       #   plus SynthConfig field overrides
    [worlds.egtea]                      # real data: the same data for every seed
    data = "/data/EGTEA"                #   (relative paths are relative to the spec file's folder)
    set = { "data.split" = 2 }          # train overrides for every cell on this world (optional)

    [cells.direct]                      # a cell = a variant + overrides
    model = "gaze-direct"
    set = { "model.attention" = "glimpse" }

    [executor]                          # how `--executor slurm` asks for each run (optional;
    partition = "gpu"                   #   gazeattn.study.slurm_settings)

A cell's training config is ``preset(study.preset)`` → ``study.set`` → ``world.set`` → ``cell.set`` → the study's
own keys (``run.variant`` = the cell's model, ``run.seed`` = the seed, ``data.root`` = the world), which no ``set``
may name (nor ``run.model``, the old name of ``run.variant``). A cell's ``model`` is a variant of
:data:`gazeattn.train.variants.VARIANTS`. Unknown tables and keys are errors naming the file and key; every cell's
config is resolved once when the spec is read, so a bad override stops the study before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from gazeattn.utils.errors import DataError

__all__ = ["WorldSpec", "CellSpec", "StudySpec", "load_spec", "spec_from_dict", "quick_spec", "DEFAULT_SPEC",
           "STUDY_KEYS", "to_sections"]

# The project's default study, shipped in the repository (the real grid of the README's results table).
DEFAULT_SPEC = Path(__file__).resolve().parents[3] / "studies" / "default.toml"

STUDY_KEYS = ("seeds", "baseline", "pairs", "preset", "set", "title")
WORLD_KEYS = ("synth", "data", "set", "seeds")  # plus any SynthConfig field (synthetic worlds)
CELL_KEYS = ("model", "set", "worlds", "seeds")
OWNED = ("run.variant", "run.model", "run.seed", "data.root")  # set by the study itself (run.model: old name)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _flatten(values: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """``{"run": {"steps": 5}}`` or ``{"run.steps": 5}`` → ``{"run.steps": 5}`` (dotted section.key)."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{where}: must be a table of \"section.key\" = value, got {values!r}")
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, where, f"{name}."))
        else:
            flat[name] = value
    for name in flat:
        section, dot, key = name.partition(".")
        if not dot or not key or "." in key:
            raise ValueError(f"{where}: {name!r} is not section.key (e.g. \"run.steps\")")
    return flat


def to_sections(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"run.steps": 5}`` → ``{"run": {"steps": 5}}``, the form :func:`~gazeattn.train.config.apply_overrides`
    takes."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        section, _, key = name.partition(".")
        out.setdefault(section, {})[key] = list(value) if isinstance(value, tuple) else value
    return out


def _frozen_map(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType({k: (tuple(v) if isinstance(v, list) else v) for k, v in dict(values or {}).items()})


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must be letters, digits, '_', '.' or '-' (it names a folder)")


def _check_overrides(overrides: Mapping[str, Any], where: str) -> None:
    owned = sorted(set(overrides) & set(OWNED))
    if owned:
        raise ValueError(f"{where}: {', '.join(owned)} is set by the study itself (cell model, seed, world); "
                         "remove it")


@dataclass(frozen=True)
class WorldSpec:
    """A dataset of the study. Synthetic (``data`` empty): ``synth`` names a world of
    :data:`gazeattn.synth.WORLDS` (None: SynthConfig's defaults) and ``fields`` overrides SynthConfig fields;
    its seed is the study's seed, so each seed gets its own world. Real (``data`` set): the same dataset for every
    seed. ``overrides``: train overrides ``{"section.key": value}`` for every cell on this world."""

    name: str
    synth: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    data: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] | None = None  # None: the study's seeds

    def __post_init__(self) -> None:
        _check_name("world", self.name)
        object.__setattr__(self, "seeds", _check_seeds(self.seeds, f"[worlds.{self.name}] seeds"))
        object.__setattr__(self, "fields", _frozen_map(self.fields))
        object.__setattr__(self, "overrides", _frozen_map(_flatten(self.overrides, f"[worlds.{self.name}] set")))
        _check_overrides(self.overrides, f"[worlds.{self.name}] set")
        if self.data is not None:
            if self.synth is not None or self.fields:
                raise ValueError(f"[worlds.{self.name}]: a world is either real data (data = ...) or synthetic "
                                 f"(synth = ... and SynthConfig fields), not both")
            if not isinstance(self.data, str) or not self.data:
                raise ValueError(f"[worlds.{self.name}] data: want a dataset folder, got {self.data!r}")
            return
        if "seed" in self.fields:
            raise ValueError(f"[worlds.{self.name}] seed: a synthetic world's seed is the study's seed; remove it")
        self.synth_config(0)  # unknown world / field, or a bad value: raise now

    @property
    def synthetic(self) -> bool:
        return self.data is None

    def synth_config(self, seed: int):
        """The SynthConfig of this world for ``seed`` (synthetic worlds only)."""
        from gazeattn import synth as synth_module

        where = f"[worlds.{self.name}]"
        known = {f.name for f in dataclasses.fields(synth_module.SynthConfig)}
        unknown = sorted(set(self.fields) - known)
        if unknown:
            fields_known = ", ".join(sorted(known - {"seed"}))
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(WORLD_KEYS)} and the "
                             f"SynthConfig fields {fields_known}")
        worlds = getattr(synth_module, "WORLDS", {})
        base: dict[str, Any] = {}
        if self.synth is not None:
            if self.synth not in worlds:
                raise ValueError(f"{where} synth: unknown world {self.synth!r}; the named worlds are "
                                 f"{', '.join(worlds) or '(none in this version)'}")
            base = dict(worlds[self.synth])
        try:
            return synth_module.SynthConfig(**{**base, **dict(self.fields), "seed": int(seed)})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from err

    def root(self, out: str | Path, seed: int) -> Path:
        """The dataset folder for ``seed``: ``OUT/worlds/<name>-s<seed>`` (synthetic) or ``data`` (real)."""
        return Path(out) / "worlds" / f"{self.name}-s{seed}" if self.synthetic else Path(self.data)

    def describe(self) -> str:
        if not self.synthetic:
            return f"real data at {self.data} (the same for every seed)"
        what = f"synthetic world {self.synth!r}" if self.synth else "synthetic world (SynthConfig defaults)"
        extra = ", ".join(f"{k}={v}" for k, v in self.fields.items())
        return what + (f" with {extra}" if extra else "") + "; one world per seed (its seed = the seed)"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"name": self.name, "synth": self.synth, "fields": dict(self.fields), "data": self.data,
                          "set": dict(self.overrides), "seeds": self.seeds})


@dataclass(frozen=True)
class CellSpec:
    """A training recipe of the study: a variant (``gazeattn train --model``) plus train overrides."""

    name: str
    model: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    worlds: tuple[str, ...] | None = None  # None: every world
    seeds: tuple[int, ...] | None = None  # None: every seed of each world

    def __post_init__(self) -> None:
        from gazeattn.train.config import MODELS

        _check_name("cell", self.name)
        object.__setattr__(self, "seeds", _check_seeds(self.seeds, f"[cells.{self.name}] seeds"))
        if self.worlds is not None:
            if isinstance(self.worlds, str) or not all(isinstance(w, str) for w in self.worlds) or not self.worlds:
                raise ValueError(f"[cells.{self.name}] worlds: want a non-empty list of world names, got "
                                 f"{self.worlds!r}")
            object.__setattr__(self, "worlds", tuple(self.worlds))
        if self.model not in MODELS:
            raise ValueError(f"[cells.{self.name}] model: {self.model!r} is not a variant; one of {', '.join(MODELS)}")
        object.__setattr__(self, "overrides", _frozen_map(_flatten(self.overrides, f"[cells.{self.name}] set")))
        _check_overrides(self.overrides, f"[cells.{self.name}] set")

    def describe(self) -> str:
        extra = ", ".join(f"{k}={_show(v)}" for k, v in self.overrides.items())
        return self.model + (f" ({extra})" if extra else "")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"name": self.name, "model": self.model, "set": dict(self.overrides),
                          "worlds": self.worlds, "seeds": self.seeds})

    def runs_on(self, world: "WorldSpec", seed: int) -> bool:
        return (self.worlds is None or world.name in self.worlds) and (self.seeds is None or seed in self.seeds)


@dataclass(frozen=True)
class StudySpec:
    """The grid ``worlds × cells × seeds``. ``baseline`` (a cell name, or None) is what every other cell is compared
    with, seed by seed; ``pairs`` are more paired comparisons (cell a, cell b): a − b seed by seed; ``overrides``
    apply to every cell; ``source`` says where the spec came from (messages)."""

    seeds: tuple[int, ...]
    worlds: tuple[WorldSpec, ...]
    cells: tuple[CellSpec, ...]
    baseline: str | None = None
    preset: str = "cpu"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    pairs: tuple[tuple[str, str], ...] = ()
    title: str = ""
    source: str = ""
    executor: Mapping[str, Any] = field(default_factory=dict)  # the [executor] table (gazeattn.study.slurm_settings)

    def __post_init__(self) -> None:
        from gazeattn.train.config import PRESETS

        object.__setattr__(self, "seeds", _check_seeds(self.seeds, "[study] seeds"))
        object.__setattr__(self, "worlds", tuple(self.worlds))
        object.__setattr__(self, "cells", tuple(self.cells))
        if not self.worlds or not self.cells:
            raise ValueError("a study needs at least one [worlds.NAME] and one [cells.NAME] table")
        for kind, items in (("world", self.worlds), ("cell", self.cells)):
            names = [i.name for i in items]
            if len(set(names)) != len(names):
                raise ValueError(f"two {kind}s are named alike: {names}")
        for cell in self.cells:
            unknown = sorted(set(cell.worlds or ()) - {w.name for w in self.worlds})
            if unknown:
                raise ValueError(f"[cells.{cell.name}] worlds: {', '.join(unknown)} is not a world; the worlds are "
                                 f"{', '.join(w.name for w in self.worlds)}")
        if self.baseline is not None and self.baseline not in self.cell_names:
            raise ValueError(f"[study] baseline: {self.baseline!r} is not a cell; the cells are "
                             f"{', '.join(self.cell_names)}")
        object.__setattr__(self, "pairs", _check_pairs(self.pairs, self.cell_names))
        if self.preset not in PRESETS:
            raise ValueError(f"[study] preset: {self.preset!r} is not one of {', '.join(PRESETS)}")
        object.__setattr__(self, "overrides", _frozen_map(_flatten(self.overrides, "[study] set")))
        _check_overrides(self.overrides, "[study] set")
        from gazeattn.study.slurm_settings import SlurmSettings

        SlurmSettings.from_table(_table(self.executor, "[executor]"))  # an unknown key or bad value: raise now
        object.__setattr__(self, "executor", _frozen_map(self.executor))
        for world in self.worlds:  # every override reaches a real key with a valid value: check before any work
            for cell in self.cells:
                self.config(world, cell, self.seeds[0], root=world.root("OUT", self.seeds[0]))

    def world_seeds(self, world: WorldSpec) -> tuple[int, ...]:
        return world.seeds if world.seeds is not None else self.seeds

    def grid(self) -> list[tuple[WorldSpec, CellSpec, int]]:
        """Every (world, cell, seed) run, in the order they run: world, then seed, then cell. A cell runs on the
        worlds it names (all by default) and the seeds it names among its world's (all by default)."""
        return [(w, c, s) for w in self.worlds for s in self.world_seeds(w) for c in self.cells if c.runs_on(w, s)]

    @property
    def cell_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cells)

    def world(self, name: str) -> WorldSpec:
        return next(w for w in self.worlds if w.name == name)

    def cell(self, name: str) -> CellSpec:
        return next(c for c in self.cells if c.name == name)

    def config(self, world: WorldSpec, cell: CellSpec, seed: int, *, root: str | Path, workers: int | None = None):
        """The resolved TrainConfig of one run (ValueError naming the table whose override is bad)."""
        from gazeattn.train.config import apply_overrides, preset

        config = preset(self.preset)
        for where, overrides in (("[study] set", self.overrides), (f"[worlds.{world.name}] set", world.overrides),
                                 (f"[cells.{cell.name}] set", cell.overrides)):
            if overrides:
                config = apply_overrides(config, to_sections(overrides), where)
        own: dict[str, dict[str, Any]] = {"run": {"variant": cell.model, "seed": seed}, "data": {"root": str(root)}}
        if workers is not None:
            own["data"]["workers"] = workers
        return apply_overrides(config, own, f"cell {cell.name}")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"title": self.title, "source": self.source, "seeds": list(self.seeds),
                          "baseline": self.baseline, "pairs": [list(p) for p in self.pairs], "preset": self.preset,
                          "set": dict(self.overrides),
                          "worlds": [w.to_dict() for w in self.worlds], "cells": [c.to_dict() for c in self.cells]})


def _check_seeds(seeds: Any, where: str) -> tuple[int, ...] | None:
    if seeds is None:
        return None
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"{where}: want a non-empty list of integers >= 0, got {seeds!r}")
    out = tuple(seeds)
    if not out or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in out):
        raise ValueError(f"{where}: want a non-empty list of integers >= 0, got {list(out)!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: {list(out)} repeats a seed")
    return out


def _check_pairs(pairs: Any, cells: Any) -> tuple[tuple[str, str], ...]:
    """``pairs`` as a tuple of (a, b) cell names: two different cells each, no pair twice."""
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise ValueError(f"[study] pairs: want a list of [cell, cell] pairs, got {pairs!r}")
    out = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__iter__") or len(tuple(pair)) != 2 \
                or not all(isinstance(x, str) for x in pair):
            raise ValueError(f"[study] pairs: want [cell, cell] pairs, got {pair!r}")
        a, b = tuple(pair)
        for name in (a, b):
            if name not in cells:
                raise ValueError(f"[study] pairs: {name!r} is not a cell; the cells are {', '.join(cells)}")
        if a == b or (a, b) in out:
            raise ValueError(f"[study] pairs: [{a!r}, {b!r}] " + ("compares a cell with itself" if a == b else
                                                                  "is there twice"))
        out.append((a, b))
    return tuple(out)


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: list(v) if isinstance(v, tuple) else dict(v)))


def spec_from_dict(values: Mapping[str, Any], *, base: str | Path | None = None, source: str = "") -> StudySpec:
    """A StudySpec from the parsed TOML (``base``: folder that relative ``data`` paths are relative to).
    ValueError names the table and key."""
    unknown = sorted(set(values) - {"study", "worlds", "cells", "executor"})
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(f'[{u}]' for u in unknown)}; known: [study], "
                         "[worlds.NAME], [cells.NAME], [executor]")
    study = _table(values.get("study", {}), "[study]")
    bad = sorted(set(study) - set(STUDY_KEYS))
    if bad:
        raise ValueError(f"[study]: unknown key(s) {', '.join(bad)}; known: {', '.join(STUDY_KEYS)}")
    if "seeds" not in study:
        raise ValueError("[study] seeds: missing (e.g. seeds = [0, 1, 2])")
    seeds = study["seeds"]
    if not isinstance(seeds, list):
        raise ValueError(f"[study] seeds: want a list of integers, got {seeds!r}")
    for key in ("baseline", "preset", "title"):
        if key in study and not isinstance(study[key], str):
            raise ValueError(f"[study] {key}: want a string, got {study[key]!r}")

    worlds = []
    for name, table in _table(values.get("worlds", {}), "[worlds]").items():
        table = dict(_table(table, f"[worlds.{name}]"))
        synth, data, overrides = table.pop("synth", None), table.pop("data", None), table.pop("set", {})
        world_seeds = table.pop("seeds", None)
        if synth is not None and not isinstance(synth, str):
            raise ValueError(f"[worlds.{name}] synth: want a world name, got {synth!r}")
        if data is not None:
            if not isinstance(data, str) or not data:
                raise ValueError(f"[worlds.{name}] data: want a dataset folder, got {data!r}")
            if base is not None and not Path(data).is_absolute():
                data = str(Path(base) / data)
            if table or synth is not None:
                extra = ", ".join(sorted(table) + (["synth"] if synth is not None else []))
                raise ValueError(f"[worlds.{name}]: a world is either real data (data = ...) or synthetic (synth = "
                                 f"... and SynthConfig fields), not both; it also has {extra}")
        worlds.append(WorldSpec(name, synth=synth, fields=table, data=data, overrides=overrides, seeds=world_seeds))

    cells = []
    for name, table in _table(values.get("cells", {}), "[cells]").items():
        table = _table(table, f"[cells.{name}]")
        bad = sorted(set(table) - set(CELL_KEYS))
        if bad:
            raise ValueError(f"[cells.{name}]: unknown key(s) {', '.join(bad)}; known: {', '.join(CELL_KEYS)}")
        if "model" not in table:
            raise ValueError(f"[cells.{name}] model: missing (a variant, e.g. model = \"gaze-direct\")")
        cells.append(CellSpec(name, model=table["model"], overrides=table.get("set", {}),
                              worlds=table.get("worlds"), seeds=table.get("seeds")))

    return StudySpec(seeds=tuple(seeds), worlds=tuple(worlds), cells=tuple(cells), baseline=study.get("baseline"),
                     preset=study.get("preset", "cpu"), overrides=study.get("set", {}), title=study.get("title", ""),
                     source=source, pairs=study.get("pairs", ()), executor=values.get("executor", {}))


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: want a table, got {value!r}")
    return value


def load_spec(path: str | Path) -> StudySpec:
    """Read a study spec TOML file; any problem is a DataError naming the file (and the table and key)."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(path, "study spec not found") from err
    except IsADirectoryError as err:
        raise DataError(path, "is a folder, not a study spec (.toml)") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise DataError(path, f"not valid TOML: {err}") from err
    try:
        return spec_from_dict(values, base=path.resolve().parent, source=str(path))
    except ValueError as err:
        raise DataError(path, str(err)) from err


def quick_spec() -> StudySpec:
    """``gazeattn study --quick``: a laptop grid. One small synthetic world per seed (the demo's, 8 sessions × 12
    clips), gaze-direct / gaze-gumbel / i3d with the CPU preset cut to 150 steps, 2 seeds: minutes on 2 cores."""
    return StudySpec(
        title="quick study (laptop grid)",
        source="gazeattn study --quick",
        seeds=(0, 1),
        baseline="i3d",
        preset="cpu",
        overrides={"run.steps": 150, "run.checkpoint_every": 50},
        worlds=(WorldSpec("small", synth="demo" if "demo" in _named_worlds() else None,
                          fields={"sessions": 8, "clips_per_session": 12}),),
        cells=(CellSpec("direct", "gaze-direct"), CellSpec("gumbel", "gaze-gumbel"), CellSpec("i3d", "i3d")),
    )


def _named_worlds() -> Mapping[str, Any]:
    from gazeattn import synth as synth_module

    return getattr(synth_module, "WORLDS", {})
