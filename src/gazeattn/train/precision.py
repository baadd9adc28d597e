"""How a training step computes: bf16 autocast on the forward (``run.amp``) and channels-last 3D memory
(``run.channels_last``), resolved for the device the run is on.

* ``run.amp``: the forward runs under ``torch.autocast(dtype=bfloat16)`` where the device computes bf16 natively:
  a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX-BF16 (oneDNN then runs the convolutions in bf16 on those
  units). Elsewhere bf16 is emulated and slower than float32, so the run stays in float32 and says so. The weights,
  the optimizer and the gradients stay float32; the candidates of direct optimization are scored in float32 with
  autocast off (:func:`gazeattn.train.objective.candidate_losses`), so their argmax is not decided by bf16 ties.
* ``run.channels_last``: the model's weights and the clips (5-D tensors) in ``torch.channels_last_3d``; oneDNN's
  3D convolutions are faster on it. Same arithmetic up to summation order.

Both change the floats of a run (not its recipe); :func:`resolve` says what a run does, and the run logs it.
Evaluation and prediction run in float32, contiguous, whatever the training precision.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn

from gazeattn.utils.provenance import cpu_isa_flags

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs that compute bf16 natively


@dataclass(frozen=True)
class Precision:
    amp: bool  # bf16 autocast on the forward
    channels_last: bool  # weights and clips in channels-last 3D memory
    why: str  # one line: what was asked and what this device gives

    def autocast(self, device: torch.device) -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.amp)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """``model`` in the chosen memory format (in place, as ``nn.Module.to``)."""
        return model.to(memory_format=torch.channels_last_3d) if self.channels_last else model

    @contextlib.contextmanager
    def evaluating(self, model: nn.Module) -> Iterator[nn.Module]:
        """``model`` contiguous for the duration (an evaluation during training computes as ``gazeattn eval`` on
        the saved checkpoint does), then back in the training memory format. Parameters keep their identity, so
        the optimizer's references stay valid."""
        if not self.channels_last:
            yield model
            return
        model.to(memory_format=torch.contiguous_format)
        try:
            yield model
        finally:
            model.to(memory_format=torch.channels_last_3d)

    def prepare_input(self, x: Tensor) -> Tensor:
        """A clip batch (5-D) in the chosen memory format; anything else unchanged."""
        if self.channels_last and x.dim() == 5 and x.is_floating_point():
            return x.contiguous(memory_format=torch.channels_last_3d)
        return x


def native_bf16(device: torch.device, cpu_flags: list[str] | None = None) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and the fact that decides it (for the log)."""
    if device.type == "cuda":
        ok = bool(torch.cuda.is_bf16_supported())
        return ok, "this GPU supports bf16" if ok else "this GPU has no bf16"
    if device.type == "cpu":
        flags = cpu_isa_flags() if cpu_flags is None else cpu_flags
        found = [f for f in NATIVE_BF16_CPU_FLAGS if f in flags]
        if found:
            return True, f"this CPU has {' and '.join(f.upper().replace('_', '-') for f in found)}"
        return False, "this CPU has neither AVX512-BF16 nor AMX-BF16 (bf16 would be emulated, slower than float32)"
    return False, f"bf16 autocast is not used on {device.type}"


def resolve(amp: bool, channels_last: bool, device: torch.device, cpu_flags: list[str] | None = None) -> Precision:
    """What ``run.amp`` and ``run.channels_last`` give on ``device`` (``cpu_flags``: for tests)."""
    use_amp, fact = native_bf16(device, cpu_flags) if amp else (False, "")
    if not amp:
        text = "float32"
    elif use_amp:
        text = f"bf16 autocast on the forward ({fact}); weights, gradients and candidate scores in float32"
    else:
        text = f"float32 (run.amp is set, but {fact})"
    if channels_last:
        text += ", channels-last 3D memory"
    return Precision(amp=use_amp, channels_last=channels_last, why=text)
