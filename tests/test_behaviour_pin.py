"""Behaviour pin: a 6-step run of every variant, then its evaluation, gives the numbers recorded before a
restructuring (losses of every step, every weight tensor's sums, the eval metrics).

On the machine and kernels that recorded the pin (same float fingerprint) the weights must be bit-identical
(a SHA-256 over the tensors); elsewhere the floats are compared at a relative 1e-4, which a change of behaviour
(a different loss, sampler, initialisation or data order) exceeds by orders of magnitude.

Rewrite the pin only when a change of behaviour is intended and said so in its commit:
``PYTHONPATH=src python tests/test_behaviour_pin.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tinyworld import SMALL, tiny_world  # noqa: E402

from gazeattn.cli import main as cli_main  # noqa: E402
from gazeattn.train.config import MODELS  # noqa: E402
from gazeattn.utils.provenance import float_facts, float_fingerprint  # noqa: E402

PIN = Path(__file__).parent / "data" / "behaviour_pin.json"
STEPS = 6
LOSS_KEYS = ("loss", "ce", "kl", "grad_norm")
EVAL_KEYS = ("mean_class_accuracy", "overall_accuracy", "top5_accuracy", "n_samples", "n_windows", "confusion",
             "test_gaze", "by_test_gaze", "gaze", "gaze_truth")


def _weights_summary(path: Path) -> dict:
    from safetensors.torch import load_file
    tensors = load_file(str(path))
    digest = hashlib.sha256()
    sums = {}
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(name.encode())
        digest.update(t.numpy().tobytes())
        d = t.double()
        sums[name] = [float(d.sum()), float(d.abs().sum())]
    return {"sha256": digest.hexdigest(), "sums": sums}


def pin_variant(world: Path, work: Path, variant: str) -> dict:
    """Train ``variant`` for STEPS steps on ``world``, evaluate it, and return what the pin records."""
    run = work / variant
    argv = ["train", "--data", str(world), "--out", str(run), "--model", variant, "--preset", "cpu",
            "--steps", str(STEPS), "--seed", "5", "--set", "run.log_every=1", *SMALL]
    assert cli_main(argv) == 0
    losses = []
    for line in (run / "log.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("kind") == "train":
            losses.append({k: row[k] for k in LOSS_KEYS if k in row})
    out = work / f"{variant}-eval.json"
    assert cli_main(["eval", "--run", str(run), "--workers", "0", "--full", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    return {"losses": losses,
            "eval": {k: metrics.get(k) for k in EVAL_KEYS},
            "weights": _weights_summary(run / "checkpoints" / f"step_{STEPS:07d}" / "model.safetensors")}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def _same(got, want) -> bool:
    """Equal JSON values, floats at the pin's tolerance."""
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return _close(got, want) or (math.isnan(got) and math.isnan(want))
    return got == want


def _compare(variant: str, got: dict, want: dict, exact: bool) -> list[str]:
    problems = []
    if len(got["losses"]) != len(want["losses"]):
        return [f"{variant}: {len(got['losses'])} logged steps, pinned {len(want['losses'])}"]
    for step, (g, w) in enumerate(zip(got["losses"], want["losses"]), start=1):
        for key in w:
            if key not in g or not _close(g[key], w[key]):
                problems.append(f"{variant} step {step} {key}: {g.get(key)} != pinned {w[key]}")
    if not _same(got["eval"], want["eval"]):
        problems.append(f"{variant} eval: {json.dumps(got['eval'])} != pinned {json.dumps(want['eval'])}")
    if set(got["weights"]["sums"]) != set(want["weights"]["sums"]):
        problems.append(f"{variant}: parameter names differ from the pin")
    else:
        for name, (s, a) in want["weights"]["sums"].items():
            gs, ga = got["weights"]["sums"][name]
            if not (_close(gs, s) or abs(gs - s) <= 1e-4 * a) or not _close(ga, a):
                problems.append(f"{variant} weight {name}: sums {gs, ga} != pinned {s, a}")
    if exact and got["weights"]["sha256"] != want["weights"]["sha256"]:
        problems.append(f"{variant}: weights not bit-identical on the pin's own machine and kernels")
    return problems


@pytest.fixture(scope="module")
def pin_world(tmp_path_factory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("pin") / "world", seed=3, sessions=3, clips_per_session=6)


@pytest.mark.slow
@pytest.mark.parametrize("variant", MODELS)
def test_six_step_run_matches_the_pin(variant, pin_world, tmp_path):
    pinned = json.loads(PIN.read_text())
    assert variant in pinned["variants"], f"{variant} has no pin: rewrite it (see the module docstring)"
    got = pin_variant(pin_world, tmp_path, variant)
    exact = pinned["fingerprint"] == float_fingerprint(float_facts())
    problems = _compare(variant, got, pinned["variants"][variant], exact)
    assert not problems, "\n".join(problems)


def _write() -> None:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        world = tiny_world(Path(tmp) / "world", seed=3, sessions=3, clips_per_session=6)
        variants = {v: pin_variant(world, Path(tmp), v) for v in MODELS}
    PIN.write_text(json.dumps({"fingerprint": float_fingerprint(float_facts()), "steps": STEPS, "variants": variants},
                              indent=1, sort_keys=True) + "\n")
    print(f"wrote {PIN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: PYTHONPATH=src python tests/test_behaviour_pin.py --write")
    _write()
