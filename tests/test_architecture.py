"""The import layering of the package (docs/ARCHITECTURE.md), read from the code with ``ast``.

LAYERS below is the one table of the rule: packages from the bottom up. A module may import its own package and
the packages of the layers below its own; never a package of its own layer or of a layer above. Every import
counts: at module level, inside functions (lazy imports), under ``if TYPE_CHECKING``, relative or absolute.
A new package must be placed in the table before it can be imported by anything.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "gazeattn"

# Bottom up. "gazeattn" is the root module itself (it holds the version); "__main__" is `python -m gazeattn`.
LAYERS: list[tuple[str, ...]] = [
    ("gazeattn",),  # the version, importable from anywhere
    ("utils",),  # atomic writes, errors naming file:line
    ("data", "metrics"),  # reading EGTEA (splits, gaze, videos, clips); metrics on arrays
    ("models", "synth"),  # pure nn.Modules and weight files; the synthetic world, written in data's formats
    ("estimators", "runs"),  # gradient estimators over (logits, loss_fn); run folders: checkpoints, lock
    ("inference",),  # forward_clips (the one test-time forward), the predictor
    ("train",),  # objective, the loop, evaluation (which calls forward_clips)
    ("report",),  # report, plots, overlays, video writing
    ("study", "benchmarks"),  # grids of runs; measurements
    ("cli",),  # the commands: anything below
    ("__main__",),
]
# Only these may import modules by name (importlib.import_module, __import__), which this check cannot follow:
# the commands and benchmarks are loaded by name when called, and nothing is above cli but __main__.
BY_NAME = ("cli",)


def layer_of(layers: list[tuple[str, ...]]) -> dict[str, int]:
    return {package: level for level, packages in enumerate(layers) for package in packages}


def _package(path: Path, root: Path) -> tuple[str, list[str]]:
    """(the package a file belongs to, its dotted module path as a list)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)  # ["gazeattn", "data", "begaze"]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return (parts[1] if len(parts) > 1 else ROOT), parts


