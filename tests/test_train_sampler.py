"""The training samplers: the plain permutation and the gaze-rich batches (data.gaze_batch_share)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gazeattn.cli import main
from gazeattn.data.dataset import EgteaClips
from gazeattn.data.layout import EgteaLayout
from gazeattn.train.config import DataConfig, preset
from gazeattn.train.sampler import (GazeRichBatchSampler, StepBatchSampler, gazed_places, stream_places,
                                    train_sampler)
from tinyworld import SMALL, tiny_world


def _gazed(n: int = 50, every: int = 10) -> list[bool]:
    return [i % every == 3 for i in range(n)]  # 5 of 50 clips with gaze: 10 %


def test_every_batch_gives_k_places_to_clips_with_gaze_and_the_rest_to_the_others():
    gazed = _gazed()
    sampler = train_sampler(gazed, 8, share=0.25, seed=4, start_step=0, total_steps=40)
    assert isinstance(sampler, GazeRichBatchSampler) and sampler.k == 2
    seen_with, seen_without = set(), set()
    for batch in sampler:
        indices = [i for i, _ in batch]
        assert len(indices) == 8
        assert sum(gazed[i] for i in indices) == 2  # exactly k with gaze, always
        assert len(set(indices[2:])) == 6  # the others are distinct within a batch
        seen_with |= {i for i in indices if gazed[i]}
        seen_without |= {i for i in indices if not gazed[i]}
    assert seen_with == {i for i, g in enumerate(gazed) if g}  # every clip of both kinds is drawn
    assert seen_without == {i for i, g in enumerate(gazed) if not g}


def test_the_batches_are_a_pure_function_of_seed_step_and_rank_so_resuming_is_exact():
    gazed = _gazed()
    whole = list(GazeRichBatchSampler(gazed, 8, share=0.25, seed=1, start_step=0, total_steps=30))
    resumed = list(GazeRichBatchSampler(gazed, 8, share=0.25, seed=1, start_step=17, total_steps=30))
    assert resumed == whole[17:]
    other = list(GazeRichBatchSampler(gazed, 8, share=0.25, seed=2, start_step=0, total_steps=30))
    assert other != whole


def test_each_stream_walks_through_whole_permutations_one_epoch_after_another():
    items = [3, 13, 23, 33, 43, 53, 63]  # 7 items, 2 places a step: 3 steps an epoch, one item left out of each
    steps = [stream_places(items, 7, step, 2) for step in range(9)]
    for epoch in range(3):
        block = [pair for step in steps[3 * epoch:3 * (epoch + 1)] for pair in step]
        assert len({i for i, _ in block}) == 6 and {e for _, e in block} == {epoch}
    assert stream_places(items, 8, 0, 2) != steps[0] or stream_places(items, 8, 1, 2) != steps[1]  # the seed counts
    few = [stream_places([5, 6], 0, step, 3) for step in range(2)]  # too few items: the stream runs on
    assert [sorted({i for i, _ in s}) for s in few] == [[5, 6], [5, 6]]


def test_ranks_take_distinct_places_of_one_global_batch():
    gazed = _gazed(n=64, every=4)  # 16 with gaze, 48 without
    per_rank = [GazeRichBatchSampler(gazed, 4, share=0.25, seed=0, start_step=0, total_steps=5, rank=r, world=2)
                for r in range(2)]
    for step in range(5):
        a, b = (s.batch_for(step) for s in per_rank)
        assert not {i for i, _ in a} & {i for i, _ in b}


@pytest.mark.parametrize("share, batch, k", [(0.0, 8, 0), (0.25, 8, 2), (0.2, 8, 2), (0.01, 8, 1), (0.99, 8, 7),
                                             (0.25, 4, 1), (0.5, 2, 1)])
def test_the_places_round_half_up_with_at_least_one_and_one_left(share, batch, k):
    assert gazed_places(share, batch) == k


def test_plenty_of_gaze_or_none_or_share_zero_keeps_the_plain_permutation():
    plain = StepBatchSampler(50, 8, seed=3, start_step=0, total_steps=6)
    for gazed, share in ((_gazed(), 0.0), ([True] * 50, 0.25), ([False] * 50, 0.25), (_gazed(every=2), 0.25)):
        sampler = train_sampler(gazed, 8, share=share, seed=3, start_step=0, total_steps=6)
        assert type(sampler) is StepBatchSampler
        assert list(sampler) == list(plain)  # the same batches as before the option existed


def test_the_plain_sampler_takes_each_rank_s_slice_of_an_epoch_permutation_as_it_always_did():
    n, batch, world, seed = 37, 4, 2, 9
    per_epoch = n // (batch * world)  # 4 steps an epoch; the epoch's last 5 clips are left out
    for rank in range(world):
        sampler = StepBatchSampler(n, batch, seed=seed, start_step=0, total_steps=12, rank=rank, world=world)
        for step, got in enumerate(sampler):
            epoch, pos = divmod(step, per_epoch)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
            start = pos * batch * world + rank * batch
            assert got == [(int(i), epoch) for i in perm[start:start + batch]]


def test_the_share_is_checked():
    DataConfig(gaze_batch_share=0.5)
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="gaze_batch_share"):
            DataConfig(gaze_batch_share=bad)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("rich") / "egtea", seed=5, sessions=2, clips_per_session=6)


def test_the_dataset_knows_which_clips_keep_their_gaze(world):
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    config = preset("cpu").clip_config()
    full = EgteaClips(layout, entries, config, train=True)
    assert all(full.clip_has_gaze(i) for i in range(len(entries)))
    targeted = [i for i in range(len(entries)) if bool(full[(i, 0)]["gaze_mask"].any())]
    assert targeted, "the tiny world should give some clip a KL target"
    keep = targeted[0]
    data = EgteaClips(layout, entries, config, train=True, gaze_clips=frozenset({entries[keep].clip.name}))
    assert [data.clip_has_gaze(i) for i in range(len(entries))] == [i == keep for i in range(len(entries))]
    masks = [bool(data[(i, 0)]["gaze_mask"].any()) for i in range(len(entries))]  # what a read gives the KL
    assert masks[keep] and not any(m for i, m in enumerate(masks) if i != keep)


def test_a_run_under_a_scarce_budget_trains_on_gaze_rich_batches_and_says_so(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "3", "--set", "run.log_every=1",
                 "--set", "data.gaze_fraction=0.1", "--set", "data.gaze_batch_share=0.25", *SMALL]) == 0
    text = capsys.readouterr().out
    n_train = len(EgteaLayout(world).read_split(1, "train"))
    assert f"gaze-rich batches: 1 of every 4 places go to the 1 of {n_train} training clips with measured gaze" in text
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    shares = [r["kl_target_share"] for r in records if r["kind"] == "train"]
    assert len(shares) == 3 and all(s > 0.0 for s in shares)  # a KL target in every step's batch


def test_a_clip_whose_session_has_no_gaze_file_has_no_gaze(tmp_path):
    root = tiny_world(tmp_path / "egtea", seed=6, sessions=2, clips_per_session=3)
    layout = EgteaLayout(root)
    entries = layout.read_split(1, "train")
    lost = entries[0].clip.session
    files = [f for f in layout.gaze_dir.iterdir() if f.name.startswith(lost)]
    assert files
    for f in files:
        f.unlink()
    data = EgteaClips(EgteaLayout(root), entries, preset("cpu").clip_config(), train=True)
    assert [data.clip_has_gaze(i) for i in range(len(entries))] == [e.clip.session != lost for e in entries]


def test_the_cpu_preset_gives_scarce_gaze_rich_batches_and_the_reference_keeps_the_plain_permutation():
    assert preset("cpu").data.gaze_batch_share == 0.25
    assert preset("reference").data.gaze_batch_share == 0.0  # the paper's recipe, as it was
    assert DataConfig().gaze_batch_share == 0.0  # a config saved before the key existed trains as it did


def test_under_the_cpu_preset_a_scarce_budget_alone_turns_the_gaze_rich_batches_on(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "1", "--set", "run.log_every=1",
                 "--set", "data.gaze_fraction=0.1", *SMALL]) == 0
    assert "gaze-rich batches: 1 of every 4 places" in capsys.readouterr().out
    assert main(["train", "--data", str(world), "--out", str(tmp_path / "full"), "--steps", "1", *SMALL]) == 0
    assert "gaze-rich" not in capsys.readouterr().out
