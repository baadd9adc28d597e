"""The per-frame gaze table from the samples, in the two modes of :mod:`gazeattn.data.begaze` (its docstring has
the rules): the official reader's running pairwise average in float32, bit for bit, and the clean per-frame mean.
Both are fed block by block in file order, and their results do not depend on where the blocks end."""

from __future__ import annotations

import numpy as np

from gazeattn.data.begaze.format import (CLEAN_MAX_ABS_PX, EVENT_TO_TYPE, FIXATION, GAZE_RESOLUTION, OTHER, SACCADE,
                                         TRUNCATED, UNTRACKED)


class Frames:
    """Per-frame accumulators indexed by session frame, grown (doubling) to the largest frame seen."""

    def __init__(self) -> None:
        self.n_frames = 0  # largest frame seen + 1
        self.arrays: dict[str, np.ndarray] = {}

    def reserve(self, frames: np.ndarray, **spec) -> None:
        need = int(frames.max()) + 1
        self.n_frames = max(self.n_frames, need)
        cap = next(iter(self.arrays.values())).shape[0] if self.arrays else 0
        if need <= cap:
            return
        cap = max(need, 2 * cap, 1024)
        for name, (dtype, width) in spec.items():
            new = np.zeros((cap, width) if width else cap, dtype=dtype)
            if name in self.arrays:
                old = self.arrays[name]
                new[: old.shape[0]] = old
            self.arrays[name] = new


class OfficialFrames(Frames):
    """The official reader's running pairwise average, in float32, fed block by block (see the docstring)."""

    _SPEC = {"x": (np.float32, 0), "y": (np.float32, 0), "seen": (bool, 0), "kind": (np.uint8, 0)}

    def add(self, frame: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, event: np.ndarray) -> None:
        self.reserve(frame, **self._SPEC)
        a = self.arrays
        two = np.float32(2)
        # |px| > 3.4e38 becomes inf in float32 and inf + -inf NaN, as in the official reader: no warnings for them
        with np.errstate(over="ignore", invalid="ignore"):
            x = x_px.astype(np.float32)  # rounded to float32 first, as the official reader stores them
            y = y_px.astype(np.float32)
            if frame.size > 1 and (frame[1:] < frame[:-1]).any():
                order = np.argsort(frame, kind="stable")  # by frame, file order kept within a frame
                frame, x, y, event = frame[order], x[order], y[order], event[order]
            first = np.flatnonzero(np.concatenate(([True], frame[1:] != frame[:-1])))  # one group per frame
            count = np.diff(np.append(first, frame.size))
            f = frame[first]
            gx, gy = x[first], y[first]
            old = np.flatnonzero(a["seen"][f])  # frames that earlier blocks already have: continue their average
            if old.size:
                gx[old] = (a["x"][f[old]] + gx[old]) / two
                gy[old] = (a["y"][f[old]] + gy[old]) / two
            more, r = np.flatnonzero(count > 1), 1
            while more.size:  # running average, one pass per rank (2-3 in real files); float32 throughout
                idx = first[more] + r
                gx[more] = (gx[more] + x[idx]) / two
                gy[more] = (gy[more] + y[idx]) / two
                r += 1
                more = more[count[more] > r]
        a["x"][f], a["y"][f], a["seen"][f] = gx, gy, True
        a["kind"][f] = EVENT_TO_TYPE[event[first + count - 1]]  # the type of the frame's last sample

    def table(self) -> np.ndarray:
        n, a = self.n_frames, self.arrays
        w, h = GAZE_RESOLUTION
        gx = np.minimum(np.maximum(a["x"][:n], np.float32(0)), np.float32(w - 1))  # clamp after averaging
        gy = np.minimum(np.maximum(a["y"][:n], np.float32(0)), np.float32(h - 1))  # (NaN stays NaN)
        gx[np.isnan(gx)] = 0
        gy[np.isnan(gy)] = 0
        table = np.empty((n, 3), dtype=np.float32)  # frames without a sample: x = y = 0, kind 0 -> (0, 0, 0)
        table[:, 0] = gx / np.float32(w)
        table[:, 1] = gy / np.float32(h)
        table[:, 2] = a["kind"][:n]
        return table


