"""A picture a person can check: the four eye-gaze rows of the real Aria recording (tests/data/aria/aea_snippet)
drawn, through our reader and our FISHEYE624 projection, on the RGB frames nearest to them, decoded from the
upright video. By eye, the four crosses lie on the pillows of the bed the wearer faces (as the fixture's README
says of the library's points). The test asserts where the crosses were drawn: at the library's upright pixels.

Regenerate the committed copy (docs/pictures/aria_gaze_snippet.png) with:

    PYTHONPATH=src:tests python tests/test_data_gaze_formats_picture.py docs/pictures/aria_gaze_snippet.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gazeattn.data.gaze_formats import aria_mps
from gazeattn.data.gaze_formats.aria_calibration import read_device_calibration
from gazeattn.data.video import read_video_frames
from gazeattn.report.draw import draw_cross, draw_label, resize_nearest, stack, tile
from gazeattn.report.images import save_png

SNIPPET = Path(__file__).parent / "data" / "aria" / "aea_snippet"
TILE = 256  # px per frame in the picture (the video is 1408 x 1408)
CROSS = (255, 0, 255)  # magenta: the gaze
CROSS_SIZE = 9


def gaze_picture() -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(picture, [(tile, x, y) of each cross centre in the picture]): one tile per gaze row, on its nearest frame."""
    gaze = aria_mps.read_eye_gaze(SNIPPET / "mps" / "eye_gaze" / "general_eye_gaze.csv")
    camera = read_device_calibration(SNIPPET / "device_calibration.json")
    px = aria_mps.gaze_pixels(gaze, camera, upright=True)  # (4, 2) of the 1408 x 1408 upright frame
    times = aria_mps.read_frame_times(SNIPPET / "rgb_frames.csv")
    frames = read_video_frames(SNIPPET / "rgb_upright.mp4", 0, len(times))  # (8, 1408, 1408, 3)
    tiles, centres = [], []
    for k in range(len(gaze)):
        f = int(np.argmin(np.abs(times - gaze.time_s[k])))
        image = resize_nearest(frames[f], TILE)
        xy = (px[k, 0] / camera.height, px[k, 1] / camera.width)  # normalised in the upright image
        draw_cross(image, xy, colour=CROSS, size=CROSS_SIZE, thickness=3)
        caption = np.zeros((18, TILE, 3), np.uint8)
        draw_label(caption, [f"gaze row {k} / frame {f}"])
        tiles.append(stack([image, caption], axis=0))
        centres.append((k, int(xy[0] * TILE), int(xy[1] * TILE)))
    return tile(tiles, columns=len(tiles), pad=2), centres


def _tile_origin(k: int, pad: int = 2) -> tuple[int, int]:
    return pad + k * (TILE + pad), pad  # (x, y) of tile k's top-left corner


def test_the_four_gaze_points_are_drawn_where_the_library_puts_them(tmp_path):
    picture, centres = gaze_picture()
    path = save_png(tmp_path / "aria_gaze_snippet.png", picture)
    assert path.stat().st_size > 10_000
    want = json.loads((SNIPPET / "expected.json").read_text())["gaze"]
    for (k, x, y), row in zip(centres, want):
        lib = np.array(row["pixel_upright_xy"]) / 1408 * TILE
        assert (x, y) == (int(lib[0]), int(lib[1]))  # the library's pixel, at the picture's scale
        x0, y0 = _tile_origin(k)
        block = picture[y0:y0 + TILE, x0:x0 + TILE]
        ys, xs = np.nonzero(np.all(block == CROSS, axis=-1))
        # the cross: a horizontal and a vertical bar 3 px thick through (x, y), arms of CROSS_SIZE px
        assert ys.size >= 2 * 3 * (2 * CROSS_SIZE + 1) - 9
        assert int(np.median(xs)) == x and int(np.median(ys)) == y
        assert xs.min() == x - CROSS_SIZE and xs.max() == x + CROSS_SIZE
        assert ys.min() == y - CROSS_SIZE and ys.max() == y + CROSS_SIZE
    # the frames drawn on are the nearest ones (expected.json's nearest_rgb_frame: 1, 3, 5, 7), side by side
    assert picture.shape == (2 + TILE + 18 + 2, 2 + 4 * (TILE + 2), 3)


if __name__ == "__main__":  # write the picture where asked (docs/pictures/aria_gaze_snippet.png)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/pictures/aria_gaze_snippet.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(save_png(out, gaze_picture()[0]))
