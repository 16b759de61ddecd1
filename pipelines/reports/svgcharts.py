"""Bar charts over time as inline SVG, so the report needs no script and no external library.

One chart is one series of bars (class ``bar``, each with ``data-value`` and a ``title``), an
axis with the maximum and zero, and a few time labels. A withheld bucket of the public version
is a hatched full-height bar of class ``bar suppressed``, never a zero: a reader must be able
to tell "nothing happened" from "not published".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH_PX = 680.0
HEIGHT_PX = 150.0
LEFT_PX = 52.0
BOTTOM_PX = 20.0
TOP_PX = 16.0


@dataclass(frozen=True)
class Bar:
    """One bucket: its time label, value (None: no data) and whether it is withheld."""

    label: str
    value: float | None
    suppressed: bool = False


def bar_chart(
    title: str, unit: str, bars: Sequence[Bar], fmt: Callable[[float], str] = "{:,.0f}".format
) -> str:
    """An SVG bar chart of ``bars`` from zero to their maximum."""
    values = [bar.value for bar in bars if bar.value is not None and not bar.suppressed]
    top = max(values, default=0.0) or 1.0
    plot_w = WIDTH_PX - LEFT_PX - 8
    plot_h = HEIGHT_PX - TOP_PX - BOTTOM_PX
    step = plot_w / max(len(bars), 1)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH_PX:.0f} {HEIGHT_PX:.0f}" '
        f'width="{WIDTH_PX:.0f}" height="{HEIGHT_PX:.0f}" role="img" aria-label="{escape(title)}">',
        '<defs><pattern id="bar-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="4" height="4" fill="#eee"/>'
        '<line x1="0" y1="0" x2="0" y2="4" stroke="#999" stroke-width="1.5"/></pattern></defs>',
        f'<text x="{LEFT_PX}" y="11" font-size="11" font-weight="bold">{escape(title)} ({escape(unit)})</text>',
        f'<line x1="{LEFT_PX}" y1="{TOP_PX}" x2="{LEFT_PX}" y2="{TOP_PX + plot_h}" stroke="#444"/>',
        f'<line x1="{LEFT_PX}" y1="{TOP_PX + plot_h}" x2="{WIDTH_PX - 8}" y2="{TOP_PX + plot_h}" stroke="#444"/>',
        f'<text x="{LEFT_PX - 4}" y="{TOP_PX + 8}" font-size="9" text-anchor="end">{escape(fmt(top))}</text>',
        f'<text x="{LEFT_PX - 4}" y="{TOP_PX + plot_h}" font-size="9" text-anchor="end">0</text>',
    ]
    for index, bar in enumerate(bars):
        x = LEFT_PX + index * step + step * 0.1
        width = max(step * 0.8, 0.5)
        if bar.suppressed:
            parts.append(
                f'<rect class="bar suppressed" x="{x:.1f}" y="{TOP_PX}" width="{width:.1f}" height="{plot_h:.1f}" '
                f'fill="url(#bar-hatch)"><title>{escape(bar.label)}: suppressed</title></rect>'
            )
        elif bar.value is not None:
            height = plot_h * bar.value / top
            parts.append(
                f'<rect class="bar" data-value="{bar.value:g}" x="{x:.1f}" y="{TOP_PX + plot_h - height:.1f}" '
                f'width="{width:.1f}" height="{height:.1f}" fill="#2a6f99">'
                f"<title>{escape(bar.label)}: {escape(fmt(bar.value))}</title></rect>"
            )
    label_every = max(1, len(bars) // 6)
    for index in range(0, len(bars), label_every):
        x = LEFT_PX + index * step
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT_PX - 5}" font-size="9">{escape(bars[index].label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
