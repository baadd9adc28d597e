"""The FISHEYE624 camera model of Project Aria's RGB and SLAM cameras ("FisheyeRadTanThinPrism" in a calibration
JSON): a Kannala-Brandt fisheye with 6 radial terms, 2 tangential and 4 thin-prism terms.

Projection of a point (x, y, z) in the camera frame (z forward, x right, y down in the raw sensor image), z > 0:

    a, b = x / z, y / z;   r = sqrt(a^2 + b^2);   theta = atan(r)
    theta_d = theta * (1 + k0 theta^2 + k1 theta^4 + ... + k5 theta^12)
    (u_r, v_r) = theta_d / r * (a, b)                                 [= (a, b) when r = 0]
    rd2 = u_r^2 + v_r^2
    u = u_r + 2 u_r (p0 u_r + p1 v_r) + p0 rd2 + s0 rd2 + s1 rd2^2
    v = v_r + 2 v_r (p0 u_r + p1 v_r) + p1 rd2 + s2 rd2 + s3 rd2^2
    pixel = (fx u + cx, fy v + cy)

Parameters, in the calibration's order: ``f, cx, cy, k0..k5, p0, p1, s0..s3`` (15, one focal length, as Aria
writes them) or ``fx, fy, cx, cy, k0..k5, p0, p1, s0..s3`` (16).

Unprojection (pixel -> ray) inverts the two stages by Newton's method: the tangential and thin-prism stage in 2D
(its Jacobian below), then theta from theta_d on the radial polynomial; the ray is (tan(theta) / rd * (u_r, v_r), 1).
Points with z <= 0 are not projected (NaN): the model would fold them onto the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEWTON_STEPS = 50
NEWTON_TOL = 1e-13  # in normalised units (pixels / focal length): far below 1e-9 px


@dataclass(frozen=True)
class Fisheye624:
    """FISHEYE624 intrinsics (see the module docstring)."""

    fx: float
    fy: float
    cx: float
    cy: float
    k: tuple[float, float, float, float, float, float]
    p: tuple[float, float]
    s: tuple[float, float, float, float]

    @classmethod
    def from_params(cls, params) -> Fisheye624:
        """From the 15 (single focal length) or 16 (fx, fy) numbers of a calibration; ValueError otherwise."""
        v = [float(x) for x in params]
        if len(v) == 15:
            v = [v[0]] + v  # fx = fy
        if len(v) != 16:
            raise ValueError(f"FISHEYE624 takes 15 or 16 parameters, got {len(params)}")
        return cls(fx=v[0], fy=v[1], cx=v[2], cy=v[3], k=tuple(v[4:10]), p=tuple(v[10:12]), s=tuple(v[12:16]))

    def params(self) -> list[float]:
        """The 15 numbers of a single-focal-length calibration when fx == fy, else the 16."""
        head = [self.fx] if self.fx == self.fy else [self.fx, self.fy]
        return head + [self.cx, self.cy, *self.k, *self.p, *self.s]

    # -- the two stages ------------------------------------------------------------------------------------------
    def _radial(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """theta_d(theta) and its derivative."""
        t2 = theta * theta
        poly, dpoly, power = np.ones_like(theta), np.ones_like(theta), np.ones_like(theta)
        for i, k in enumerate(self.k):
            power = power * t2  # theta^(2i+2)
            poly = poly + k * power
            dpoly = dpoly + (2 * i + 3) * k * power
        return theta * poly, dpoly

    def _tangential(self, ur: np.ndarray, vr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p0, p1 = self.p
        s0, s1, s2, s3 = self.s
        rd2 = ur * ur + vr * vr
        dot = 2 * (p0 * ur + p1 * vr)
        u = ur + dot * ur + p0 * rd2 + s0 * rd2 + s1 * rd2 * rd2
        v = vr + dot * vr + p1 * rd2 + s2 * rd2 + s3 * rd2 * rd2
        return u, v

    def _tangential_jacobian(self, ur: np.ndarray, vr: np.ndarray):
        p0, p1 = self.p
        s0, s1, s2, s3 = self.s
        rd2 = ur * ur + vr * vr
        gu = s0 + 2 * s1 * rd2  # d(s0 rd2 + s1 rd2^2) / d(rd2)
        gv = s2 + 2 * s3 * rd2
        du_du = 1 + 6 * p0 * ur + 2 * p1 * vr + 2 * ur * gu
        du_dv = 2 * p1 * ur + 2 * p0 * vr + 2 * vr * gu
        dv_du = 2 * p0 * vr + 2 * p1 * ur + 2 * ur * gv
        dv_dv = 1 + 2 * p0 * ur + 6 * p1 * vr + 2 * vr * gv
        return du_du, du_dv, dv_du, dv_dv

    # -- public --------------------------------------------------------------------------------------------------
    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 2)`` of camera-frame points ``(..., 3)``; NaN where z <= 0."""
        pts = np.asarray(points, dtype=np.float64)
        z = pts[..., 2]
        front = z > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(front, pts[..., 0] / z, np.nan)
            b = np.where(front, pts[..., 1] / z, np.nan)
            r = np.hypot(a, b)
            theta_d, _ = self._radial(np.arctan(r))
            scale = np.where(r > 1e-15, theta_d / np.where(r > 1e-15, r, 1.0), 1.0)
        u, v = self._tangential(scale * a, scale * b)
        return np.stack([self.fx * u + self.cx, self.fy * v + self.cy], axis=-1)

    def unproject(self, pixels: np.ndarray) -> np.ndarray:
        """Rays ``(..., 3)`` with z = 1 through pixels ``(..., 2)`` (Newton iterations; see the module docstring).
        Pixels beyond the model's range (theta >= 90 degrees) give NaN."""
        px = np.asarray(pixels, dtype=np.float64)
        u = (px[..., 0] - self.cx) / self.fx
        v = (px[..., 1] - self.cy) / self.fy
        ur, vr = u.copy(), v.copy()
        for _ in range(NEWTON_STEPS):  # tangential + thin prism: solve T(ur, vr) = (u, v)
            eu, ev = self._tangential(ur, vr)
            eu, ev = u - eu, v - ev
            a, b, c, d = self._tangential_jacobian(ur, vr)
            det = a * d - b * c
            step_u = (d * eu - b * ev) / det
            step_v = (a * ev - c * eu) / det
            ur, vr = ur + step_u, vr + step_v
            if np.all(np.abs(step_u) + np.abs(step_v) < NEWTON_TOL):
                break
        rd = np.hypot(ur, vr)
        theta = rd.copy()
        for _ in range(NEWTON_STEPS):  # radial: solve theta_d(theta) = rd
            td, dtd = self._radial(theta)
            step = (rd - td) / dtd
            theta = np.clip(theta + step, 0.0, 0.999 * np.pi / 2)
            if np.all(np.abs(step) < NEWTON_TOL):
                break
        td, _ = self._radial(theta)
        bad = np.abs(td - rd) > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(rd > 1e-15, np.tan(theta) / np.where(rd > 1e-15, rd, 1.0), 1.0)
        rays = np.stack([scale * ur, scale * vr, np.ones_like(ur)], axis=-1)
        rays[bad] = np.nan
        return rays
