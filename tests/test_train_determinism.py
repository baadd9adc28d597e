"""On one machine a run is a pure function of its config: the same seed twice gives identical weights and
identical evaluation numbers, for every variant, with one and with two torch threads. And every run folder says
what decided its floats (CPU, kernels, torch, threads) and which code made it (``provenance.json``, meta.json)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gazeattn.cli import main
from gazeattn.train.config import MODELS
from gazeattn.utils.provenance import code_version, float_facts, float_fingerprint, provenance
from tinyworld import SMALL, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("determinism") / "egtea", seed=11, sessions=2, clips_per_session=5,
                      max_frames=40)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _train_and_eval(world: Path, out: Path, variant: str, threads: int, capsys) -> tuple[dict, dict]:
    assert main(["train", "--data", str(world), "--model", variant, "--out", str(out), "--steps", "3", *SMALL,
                 "--set", f"run.threads={threads}", "--set", "run.checkpoint_every=3"]) == 0
    latest = (out / "checkpoints" / "latest").read_text().strip()
    weights = load_file(str(out / "checkpoints" / latest / "model.safetensors"))
    capsys.readouterr()
    assert main(["eval", "--run", str(out), "--json", "--full"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    evaluation.pop("checkpoint")  # the folder's own path
    return weights, evaluation


@pytest.mark.parametrize("threads", [1, 2])
def test_the_same_seed_twice_gives_identical_weights_and_eval_numbers(world, tmp_path, threads, capsys,
                                                                      restore_threads):
    for variant in MODELS:
        (w1, e1), (w2, e2) = (_train_and_eval(world, tmp_path / f"{variant}-{i}", variant, threads, capsys)
                              for i in range(2))
        assert w1.keys() == w2.keys() and len(w1) > 0
        different = [k for k in w1 if not torch.equal(w1[k], w2[k])]
        assert not different, f"{variant}, {threads} thread(s): tensors differ between two identical runs: {different}"
        assert e1 == e2, f"{variant}, {threads} thread(s): evaluation differs between two identical runs"
        assert e1["n_clips"] > 0 and "by_test_gaze" in e1


@pytest.mark.slow
def test_two_identical_runs_write_byte_identical_model_files(world, tmp_path):
    """Not only the tensors: the header too (its metadata in sorted order, not a hash map's), so a model file's
    SHA-256 identifies the model. Eight saves of one model give the same bytes."""
    from gazeattn.models import ModelConfig, build_model, save_model

    files = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        assert main(["train", "--data", str(world), "--out", str(out), "--steps", "1", *SMALL]) == 0
        files.append((out / "checkpoints" / "step_0000001" / "model.safetensors").read_bytes())
    assert files[0] == files[1]
    model = build_model(ModelConfig(backbone="tiny", num_classes=3, clip=(8, 32, 32), strides=(8, 16, 16)))
    saved = {save_model(model, tmp_path / f"m{i}.safetensors").read_bytes() for i in range(8)}
    assert len(saved) == 1


def test_a_run_folder_records_the_float_environment_and_the_code(world, tmp_path, restore_threads):
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", *SMALL,
                 "--set", "run.threads=1", "--set", "run.checkpoint_every=1"]) == 0
    entries = json.loads((out / "provenance.json").read_text())["entries"]
    assert len(entries) == 1 and entries[0]["start_step"] == 0
    floats = entries[0]["floats"]
    assert floats["threads"] == 1 and floats["torch"] == torch.__version__
    assert floats["aten_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert entries[0]["fingerprint"] == float_fingerprint(floats)
    assert f"ATen {floats['aten_cpu_capability']}" in entries[0]["fingerprint"] and "1 thread(s)" in entries[0]["fingerprint"]
    meta = json.loads((out / "checkpoints" / "step_0000002" / "meta.json").read_text())
    assert meta["provenance"]["fingerprint"] == entries[0]["fingerprint"]
    # a resume adds an entry from the step it starts at; a resume that restarts earlier drops the later entries
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "3", *SMALL, "--resume",
                 "--set", "run.threads=2"]) == 0
    entries = json.loads((out / "provenance.json").read_text())["entries"]
    assert [e["start_step"] for e in entries] == [0, 2]
    assert entries[1]["floats"]["threads"] == 2 and "2 thread(s)" in entries[1]["fingerprint"]


def test_the_fingerprint_names_the_kernels_and_their_limits(monkeypatch):
    facts = float_facts(probe_onednn=False)
    assert facts["onednn_isa"] == "not probed" and facts["usable_cores"] >= 1
    base = float_fingerprint(facts)
    limited = float_fingerprint({**facts, "kernel_env": {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}})
    assert limited != base and "ONEDNN_MAX_CPU_ISA=AVX2" in limited and "OMP_NUM_THREADS" not in limited
    assert float_fingerprint({**facts, "threads": facts["threads"] + 1}) != base
    assert float_fingerprint({**facts, "aten_cpu_capability": "AVX2"}) != base


def test_the_onednn_probe_reads_the_isa_oneDNN_reports():
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN")
    isa = provenance()["floats"]["onednn_isa"]
    assert isa != "unknown" and re.search(r"(SSE|AVX|AMX|NEON|SVE)", isa), isa


def test_the_code_version_is_the_checkout_s_commit():
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    version = code_version()
    if head.returncode != 0:
        assert version["commit"] is None
        return
    assert version["commit"] == head.stdout.strip() and isinstance(version["dirty"], bool)
