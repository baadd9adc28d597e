"""Importing the reference's three checkpoint files, piergiaj I3D files and our own format.

State dicts are fabricated from the key/shape tables in tests/data/reference/keys/ (random tensors of exactly
those names and shapes), saved with torch.save (zip, and legacy non-zip) and imported.
"""

from __future__ import annotations

import ast

import pytest
import torch

from gazeattn.models import (
    GazeAttentionModel,
    InceptionI3d,
    ModelConfig,
    WeightsError,
    load_model,
    load_reference_checkpoint,
    load_stream_weights,
    save_model,
)
from gazeattn.models.weights import read_model_config
from realdata import REFERENCE_KEYS

TINY = dict(backbone="tiny", num_classes=5, tiny_widths=(4, 6, 8, 8, 12), head_channels=(6, 4))


def _table(name: str) -> dict[str, tuple[int, ...]]:
    rows = [line.split("\t") for line in (REFERENCE_KEYS / name).read_text().splitlines() if line.strip()]
    return {k: tuple(ast.literal_eval(shape)) for k, shape in rows}


def _fabricate(table: dict[str, tuple[int, ...]], drop_tracked: bool = False) -> dict[str, torch.Tensor]:
    sd = {}
    for k, shape in table.items():
        if k.endswith("num_batches_tracked"):
            if not drop_tracked:
                sd[k] = torch.tensor(17)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape) + 0.5
        else:
            sd[k] = torch.randn(shape)
    return sd


@pytest.fixture(scope="module")
def reference_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    sds = {name: _fabricate(_table(f"min2021_{name}.tsv")) for name in ("base", "gaze", "attn")}
    paths = {}
    for name, sd in sds.items():
        paths[name] = tmp / f"i3d_iga_best1_{name}.pt"
        torch.save(sd, paths[name])
    return sds, paths


def _check_full_coverage(model: GazeAttentionModel, sds: dict[str, dict[str, torch.Tensor]]) -> None:
    ours = model.state_dict()
    prefix = {"base": "backbone.", "gaze": "gaze_head.", "attn": "attention."}
    n = 0
    for name, sd in sds.items():
        for k, v in sd.items():
            key = prefix[name] + k.removeprefix("module.")
            assert torch.equal(ours[key], v), key
            n += 1
    assert n == len(ours) == 684 + 88 + 4


def test_reference_checkpoint_imports_with_full_coverage(reference_files):
    sds, paths = reference_files
    model = load_reference_checkpoint(paths["base"], paths["gaze"], paths["attn"])
    assert not model.training
    assert model.config.streams == "two_stream" and model.config.num_classes == 106 and model.config.grid == (3, 7, 7)
    _check_full_coverage(model, sds)


def test_legacy_pickles_without_num_batches_tracked_import(tmp_path):
    sds = {name: _fabricate(_table(f"min2021_{name}.tsv"), drop_tracked=True) for name in ("base", "gaze", "attn")}
    paths = {}
    for name, sd in sds.items():
        paths[name] = tmp_path / f"{name}.pt"
        torch.save(sd, paths[name], _use_new_zipfile_serialization=False)
    model = load_reference_checkpoint(paths["base"], paths["gaze"], paths["attn"])
    ours = model.state_dict()
    tracked = [k for k in ours if k.endswith("num_batches_tracked")]
    assert len(tracked) == (684 - 570) + (88 - 74) and all(ours[k] == 0 for k in tracked)
    for name, prefix in (("base", "backbone."), ("gaze", "gaze_head."), ("attn", "attention.")):
        for k, v in sds[name].items():
            assert torch.equal(ours[prefix + k.removeprefix("module.")], v)


@pytest.mark.parametrize("part", ["base", "gaze", "attn"])
def test_missing_key_names_the_file_and_key(reference_files, tmp_path, part):
    sds, paths = reference_files
    sd = dict(sds[part])
    victim = {"base": "module.model_flow.Mixed_4d.b2b.conv3d.weight", "gaze": "module.b2.running_mean",
              "attn": "module.fc.bias"}[part]
    del sd[victim]
    bad = tmp_path / f"bad_{part}.pt"
    torch.save(sd, bad)
    args = {**paths, part: bad}
    with pytest.raises(WeightsError, match=rf"bad_{part}\.pt: .*1 missing key\(s\): '{victim}'"):
        load_reference_checkpoint(args["base"], args["gaze"], args["attn"])


def test_wrong_shape_and_unexpected_key_are_errors(reference_files, tmp_path):
    sds, paths = reference_files
    sd = dict(sds["gaze"])
    sd["module.g1.weight"] = torch.randn(256, 1024, 3, 3, 3)
    bad = tmp_path / "bad_gaze.pt"
    torch.save(sd, bad)
    with pytest.raises(WeightsError, match=r"bad_gaze\.pt: key 'module\.g1\.weight': shape \(256, 1024, 3, 3, 3\)"):
        load_reference_checkpoint(paths["base"], bad, paths["attn"])
    sd = dict(sds["attn"])
    sd["module.extra.weight"] = torch.randn(3)
    torch.save(sd, bad)
    with pytest.raises(WeightsError, match=r"unexpected key\(s\): 'module\.extra\.weight'"):
        load_reference_checkpoint(paths["base"], paths["gaze"], bad)


