"""Project Aria device calibration: the RGB camera's FISHEYE624 intrinsics and the transforms that take a point of
the central pupil frame (CPF, where MPS eye gaze lives) to a pixel, raw or upright.

Read from the device calibration JSON that Aria's tools export (``device_calibration_to_json_string``; the
``CameraCalibrations`` list, each with ``Label``, ``Projection {Name, Params}``, ``T_Device_Camera {Translation,
UnitQuaternion [w, [x, y, z]]}`` and ``ConfigData {ImageWidth, ImageHeight}``).

The CPF is not in that JSON: Aria defines it from the glasses' CAD. The device frame is the calibrated frame of
the origin sensor (``OriginSpecification.ChildLabel``, the left SLAM camera), and the CAD gives each sensor's pose
in the CPF, so

    T_device_cpf = (T_cpf_origin from the CAD)^-1

For the CAD of a build (``DeviceClassInfo.BuildVersion``: DVT-S, DVT-L, Aria Gen1's small and large frames) each
sensor's pose is written as a translation and its frame's Y and Z axes in the CPF; the rotation is the nearest
rotation (SVD) to [Y x Z, Y, Z] after normalising Y and Z. A calibration of any other build needs ``t_device_cpf``
given explicitly; the reader never guesses it.

A CPF point P goes to the camera as ``T_camera_cpf = T_device_camera^-1 . T_device_cpf`` and to a pixel by
:class:`~gazeattn.data.gaze_formats.fisheye624.Fisheye624`. The raw RGB image is sideways; datasets publish it
rotated 90 degrees clockwise ("upright"): raw (x, y) of a W x H image -> upright (H - 1 - y, x) of an H x W image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazeattn.data.gaze_formats.fisheye624 import Fisheye624
from gazeattn.utils.errors import DataError

# CAD poses of sensors in the CPF: label -> (translation m, Y axis, Z axis), per build (Aria Gen1).
_CAD = {
    "DVT-S": {
        "camera-slam-left": ((0.069051, 0.002372, 0.009254),
                             (0.793353, 0.0, -0.608761), (0.607927, -0.052336, 0.792266)),
        "camera-slam-right": ((-0.069051, 0.002372, 0.009254),
                              (0.793353, 0.0, 0.608761), (-0.607927, -0.052336, 0.792266)),
        "camera-rgb": ((0.056, 0.007121, 0.012883), (1.0, 0.0, 0.0), (0.0, -0.130526, 0.991445)),
    },
    "DVT-L": {
        "camera-slam-left": ((0.071351, 0.002372, 0.008454),
                             (0.793353, 0.0, -0.608761), (0.607927, -0.052336, 0.792266)),
        "camera-slam-right": ((-0.071351, 0.002372, 0.008454),
                              (0.793353, 0.0, 0.608761), (-0.607927, -0.052336, 0.792266)),
        "camera-rgb": ((0.05825, 0.007186, 0.012096), (1.0, 0.0, 0.0), (0.0, -0.130526, 0.991445)),
    },
}
BUILDS = tuple(_CAD)
FISHEYE_NAMES = ("FisheyeRadTanThinPrism", "FISHEYE624")


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def cad_t_cpf_sensor(build: str, label: str) -> np.ndarray:
    """4x4 pose of a sensor in the CPF from the CAD of ``build``; KeyError when unknown."""
    t, y, z = (np.asarray(v, dtype=np.float64) for v in _CAD[build][label])
    y, z = y / np.linalg.norm(y), z / np.linalg.norm(z)
    out = np.eye(4)
    out[:3, :3] = _nearest_rotation(np.stack([np.cross(y, z), y, z], axis=1))
    out[:3, 3] = t
    return out


def quaternion_matrix(w: float, x: float, y: float, z: float) -> np.ndarray:
    """Rotation matrix of the (normalised) quaternion w + xi + yj + zk."""
    n = np.sqrt(w * w + x * x + y * y + z * z)
    if not (np.isfinite(n) and n > 1e-12):
        raise ValueError(f"not a rotation quaternion: {(w, x, y, z)}")
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def invert(t: np.ndarray) -> np.ndarray:
    """Inverse of a 4x4 rigid transform."""
    out = np.eye(4)
    out[:3, :3] = t[:3, :3].T
    out[:3, 3] = -t[:3, :3].T @ t[:3, 3]
    return out


def upright_xy(xy: np.ndarray, raw_height: int) -> np.ndarray:
    """Raw-image pixels -> upright (rotated 90 degrees clockwise): (x, y) -> (H - 1 - y, x)."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([raw_height - 1 - xy[..., 1], xy[..., 0]], axis=-1)


