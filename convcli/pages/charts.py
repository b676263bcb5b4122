"""Charts: the pages' line charts, drawn as inline SVG from numbers.

An SVG scales with the page, so a chart stays sharp on a phone and on a wide screen, and
its legend is HTML text under it, which wraps instead of shrinking. Colours are
Okabe and Ito's, told apart by colour-blind readers; dashes tell seeds apart. Nothing
here reads a file or imports a plotting library: a page drawn from a run directory
needs neither matplotlib nor numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

# Okabe & Ito (2008), "Color Universal Design"; yellow last, it is faint on white.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")  # one per seed: identical curves stay visible
WIDTH, HEIGHT = 440, 270  # the viewBox: text of 13 units reads ~11 px at a 390 px phone's width
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 10, 40


@dataclass
class Series:
    """One curve: (x, y) points (y None: a gap), drawn as a line, dots or both."""

    label: str
    points: list[tuple[float, float | None]]
    colour: str = COLOURS[0]
    dash: str = ""
    line: bool = True
    dots: bool = False
    band: list[tuple[float, float, float]] = field(default_factory=list)  # (x, low, high)


@dataclass
class Mark:
    """A vertical line across the chart with a label at its top (a phase, the best epoch)."""

    x: float
    label: str
    colour: str = "#555"
    dash: str = "4 3"


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def dash(index: int) -> str:
    return DASHES[index % len(DASHES)]


def line_chart(title: str, series: list[Series], x_label: str, y_label: str, *,
               percent: bool = False, marks: tuple[Mark, ...] = (), log_y: bool = False,
               x_names: list[str] | None = None, zoom_id: str = "", note: str = "") -> str:
    """A titled figure: the chart as SVG and its legend as text; tap the chart to enlarge it
    (a checkbox and CSS, no script). `percent` shows fractions as 0-100 %; `x_names` puts
    names at x = 0, 1, ... instead of numbers; `note`, plain text, is a line under it."""
    scale = 100.0 if percent else 1.0
    xs = [x for s in series for x, y in s.points if y is not None] + [m.x for m in marks]
    ys = [scale * y for s in series for _, y in s.points if y is not None]
    ys += [scale * v for s in series for _, low, high in s.band for v in (low, high)]
    if not xs or not ys:
        return f'<p class="note">{escape(title)}: nothing to plot yet.</p>'
    axes = Axes(xs, ys, log_y, integer_x=x_names is None)
    body = [axes.grid(y_label + (" (%)" if percent else ""), x_label, x_names)]
    body += [axes.band(s, scale) for s in series if s.band and s.line]
    body += [axes.curve(s, scale) for s in series]
    body += [axes.mark(m) for m in marks]
    svg = (f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
           + "".join(body) + "</svg>")
    legend = "".join(f'<li><svg viewBox="0 0 26 10" class="key"><line x1="1" y1="5" x2="25" y2="5" '
                     f'stroke="{s.colour}" stroke-width="{2.5 if s.line else 0}" '
                     f'stroke-dasharray="{s.dash}"/>{_dot(13, 5, s.colour) if s.dots else ""}</svg>'
                     f"{escape(s.label)}</li>" for s in series if s.label)
    toggle = (f'<input type="checkbox" id="{zoom_id}" class="zoom" aria-label="enlarge">'
              f'<label for="{zoom_id}" title="tap to enlarge">' if zoom_id else "<div>")
    caption = f'<figcaption class="note">{escape(note)}</figcaption>' if note else ""
    return (f'<figure class="chart">{toggle}<b>{escape(title)}</b>{svg}'
            f'<ul class="legend">{legend}</ul>{"</label>" if zoom_id else "</div>"}{caption}</figure>')


def _dot(x: float, y: float, fill: str) -> str:
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{fill}"/>'


class Axes:
    """Data coordinates to the viewBox's, and the grid, curves and marks drawn in them."""

    def __init__(self, xs: list[float], ys: list[float], log_y: bool, integer_x: bool):
        # Log only across a decade or more: within one, its ticks (10 ** -3.4 = 3.98e-4)
        # would be labelled with rounded values that are not where they stand.
        self.log_y = log_y and min(ys) > 0 and max(ys) / min(ys) >= 10
        # Named values (a swept key's) every one when few, else every n-th: 20 random draws'
        # labels would overlap on a phone.
        every = 1 if integer_x else math.ceil((int(max(xs)) + 1) / 8)
        self.x_ticks = integer_ticks(min(xs), max(xs)) if integer_x else list(range(0, int(max(xs)) + 1, every))
        low, high = min(ys), max(ys)
        if self.log_y:
            low, high = math.log10(low), math.log10(high)
        self.y_ticks = nice_ticks(low, high)
        self.x0, self.x1 = min(self.x_ticks[0], min(xs)), max(self.x_ticks[-1], max(xs))
        if not integer_x:
            self.x0, self.x1 = -0.5, max(xs) + 0.5
        self.y0, self.y1 = self.y_ticks[0], self.y_ticks[-1]

    def px(self, x: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return LEFT + (x - self.x0) / span * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        value = math.log10(y) if self.log_y else y
        span = (self.y1 - self.y0) or 1.0
        return HEIGHT - BOTTOM - (value - self.y0) / span * (HEIGHT - TOP - BOTTOM)

    def grid(self, y_label: str, x_label: str, x_names: list[str] | None) -> str:
        parts = []
        for tick in self.y_ticks:
            y = HEIGHT - BOTTOM - (tick - self.y0) / ((self.y1 - self.y0) or 1) * (HEIGHT - TOP - BOTTOM)
            text = _number(10 ** tick if self.log_y else tick)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                         f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
        for tick in self.x_ticks:
            name = x_names[tick] if x_names else _number(tick)
            parts.append(f'<text x="{self.px(tick):.1f}" y="{HEIGHT - BOTTOM + 15}" '
                         f'text-anchor="middle">{escape(str(name))}</text>')
        parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
                     f"{escape(x_label)}</text>")
        parts.append(f'<text transform="translate(12 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
                     f'text-anchor="middle">{escape(y_label)}</text>')
        return f'<g font-size="12" fill="#333">{"".join(parts)}</g>'

    def curve(self, series: Series, scale: float) -> str:
        runs, current = [], []
        for x, y in series.points:  # a missing value breaks the line instead of bridging it
            if y is None or (isinstance(y, float) and math.isnan(y)):
                runs, current = runs + [current] if current else runs, []
            else:
                current.append((self.px(x), self.py(scale * y)))
        runs = runs + [current] if current else runs
        parts = []
        if series.line:
            parts += [f'<polyline fill="none" stroke="{series.colour}" stroke-width="2" '
                      f'stroke-dasharray="{series.dash}" points="'
                      + " ".join(f"{x:.1f},{y:.1f}" for x, y in run) + '"/>' for run in runs]
        if not series.line and series.band:  # error bars: a whisker from low to high at each x
            parts += [f'<line x1="{self.px(x):.1f}" x2="{self.px(x):.1f}" y1="{self.py(scale * low):.1f}" '
                      f'y2="{self.py(scale * high):.1f}" stroke="{series.colour}" stroke-width="1.5"/>'
                      for x, low, high in series.band]
        if series.dots or any(len(run) == 1 for run in runs):
            parts += [_dot(x, y, series.colour) for run in runs for x, y in run]
        return "".join(parts)

    def band(self, series: Series, scale: float) -> str:
        upper = [(self.px(x), self.py(scale * high)) for x, _, high in series.band]
        lower = [(self.px(x), self.py(scale * low)) for x, low, _ in reversed(series.band)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower)
        return f'<polygon points="{points}" fill="{series.colour}" fill-opacity="0.18" stroke="none"/>'

    def mark(self, mark: Mark) -> str:
        x = self.px(mark.x)
        # A label right of its line, or left of it past the middle, so it stays inside the chart.
        right = x < (LEFT + WIDTH - RIGHT) / 2
        return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="{mark.colour}" '
                f'stroke-dasharray="{mark.dash}"/><text x="{x + 3 if right else x - 3:.1f}" y="{TOP + 11}" '
                f'font-size="11" text-anchor="{"start" if right else "end"}" fill="{mark.colour}">'
                f"{escape(mark.label)}</text>")


def integer_ticks(low: float, high: float, most: int = 8) -> list[int]:
    """Whole-number ticks (epochs) from low to high, 1, 2, 5, 10, 20, ... apart."""
    low, high = math.floor(low), math.ceil(high)
    steps = (m * 10 ** p for p in range(7) for m in (1, 2, 5))
    step = next(s for s in steps if (high - low) / s <= most)
    return list(range(math.ceil(low / step) * step, high + 1, step)) or [low]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round ticks covering low..high (0.1, 0.2, 0.5 x a power of ten apart)."""
    if high - low < 1e-12:
        low, high = low - (abs(low) * 0.1 or 1), high + (abs(high) * 0.1 or 1)
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step + 1e-9) * step  # 0.3 / 0.1 is 2.9999...
    ticks = [start]
    while ticks[-1] < high - 1e-12:
        ticks.append(ticks[-1] + step)
    return [round(t, 12) for t in ticks]


def _number(value: float) -> str:
    if abs(value) >= 1000 or (value and abs(value) < 0.001):
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.4g}"
