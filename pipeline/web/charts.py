"""Charts as inline SVG drawn in Python: no script, no `style` attribute and no `<style>` element (the CSP allows
none of them); colours come from classes that static/app.css styles (`series-N`, `age-N`).

Every text taken from the store (a region's name, a label) goes through `Markup.format`, which escapes it, so a
name like `<script>` is drawn as those characters. A chart is only a picture: its page lists the same numbers in a
table, and the SVG carries a <title> and <desc> for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 720
SERIES_CLASSES = 8  # series-0 … series-7 in app.css (a colour-blind-safe palette); more series repeat them
LABEL_CHARS = 40  # longer category names are cut in the drawing (the table and the bar's tooltip keep them whole)


@dataclass(frozen=True)
class Bar:
    """One category of a horizontal bar chart: its name, one value per series (stacked), a note after the total
    (e.g. the age of the oldest item)."""

    label: str
    values: tuple[int, ...]
    note: str = ""
    colour: int = 0  # the series class of a single-valued bar (so a label keeps its colour across charts)

    @property
    def total(self) -> int:
        return sum(self.values)


def series_class(index: int, palette: str = "series") -> str:
    return f"{palette}-{index % SERIES_CLASSES}" if palette == "series" else f"{palette}-{index}"


def axis_top(largest: float) -> tuple[int, int]:
    """The top of a count axis and its step: about five gridlines, on 1-2-2.5-5 steps, whole numbers."""
    if largest <= 0:
        return 1, 1
    raw = largest / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    steps = (1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)
    step = int(next(m * magnitude for m in steps if raw <= m * magnitude))
    return step * math.ceil(largest / step), step


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _open(chart_id: str, height: float, title: str, desc: str) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{title}</title>'
        '<desc id="{id}-desc">{desc}</desc>'
    ).format(id=chart_id, w=WIDTH, h=_f(height), title=title, desc=desc)


def bars(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[Bar],
    series: Sequence[str] = ("",),
    palette: str = "series",
    number: Callable[[int], str] = str,
) -> Markup:
    """Horizontal bars, one per row, stacked by series when there are several; the total (and note) at the end."""
    row_h, top = 26, 6
    height = top * 2 + row_h * max(len(rows), 1)
    longest = max((len(_cut(r.label)) for r in rows), default=4)
    left = min(max(12 + 6.6 * longest, 90), 280)
    right = 150 if any(r.note for r in rows) else 70
    plot = WIDTH - left - right
    largest = max((r.total for r in rows), default=0) or 1
    parts = [_open(chart_id, height, title, desc)]
    for i, row in enumerate(rows):
        y = top + i * row_h
        parts.append(
            Markup('<text class="cat" x="{x}" y="{y}" text-anchor="end">{label}</text>').format(
                x=_f(left - 6), y=_f(y + row_h / 2 + 4), label=_cut(row.label)
            )
        )
        x = left
        for j, value in enumerate(row.values):
            if value <= 0:
                continue
            w = max(plot * value / largest, 1)
            name = f"{row.label} · {series[j]}" if len(series) > 1 and series[j] else row.label
            parts.append(
                Markup(
                    '<rect class="{cls}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{tip}</title></rect>'
                ).format(
                    cls=series_class(j if len(row.values) > 1 else row.colour, palette),
                    x=_f(x),
                    y=_f(y + 4),
                    w=_f(w),
                    h=row_h - 8,
                    tip=f"{name}: {number(value)}",
                )
            )
            x += w
        end = f"{number(row.total)} · {row.note}" if row.note else number(row.total)
        parts.append(
            Markup('<text class="val" x="{x}" y="{y}">{text}</text>').format(
                x=_f(x + 5), y=_f(y + row_h / 2 + 4), text=end
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def columns(
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    ticks: Sequence[str],
    values: Sequence[Sequence[int]],
    series: Sequence[str],
    number: Callable[[int], str] = str,
) -> Markup:
    """Vertical stacked columns over an ordered axis (days): `values[i][j]` is category i, series j; `ticks[i]` is
    the axis text under category i (every few categories, so they never overlap)."""
    height, left, right, top, bottom = 260, 46, 12, 10, 30
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    axis, step = axis_top(max((sum(v) for v in values), default=0))
    parts = [_open(chart_id, height, title, desc)]
    for tick in range(0, axis + 1, step):
        y = top + plot_h - plot_h * tick / axis
        parts.append(
            Markup('<line class="grid" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/>').format(
                x1=left, x2=WIDTH - right, y=_f(y)
            )
        )
        parts.append(
            Markup('<text class="tick" x="{x}" y="{y}" text-anchor="end">{n}</text>').format(
                x=left - 6, y=_f(y + 4), n=number(tick)
            )
        )
    n = max(len(categories), 1)
    col = plot_w / n
    every = max(1, math.ceil(40 / col))
    for i, category in enumerate(categories):
        x = left + i * col + col * 0.1
        base = top + plot_h
        for j, value in enumerate(values[i]):
            if value <= 0:
                continue
            h = plot_h * value / axis
            base -= h
            name = f"{category} · {series[j]}" if series[j] else category
            parts.append(
                Markup(
                    '<rect class="{cls}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{tip}</title></rect>'
                ).format(
                    cls=series_class(j),
                    x=_f(x),
                    y=_f(base),
                    w=_f(max(col * 0.8, 1)),
                    h=_f(h),
                    tip=f"{name}: {number(value)}",
                )
            )
        if (n - 1 - i) % every == 0:  # counted from the last day, which always has its date
            parts.append(
                Markup('<text class="tick" x="{x}" y="{y}" text-anchor="middle">{t}</text>').format(
                    x=_f(left + i * col + col / 2), y=height - bottom + 16, t=ticks[i]
                )
            )
    parts.append(
        Markup('<line class="axis" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/>').format(
            x1=left, x2=WIDTH - right, y=top + plot_h
        )
    )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def legend(series: Sequence[str], palette: str = "series") -> Markup:
    """The series' names beside swatches of their colours (HTML, read as a list)."""
    items = [
        Markup('<li><span class="swatch {cls}" aria-hidden="true"></span>{name}</li>').format(
            cls=series_class(i, palette), name=name
        )
        for i, name in enumerate(series)
    ]
    return Markup('<ul class="legend">{}</ul>').format(Markup("").join(items))
