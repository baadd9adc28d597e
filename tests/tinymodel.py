"""The tiny model and batch the objective's option tests share: a 2 × 2 × 2 gaze grid (a 16 × 32 × 32 clip at the
tiny backbone's stride (8, 16, 16)), and a batch whose every slot has a one-hot measured target."""

from __future__ import annotations

import torch

from gazeattn.models import ModelConfig, build_model

CLIP = (16, 32, 32)  # tiny backbone at stride (8, 16, 16) -> grid (2, 2, 2)


def tiny_model(attention: str = "glimpse", classes: int = 5):
    config = ModelConfig(backbone="tiny", streams="rgb", num_classes=classes, attention=attention, clip=CLIP,
                         strides=(8, 16, 16), tiny_widths=(4, 4, 8, 8, 8), dropout=0.5)
    return build_model(config)


def gazed_batch(gen: torch.Generator, b: int = 6, classes: int = 5) -> dict[str, torch.Tensor]:
    """``b`` random clips with labels and a one-hot measured target in both slots (``gaze_mask`` all True)."""
    target = torch.zeros(b, 2, 2, 2)
    cells = torch.randint(0, 4, (b, 2), generator=gen)
    target.view(b, 2, 4).scatter_(2, cells.unsqueeze(-1), 1.0)
    return {"rgb": torch.randn(b, 3, *CLIP, generator=gen), "label": torch.randint(0, classes, (b,), generator=gen),
            "gaze_target": target, "gaze_mask": torch.ones(b, 2, dtype=torch.bool)}
