"""Server-rendered SVG charts for the analysis pages: heatmaps, line charts, the calibration plot, bars.

Each returns a safe SVG string with a <title> and per-mark tooltips; every page that draws one also gives
the same numbers as a table, so screen readers and tests read the table, people look at the picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape  # the standard one: Django's lazy wrapper costs 10x on 2,500 cells

from django.utils.safestring import SafeString, mark_safe

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
# A line per series, in this order (colour-blind safe: Okabe–Ito).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def _shade(value: float | None) -> str:
    """0 → white, 1 → deep blue; None (no data) → light grey."""
    if value is None:
        return "#eeeeee"
    v = max(0.0, min(1.0, float(value)))
    r = round(255 - v * (255 - 8))
    g = round(255 - v * (255 - 69))
    b = round(255 - v * (255 - 148))
    return f"rgb({r},{g},{b})"


def _text_colour(value: float | None) -> str:
    return "#ffffff" if value is not None and value > 0.55 else "#1a1a1a"


def _svg(width: float, height: float, title: str, body: list[str], css_class: str) -> SafeString:
    return mark_safe(
        f'<svg class="chart {css_class}" role="img" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def heatmap(
    values: Sequence[Sequence[float | None]],
    rows: Sequence[str],
    columns: Sequence[str],
    *,
    title: str,
    label: Callable[[int, int], str],
    href: Callable[[int, int], str | None] | None = None,
    scale: Sequence[Sequence[float | None]] | None = None,
    cell: int = 28,
    show_text: bool = False,
) -> SafeString:
    """A grid of cells shaded by `scale` (default: values / their maximum); `label(i, j)` is the tooltip."""
    n_rows, n_cols = len(rows), len(columns)
    left = 16 + 8 * max((len(_short(r)) for r in rows), default=4)
    top = 8 + 7 * max((len(_short(c)) for c in columns), default=4)
    if scale is None:
        top_value = max((v for row in values for v in row if v is not None), default=0) or 1
        scale = [[None if v is None else v / top_value for v in row] for row in values]
    body = []
    for j, name in enumerate(columns):
        x = left + j * cell + cell / 2
        body.append(
            f'<text x="{x:.1f}" y="{top - 6}" transform="rotate(-60 {x:.1f} {top - 6})">{escape(_short(name))}</text>'
        )
    for i, name in enumerate(rows):
        y = top + i * cell
        body.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(_short(name))}</text>'
        )
        for j in range(n_cols):
            x = left + j * cell
            shade = scale[i][j]
            rect = (
                f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{_shade(shade)}">'
                f"<title>{escape(label(i, j))}</title></rect>"
            )
            if show_text and values[i][j] is not None:
                rect += (
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                    f'fill="{_text_colour(shade)}" pointer-events="none">{escape(str(values[i][j]))}</text>'
                )
            link = href(i, j) if href else None
            body.append(f'<a href="{escape(link)}">{rect}</a>' if link else rect)
    width = left + n_cols * cell + 8
    height = top + n_rows * cell + 8
    return _svg(width, height, title, body, "heatmap")


def _axes(left, top, width, height, y_ticks=(0, 0.25, 0.5, 0.75, 1.0), y_format="{:.0%}") -> list[str]:
    out = [
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#888"/>',
    ]
    for t in y_ticks:
        y = top + height - t * height
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{y_format.format(t)}</text>')
    return out


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    point_titles: Sequence[str] | None = None,
    hrefs: Sequence[str] | None = None,
    width: int = 760,
    height: int = 260,
) -> SafeString:
    """Values in [0, 1] over the x positions (runs); a gap where a value is missing."""
    left, top, right = 48, 16, 16
    legend_rows = len(series)
    bottom = 40 + 18 * legend_rows
    height = height + 18 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(x_labels)
    step = plot_w / max(n - 1, 1)

    def xy(i, v):
        return left + (i * step if n > 1 else plot_w / 2), top + plot_h - max(0.0, min(1.0, v)) * plot_h

    body = _axes(left, top, plot_w, plot_h)
    every = max(1, n // 12)
    for i, name in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            x, _ = xy(i, 0)
            body.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(name)}</text>'
            )
    for s, (name, values) in enumerate(series):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        segment: list[str] = []
        segments = [segment]
        for i, v in enumerate(values):
            if v is None:
                segment = []
                segments.append(segment)
                continue
            x, y = xy(i, v)
            segment.append(f"{x:.1f},{y:.1f}")
        for seg in segments:
            if len(seg) > 1:
                body.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
        for i, v in enumerate(values):
            if v is None:
                continue
            x, y = xy(i, v)
            tip = f"{name}: {v:.1%}" + (f" — {point_titles[i]}" if point_titles else "")
            dot = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{escape(tip)}</title></circle>'
            body.append(f'<a href="{escape(hrefs[i])}">{dot}</a>' if hrefs else dot)
        # The legend under the plot, one series a line, so long names are never cut.
        ly = top + plot_h + 44 + s * 18
        body.append(f'<rect x="{left}" y="{ly - 6}" width="14" height="3" fill="{colour}"/>')
        body.append(f'<text x="{left + 20}" y="{ly}">{escape(name)}</text>')
    body.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="#555">run</text>'
    )
    return _svg(width, height, title, body, "lines")


def calibration_plot(bins: Sequence[dict], *, title: str, size: int = 300) -> SafeString:
    """Observed frequency against mean predicted probability per bin, with the diagonal of perfect calibration;
    each point's area grows with the number of (sample, class) pairs in its bin."""
    left, top, pad = 48, 12, 40
    plot = size - left - 12
    height = top + plot + pad

    def xy(p, o):
        return left + p * plot, top + plot - o * plot

    body = _axes(left, top, plot, plot)
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x, _ = xy(t, 0)
        body.append(f'<text x="{x:.1f}" y="{top + plot + 16}" text-anchor="middle">{t:.0%}</text>')
    x0, y0 = xy(0, 0)
    x1, y1 = xy(1, 1)
    body.append(
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#999" stroke-dasharray="4 4">'
        "<title>perfect calibration</title></line>"
    )
    filled = [b for b in bins if b.get("n")]
    biggest = max((b["n"] for b in filled), default=1)
    points = [xy(b["predicted"], b["observed"]) for b in filled]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{SERIES_COLOURS[0]}" stroke-width="2"/>')
    for b, (x, y) in zip(filled, points, strict=True):
        r = 3 + 5 * (b["n"] / biggest) ** 0.5
        tip = (
            f"predicted {b['low']:.0%}–{b['high']:.0%}: mean {b['predicted']:.1%}, "
            f"observed {b['observed']:.1%} of {b['n']}"
        )
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{SERIES_COLOURS[0]}" fill-opacity=".75">'
            f"<title>{escape(tip)}</title></circle>"
        )
    body.append(
        f'<text x="{left + plot / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#555">predicted probability</text>'
    )
    body.append(
        f'<text x="12" y="{top + plot / 2:.1f}" transform="rotate(-90 12 {top + plot / 2:.1f})" '
        'text-anchor="middle" fill="#555">observed frequency</text>'
    )
    return _svg(size, height, title, body, "calibration")


