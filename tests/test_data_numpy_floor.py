"""The numpy floor declared in pyproject.toml covers every numpy function the package calls.

A call newer than the floor (np.bitwise_count, NumPy >= 2.0, under a numpy>=1.24 floor) would make every gaze
parse fail on numpy 1.x. CI installs one numpy, so this reads the code instead: every ``np.NAME`` /
``numpy.NAME`` (and ``np.linalg.NAME``) used under src/ must exist in the declared floor, checked against the
names numpy added after 1.24. (The gaze tests were also run by hand on numpy 1.24.4 and 1.26.4: README.)
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Names added to numpy's namespace after 1.24, with the release that added them (release notes 1.25 to 2.2).
ADDED = {
    "dtypes": (1, 25), "exceptions": (1, 25),
    "bitwise_count": (2, 0), "unstack": (2, 0), "concat": (2, 0), "permute_dims": (2, 0), "pow": (2, 0),
    "acos": (2, 0), "acosh": (2, 0), "asin": (2, 0), "asinh": (2, 0), "atan": (2, 0), "atan2": (2, 0),
    "atanh": (2, 0), "bitwise_invert": (2, 0), "bitwise_left_shift": (2, 0), "bitwise_right_shift": (2, 0),
    "isdtype": (2, 0), "vecdot": (2, 0), "matrix_transpose": (2, 0), "astype": (2, 0), "trapezoid": (2, 0),
    "strings": (2, 0), "unique_all": (2, 0), "unique_counts": (2, 0), "unique_inverse": (2, 0),
    "unique_values": (2, 0), "cumulative_sum": (2, 1), "cumulative_prod": (2, 1), "matvec": (2, 2), "vecmat": (2, 2),
}
ADDED_LINALG = {"matrix_norm": (2, 0), "vector_norm": (2, 0), "svdvals": (2, 0), "vecdot": (2, 0),
                "matrix_transpose": (2, 0), "diagonal": (2, 0), "trace": (2, 0), "outer": (2, 0), "cross": (2, 0),
                "tensordot": (2, 0), "matmul": (2, 0)}


def declared_floor(pyproject: Path) -> tuple[int, int]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    spec = next(d for d in deps if re.match(r"numpy\b", d))
    found = re.search(r">=\s*(\d+)\.(\d+)", spec)
    assert found, f"numpy has no '>=' floor in {pyproject}: {spec!r}"
    return int(found.group(1)), int(found.group(2))


def numpy_names_used(src: Path) -> dict[str, list[str]]:
    """``{'bitwise_count': ['begaze.py:242'], 'linalg.norm': [...]}``: np. / numpy. attribute uses under src."""
    used: dict[str, list[str]] = {}
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy"):
                name = node.attr
            elif (isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name)
                  and node.value.value.id in ("np", "numpy") and node.value.attr == "linalg"):
                name = f"linalg.{node.attr}"
            else:
                continue
            used.setdefault(name, []).append(f"{path.relative_to(src)}:{node.lineno}")
    return used


def too_new(floor: tuple[int, int], used: dict[str, list[str]]) -> list[str]:
    out = []
    for name, where in sorted(used.items()):
        since = ADDED_LINALG.get(name[len("linalg."):]) if name.startswith("linalg.") else ADDED.get(name)
        if since is not None and since > floor:
            out.append(f"np.{name} needs numpy>={since[0]}.{since[1]} (used at {', '.join(where[:3])})")
    return out


def test_pyproject_numpy_floor_has_every_numpy_function_the_code_calls():
    floor = declared_floor(REPO / "pyproject.toml")
    used = numpy_names_used(REPO / "src")
    assert {"zeros", "frombuffer", "bincount"} <= set(used)  # the scan does see the code
    problems = too_new(floor, used)
    assert not problems, f"pyproject.toml declares numpy>={floor[0]}.{floor[1]}, but:\n" + "\n".join(problems)


def test_the_check_flags_bitwise_count_under_a_1_24_floor(tmp_path):
    """The check can fail: np.bitwise_count is flagged under numpy>=1.24 and accepted under >=2.0."""
    (tmp_path / "m.py").write_text("import numpy as np\nc = np.bitwise_count(np.zeros(3, np.uint64))\n"
                                   "n = np.linalg.vector_norm(np.ones(2))\n")
    used = numpy_names_used(tmp_path)
    assert too_new((1, 24), used) == ["np.bitwise_count needs numpy>=2.0 (used at m.py:2)",
                                      "np.linalg.vector_norm needs numpy>=2.0 (used at m.py:3)"]
    assert too_new((2, 0), used) == []
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["torch>=2.4", "numpy >= 1.24"]\n')
    assert declared_floor(tmp_path / "pyproject.toml") == (1, 24)
