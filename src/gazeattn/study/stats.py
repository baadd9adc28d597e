"""Means over seeds with 95 % confidence intervals, paired differences, and the sentence that says what they show.

For values x_1..x_n (one per seed): mean m, sample standard deviation s (n − 1 in the denominator) and the
Student-t interval ``m ± t_{0.975, n−1} · s / √n``. A paired difference of A and B uses the seeds both have:
d_i = A_i − B_i, and the same interval over the d_i (same seed → same world, split, initialisation and batch
order, so the pairing removes what they share). With n = 1 there is no interval (no spread to estimate it from):
it is reported as undefined, never invented. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

__all__ = ["T975", "t_quantile", "Summary", "summarize", "paired", "sentence", "fmt_interval"]

# Two-sided 95 % critical values of Student's t (the 0.975 quantile) by degrees of freedom: published values.
T975: dict[int, float] = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
    21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
    40: 2.021, 60: 2.000, 120: 1.980,
}
Z975 = 1.960  # the normal quantile, for df > 120


def t_quantile(df: int) -> float:
    """t_{0.975, df}: exact (3 decimals) for df 1..30, 40, 60, 120; between those, the value of the next smaller
    tabulated df (slightly wider than exact, never narrower); beyond 120 the normal 1.960 (< 1 % narrower)."""
    if df < 1:
        raise ValueError(f"a t interval needs df >= 1, got {df}")
    if df > 120:
        return Z975
    return T975[max(d for d in T975 if d <= df)]


@dataclass(frozen=True)
class Summary:
    """Mean, sample sd and 95 % interval of n values; ``sd``/``lo``/``hi``/``half_width`` are None when n < 2,
    ``mean`` is None when n = 0."""

    n: int
    mean: float | None
    sd: float | None
    half_width: float | None
    lo: float | None
    hi: float | None

    @property
    def has_interval(self) -> bool:
        return self.half_width is not None

    def includes_zero(self) -> bool | None:
        """Whether the interval holds 0 (None without an interval)."""
        return None if self.lo is None else self.lo <= 0.0 <= self.hi

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(values: Sequence[Any]) -> list[float]:
    out = []
    for v in values:
        if v is None or isinstance(v, bool):
            continue
        v = float(v)
        if math.isfinite(v):
            out.append(v)
    return out


def summarize(values: Sequence[float | None]) -> Summary:
    """The Summary of ``values`` (None and non-finite values are left out and not counted)."""
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return Summary(0, None, None, None, None, None)
    mean = math.fsum(xs) / n
    if n == 1:
        return Summary(1, mean, None, None, None, None)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, half, mean - half, mean + half)


def paired(a: Mapping[int, float | None], b: Mapping[int, float | None]) -> tuple[Summary, list[int]]:
    """Summary of ``a[s] − b[s]`` over the seeds s where both are finite numbers; and those seeds (sorted)."""
    seeds = sorted(s for s in set(a) & set(b) if _finite([a[s]]) and _finite([b[s]]))
    return summarize([float(a[s]) - float(b[s]) for s in seeds]), seeds


def fmt_interval(s: Summary, digits: int = 1) -> str:
    """``"24.0 to 38.4"``, or ``"undefined"`` without an interval."""
    if not s.has_interval:
        return "undefined"
    return f"{s.lo:.{digits}f} to {s.hi:.{digits}f}"


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _amount(x: float, unit: str, metric: str, digits: int, *, signed: bool = False) -> str:
    number = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return f"{number} {unit} of {metric}" if unit else f"{number} in {metric}"


def sentence(a: str, b: str, diff: Summary, metric: str, *, unit: str = "points", digits: int = 1) -> str:
    """One plain sentence about the paired difference ``diff`` = a − b in ``metric``. E.g.
    "gaze-direct beats i3d by 31.2 points of mean class accuracy (95 % CI 24.0 to 38.4, 5 seeds).", or
    "gaze-gumbel vs i3d: +2.4 points of mean class accuracy, but the 95 % interval (-3.1 to 7.9, 5 seeds) includes
    0: no difference shown."; with one seed it says there is no interval. ``unit`` "" for unitless metrics."""
    if diff.n == 0 or diff.mean is None:
        return f"{a} vs {b}: no seed has both, so no comparison of {metric}."
    if not diff.has_interval:
        lead = (f"{a} and {b} tie on {metric}" if diff.mean == 0 else
                f"{a} {'beats' if diff.mean > 0 else 'trails'} {b} by {_amount(abs(diff.mean), unit, metric, digits)}")
        return f"{lead} on 1 seed; with one seed there is no interval, so no difference is shown."
    if diff.includes_zero():
        return (f"{a} vs {b}: {_amount(diff.mean, unit, metric, digits, signed=True)}, but the 95 % interval "
                f"({fmt_interval(diff, digits)}, {_seeds(diff.n)}) includes 0: no difference shown.")
    verb = "beats" if diff.mean > 0 else "trails"
    return (f"{a} {verb} {b} by {_amount(abs(diff.mean), unit, metric, digits)} "
            f"(95 % CI {fmt_interval(diff, digits)}, {_seeds(diff.n)}).")
