"""Strict weight loading: every key present, none extra, every shape equal, or a :class:`WeightsError` naming
the file and the keys. Reading torch files with ``torch.load(weights_only=True)``, and our own sentence when it
refuses a pickle that holds more than tensors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from gazeattn.utils.errors import DataError

_TOLERATED_SUFFIX = "num_batches_tracked"


class WeightsError(DataError):
    """A weight file that does not fit the model: names the file and the offending keys."""


@dataclass
class LoadReport:
    """What a load did beyond a 1:1 copy: tolerated missing ``num_batches_tracked`` keys, explicitly dropped keys."""

    filled: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def read_torch_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A state dict from a torch file (zip or legacy pickle), with ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "weight file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch raises many types for corrupt/unsafe files
        raise WeightsError(path, f"cannot read torch weights: {unsafe_pickle_reason(err)}") from err
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(path, f"expected a state dict (name -> tensor), got {type(obj).__name__}")
    return dict(obj)


def unsafe_pickle_reason(err: BaseException) -> str:
    """Our sentence for a ``torch.load(weights_only=True)`` refusal. PyTorch's own message advises re-running with
    ``weights_only=False``, the one unsafe thing to do with a file of unknown origin: it is never passed on. The
    global the pickle asked for is kept (``GLOBAL os.system``), other failures (a truncated file) keep their text."""
    text = str(err)
    if "weights_only" not in text and "Weights only load failed" not in text:
        return text.splitlines()[0] if text else type(err).__name__
    found = re.search(r"GLOBAL ([\w.]+)", text)
    what = f" (it asks for {found.group(1)})" if found else ""
    return (f"the pickle holds more than tensors and plain containers{what}: refused, and none of it ran. A weights "
            "or training-state file has no reason to hold code; treat this file as hostile")


def strip_prefix(sd: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Remove ``prefix`` from keys that carry it (DataParallel's ``module.``)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in sd.items()}


def short_list(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def assign_state_dict(module: nn.Module, sd: Mapping[str, Tensor], *, source: str | Path | None,
                      key_prefix: str = "") -> LoadReport:
    """Load ``sd`` into ``module`` exactly: every key present, none extra, every shape equal.

    The only tolerated difference: missing ``*.num_batches_tracked`` (set to 0). ``key_prefix`` is how the
    keys are spelled in the file (for messages, e.g. ``module.``). Raises :class:`WeightsError` naming ``source``.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    filled = [k for k in missing if k.endswith(_TOLERATED_SUFFIX)]
    missing = [key_prefix + k for k in missing if not k.endswith(_TOLERATED_SUFFIX)]
    unexpected = [key_prefix + k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {short_list(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {short_list(unexpected)}")
        raise WeightsError(source, f"keys do not match the {type(module).__name__}: " + "; ".join(parts))
    full: dict[str, Tensor] = {}
    for k, ref in expected.items():
        if k in filled:
            full[k] = torch.zeros_like(ref)
            continue
        v = sd[k]
        if tuple(v.shape) != tuple(ref.shape):
            raise WeightsError(source, f"key {key_prefix + k!r}: shape {tuple(v.shape)} in the file, "
                                       f"the model expects {tuple(ref.shape)}")
        if v.is_floating_point() != ref.is_floating_point():
            raise WeightsError(source, f"key {key_prefix + k!r}: dtype {v.dtype} in the file, "
                                       f"the model has {ref.dtype}")
        full[k] = v.to(ref.dtype)
    module.load_state_dict(full, strict=True)
    return LoadReport(filled=[key_prefix + k for k in filled])
