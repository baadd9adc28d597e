import numpy as np
import pytest

from gazeattn.data.video import probe_video, read_folder_frames, read_video_frames, scaled_size
from gazeattn.utils.errors import DataError
from videotools import frame_numbers, numbered_frames, write_mp4


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return write_mp4(tmp_path_factory.mktemp("v") / "clip.mp4", numbered_frames(150), gop=10)


@pytest.mark.parametrize("start", [0, 5, 31, 32, 33, 77, 126])
def test_window_decodes_exactly_the_requested_frames(long_video, start):
    frames = read_video_frames(long_video, start, 24)
    assert frames.shape == (24, 48, 64, 3)
    assert frame_numbers(frames) == list(range(start, start + 24))


def test_window_past_the_end_returns_what_exists(long_video):
    frames = read_video_frames(long_video, 140, 24)
    assert frame_numbers(frames) == list(range(140, 150))


def test_resize_on_decode(long_video):
    frames = read_video_frames(long_video, 10, 4, short_side=24)
    assert frames.shape == (4, 24, 32, 3)
    assert scaled_size(640, 480, 256) == (341, 256) and scaled_size(480, 640, 256) == (256, 341)


def test_probe(long_video):
    info = probe_video(long_video, count=True)
    assert (info.n_frames, info.width, info.height, info.fps) == (150, 64, 48, 24.0)


def test_empty_truncated_and_garbage_videos_raise_dataerror(long_video, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty") as info:
        read_video_frames(empty, 0, 24)
    assert str(empty) in str(info.value)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=str(garbage)):
        read_video_frames(garbage, 0, 24)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(long_video.read_bytes()[: long_video.stat().st_size // 3])
    # Our writer puts the mp4 index (moov) last: a file cut to a third has lost it and cannot be opened.
    with pytest.raises(DataError) as info:
        read_video_frames(truncated, 0, 150)
    assert str(info.value).startswith(f"{truncated}: cannot open video: ")


def test_frame_folder(tmp_path):
    import av

    folder = tmp_path / "images_rgb" / "clip"
    folder.mkdir(parents=True)
    frames = numbered_frames(6, 32, 32)
    for i, img in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        with av.open(str(folder / f"{i + 1:04d}.jpg"), "w", format="image2") as c:
            s = c.add_stream("mjpeg", rate=1)
            s.width, s.height, s.pix_fmt = 32, 32, "yuvj420p"
            for p in s.encode(frame):
                c.mux(p)
            for p in s.encode():
                c.mux(p)
    got = read_folder_frames(folder, 2, 3)
    assert frame_numbers(got) == [2, 3, 4]
    assert len(read_folder_frames(folder, 4, 10)) == 2
    with pytest.raises(DataError, match="no frame 0010.jpg"):
        read_folder_frames(folder, 9, 2)


@pytest.fixture(scope="module")
def textured_video(tmp_path_factory):
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (40, 96, 128, 3), dtype=np.uint8)
    return write_mp4(tmp_path_factory.mktemp("t") / "textured.mp4", frames, lossless=False, gop=12)


@pytest.mark.parametrize("size", [None, (128, 96), (149, 112), (80, 60)])
def test_reused_scaler_gives_the_pixels_of_a_fresh_scaler_per_frame(textured_video, size):
    """The reader keeps one swscale context per clip; each frame must equal PyAV's per-frame conversion."""
    import av

    expected = []
    with av.open(str(textured_video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if 5 <= i < 29:
                if size is not None and (frame.width, frame.height) != size:
                    frame = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="BILINEAR")
                expected.append(frame.to_ndarray(format="rgb24"))
    got = read_video_frames(textured_video, 5, 24, size=size)
    assert got.shape == np.stack(expected).shape
    assert np.array_equal(got, np.stack(expected))


def test_reused_scaler_on_jpegs_matches_a_fresh_one(tmp_path):
    import av

    from gazeattn.data.flow import write_jpeg
    from gazeattn.data.video import read_jpeg

    rng = np.random.default_rng(3)
    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(4):
        write_jpeg(folder / f"{i + 1:04d}.jpg", rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    for gray, fmt in ((False, "rgb24"), (True, "gray")):
        expected = []
        for i in range(4):
            with av.open(str(folder / f"{i + 1:04d}.jpg")) as c:
                frame = next(c.decode(video=0))
                expected.append(frame.reformat(width=53, height=40, format=fmt, interpolation="BILINEAR").to_ndarray())
        assert np.array_equal(read_folder_frames(folder, 0, 4, gray=gray, short_side=40), np.stack(expected))
        assert np.array_equal(read_jpeg(folder / "0002.jpg", gray=gray, size=(53, 40)), expected[1])
