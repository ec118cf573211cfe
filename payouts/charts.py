"""Geometry for the server-rendered charts: pure functions over plain values (integers), no ORM
and no floats, so a template only places what they say. Period labels live with the other
formats in `trust.templatetags.portal`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    key: int  # what the bar stands for (a period id)
    value: int  # the amount in cents, as given
    label: str
    x: int  # left edge
    y: int  # top edge
    width: int
    height: int
    center: int  # x of the bar's middle, where its labels go
    value_y: int  # baseline of the amount written above the bar
    label_y: int  # baseline of the label written under the axis


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    baseline: int  # y of the axis the bars stand on
    left: int
    right: int
    bars: tuple[Bar, ...]


def bar_chart(
    items: list[tuple[int, int, str]],
    *,
    slot: int | None = None,
    bar_width: int = 56,
    plot_height: int = 180,
    margin: int = 16,
    top: int = 28,
    bottom: int = 36,
    min_width: int = 320,
) -> BarChart:
    """Bars for `items` of (key, value, label), left to right in the order given.

    Each bar gets a slot of `slot` units (by default as wide as the longest label needs).
    Heights are `value * plot_height // largest` in integer arithmetic, so any amount of cents
    is exact and the largest bar fills the plot. A value of zero or less draws no bar (height
    0) but keeps its slot and labels; all zeros, or no items at all, give an empty plot rather
    than a division by zero. A bar with a positive value is at least 1 unit tall so it never
    disappears."""
    count = len(items)
    if slot is None:
        # Wide enough for the longest label at about 7 units a character (12-unit text).
        slot = max(96, 7 * max((len(label) for _, _, label in items), default=0) + 16)
    width = max(min_width, 2 * margin + count * slot)
    # Centre the bars when the chart is wider than they need.
    left = (width - count * slot) // 2
    baseline = top + plot_height
    largest = max((value for _, value, _ in items), default=0)
    bars = []
    for index, (key, value, label) in enumerate(items):
        height = max(1, value * plot_height // largest) if largest > 0 and value > 0 else 0
        x = left + index * slot + (slot - bar_width) // 2
        center = left + index * slot + slot // 2
        bars.append(
            Bar(
                key=key,
                value=value,
                label=label,
                x=x,
                y=baseline - height,
                width=bar_width,
                height=height,
                center=center,
                value_y=baseline - height - 8,
                label_y=baseline + 22,
            )
        )
    return BarChart(
        width=width,
        height=baseline + bottom,
        baseline=baseline,
        left=margin,
        right=width - margin,
        bars=tuple(bars),
    )
