"""Where a number came from: the facts that decide a run's floats, and the code version that made it.

A run is deterministic on one machine (same seed, same weights, same evaluation: ``tests/test_train_determinism.py``),
but not across machines. The floats depend on the kernels that compute them, and those are chosen at run time
from the CPU's instruction set: ATen's vectorised kernels (``torch.backends.cpu.get_cpu_capability()``: AVX512,
AVX2, …), oneDNN's convolutions (its ISA, e.g. AVX-512 with AMX, or AVX2, capped by ``ONEDNN_MAX_CPU_ISA``) and
the BLAS (MKL, capped by ``MKL_ENABLE_INSTRUCTIONS``). They also depend on torch's version and on the number of
intra-op threads (a reduction split over two threads adds in another order). A difference in the last bit of
one step grows, over hundreds of steps, into a different model: on the demo's 400-step runs, up to 25 points of
accuracy on one seed.

:func:`float_facts` gathers those facts; :func:`float_fingerprint` is the short text of the ones that decide the
floats (two runs with the same fingerprint and seed give the same numbers); :func:`code_version` is the git
commit of the package's source, with a dirty flag, when it runs from a checkout. :func:`provenance` joins them;
training writes it into every run folder (``provenance.json``, one entry per start or resume) and every
checkpoint's ``meta.json``, and the study into ``study.json``.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gazeattn
from gazeattn.utils.cores import usable_cores

# Environment variables that change which kernels run (or how many threads they use), recorded when set.
KERNEL_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
              "MKL_DEBUG_CPU_TYPE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
              "CUBLAS_WORKSPACE_CONFIG", "ONEDNN_DEFAULT_FPMATH_MODE")
# The CPU flags that decide which vector kernels exist (/proc/cpuinfo names).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
             "amx_bf16")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; elsewhere the platform's processor string)."""
    info = _cpuinfo()
    return info.get("model name") or platform.processor() or platform.machine() or "unknown"


def cpu_isa_flags() -> list[str]:
    """Which of :data:`ISA_FLAGS` the CPU has (empty where ``/proc/cpuinfo`` is not there)."""
    flags = set(_cpuinfo().get("flags", "").split())
    return [f for f in ISA_FLAGS if f in flags]


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


@functools.lru_cache(maxsize=8)
def onednn_isa(env_key: tuple[tuple[str, str], ...] = ()) -> str:
    """The instruction set oneDNN dispatches to on this machine under the kernel variables ``env_key``, as oneDNN
    names it (``Intel AVX2``, ``Intel AVX10.1 and Intel AMX …``), or ``"unknown"``.

    oneDNN tells it only in its verbose output, and only from a process that starts with ``ONEDNN_VERBOSE`` set,
    so a short child process runs one convolution (about a second, once per process and setting)."""
    code = ("import torch\n"
            "torch.nn.functional.conv2d(torch.zeros(2, 16, 32, 32), torch.zeros(32, 16, 3, 3))\n")  # large enough for oneDNN
    env = {**os.environ, **dict(env_key), "ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"onednn_verbose,[^\n]*?,cpu,isa:([^\n]+)", out)
    return match.group(1).strip() if match else "unknown"


def kernel_env() -> dict[str, str]:
    """The variables of :data:`KERNEL_ENV` that are set, with their values."""
    return {k: os.environ[k] for k in KERNEL_ENV if k in os.environ}


def float_facts(*, probe_onednn: bool = True) -> dict[str, Any]:
    """What decides this process's floats: CPU, the kernels' instruction sets, torch and its BLAS, threads,
    determinism settings, the GPU when one is used. ``probe_onednn``: ask oneDNN which ISA it uses (a child
    process, see :func:`onednn_isa`); off, the entry is ``"not probed"``."""
    import torch

    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    env = kernel_env()
    facts: dict[str, Any] = {
        "cpu": cpu_model(), "cpu_isa": cpu_isa_flags(), "machine": platform.machine(),
        "cores": os.cpu_count(), "usable_cores": usable_cores(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_isa": (onednn_isa(tuple(sorted(env.items()))) if probe_onednn and torch.backends.mkldnn.is_available()
                       else "not probed"),
        "blas": blas.group(1) if blas else "unknown", "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "torch": torch.__version__, "numpy": _numpy_version(), "python": platform.python_version(),
        "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(), "kernel_env": env,
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        facts["cuda"] = {"device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
                         "cudnn": torch.backends.cudnn.version(), "cudnn_benchmark": torch.backends.cudnn.benchmark,
                         "cudnn_deterministic": torch.backends.cudnn.deterministic,
                         "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    return facts


def _numpy_version() -> str | None:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency
        return None
    return numpy.__version__


def float_fingerprint(facts: dict[str, Any]) -> str:
    """The facts of :func:`float_facts` that decide the floats, as one line: same line and seed, same numbers."""
    parts = [f"{facts.get('cpu')}", f"ATen {facts.get('aten_cpu_capability')}", f"oneDNN {facts.get('onednn_isa')}",
             f"{facts.get('blas')}", f"torch {facts.get('torch')}", f"{facts.get('threads')} thread(s)"]
    cuda = facts.get("cuda")
    if cuda:
        parts.append(f"GPU {cuda.get('device')} (CUDA {cuda.get('cuda')}, cuDNN {cuda.get('cudnn')})")
    if facts.get("deterministic_algorithms"):
        parts.append("deterministic algorithms")
    limits = {k: v for k, v in (facts.get("kernel_env") or {}).items() if not k.endswith("NUM_THREADS")}
    if limits:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(limits.items())))
    return ", ".join(parts)


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """``{"version", "commit", "dirty"}`` of the running gazeattn: the git commit of its source checkout and
    whether the checkout's code differs from it (tracked changes, or untracked files under the package's source
    folder); ``commit`` None when it is not run from a git checkout (an installed wheel)."""
    package = Path(gazeattn.__file__).resolve().parent
    version: dict[str, Any] = {"version": gazeattn.__version__, "commit": None, "dirty": None}
    try:
        top = _git(package, "rev-parse", "--show-toplevel")
        if top is None:
            return version
        version["commit"] = _git(package, "rev-parse", "HEAD")
        status = _git(Path(top), "status", "--porcelain", "--untracked-files=normal", "--",
                      str(package.relative_to(top)), "pyproject.toml")
        version["dirty"] = None if status is None else bool(status.strip())
    except ValueError:  # the package is not inside the checkout git found
        return version
    return version


def _git(where: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_text(code: dict[str, Any]) -> str:
    """``abc1234`` / ``abc1234 (dirty)`` / ``0.1.0 (not a git checkout)``."""
    if not code.get("commit"):
        return f"{code.get('version')} (not a git checkout)"
    return f"{code['commit'][:10]}{' (dirty)' if code.get('dirty') else ''}"


def provenance(*, probe_onednn: bool = True) -> dict[str, Any]:
    """This process's :func:`code_version`, :func:`float_facts` and fingerprint, with the time (UTC) and host."""
    facts = float_facts(probe_onednn=probe_onednn)
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime()), "host": platform.node(),
            "code": code_version(), "floats": facts, "fingerprint": float_fingerprint(facts)}
