"""The float32 arithmetic of Aria's library (projectaria_tools 2.3.0), reproduced bit for bit with numpy, for the
Gen2 vergence point of :mod:`~gazeattn.data.gaze_formats.aria_mps`.

Why it matters: the Gen2 spatial gaze point is where two eye rays only ~7 degrees apart meet; the solve divides
by sin^2 of that angle (~0.014), so one float32 unit in one sine moves the point by up to ~1.4e-5 m at 0.4-0.8 m,
8e-5 m at 1.5 m, 2.5e-4 m at 3 m (a float64 solve from the file's decimals is off by up to 7e-6 m at 0.6 m). The
library's numbers come from three roundings, each emulated here:

- **Parsing** (:func:`library_float32`). Its CSV parser (fast-cpp-csv-parser, read into ``float`` fields) does not
  round decimals correctly: it builds the value digit by digit in float32 (integer part ``x = x * 10 + d``;
  each decimal ``pos = pos / 10; x = x + d * pos``; an exponent ``e`` by repeated squaring of a float32 base 10
  or 0.1: while ``e != 1``, square the base and halve ``e`` when even, else ``x *= base`` and ``e -= 1``; then
  ``x *= base``; the sign last). About half of the file's values land 1 or 2 float32 units from the nearest.
- **sin and cos** (:func:`sincosf`). Its eye directions are ``(sin y cos p, sin p, cos y cos p)`` evaluated with
  ``float`` arguments, i.e. glibc's ``sinf``/``cosf`` (glibc >= 2.28, the Linux wheels' C library), which are
  not correctly rounded (about 1 % of the results differ by one unit from the float32 of the exact value).
  Reproduced by glibc's method: for ``|x| < 0.75`` (float32 ``x`` with the top 12 bits of ``|x|`` below those of
  pi/4), a double polynomial in x (sin: degree 7, cos: degree 8, the coefficients below); above, ``x`` is reduced
  by ``n = round(x * 2/pi)`` quarter turns (``r = x - n * pi/2`` in double) and the quadrant picks sin or cos of
  ``r`` and its sign; for ``|x| < 2**-12`` sin is x and cos is 1. Checked against this machine's glibc 2.36 on
  3e5 float32 angles in [-pi/2, pi/2]: no difference.
- **The rest** is in double (Eigen ``Vector3d``) from those float32 values, summing dot products left to right,
  and the point and depth are rounded to float32 at the end (:mod:`~gazeattn.data.gaze_formats.aria_mps`).

Where: the library's Gen2 branch of ``readEyeGazeVergence`` and its ``getGazeVergencePoint``
(``core/mps/EyeGazeReader.cpp``; ``float`` fields of ``core/mps/EyeGaze.h``). With all three emulated, the
reader's Gen2 point and depth equal the library's bit for bit on every row of ``tests/data/aria/mps_samples``.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
# glibc sinf/cosf (sysdeps/ieee754/flt-32): polynomial coefficients in double
_S1, _S2, _S3 = (float.fromhex("-0x1.555545995a603p-3"), float.fromhex("0x1.1107605230bc4p-7"),
                 float.fromhex("-0x1.994eb3774cf24p-13"))
_C1, _C2, _C3, _C4 = (float.fromhex("-0x1.ffffffd0c621cp-2"), float.fromhex("0x1.55553e1068f19p-5"),
                      float.fromhex("-0x1.6c087e89a359dp-10"), float.fromhex("0x1.99343027bf8c3p-16"))
_HALF_PI_INV_2_24 = float.fromhex("0x1.45f306dc9c883p+23")  # 2/pi * 2**24
_HALF_PI = float.fromhex("0x1.921fb54442d18p0")
_DIRECT = F32(0.75)  # |x| below: no reduction (glibc: abstop12(x) < abstop12(pi/4))
_TINY = F32(2.0 ** -12)
_MAX_EXPONENT = 2 ** 31 - 1  # the parser reads the exponent into an int, saturating


def sincosf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin x, cos x) as float32, equal to glibc's ``sinf``/``cosf`` of the float32 ``x`` (finite, |x| < 120)."""
    x = np.asarray(x, dtype=F32)
    xd = x.astype(np.float64)
    direct = np.abs(x) < _DIRECT
    n = np.where(direct, 0, (np.trunc(xd * _HALF_PI_INV_2_24).astype(np.int64) + 0x800000) >> 24)
    r = xd - n.astype(np.float64) * _HALF_PI
    r2 = r * r
    r3 = r * r2
    sin_r = (r + r3 * _S1) + (r3 * r2) * (_S2 + r2 * _S3)
    r4 = r2 * r2
    cos_r = ((1.0 + r2 * _C1) + r4 * _C2) + (r4 * r2) * (_C3 + r2 * _C4)
    quadrant = n & 3
    sin = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [sin_r, cos_r, -sin_r], -cos_r)
    cos = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [cos_r, -sin_r, -cos_r], sin_r)
    tiny = np.abs(x) < _TINY
    return np.where(tiny, x, sin.astype(F32)), np.where(tiny, F32(1.0), cos.astype(F32))


