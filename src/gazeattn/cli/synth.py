"""`gazeattn synth OUT [--world NAME] [--layout egtea|generic] [--gaze-format F] [--knob value ...]`: write a
synthetic dataset in the exact EGTEA Gaze+ layout, or in the generic layout of the user's own videos (see
gazeattn.synth), its gaze in one of the gaze formats. A named world sets the difficulty knobs; each flag overrides
one of them."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from gazeattn.synth import (ACTION_POSITIONS, CHOICES, GAZE_FORMATS, WORLD_NOTES, WORLDS, SynthConfig,
                            synth_world, write_synthetic_egtea, write_synthetic_generic)
from gazeattn.cli import parsed_config
from gazeattn.utils.errors import OutputError, output_error

WRITERS = {"egtea": write_synthetic_egtea, "generic": write_synthetic_generic}


def _remove_partial(out: Path, *, existed: bool) -> None:
    """Delete what a failed run wrote into ``out``, which was missing or empty before it (the folder itself only if
    the run created it)."""
    if not out.is_dir() or out.is_symlink():
        return
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        try:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        except OSError:
            pass


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 128x96, got {text!r}") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even and >= 16 (H.264 yuv420p), got {text!r}")
    return w, h


def _decoys(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'decoys must be a count or "all", got {text!r}') from None


# flag dest -> SynthConfig field, for the knobs whose flag name differs from the field
_FIELD = {"no_gaze_fraction": "no_gaze_clip_fraction", "actions": "n_actions"}
_KNOBS = ("sessions", "clips_per_session", "min_frames", "max_frames", "median_frames", "no_gaze_fraction",
          "test_fraction", "vocabulary", "actions", "objects", "object_size", "distractor_nouns", "decoys",
          "decoy_verbs", "decoy_kind", "drift", "camera_motion", "hand", "gaze_noise", "gaze_on_target",
          "gaze_lead", "gaze_offset", "gaze_offset_share", "action_fraction", "action_position")


def build_parser() -> argparse.ArgumentParser:
    d = SynthConfig()
    width = max(len(name) for name in WORLDS)
    worlds = "\n".join(f"  {name:<{width}} {WORLD_NOTES[name]}" for name in WORLDS)
    p = argparse.ArgumentParser(
        prog="gazeattn synth", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a synthetic world in the EGTEA Gaze+ layout: H.264 clips, SMI BeGaze gaze files "
                    "(v1 for OP* sessions, v2 for P* sessions), label indices and split 1, and synth_truth.json "
                    "with the true object positions; or (--layout generic) the same world as one video and one "
                    "gaze file per session, labels.csv and splits/ (docs/data-generic.md). Same seed, same files.",
        epilog=f"named worlds (--world; every other flag overrides one knob of it):\n{worlds}\n"
               "Knobs not given keep the world's value (the demo world: SynthConfig's defaults).")
    p.add_argument("out", type=Path, help="output folder (must be missing or empty unless --force)")
    p.add_argument("--layout", choices=tuple(WRITERS), default="egtea",
                   help="egtea (default: EGTEA Gaze+'s folders) or generic (videos/, gaze/, labels.csv, splits/: "
                        "train with --set data.format=generic)")
    p.add_argument("--gaze-format", choices=GAZE_FORMATS, default="begaze",
                   help="with --layout generic: each video's gaze file in this format (default begaze; aria-mps: MPS "
                        "eye gaze with a synthetic device calibration and the frames' capture times; egoexo4d: 2D "
                        "pixels at 10 Hz; ego4d: normalised, y flipped; docs/data-generic.md)")
    p.add_argument("--world", default="demo", choices=list(WORLDS), help="named world (default demo)")
    _add_clip_knobs(p, d)
    _add_scene_knobs(p, d)
    _add_gaze_knobs(p, d)
    p.add_argument("--frames", action="store_true",
                   help="also write the reference's frame folders images_rgb/<clip>/%%04d.jpg")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder, replacing only files the generator writes")
    return p


def _add_clip_knobs(p: argparse.ArgumentParser, d: SynthConfig) -> None:
    """Sessions, clips, the seed, the clips' size and lengths, the clips without gaze, the test split's share."""
    p.add_argument("--sessions", type=int, help=f"recording sessions (default {d.sessions})")
    p.add_argument("--clips-per-session", type=int, help=f"clips per session (default {d.clips_per_session})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--size", type=_size, metavar="WxH",
                   help=f"clip size in pixels, even (default {d.width}x{d.height})")
    p.add_argument("--min-frames", type=int, help=f"shortest clip (default {d.min_frames})")
    p.add_argument("--max-frames", type=int, help=f"longest clip (default {d.max_frames})")
    p.add_argument("--median-frames", type=int,
                   help="log-normal clip lengths with this median (default: uniform in [min, max])")
    p.add_argument("--no-gaze-fraction", type=float,
                   help=f"share of clips whose frames get no gaze sample (default {d.no_gaze_clip_fraction})")
    p.add_argument("--test-fraction", type=float, help=f"share of clips in the test split (default {d.test_fraction})")


def _add_scene_knobs(p: argparse.ArgumentParser, d: SynthConfig) -> None:
    """The actions, the objects and the decoys of a scene, the camera, the hand."""
    p.add_argument("--vocabulary", choices=CHOICES["vocabulary"],
                   help="small: 4 nouns, 5 verbs, 11 actions; large: 8 nouns, 7 verbs, 20 actions (default small)")
    p.add_argument("--actions", type=int, metavar="N", help="keep the vocabulary's first N actions (default all)")
    p.add_argument("--objects", type=int, nargs=2, metavar=("MIN", "MAX"),
                   help=f"objects per scene, target included (default {d.objects[0]} {d.objects[1]})")
    p.add_argument("--object-size", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help=f"object radius as a fraction of the frame height (default {d.object_size[0]} "
                        f"{d.object_size[1]})")
    p.add_argument("--distractor-nouns", choices=CHOICES["distractor_nouns"],
                   help="others: distractors never share the target's noun (default); any: they may")
    p.add_argument("--decoys", type=_decoys, metavar="N|all",
                   help=f"distractors that perform a verb's motion without a hand (default {d.decoys})")
    p.add_argument("--decoy-verbs", choices=CHOICES["decoy_verbs"],
                   help="others: a decoy never performs the target's verb (default); any: it may")
    p.add_argument("--decoy-kind", choices=CHOICES["decoy_kind"],
                   help="motion: a decoy does some verb's motion (default); action: it acts out another of the "
                        "world's actions (noun and verb)")
    p.add_argument("--drift", type=float, help=f"multiplier on the distractors' drift (default {d.drift})")
    p.add_argument("--camera-motion", type=float,
                   help="camera pan + shake amplitude, fraction of the frame height (default 0: still)")
    p.add_argument("--hand", choices=CHOICES["hand"],
                   help="how the acted-on object is marked: arm (a hand with an arm, default) or small (a small "
                        "hand, no arm: a subtle cue)")


def _add_gaze_knobs(p: argparse.ArgumentParser, d: SynthConfig) -> None:
    """Where the gaze goes (noise, share on the target, lead, tracker drift) and where the action is in a clip."""
    p.add_argument("--gaze-noise", type=float,
                   help=f"multiplier on gaze landing error and jitter (default {d.gaze_noise})")
    p.add_argument("--gaze-on-target", type=float,
                   help=f"share of in-clip fixations on the acted-on object (default {d.gaze_on_target})")
    p.add_argument("--gaze-lead", type=float,
                   help="share of the action's frames, at its end, where gaze has run ahead to the clip's next "
                        f"object, in [0, 1) (default {d.gaze_lead})")
    p.add_argument("--gaze-offset", type=float,
                   help="tracker drift in normalised frame units, in [0, 1]; 0.2 = one cell of the CPU preset's "
                        f"5x5 grid (default {d.gaze_offset})")
    p.add_argument("--gaze-offset-share", type=float,
                   help=f"share of fixations drifted by --gaze-offset, in [0, 1] (default {d.gaze_offset_share})")
    p.add_argument("--action-fraction", type=float,
                   help=f"the action's share of the clip (default {d.action_fraction:.4f} = 1/1.2)")
    p.add_argument("--action-position", choices=ACTION_POSITIONS,
                   help="centre (default, as released) or random (anywhere in the clip)")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """The SynthConfig the parsed flags ask for: the named world, then every flag given (ValueError if invalid)."""
    overrides = {_FIELD.get(k, k): getattr(args, k) for k in _KNOBS if getattr(args, k) is not None}
    if args.size is not None:
        overrides["width"], overrides["height"] = args.size
    if args.frames:
        if args.layout == "generic":
            raise ValueError("--frames writes EGTEA's images_rgb/ folders; not with --layout generic")
        overrides["frames"] = True
    if args.gaze_format != "begaze" and args.layout != "generic":
        raise ValueError(f"--gaze-format {args.gaze_format} writes the generic layout's gaze files: "
                         "add --layout generic")
    return synth_world(args.world, seed=args.seed, **overrides)


def main(argv: list[str]) -> int:
    args, config = parsed_config("synth", build_parser(), argv, config_from_args)
    if config is None:
        return 2
    print(f"world: {args.world}; config: {config}")
    start = time.perf_counter()
    existed = args.out.exists()
    fresh = not existed or (args.out.is_dir() and not any(args.out.iterdir()))
    try:
        extra = {"gaze_format": args.gaze_format} if args.layout == "generic" else {}
        s = WRITERS[args.layout](args.out, config, force=args.force, **extra)
    except FileExistsError as err:
        print(f"gazeattn synth: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a fresh folder goes, so the same command can run again
        if fresh:
            _remove_partial(args.out, existed=existed)
        note = "nothing was left behind" if fresh else "the folder was not empty before: what was written is kept"
        print(f"\ngazeattn synth: interrupted; {note}", file=sys.stderr)
        return 130
    except (OSError, OutputError) as err:  # read-only or full disk: one line naming the file, no partial world
        where = getattr(err, "filename", None) or getattr(err, "path", None) or args.out
        if fresh:
            _remove_partial(args.out, existed=existed)
        note = "nothing was left behind" if fresh else "the folder was not empty before: what was written is kept"
        raise output_error(where, err, note=note) from err
    seconds = time.perf_counter() - start
    print(f"wrote {s.root} in {seconds:.1f} s: {s.n_sessions} sessions, {s.n_clips} clips "
          f"({s.n_train} train / {s.n_test} test), {s.n_actions} actions, {s.n_verbs} verbs, {s.n_nouns} nouns, "
          f"{s.n_gaze_samples} gaze samples, {s.n_no_gaze_clips} clips without gaze")
    print(f"  {'clips' if args.layout == 'egtea' else 'videos':<11} {s.clips_dir}")
    print(f"  gaze        {s.gaze_dir}")
    print(f"  annotations {s.annotation_dir}")
    if s.frames_dir is not None:
        print(f"  frames      {s.frames_dir}")
    print(f"  truth       {s.truth_path}")
    return 0
