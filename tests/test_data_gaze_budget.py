"""The gaze budget (measured gaze kept on a seeded share of the training clips or sessions): the choice is a pure
function of the seed, the KL is masked on the other clips while the estimator still trains q there, training logs
the share of slots with a KL target, the synthetic writer writes every session however scarce its gaze, and a
study cell can set the budget."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from gazeattn.cli import main
from gazeattn.data.begaze import FIXATION, SACCADE, UNTRACKED, parse_begaze
from gazeattn.data.clipnames import ClipName, parse_clip_name
from gazeattn.data.dataset import EgteaClips
from gazeattn.data.gaze_budget import budget_count, gaze_budget
from gazeattn.data.layout import EgteaLayout
from gazeattn.estimators import Constant, DirectOptimization
from gazeattn.models import ModelConfig, build_model
from gazeattn.study.plan import canonical_config, comparable_config, plan_study
from gazeattn.study.spec import load_spec
from gazeattn.synth import SynthConfig, write_synthetic_egtea
from gazeattn.synth.gaze import simulate_gaze
from gazeattn.synth.plan import clip_scene, plan_world, session_style
from gazeattn.train.config import DataConfig, LossConfig, TrainConfig, apply_overrides, parse_set_flags, preset
from gazeattn.train.objective import GazeObjective, measured_gaze_map
from tinyworld import SMALL, tiny_world


def _clips(sessions: int = 10, per_session: int = 10) -> list[ClipName]:
    return [ClipName(f"P{s:02d}-R01-PastaSalad", 1000 * c, 1000 * c + 900, 30 * c, 30 * c + 24)
            for s in range(sessions) for c in range(per_session)]


# ------------------------------------------------------------------------------------------- the choice
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.3, 0.55, 1.0])
def test_the_budget_keeps_exactly_the_rounded_share_of_clips(fraction):
    clips = _clips()
    budget = gaze_budget(clips, fraction=fraction, unit="clips", seed=0)
    assert len(budget.kept) == round(fraction * 100) == budget.kept_units
    assert budget.kept <= {c.name for c in clips} and budget.n_clips == 100


def test_rounding_is_half_up():
    assert [budget_count(f, 10) for f in (0.05, 0.15, 0.25, 0.04, 0.96)] == [1, 2, 3, 0, 10]
    assert budget_count(0.5, 3) == 2 and budget_count(1.0, 0) == 0
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        budget_count(1.01, 10)


def test_the_choice_is_a_pure_function_of_the_seed_and_not_of_the_order():
    clips = _clips()
    first = gaze_budget(clips, fraction=0.3, seed=4).kept
    shuffled = list(clips) + clips[:7]  # another order, with duplicates
    random.Random(1).shuffle(shuffled)
    assert gaze_budget(shuffled, fraction=0.3, seed=4).kept == first
    assert gaze_budget(clips, fraction=0.3, seed=4).kept == first
    others = {gaze_budget(clips, fraction=0.3, seed=s).kept for s in range(5, 10)}
    assert first not in others and len(others) == 5


def test_the_choice_is_nested_as_the_fraction_grows():
    clips = _clips()
    kept = [gaze_budget(clips, fraction=f, seed=2).kept for f in (0.0, 0.1, 0.3, 0.5, 0.9, 1.0)]
    assert all(a < b for a, b in zip(kept, kept[1:]))
    assert kept[-1] == {c.name for c in clips}


def test_the_sessions_unit_keeps_whole_sessions():
    clips = _clips(sessions=10, per_session=3)
    budget = gaze_budget(clips, fraction=0.3, unit="sessions", seed=0)
    sessions = {c.session for c in clips if c.name in budget.kept}
    assert len(sessions) == 3 == budget.kept_units and budget.n_units == 10
    assert budget.kept == {c.name for c in clips if c.session in sessions}  # every clip of a kept session
    assert "(3 of 10 sessions)" in budget.describe() and "9 of 30 training clips" in budget.describe()
    with pytest.raises(ValueError, match="unit"):
        gaze_budget(clips, fraction=0.3, unit="videos")


def test_config_keys_are_checked_and_the_seed_follows_run_seed():
    assert DataConfig().gaze_fraction == 1.0 and DataConfig().gaze_budget_unit == "clips"
    for bad in ({"gaze_fraction": 1.5}, {"gaze_fraction": float("nan")}, {"gaze_budget_unit": "videos"},
                {"gaze_budget_seed": -2}):
        with pytest.raises(ValueError, match="data.gaze_"):
            DataConfig(**bad)
    config = apply_overrides(preset("cpu"), parse_set_flags(["data.gaze_fraction=0.3", "run.seed=7"]), "flags")
    assert config.data.gaze_fraction == 0.3 and config.gaze_budget_seed() == 7
    fixed = apply_overrides(config, parse_set_flags(["data.gaze_budget_seed=2"]), "flags")
    assert fixed.gaze_budget_seed() == 2


# --------------------------------------------------------------------------------- the objective, masked
CLIP = (16, 32, 32)  # tiny backbone at stride (8, 16, 16) -> grid (2, 2, 2)


def _model_and_batch():
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone="tiny", streams="rgb", num_classes=5, attention="glimpse", clip=CLIP,
                                    strides=(8, 16, 16), tiny_widths=(4, 4, 8, 8, 8), dropout=0.0))
    g = torch.Generator().manual_seed(3)
    target = torch.zeros(2, 2, 2, 2)
    target.view(2, 2, 4).scatter_(2, torch.randint(0, 4, (2, 2, 1), generator=g), 1.0)
    batch = {"rgb": torch.randn(2, 3, *CLIP, generator=g), "label": torch.tensor([1, 3]), "gaze_target": target,
             "gaze_mask": torch.ones(2, 2, dtype=torch.bool)}
    return model, batch


def _logit_gradients(model, batch):
    """(gradient of the KL, gradient of CE + surrogate) on the gaze logits, and the terms."""
    objective = GazeObjective("gaze-direct", DirectOptimization(eps_schedule=Constant(1000.0)), LossConfig(), diagnostics=False)
    terms = objective(model, batch, 0, torch.Generator().manual_seed(1))
    logits = terms["gaze_logits"]
    (g_kl,) = torch.autograd.grad(terms["kl"], logits, retain_graph=True)
    (g_est,) = torch.autograd.grad(terms["loss"] - terms["kl"], logits)
    return g_kl, g_est, terms


def test_a_clip_without_kept_gaze_leaves_the_kl_but_the_estimator_still_trains_q_there():
    model, batch = _model_and_batch()
    g_kl_full, g_est_full, full = _logit_gradients(model, batch)
    masked = {**batch, "gaze_mask": torch.tensor([[True, True], [False, False]])}  # clip 1 left out by the budget
    g_kl, g_est, terms = _logit_gradients(model, masked)
    assert float(g_kl_full[1].abs().sum()) > 0 and float(g_kl[1].abs().sum()) == 0.0  # no KL on clip 1
    assert float(g_kl[0].abs().sum()) > 0
    assert float(g_est[1].abs().sum()) > 0  # the surrogate still reaches q on clip 1 ...
    torch.testing.assert_close(g_est, g_est_full, rtol=0, atol=0)  # ... exactly as it did with the mask on
    assert terms["stats"]["kl_target_share"] == 0.5 and full["stats"]["kl_target_share"] == 1.0


def test_the_surrogate_reaches_the_gaze_head_on_a_batch_without_any_kl_target():
    model, batch = _model_and_batch()
    batch = {**batch, "gaze_mask": torch.zeros(2, 2, dtype=torch.bool)}
    objective = GazeObjective("gaze-direct", DirectOptimization(eps_schedule=Constant(1000.0)), LossConfig())
    terms = objective(model, batch, 0, torch.Generator().manual_seed(1))
    assert float(terms["kl"].detach()) == 0.0 and terms["stats"]["kl_target_share"] == 0.0
    terms["loss"].backward()
    assert sum(float(p.grad.abs().sum()) for p in model.gaze_head.parameters() if p.grad is not None) > 0


# ----------------------------------------------------------------------------------- the data side
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return tiny_world(tmp_path_factory.mktemp("budget") / "egtea", seed=3, sessions=2, clips_per_session=4)


def test_the_dataset_reads_a_clip_outside_the_budget_as_untracked(world):
    layout = EgteaLayout(world)
    entries = layout.read_split(1, "train")
    config = preset("cpu").clip_config()
    keep = frozenset({entries[0].clip.name})
    everything = EgteaClips(layout, entries[:2], config, train=True, seed=1)
    budgeted = EgteaClips(layout, entries[:2], config, train=True, seed=1, gaze_clips=keep)
    full0, kept0 = everything[(0, 0)], budgeted[(0, 0)]
    for key in ("rgb", "gaze_xy", "gaze_type", "gaze_target", "gaze_mask"):  # the kept clip: as before
        assert torch.equal(full0[key], kept0[key])
    full1, left1 = everything[(1, 0)], budgeted[(1, 0)]
    assert bool(full1["gaze_mask"].any())  # it had measured gaze ...
    assert bool((left1["gaze_type"] == UNTRACKED).all()) and not bool(left1["gaze_mask"].any())  # ... now none
    assert torch.equal(full1["rgb"], left1["rgb"])
    oracle = measured_gaze_map({k: v.unsqueeze(0) for k, v in left1.items() if k in ("gaze_target", "gaze_mask")})
    assert torch.allclose(oracle, torch.full_like(oracle, 1.0 / oracle[0, 0].numel()))  # gaze-oracle: uniform


def _records(run: Path) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


def test_training_under_a_budget_logs_the_share_and_says_what_it_kept(world, tmp_path, capsys):
    n_train = len(EgteaLayout(world).read_split(1, "train"))
    out = tmp_path / "run30"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "2", "--set", "run.log_every=1",
                 "--set", "data.gaze_fraction=0.3", *SMALL]) == 0
    text = capsys.readouterr().out
    k = budget_count(0.3, n_train)
    assert f"gaze budget: measured gaze kept on {k} of {n_train} training clips (30 %, unit clips, seed 0)" in text
    records = _records(out)
    assert len(records) == 2 and all(0.0 <= r["kl_target_share"] <= 1.0 for r in records)
    none = tmp_path / "run0"
    assert main(["train", "--data", str(world), "--out", str(none), "--steps", "2", "--set", "run.log_every=1",
                 "--set", "data.gaze_fraction=0", *SMALL]) == 0
    assert f"kept on 0 of {n_train} training clips" in capsys.readouterr().out
    assert all(r["kl_target_share"] == 0.0 and r["kl"] == 0.0 for r in _records(none))


def test_the_default_keeps_every_clip_and_says_nothing(world, tmp_path, capsys):
    entries = EgteaLayout(world).read_split(1, "train")
    assert gaze_budget((e.clip for e in entries), fraction=1.0, seed=0).kept == {e.clip.name for e in entries}
    out = tmp_path / "run"
    assert main(["train", "--data", str(world), "--out", str(out), "--steps", "1", "--set", "run.log_every=1",
                 *SMALL]) == 0
    assert "gaze budget" not in capsys.readouterr().out
    assert 0.0 < _records(out)[0]["kl_target_share"] <= 1.0


# ------------------------------------------------------------------------------ the synthetic writer
SCARCE = dict(sessions=2, clips_per_session=3, seed=0, width=32, height=32, min_frames=150, max_frames=200)


@pytest.mark.parametrize("no_gaze", [0.9, 1.0])
def test_every_session_keeps_enough_samples_for_the_official_reader_and_no_gaze_in_its_no_gaze_clips(no_gaze):
    config = SynthConfig(**SCARCE, no_gaze_clip_fraction=no_gaze)
    for s in plan_world(config):  # long clips, short gaps: removing the no-gaze samples broke the reader's bound
        s.style = session_style(config, s)
        for c in s.clips:
            c.scene = clip_scene(config, s, c)
        gaze = simulate_gaze(np.random.default_rng([config.seed, 3, s.index]), s, config)
        assert 2 * len(gaze["t"]) > int(gaze["frame"][-1])
        for c in s.clips:
            inside = (gaze["frame"] >= c.name.start_frame) & (gaze["frame"] < c.name.end_frame)
            if c.no_gaze:
                assert not np.isin(gaze["event"][inside], ["Fixation", "Saccade"]).any()


@pytest.mark.parametrize("no_gaze", [0.9, 1.0])
def test_the_writer_writes_every_session_at_scarce_gaze_and_check_accepts_it(no_gaze, tmp_path, capsys):
    root = tmp_path / "w"
    summary = write_synthetic_egtea(root, SynthConfig(**SCARCE, no_gaze_clip_fraction=no_gaze))
    assert summary.n_sessions == 2 and summary.n_no_gaze_clips == round(no_gaze * 6)
    assert len(list((root / "gaze_data").glob("*.txt"))) == 2  # every session has its gaze file, as in EGTEA
    truth = json.loads((root / "synth_truth.json").read_text())
    for name, clip in truth["clips"].items():
        if clip["no_gaze"]:
            table = parse_begaze(root / "gaze_data" / f"{clip['session']}.txt")
            start = parse_clip_name(name).start_frame
            assert not np.isin(table[start:start + clip["n_frames"], 2], [FIXATION, SACCADE]).any()
    assert main(["check", str(root), "--json", "--strict"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["sessions_without_gaze"] == []


# ----------------------------------------------------------------------------------------- the study
def test_a_study_cell_sets_the_budget_and_older_runs_are_not_another_recipe(tmp_path):
    spec_path = tmp_path / "s.toml"
    spec_path.write_text('[study]\nseeds = [0]\n[worlds.w]\nsessions = 2\n'
                         '[cells.scarce]\nmodel = "gaze-direct"\nset = { "data.gaze_fraction" = 0.1 }\n'
                         '[cells.full]\nmodel = "gaze-direct"\n')
    spec = load_spec(spec_path)
    planned = {p.cell.name: p for p in plan_study(spec, tmp_path / "out")}
    assert planned["scarce"].config.data.gaze_fraction == 0.1 and planned["full"].config.data.gaze_fraction == 1.0
    assert planned["scarce"].record["config"]["data"]["gaze_fraction"] == 0.1
    older = TrainConfig().to_dict()  # a run saved before the budget existed: its config has no budget keys
    for key in ("gaze_fraction", "gaze_budget_unit", "gaze_budget_seed"):
        del older["data"][key]
    assert canonical_config(older) == TrainConfig().to_dict()
    assert canonical_config(comparable_config(older, tmp_path)) == comparable_config(TrainConfig().to_dict(), tmp_path)
