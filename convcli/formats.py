"""How convcli writes numbers for a person, and which layout of a table fits the terminal.

One home for percentages, durations and sizes, so every table and page says 97.5%, 1m 05s
and 1.34 MB alike. Tables fit 80 columns (the default terminal and every pipe) by offering
layouts from the fullest to the narrowest: `Fitted` shows the first one whose cells all
stay whole, never a name cut with "…".
"""

from __future__ import annotations

# rich is imported where it draws: convcli.pages.run uses these formatters and imports no heavy library.
import copy


def redact(url: str) -> str:
    """A storage or tracking URL without its password (user:pw@host -> user:***@host)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        rest = f"{user}:***@{rest.split('@', 1)[1]}"
    return scheme + sep + rest


def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.975 -> 97.5%; None -> -."""
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def number(value: float | None, digits: int = 4) -> str:
    """A loss or another plain number: 0.1234; None -> -."""
    return "-" if value is None else f"{value:.{digits}f}"


def metric(name: str, value) -> str:
    """A value in the unit its name implies: accuracies, probabilities and shares (0 to 1)
    in percent, other numbers to 4 places, whole numbers with separators; None -> -."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    if any(word in name for word in ("acc", "prob", "share", "score", "chance")) and 0 <= value <= 1:
        return percent(value)
    return f"{value:,}" if isinstance(value, int) else number(value)


def duration(seconds: float | None) -> str:
    """Seconds as 45s, 3m 07s or 2h 05m; None -> -."""
    if seconds is None:
        return "-"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def timestamp(stamp, to_the_minute: bool = False) -> str:
    """A time as meta.json records it (ISO 8601), with a space for the T:
    2026-11-30 07:43:55+01:00, or 2026-11-30 07:43 to the minute; None -> -."""
    if not stamp:
        return "-"
    text = str(stamp).replace("T", " ")
    return text[:16] if to_the_minute else text


def clock(seconds: float) -> str:
    """Seconds as a clock: 3:07 or 1:02:05 (a sweep's time elapsed and left)."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def size(count: int) -> str:
    """Bytes in SI units, three significant digits: 512 B, 13.4 kB, 1.34 MB, 2.1 GB."""
    if count < 1000:
        return f"{count} B"
    value, unit = count / 1000, "kB"
    for larger in ("MB", "GB"):
        if value < 999.5:
            break
        value, unit = value / 1000, larger
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


class Fitted:
    """The first of several layouts (fullest first) whose cells all stay whole at the
    console's width; when none does, the last table stacked: a row's first cell on a
    line, its other cells as `header value` on the next."""

    def __init__(self, *layouts):
        self.layouts = layouts

    def __rich_console__(self, console, options):
        for layout in self.layouts:
            if is_whole(console, options, layout):
                yield from _unframed(layout)
                return
        yield stacked(self.layouts[-1], options.max_width)


def _unframed(renderable):
    """A table's title above it and its caption below, as wide as the terminal rather than
    the table, so a long path in a title wraps only if the terminal is narrower than it."""
    from rich.table import Table
    from rich.text import Text

    if not isinstance(renderable, Table):
        yield renderable
        return
    table = copy.copy(renderable)
    table.title = table.caption = None
    if renderable.title:
        yield Text(str(renderable.title), style="table.title")
    yield table
    if renderable.caption:
        yield Text(str(renderable.caption), style="table.caption")


def stacked(renderable, width: int = 80):
    """A table as lines: each row's first cell on a line, then its other cells as
    `header value`, as many to a line as fit in `width`, none split between lines."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if isinstance(renderable, Group):
        return Group(*(stacked(part, width) for part in renderable.renderables))
    if not isinstance(renderable, Table):
        return renderable
    columns = [list(column.cells) for column in renderable.columns]
    lines = [Text(str(renderable.title), style="table.title")] if renderable.title else []
    for cells in zip(*columns):
        lines.append(Text.assemble(cells[0], style="bold"))
        pairs = [Text.assemble(f"{column.header} " if column.header else "", _one_line(cell))
                 for column, cell in zip(renderable.columns[1:], cells[1:])]
        lines += _packed(pairs, width)
    if renderable.caption:
        lines.append(Text(str(renderable.caption), style="table.caption"))
    return Group(*lines)


def _packed(pairs: list, width: int) -> list:
    """Indented lines of pairs two spaces apart, a new line where the next would not fit."""
    from rich.text import Text

    lines, line = [], Text("")
    for pair in pairs:
        if line.plain and len(line) + 2 + len(pair) > width:
            lines.append(line)
            line = Text("")
        line.append_text(Text("  ").append_text(pair))
    return lines + ([line] if line.plain else [])


def is_whole(console, options, renderable) -> bool:
    """Whether every table in the renderable shows each cell whole at options.max_width:
    unwrappable cells (no_wrap) at their full width, the others at their longest word."""
    from rich.console import Group
    from rich.table import Table

    if isinstance(renderable, Group):
        return all(is_whole(console, options, part) for part in renderable.renderables)
    if not isinstance(renderable, Table):
        return True
    if minimum_width(console, options, renderable) > options.max_width:
        return False
    lines = console.render_lines(renderable, options, pad=False)  # the estimate, checked
    return not any("…" in segment.text for line in lines for segment in line)


def minimum_width(console, options, table) -> int:
    """The narrowest a rich Table can be drawn without cutting or folding a word."""
    from rich.measure import Measurement

    width = table._extra_width  # box edges and column separators (rich has no public name)
    for index, column in enumerate(table.columns):
        cells = [column.header, *column.cells] if table.show_header else list(column.cells)
        sizes = [Measurement.get(console, options, cell) for cell in cells]
        width += max((size.maximum if column.no_wrap else size.minimum for size in sizes), default=0)
        width += table._get_padding_width(index)
    return width


def _one_line(cell):
    """A cell of several lines as one, its lines two spaces apart."""
    from rich.text import Text

    if isinstance(cell, Text):
        return Text("  ").join(cell.split("\n"))
    return str(cell).replace("\n", "  ")