def grouped_bars(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    hrefs: Sequence[str | None] | None = None,
    width: int = 420,
) -> SafeString:
    """Horizontal bars of shares in [0, 1], one group per class, one bar per series."""
    left = 12 + 7 * max((len(_short(g)) for g in groups), default=4)
    bar, gap = 14, 10
    plot = width - left - 60
    per_group = bar * len(series) + gap
    height = 8 + per_group * len(groups) + 22
    body = []
    for g, name in enumerate(groups):
        y = 8 + g * per_group
        body.append(
            f'<text x="{left - 6}" y="{y + bar * len(series) / 2 + 4:.1f}" text-anchor="end">{escape(_short(name))}</text>'
        )
        for s, (series_name, values) in enumerate(series):
            v = values[g]
            w = 0 if v is None else max(0.0, min(1.0, v)) * plot
            colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
            tip = f"{name}, {series_name}: {'n/a' if v is None else f'{v:.1%}'}"
            rect = (
                f'<rect x="{left}" y="{y + s * bar}" width="{w:.1f}" height="{bar - 2}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
                f'<text x="{left + w + 4:.1f}" y="{y + s * bar + bar - 4}" font-size="10">{"n/a" if v is None else f"{v:.0%}"}</text>'
            )
            link = hrefs[g] if hrefs and s == len(series) - 1 else None
            body.append(f'<a href="{escape(link)}">{rect}</a>' if link else rect)
    lx = left
    for s, (series_name, _) in enumerate(series):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        body.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{lx + 14}" y="{height - 5}">{escape(series_name)}</text>')
        lx += 20 + 7 * len(series_name)
    return _svg(width, height, title, body, "bars")