def raw_xy(xy_upright: np.ndarray, raw_height: int) -> np.ndarray:
    """Upright pixels -> raw-image pixels: (x', y') -> (y', H - 1 - x')."""
    xy = np.asarray(xy_upright, dtype=np.float64)
    return np.stack([xy[..., 1], raw_height - 1 - xy[..., 0]], axis=-1)


@dataclass(frozen=True, eq=False)
class AriaCamera:
    """One camera of an Aria calibration and the CPF, enough to put CPF points on its pixels."""

    label: str
    model: Fisheye624
    width: int  # of the raw sensor image
    height: int
    t_device_camera: np.ndarray  # 4x4
    t_device_cpf: np.ndarray  # 4x4
    path: str = ""

    @property
    def t_camera_cpf(self) -> np.ndarray:
        return invert(self.t_device_camera) @ self.t_device_cpf

    def image_size(self, upright: bool) -> tuple[int, int]:
        """(width, height) of the raw image, or of the upright one (swapped)."""
        return (self.height, self.width) if upright else (self.width, self.height)

    def project_cpf(self, points_cpf: np.ndarray, *, upright: bool) -> np.ndarray:
        """Pixels ``(..., 2)`` of CPF points ``(..., 3)`` (m); NaN for points behind the camera."""
        t = self.t_camera_cpf
        pc = np.asarray(points_cpf, dtype=np.float64) @ t[:3, :3].T + t[:3, 3]
        px = self.model.project(pc)
        return upright_xy(px, self.height) if upright else px

    def pixel_to_cpf(self, pixels: np.ndarray, depth_m: float | np.ndarray, *, upright: bool) -> np.ndarray:
        """CPF points ``(..., 3)`` seen at ``pixels`` at distance ``depth_m`` from the CPF origin (the inverse of
        :meth:`project_cpf` for points that far away; the camera sits a few cm from the CPF origin, so the
        point is found on the camera's ray: |o + t r| = depth, t > 0)."""
        px = raw_xy(pixels, self.height) if upright else np.asarray(pixels, dtype=np.float64)
        ray = self.model.unproject(px)
        ray = ray / np.linalg.norm(ray, axis=-1, keepdims=True)
        t_cpf_camera = invert(self.t_camera_cpf)
        r = ray @ t_cpf_camera[:3, :3].T  # directions in the CPF
        o = t_cpf_camera[:3, 3]  # camera origin in the CPF
        depth = np.asarray(depth_m, dtype=np.float64)
        orr = r @ o
        disc = orr * orr - o @ o + depth * depth
        with np.errstate(invalid="ignore"):
            t = -orr + np.sqrt(disc)
        return o + t[..., None] * r

    def pixel_to_yaw_pitch(self, pixels: np.ndarray, depth_m: float | np.ndarray = 1.0, *,
                           upright: bool) -> tuple[np.ndarray, np.ndarray]:
        """(yaw, pitch) in radians in the CPF of the gaze that lands on ``pixels`` when decoded at ``depth_m``
        (Aria's convention: direction ~ (tan yaw, tan pitch, 1)); what a writer of MPS gaze needs."""
        p = self.pixel_to_cpf(pixels, depth_m, upright=upright)
        return np.arctan2(p[..., 0], p[..., 2]), np.arctan2(p[..., 1], p[..., 2])


def _transform(path: Path, cam: dict) -> np.ndarray:
    t = cam["T_Device_Camera"]
    w, (x, y, z) = t["UnitQuaternion"]
    out = np.eye(4)
    out[:3, :3] = quaternion_matrix(float(w), float(x), float(y), float(z))
    out[:3, 3] = [float(v) for v in t["Translation"]]
    if not np.all(np.isfinite(out)) or np.any(np.abs(out[:3, 3]) > 1e3):
        raise ValueError("non-finite transform, or a translation over 1 km")
    return out


