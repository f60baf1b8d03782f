"""The dashboard's chart, drawn on the server: one bar a day of the month, the CO2 avoided in
green with what voids took back stacked above it. Only geometry here; the template writes the
SVG (with its title and description), and the table beside it carries every figure."""

from __future__ import annotations

from dataclasses import dataclass

from server.partners.portal import Figures

WIDTH = 620
HEIGHT = 260
PLOT_TOP = 16
PLOT_BOTTOM = 220  # the bars' baseline; the day labels sit below it
LEFT = 8
LABELLED_DAYS = (1, 8, 15, 22, 29)


@dataclass(frozen=True)
class Bar:
    day: int
    x: float
    width: float
    avoided_y: float
    avoided_height: float
    voided_y: float
    voided_height: float
    labelled: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    baseline: int
    top: int
    bars: list[Bar]
    max_g: int


def day_chart(days: list[Figures]) -> Chart:
    """Bars scaled to the month's largest day (energy awarded, voids included)."""
    largest = max((figures.awarded_g for figures in days), default=0) or 1
    plot_height = PLOT_BOTTOM - PLOT_TOP
    slot = (WIDTH - 2 * LEFT) / max(len(days), 1)
    bars = []
    for index, figures in enumerate(days):
        avoided = max(figures.co2_avoided_g, 0) * plot_height / largest
        voided = min(figures.voided_g, figures.awarded_g) * plot_height / largest
        bars.append(
            Bar(
                day=index + 1,
                x=round(LEFT + index * slot + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                avoided_y=round(PLOT_BOTTOM - avoided, 1),
                avoided_height=round(avoided, 1),
                voided_y=round(PLOT_BOTTOM - avoided - voided, 1),
                voided_height=round(voided, 1),
                labelled=index + 1 in LABELLED_DAYS,
            )
        )
    return Chart(WIDTH, HEIGHT, PLOT_BOTTOM, PLOT_TOP, bars, largest if any(d.awarded_g for d in days) else 0)
