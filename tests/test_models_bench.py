"""The candidate-scoring benchmark runs, agrees with the copying approach, and its memory meter counts bytes."""

from __future__ import annotations

import json

import torch

from gazeattn.benchmarks.candidates import PeakTensorMemory, main, run


def test_peak_tensor_memory_counts_live_storages():
    x = torch.ones(1000)  # made outside: not counted
    mode = PeakTensorMemory()
    with mode:
        a = x * 2  # 4000 bytes
        b = a.view(10, 100)  # a view: no new storage
        del a
        c = b + 1  # +4000 bytes while b is alive
        del b, c
        d = torch.zeros(10)  # after both were freed
    assert mode.peak == 8000 and mode.current == 40
    del d


def test_benchmark_rows_and_json(capsys):
    result = run([1, 2], repeats=1)
    for row in result["rows"]:
        assert row["candidates"] == 147 and row["max_abs_loss_diff"] < 1e-4
        # the copy holds x5 once per candidate: ≥ 147 × (1024·147·4 bytes) per clip
        assert row["copy_peak_mb"] * 2**20 >= row["batch"] * 147 * 1024 * 147 * 4
        assert row["batched_peak_mb"] < row["copy_peak_mb"] / 10
    assert main(["--batch", "1", "--repeats", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["batch"] == 1