def _imported(node: ast.AST, parts: list[str], is_init: bool, root: Path) -> list[str]:
    """Dotted names of the gazeattn modules an Import/ImportFrom node imports (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # from . import x / from ..data import y
        base = parts if is_init else parts[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module == ROOT:  # from gazeattn import estimators (a package) or __version__ (the root module)
        return [f"{ROOT}.{a.name}" if (root / a.name).is_dir() or (root / f"{a.name}.py").is_file() else ROOT
                for a in node.names]
    return [module]


def layering_violations(root: Path, layers: list[tuple[str, ...]], by_name: tuple[str, ...] = BY_NAME) -> list[str]:
    """One ``file:line: ...`` message per import that breaks the layering (and per package not in ``layers``)."""
    level = layer_of(layers)
    problems = []
    for path in sorted(root.rglob("*.py")):
        package, parts = _package(path, root)
        shown = path.relative_to(root.parent.parent)  # src/gazeattn/...
        if package not in level:
            problems.append(f"{shown}:1: package {package!r} is not in LAYERS (tests/test_architecture.py)")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and package not in by_name:
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("import_module", "__import__"):
                    problems.append(f"{shown}:{node.lineno}: {package} imports a module by name, which this check "
                                    f"cannot follow (only {', '.join(by_name)} may)")
            for module in _imported(node, parts, path.name == "__init__.py", root):
                names = module.split(".")
                if names[0] != ROOT:
                    continue
                target = names[1] if len(names) > 1 else ROOT
                if target == package:
                    continue
                if target not in level:
                    problems.append(f"{shown}:{node.lineno}: {package} imports {module}: no such package in LAYERS")
                elif level[target] >= level[package]:
                    problems.append(f"{shown}:{node.lineno}: {package} (layer {level[package]}) imports {module} "
                                    f"({target}, layer {level[target]}): a package imports only layers below its own")
    return problems


def test_no_package_imports_its_own_layer_or_a_higher_one():
    problems = layering_violations(SRC / ROOT, LAYERS)
    assert not problems, "import layering broken:\n" + "\n".join(problems)


def test_every_package_is_in_the_table_once():
    on_disk = {p.name for p in (SRC / ROOT).iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    on_disk |= {p.stem for p in (SRC / ROOT).glob("*.py") if p.stem != "__init__"} | {ROOT}
    listed = [package for packages in LAYERS for package in packages]
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == on_disk, (sorted(set(listed) - on_disk), sorted(on_disk - set(listed)))


def test_the_architecture_page_shows_this_table():
    """docs/ARCHITECTURE.md's table of layers (for people) is LAYERS (for this check), row for row."""
    page = (SRC.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows: dict[int, set[str]] = {}
    for level, packages in re.findall(r"^\| (\d+) \| ([^|]+) \|", page, flags=re.M):
        rows.setdefault(int(level), set()).update(name.rstrip("/") for name in re.findall(r"`([^`]+)`", packages))
    assert rows == {level: set(packages) for level, packages in enumerate(LAYERS)}


def test_every_path_the_architecture_page_names_exists():
    """docs/ARCHITECTURE.md names files and folders (`train/engine.py`, `data/begaze/`): each must still be there."""
    page = (SRC.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_0-9]+)*(?:\.py|/))`", page))
    assert len(named) > 20, sorted(named)
    missing = [name for name in sorted(named)
               if not ((SRC / ROOT / name).exists() or (SRC.parent / name).exists())]
    assert not missing, f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_check_finds_lazy_relative_and_same_layer_imports(tmp_path):
    """The check can fail: a fabricated package with one import of each kind that breaks the rule."""
    root = tmp_path / "src" / ROOT
    files = {
        "__init__.py": '__version__ = "0"\n',
        "utils/__init__.py": "from gazeattn import __version__\n",  # allowed: the root module is below
        "data/__init__.py": "from gazeattn.utils import errors\n",  # allowed: a lower layer
        "data/reader.py": "import os\n\n\ndef read():\n    from gazeattn.train import engine\n    return engine\n",
        "metrics/__init__.py": "from gazeattn import data\n",  # the same layer, as `from gazeattn import`
        "models/__init__.py": "from ..synth import writer\n",  # the same layer, relative
        "models/net.py": "from . import layers\nfrom gazeattn.cli import main\n",  # own package; the top layer
        "extra/__init__.py": "",  # a package nobody placed
        "runs/lock.py": "import importlib\nmod = importlib.import_module('gazeattn.cli')\n",
        "cli/__init__.py": "import importlib\nfrom gazeattn.train import engine\nimportlib.import_module('x')\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    problems = layering_violations(root, LAYERS)
    rule = "a package imports only layers below its own"
    assert problems == [
        f"src/gazeattn/data/reader.py:5: data (layer 2) imports gazeattn.train (train, layer 6): {rule}",
        "src/gazeattn/extra/__init__.py:1: package 'extra' is not in LAYERS (tests/test_architecture.py)",
        f"src/gazeattn/metrics/__init__.py:1: metrics (layer 2) imports gazeattn.data (data, layer 2): {rule}",
        f"src/gazeattn/models/__init__.py:1: models (layer 3) imports gazeattn.synth (synth, layer 3): {rule}",
        f"src/gazeattn/models/net.py:2: models (layer 3) imports gazeattn.cli (cli, layer 9): {rule}",
        "src/gazeattn/runs/lock.py:2: runs imports a module by name, which this check cannot follow (only cli may)",
    ], "\n".join(problems)


# ------------------------------------------------------------------------------------------- function length

MAX_FUNCTION_LINES = 60  # from `def` to the last line of the body, decorators not counted
LONG_ALLOWED: set[str] = set()  # "file:function" exempt from the limit; none


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int, str, int]]:
    """(file, line, name, lines) of every function or method of ``root`` longer than ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        shown = path.relative_to(root.parent.parent)  # src/gazeattn/...
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append((str(shown), node.lineno, node.name, lines))
    return found


def test_no_function_is_longer_than_60_lines():
    """A function reads on one screen: a longer one is split into named steps."""
    too_long = [f"{file}:{line}: {name} has {lines} lines" for file, line, name, lines in long_functions(SRC / ROOT)
                if f"{file}:{name}" not in LONG_ALLOWED]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)


def test_the_length_check_finds_a_long_method(tmp_path):
    root = tmp_path / "src" / ROOT
    root.mkdir(parents=True)
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    (root / "long.py").write_text(f"class A:\n    def short(self):\n        return 1\n\n    def f(self):\n{body}\n")
    assert long_functions(root) == [("src/gazeattn/long.py", 5, "f", 61)]