def _digits(parts: list[str], *, left: bool) -> np.ndarray:
    """(n, width) uint8 digits of decimal strings, zero-padded on the left (integer parts) or right (decimals):
    leading zeros leave ``x * 10 + d`` at 0 and trailing ones add exact zeros, so padding changes nothing."""
    width = max((len(p) for p in parts), default=0)
    if width == 0:
        return np.zeros((len(parts), 0), dtype=np.uint8)
    padded = "".join(p.rjust(width, "0") if left else p.ljust(width, "0") for p in parts)
    return (np.frombuffer(padded.encode("ascii"), dtype=np.uint8).reshape(len(parts), width) - ord("0"))


def _apply_exponent(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``x * 10**exponent`` the parser's way: a float32 base (10 or 0.1) squared while the exponent is even."""
    base = np.where(exponent < 0, F32(0.1), F32(10.0)).astype(F32)
    e = np.abs(exponent)
    pending = e > 1
    with np.errstate(over="ignore", under="ignore"):  # 1e60 is inf in float32, as in the library
        while pending.any():
            even = pending & (e % 2 == 0)
            odd = pending & ~even
            base = np.where(even, base * base, base).astype(F32)
            x = np.where(odd, x * base, x).astype(F32)
            e = np.where(even, e // 2, np.where(odd, e - 1, e))
            pending = e > 1
        return np.where(exponent != 0, x * base, x).astype(F32)


def library_float32(fields: list[str]) -> np.ndarray:
    """Decimal strings (already checked to be plain numbers: ``[+-]digits[.digits][e[+-]digits]``) as float32,
    rounded as Aria's CSV parser rounds them (see the module docstring), not to the nearest float32."""
    negative = np.array([f.startswith("-") for f in fields], dtype=bool)
    mantissas, exponents = [], []
    for f in fields:
        body = f.lstrip("+-").lower()
        mantissa, _, exponent = body.partition("e")
        mantissas.append(mantissa)
        exponents.append(max(-_MAX_EXPONENT, min(_MAX_EXPONENT, int(exponent))) if exponent else 0)
    whole = _digits([m.partition(".")[0] for m in mantissas], left=True).astype(F32)
    decimals = _digits([m.partition(".")[2] for m in mantissas], left=False).astype(F32)
    x = np.zeros(len(fields), dtype=F32)
    with np.errstate(over="ignore", under="ignore"):  # 40 integer digits are inf in float32, as in the library
        for k in range(whole.shape[1]):
            x = ((x * F32(10.0)).astype(F32) + whole[:, k]).astype(F32)
        pos = F32(1.0)
        for k in range(decimals.shape[1]):
            pos = F32(pos / F32(10.0))
            x = (x + (decimals[:, k] * pos).astype(F32)).astype(F32)
    x = _apply_exponent(x, np.array(exponents, dtype=np.int64))
    return np.where(negative, -x, x).astype(F32)