def read_device_calibration(path: str | os.PathLike, *, camera: str = "camera-rgb",
                            t_device_cpf: np.ndarray | None = None) -> AriaCamera:
    """The ``camera`` of an Aria device calibration JSON, with the CPF (see the module docstring).

    DataError naming the file for anything missing or malformed: not JSON, no such camera, not a FISHEYE624
    model, a bad transform, an unknown build (unless ``t_device_cpf``, 4x4, is given)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as err:
        raise DataError(p, f"cannot read the device calibration: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise DataError(p, "not UTF-8 text: not an Aria device calibration JSON") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(p, f"not JSON ({err.msg}): not an Aria device calibration", err.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("CameraCalibrations"), list):
        raise DataError(p, "no 'CameraCalibrations' list: not an Aria device calibration JSON")
    cams = [c for c in doc["CameraCalibrations"] if isinstance(c, dict) and c.get("Label") == camera]
    if len(cams) != 1:
        labels = [c.get("Label") for c in doc["CameraCalibrations"] if isinstance(c, dict)]
        raise DataError(p, f"{len(cams)} cameras labelled {camera!r} (labels: {labels})")
    cam = cams[0]
    try:
        proj = cam["Projection"]
        if proj["Name"] not in FISHEYE_NAMES:
            raise DataError(p, f"{camera}: camera model {proj['Name']!r} is not FISHEYE624 "
                               f"({' / '.join(FISHEYE_NAMES)})")
        model = Fisheye624.from_params(proj["Params"])
        v = np.array(model.params())
        if not (np.all(np.isfinite(v)) and 0 < model.fx <= 1e6 and 0 < model.fy <= 1e6
                and abs(model.cx) <= 1e6 and abs(model.cy) <= 1e6 and np.all(np.abs(v[-12:]) <= 1e3)):
            raise ValueError("intrinsics out of range (focal lengths in (0, 1e6] px, |distortion| <= 1e3)")
        config = cam["ConfigData"]
        width, height = int(config["ImageWidth"]), int(config["ImageHeight"])
        if not (0 < width <= 1 << 16 and 0 < height <= 1 << 16):
            raise ValueError(f"image size {width}x{height}")
        t_dc = _transform(p, cam)
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError) as err:
        raise DataError(p, f"{camera}: malformed calibration ({type(err).__name__}: {err})") from None
    if t_device_cpf is None:
        info, spec = doc.get("DeviceClassInfo"), doc.get("OriginSpecification")
        build = info.get("BuildVersion") if isinstance(info, dict) else None
        origin = spec.get("ChildLabel", "camera-slam-left") if isinstance(spec, dict) else "camera-slam-left"
        if not isinstance(build, str) or not isinstance(origin, str) or build not in _CAD or origin not in _CAD[build]:
            raise DataError(p, f"the CPF of build {build!r} with origin {origin!r} is not known (known: "
                               f"{', '.join(BUILDS)} with origin camera-slam-left/right or camera-rgb): "
                               "give T_device_cpf explicitly")
        t_device_cpf = invert(cad_t_cpf_sensor(build, origin))
    t_device_cpf = np.asarray(t_device_cpf, dtype=np.float64)
    if t_device_cpf.shape != (4, 4) or not np.all(np.isfinite(t_device_cpf)):
        raise ValueError("t_device_cpf must be a finite 4x4 matrix")
    return AriaCamera(label=camera, model=model, width=width, height=height, t_device_camera=t_dc,
                      t_device_cpf=t_device_cpf, path=str(p))


def device_calibration_json(camera: AriaCamera, *, build: str = "DVT-S") -> str:
    """A minimal device calibration JSON that :func:`read_device_calibration` reads back as ``camera``: for
    synthetic recordings. ``camera.t_device_cpf`` must be the CAD CPF of ``build`` (ValueError otherwise)."""
    want = invert(cad_t_cpf_sensor(build, "camera-slam-left"))
    if not np.allclose(camera.t_device_cpf, want, atol=1e-12):
        raise ValueError(f"t_device_cpf is not the CPF of a {build} device")
    r = camera.t_device_camera[:3, :3]
    w = np.sqrt(max(0.0, 1 + np.trace(r))) / 2
    if w < 1e-6:
        raise ValueError("rotation of 180 degrees: not supported by this minimal writer")
    q = [w, [(r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)]]
    doc = {
        "CameraCalibrations": [{
            "Label": camera.label,
            "Calibrated": True,
            "ConfigData": {"ImageWidth": camera.width, "ImageHeight": camera.height},
            "Projection": {"Name": "FisheyeRadTanThinPrism",
                           "Description": "fx, cx, cy, k_0..k_5, p_0, p_1, s_0..s_3", "Params": camera.model.params()},
            "T_Device_Camera": {"Translation": [float(v) for v in camera.t_device_camera[:3, 3]],
                                "UnitQuaternion": [float(q[0]), [float(v) for v in q[1]]]},
        }],
        "DeviceClassInfo": {"BuildVersion": build, "DeviceClass": "Aria"},
        "OriginSpecification": {"ChildLabel": "camera-slam-left", "Type": "Custom"},
    }
    return json.dumps(doc, indent=2)
