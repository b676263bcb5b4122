"""Statistics over a point's seeds: mean, sample standard deviation, and a 95 % confidence
interval for the mean from Student's t-distribution (no SciPy: the quantile is found by
bisection on the t CDF, itself the regularized incomplete beta function)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """n values summarised; std and the interval are None for fewer than two."""

    n: int
    mean: float | None
    std: float | None
    low: float | None
    high: float | None

    def as_text(self, scale: float = 1.0, digits: int = 1, count: bool = True) -> str:
        """`mean ± std (n)`, or `mean (1)`, or `-`; without ` (n)` when not `count`."""
        if self.mean is None:
            return "-"
        spread = "" if self.std is None else f" ± {self.std * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f}{spread}" + (f" ({self.n})" if count else "")

    def as_change(self, scale: float = 1.0, digits: int = 1) -> str:
        """A difference: `+mean (+low, +high)` with † when the interval holds 0 (within
        noise), `+mean` without an interval, or `-`."""
        if self.mean is None:
            return "-"
        if self.low is None:
            return f"{self.mean * scale:+.{digits}f}"
        noise = "†" if self.low <= 0 <= self.high else " "
        return (f"{self.mean * scale:+.{digits}f} ({self.low * scale:+.{digits}f}, "
                f"{self.high * scale:+.{digits}f}){noise}")


def summarize(values: list[float], confidence: float = 0.95) -> Summary:
    """Mean, std (n - 1 in the denominator) and the t interval of the mean."""
    n = len(values)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = sum(values) / n
    if n == 1:
        return Summary(1, mean, None, None, None)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def difference(before: list[float], after: list[float], confidence: float = 0.95) -> Summary:
    """mean(after) - mean(before) with Welch's t interval (unequal variances); n is the
    smaller sample's size. No interval when either side has fewer than two values."""
    a, b = summarize(before), summarize(after)
    if a.mean is None or b.mean is None:
        return Summary(0, None, None, None, None)
    gain = b.mean - a.mean
    if a.std is None or b.std is None:
        return Summary(min(a.n, b.n), gain, None, None, None)
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Summary(min(a.n, b.n), gain, 0.0, gain, gain)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))  # Welch-Satterthwaite
    half = t_quantile(0.5 + confidence / 2, df) * se
    return Summary(min(a.n, b.n), gain, se, gain - half, gain + half)


def t_quantile(p: float, df: float) -> float:
    """The value t with P(T <= t) = p for Student's t with df degrees of freedom (p > 0.5;
    df need not be whole, as Welch's is not)."""
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for t >= 0."""
    return 1 - 0.5 * incomplete_beta(df / (df + t * t), df / 2, 0.5)


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only on this side
        return 1 - incomplete_beta(1 - x, b, a)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x)) / a
    return front * _beta_fraction(x, a, b)


def _beta_fraction(x: float, a: float, b: float, tiny: float = 1e-300) -> float:
    """Lentz's evaluation of the continued fraction of I_x(a, b)."""
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result