def test_reference_import_cli_writes_our_format(reference_files, tmp_path):
    from gazeattn.cli import main

    sds, paths = reference_files
    rc = main(["weights", "import-reference", "--base", str(paths["base"]), "--gaze", str(paths["gaze"]),
               "--attn", str(paths["attn"]), "--out", str(tmp_path / "out")])
    assert rc == 0
    model = load_model(tmp_path / "out" / "model.safetensors")
    _check_full_coverage(model, sds)
    assert main(["weights", "info", str(tmp_path / "out" / "model.safetensors")]) == 0


def test_piergiaj_files_load_into_streams_and_drop_logits_explicitly(tmp_path):
    table = _table("piergiaj_i3d_rgb.tsv")
    rgb = _fabricate(table)
    flow = _fabricate({**table, "Conv3d_1a_7x7.conv3d.weight": (64, 2, 7, 7, 7)})
    torch.save(rgb, tmp_path / "rgb_imagenet.pt")
    torch.save(flow, tmp_path / "flow_imagenet.pt")
    model = GazeAttentionModel(ModelConfig(gaze_head_init="backbone"))
    report = load_stream_weights(model, tmp_path / "rgb_imagenet.pt", "rgb")
    assert report.dropped == ["logits.conv3d.weight", "logits.conv3d.bias"] and report.filled == []
    load_stream_weights(model, tmp_path / "flow_imagenet.pt", "flow")
    ours = model.state_dict()
    for k, v in rgb.items():
        if not k.startswith("logits."):
            assert torch.equal(ours["backbone.model_rgb." + k], v), k
            assert torch.equal(ours["backbone.model_flow." + k], flow[k]), k
    # gaze_head_init="backbone": the head's Mixed_5b/5c start from the RGB stream's
    assert torch.equal(ours["gaze_head.Mixed_5c.b3b.conv3d.weight"], rgb["Mixed_5c.b3b.conv3d.weight"])
    with pytest.raises(WeightsError, match=r"flow_imagenet\.pt: key 'Conv3d_1a_7x7\.conv3d\.weight': shape \(64, 2"):
        load_stream_weights(model, tmp_path / "flow_imagenet.pt", "rgb")
    # a 157-class (Charades) head into a 400-class I3D: dropped, the I3D keeps its own head
    charades = {**rgb, "logits.conv3d.weight": torch.randn(157, 1024, 1, 1, 1), "logits.conv3d.bias": torch.randn(157)}
    torch.save(charades, tmp_path / "rgb_charades.pt")
    net = InceptionI3d(3, num_classes=400)
    before = net.logits.conv3d.weight.clone()
    dropped = load_stream_weights(net, tmp_path / "rgb_charades.pt").dropped
    assert dropped == ["logits.conv3d.weight", "logits.conv3d.bias"]
    assert torch.equal(net.logits.conv3d.weight, before)


def test_our_format_roundtrip(tmp_path):
    cfg = ModelConfig(**TINY, clip=(24, 80, 80), strides=(8, 16, 16), attention="li2018")
    model = GazeAttentionModel(cfg).eval()
    path = save_model(model, tmp_path / "ckpt" / "model.safetensors")
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]  # no temp file left behind
    assert read_model_config(path) == cfg
    again = load_model(path).eval()
    rgb, flow = torch.randn(1, 3, 24, 80, 80), torch.randn(1, 2, 24, 80, 80)
    with torch.no_grad():
        a, b = model(rgb, flow), again(rgb, flow)
        z = torch.softmax(a.gaze_logits.flatten(2), -1).view_as(a.gaze_logits)
        assert torch.equal(model.classify(z, a.x5), again.classify(z, b.x5))
    torch.save({"x": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="cannot read safetensors"):
        load_model(tmp_path / "other.pt")


def test_reference_format_roundtrip_legacy(tmp_path):
    from gazeattn.models import save_reference_checkpoint

    cfg = ModelConfig(**TINY, clip=(16, 64, 64))
    model = GazeAttentionModel(cfg)
    paths = [tmp_path / f"{n}.pt" for n in ("base", "gaze", "attn")]
    save_reference_checkpoint(model, *paths, legacy=True)
    again = load_reference_checkpoint(*paths, config=cfg)
    ours, theirs = model.state_dict(), again.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(WeightsError, match=r"attn\.pt: key 'module\.fc\.weight' is \(8, 8\), but"):
        load_reference_checkpoint(*paths[:2], paths[2])  # inferred 24×224² config: 147 cells, not 8
