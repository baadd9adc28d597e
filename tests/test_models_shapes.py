"""Model shapes, grid derivation, modes and errors (small CPU inputs; the full size on the meta device)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from gazeattn.data.targets import grid_shape
from gazeattn.models import (
    GazeAttentionModel,
    InceptionI3d,
    ModelConfig,
    TinyBackbone,
    same_padding,
)
from gazeattn.models.i3d import MaxPool3dSame, Unit3D

TINY = dict(backbone="tiny", num_classes=7, tiny_widths=(4, 6, 8, 8, 12), head_channels=(6, 4))


def test_full_size_shapes_on_meta_device():
    """24×224² two-stream: x4 (832, 3, 7, 7), x5 (1024, 3, 7, 7), gaze (3, 7, 7), 106 logits, 147-cell FC."""
    with torch.device("meta"):
        model = GazeAttentionModel(ModelConfig())
        out = model(torch.empty(2, 3, 24, 224, 224), torch.empty(2, 2, 24, 224, 224))
        logits = model.classify(torch.empty(2, 3, 7, 7), out.x5)
    assert out.x4.shape == (2, 832, 3, 7, 7)
    assert out.x5.shape == (2, 1024, 3, 7, 7)
    assert out.gaze_logits.shape == (2, 3, 7, 7)
    assert logits.shape == (2, 106)
    assert model.attention.fc.weight.shape == (147, 147)
    assert model.config.grid == (3, 7, 7)


def test_parameter_counts_match_the_reference():
    with torch.device("meta"):
        model = GazeAttentionModel(ModelConfig())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model.gaze_head) == 7_266_785  # ≈ 7.27 M
    assert count(model.attention.fc) == 21_756
    assert count(model.attention.fc_f) == 108_650
    assert count(model.backbone.model_rgb) == 12_287_264  # ≈ 12.3 M
    assert model.backbone.model_flow.Conv3d_1a_7x7.conv3d.weight.shape == (64, 2, 7, 7, 7)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 3))
def test_same_padding_gives_ceil_and_tf_split(n, k, s):
    pad = same_padding((n, n, n), (k, k, k), (s, s, s))
    total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
    assert pad == (total // 2, total - total // 2) * 3
    assert (n + total - k) // s + 1 == math.ceil(n / s)


@pytest.mark.parametrize("size", [(5, 9, 13), (8, 16, 16), (7, 33, 20)])
def test_unit_and_pool_output_is_ceil(size):
    x = torch.rand(1, 2, *size)
    for layer in (Unit3D(2, 3, 7, 2), Unit3D(2, 3, (1, 3, 3), (1, 2, 2)), MaxPool3dSame(3, 2), MaxPool3dSame(2, 2)):
        y = layer(x)
        assert y.shape[2:] == tuple(math.ceil(n / s) for n, s in zip(size, layer.stride))


def test_maxpool_pads_with_zeros_like_the_reference():
    x = -torch.ones(1, 1, 1, 3, 3)  # all negative: a zero pad shows up in the border windows
    y = MaxPool3dSame((1, 3, 3), (1, 2, 2))(x)
    ref = F.max_pool3d(F.pad(x, (1, 1, 1, 1, 0, 0)), (1, 3, 3), (1, 2, 2))  # 3 % 2 = 1: pad 3 − 1 = 2 → (1, 1)
    assert torch.equal(y, ref) and y.shape[-2:] == (2, 2) and bool((y == 0).all())


@pytest.mark.parametrize("size", [(8, 64, 64), (9, 65, 47), (16, 96, 64)])
def test_i3d_small_inputs_grid_matches_targets(size):
    torch.set_num_threads(1)
    net = InceptionI3d(3).eval()
    with torch.no_grad():
        x4, x5 = net(torch.randn(1, 3, *size))
    grid = grid_shape(*size, strides=(8, 32, 32))
    assert x4.shape == (1, 832, *grid) and x5.shape == (1, 1024, *grid)


@pytest.mark.parametrize("stride", [8, 16, 32])
@pytest.mark.parametrize("size", [(24, 80, 80), (9, 50, 70)])
def test_tiny_backbone_strides(stride, size):
    net = TinyBackbone(2, widths=(4, 4, 4, 6, 10), spatial_stride=stride)
    x4, x5 = net(torch.randn(2, 2, *size))
    grid = grid_shape(*size, strides=(8, stride, stride))
    assert x4.shape == (2, 6, *grid) and x5.shape == (2, 10, *grid)


def test_demo_configuration_grid():
    cfg = ModelConfig(**TINY, clip=(24, 80, 80), strides=(8, 16, 16))
    model = GazeAttentionModel(cfg)
    assert cfg.grid == (3, 5, 5) and model.attention.fc.weight.shape == (75, 75)
    out = model(torch.randn(2, 3, 24, 80, 80), torch.randn(2, 2, 24, 80, 80))
    assert out.gaze_logits.shape == (2, 3, 5, 5)
    z = F.one_hot(torch.randint(0, 25, (2, 3)), 25).float().view(2, 3, 5, 5)
    assert model.classify(z, out.x5).shape == (2, 7)


@pytest.mark.parametrize("streams", ["rgb", "flow"])
def test_single_stream_modes(streams):
    model = GazeAttentionModel(ModelConfig(**TINY, streams=streams, clip=(8, 64, 64)))
    rgb, flow = torch.randn(1, 3, 8, 64, 64), torch.randn(1, 2, 8, 64, 64)
    x4, x5 = model.backbone(rgb if streams == "rgb" else None, flow if streams == "flow" else None)
    assert x5.shape == (1, 12, 1, 2, 2)
    with pytest.raises(ValueError, match="no (flow|rgb) stream"):
        model.backbone(rgb, flow)
    other = "flow" if streams == "rgb" else "rgb"
    assert getattr(model.backbone, f"model_{other}") is None


def test_two_stream_is_the_sum_of_streams():
    model = GazeAttentionModel(ModelConfig(**TINY, clip=(8, 64, 64))).eval()
    rgb, flow = torch.randn(1, 3, 8, 64, 64), torch.randn(1, 2, 8, 64, 64)
    x4, x5 = model.backbone(rgb, flow)
    r4, r5 = model.backbone.model_rgb(rgb)
    f4, f5 = model.backbone.model_flow(flow)
    torch.testing.assert_close(x4, r4 + f4)
    torch.testing.assert_close(x5, r5 + f5)
    with pytest.raises(ValueError, match="needs a flow input"):
        model.backbone(rgb, None)


def test_grid_mismatch_is_a_clear_error():
    model = GazeAttentionModel(ModelConfig(**TINY, clip=(24, 224, 224)))  # FC for 3×7×7
    x5 = torch.randn(1, 12, 1, 2, 2)
    with pytest.raises(ValueError, match=r"x5's grid \(1, 2, 2\) does not match .*\(3, 7, 7\).*ModelConfig\(clip="):
        model.classify(torch.zeros(1, 1, 2, 2), x5)
    with pytest.raises(ValueError, match="z's grid"):
        GazeAttentionModel(ModelConfig(**TINY, clip=(8, 64, 64))).classify(torch.zeros(1, 1, 3, 3), x5)


def test_no_gaze_baseline_is_a_plain_classifier():
    model = GazeAttentionModel(ModelConfig(**TINY, attention="none", clip=(8, 64, 64))).eval()
    assert model.gaze_head is None
    assert model(torch.randn(1, 3, 8, 64, 64), torch.randn(1, 2, 8, 64, 64)).gaze_logits is None
    x5 = torch.randn(2, 12, 1, 2, 2)
    expected = model.attention.fc_f(x5.mean(dim=(2, 3, 4), keepdim=True)).flatten(1)
    torch.testing.assert_close(model.classify(None, x5), expected)


def test_min_attention_matches_the_reference_formula():
    """a = sigmoid(FC(flatten z)) in (T', H', W') row-major order; f = GAP(x5 ⊙ a) + GAP(x5); fc_f."""
    model = GazeAttentionModel(ModelConfig(**TINY, clip=(16, 96, 64), dropout=0.5)).eval()  # grid (2, 3, 2)
    x5 = torch.randn(2, 12, 2, 3, 2)
    z = torch.rand(2, 2, 3, 2)
    att = model.attention
    a = torch.sigmoid(z.reshape(2, -1) @ att.fc.weight.T + att.fc.bias).reshape(2, 1, 2, 3, 2)
    f = (x5 * a).mean(dim=(2, 3, 4)) + x5.mean(dim=(2, 3, 4))  # (B, C5)
    expected = f @ att.fc_f.weight.flatten(1).T + att.fc_f.bias
    torch.testing.assert_close(model.classify(z, x5), expected)
    torch.testing.assert_close(model.attention_map(z), a.squeeze(1))


def test_config_roundtrip_and_unknown_keys():
    cfg = ModelConfig(**TINY, clip=(24, 80, 80), strides=(8, 16, 16))
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**cfg.to_dict(), "grid": [3, 7, 7]})
    with pytest.raises(ValueError, match="I3D's total strides"):
        ModelConfig(strides=(8, 16, 16))
    with pytest.raises(ValueError, match="attention must be one of"):
        ModelConfig(attention="soft")