class CleanFrames(Frames):
    """Per-frame counts and float64 sums of the in-frame samples and of the valid out-of-frame ones, and type
    votes of the in-frame ones, fed block by block.

    A frame without in-frame samples is truncated with the mean of its valid samples, which are then all out of
    frame: so the valid out-of-frame sums are all that is needed besides the in-frame ones. The sums are added in
    file order, as one pass over the whole file would: each block's are accumulated by one np.bincount whose
    input starts with the running totals (0.0 + total is exact), so the result does not depend on the blocks."""

    _SPEC = {"n_in": (np.int64, 0), "sx_in": (np.float64, 0), "sy_in": (np.float64, 0), "n_out": (np.int64, 0),
             "sx_out": (np.float64, 0), "sy_out": (np.float64, 0), "votes": (np.int64, 3)}

    def add(self, frame: np.ndarray, x: np.ndarray, y: np.ndarray, event: np.ndarray) -> None:
        seen = self.n_frames  # frames >= this have no sums yet
        self.reserve(frame, **self._SPEC)
        w, h = GAZE_RESOLUTION
        with np.errstate(invalid="ignore"):  # comparisons with NaN are False: |x| < 1e6 rules out NaN and inf,
            valid = (np.abs(x) < CLEAN_MAX_ABS_PX) & (np.abs(y) < CLEAN_MAX_ABS_PX)  # and so does 0 <= x < w
            inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        lo, hi = int(frame.min()), int(frame.max()) + 1  # the frames this block touches
        rel = frame - lo
        old = max(0, min(hi, seen) - lo)
        rel_in = rel[inside]
        self._sum("in", rel_in, x[inside], y[inside], lo, hi, old)
        out = valid & ~inside
        if out.any():
            self._sum("out", rel[out], x[out], y[out], lo, hi, old)
        types = EVENT_TO_TYPE[event[inside]].astype(np.int64)  # 1..3
        votes = np.bincount(rel_in * 3 + (types - 1), minlength=(hi - lo) * 3).reshape(hi - lo, 3)
        self.arrays["votes"][lo:hi] += votes

    def _sum(self, kind: str, rel: np.ndarray, x: np.ndarray, y: np.ndarray, lo: int, hi: int, old: int) -> None:
        """Add samples at frames lo + rel; frames lo .. lo + old - 1 may hold sums from earlier blocks."""
        if rel.size == 0:
            return
        a, m = self.arrays, hi - lo
        a["n_" + kind][lo:hi] += np.bincount(rel, minlength=m)
        idx = np.concatenate((np.arange(old), rel)) if old else rel
        for name, v in (("sx_" + kind, x), ("sy_" + kind, y)):
            weights = np.concatenate((a[name][lo : lo + old], v)) if old else v
            a[name][lo:hi] = np.bincount(idx, weights=weights, minlength=m)

    def table(self) -> np.ndarray:
        n, a = self.n_frames, self.arrays
        w, h = np.float32(GAZE_RESOLUTION[0]), np.float32(GAZE_RESOLUTION[1])
        n_in = a["n_in"][:n]
        has_in = n_in > 0
        table = np.empty((n, 3), dtype=np.float32)
        # the pixel mean rounded to float32, then divided as official does; no sample in frame: 0 / 1 = 0
        denom = np.maximum(n_in, 1)
        table[:, 0] = (a["sx_in"][:n] / denom).astype(np.float32) / w
        table[:, 1] = (a["sy_in"][:n] / denom).astype(np.float32) / h
        fix, sac, other = a["votes"][:n].T  # ties go to the less stable type
        majority = np.where((other >= sac) & (other >= fix), OTHER, np.where(sac >= fix, SACCADE, FIXATION))
        table[:, 2] = np.where(has_in, majority, UNTRACKED)
        trunc = np.flatnonzero(~has_in & (a["n_out"][:n] > 0))  # valid samples, none in frame: unclamped mean
        if trunc.size:
            n_out = a["n_out"][trunc]
            table[trunc, 0] = (a["sx_out"][trunc] / n_out).astype(np.float32) / w
            table[trunc, 1] = (a["sy_out"][trunc] / n_out).astype(np.float32) / h
            table[trunc, 2] = TRUNCATED
        return table


TABLES = {"official": OfficialFrames, "clean": CleanFrames}

