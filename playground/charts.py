"""Small line charts drawn server-side as inline SVG (no chart library): geometry only, the template draws."""
from dataclasses import dataclass

WIDTH, HEIGHT = 360, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 52, 14, 14, 30


@dataclass(frozen=True)
class Point:
    x: float  # pixels
    y: float  # pixels
    revision: int
    value: float


@dataclass(frozen=True)
class LineChart:
    title: str
    width: int
    height: int
    points: list[Point]
    path: str  # the SVG path through the points
    y_ticks: list[tuple[float, str]]  # (pixel y, label)
    x_ticks: list[tuple[float, str]]  # (pixel x, label)
    plot: tuple[float, float, float, float]  # left, top, right, bottom
    note: str = ""  # how to read it, under the chart


def tick_labels(values: list[float]) -> list[str]:
    """The axis labels of `values` with the fewest decimals that still tell them apart: a loss moving
    from -1.0212 to -1.0198 must not read "-1.02" three times, and a percentage reads 0, 50, 100."""
    for decimals in range(7):
        labels = [_fixed(v, decimals) for v in values]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{v:.3g}" for v in values]


def _fixed(value: float, decimals: int) -> str:
    label = f"{value:.{decimals}f}"
    return label[1:] if label.lstrip("-0.") == "" and label.startswith("-") else label  # never "-0"


def line_chart(title: str, series: list[tuple[int, float | None]], *, width: int = WIDTH,
               height: int = HEIGHT, note: str = "",
               y_range: tuple[float, float] | None = None) -> LineChart | None:
    """A chart of `value` by revision; None when there is nothing to draw. `y_range` fixes the axis (a
    percentage: 0 to 100) instead of fitting it to the values."""
    data = sorted((r, float(v)) for r, v in series if v is not None)
    if not data:
        return None
    left, top, right, bottom = PAD_LEFT, PAD_TOP, width - PAD_RIGHT, height - PAD_BOTTOM
    revisions = [r for r, _ in data]
    values = [v for _, v in data]
    x_lo, x_hi = min(revisions), max(revisions)
    if y_range is not None:
        (y_lo, y_hi), margin = y_range, 0.0
    else:
        y_lo, y_hi = min(values), max(values)
        if y_hi - y_lo < 1e-12:  # a flat line sits in the middle
            y_lo, y_hi = y_lo - 1, y_hi + 1
        margin = (y_hi - y_lo) * 0.08
        y_lo, y_hi = y_lo - margin, y_hi + margin

    def px(revision: int) -> float:
        if x_hi == x_lo:
            return (left + right) / 2
        return left + (revision - x_lo) / (x_hi - x_lo) * (right - left)

    def py(value: float) -> float:
        return bottom - (value - y_lo) / (y_hi - y_lo) * (bottom - top)

    points = [Point(x=round(px(r), 1), y=round(py(v), 1), revision=r, value=v) for r, v in data]
    path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    tick_values = [y_lo + margin, (y_lo + y_hi) / 2, y_hi - margin]
    y_ticks = list(zip((round(py(v), 1) for v in tick_values), tick_labels(tick_values)))
    step = max(1, round(len(revisions) / 6))
    x_ticks = [(p.x, str(p.revision)) for p in points[::step]]
    if points[-1].revision != int(x_ticks[-1][1]):
        x_ticks.append((points[-1].x, str(points[-1].revision)))
    return LineChart(title=title, width=width, height=height, points=points, path=path, y_ticks=y_ticks,
                     x_ticks=x_ticks, plot=(left, top, right, bottom), note=note)


def training_charts(runs) -> list[LineChart]:
    """One chart per measure the model's trainings report, each over the revisions that report it.

    Reward trainings (/v1/train, the Train page): your mean rating and their loss. The rating chart shows
    what the user gave each training, not whether the model improved: labelled so. Fine-tuning jobs: the
    validation loss of supervised jobs (cross-entropy on held-out answers) and the held-out preference
    accuracy and reward margin of DPO jobs, each at the end of its job (the best kept weights with early
    stopping). A job of both stages reports its DPO stage's, which ran last.
    """
    def series(kinds, key):
        return [(run.to_revision, run.metrics.get(key)) for run in runs if run.kind in kinds]

    reward, dpo = ("reward",), ("dpo", "supervised+dpo")
    held_out = "At the end of each job, on that job's own held-out examples: jobs on different datasets do not compare."
    charts = (line_chart("Mean rating you gave", series(reward, "reward_mean")),
              line_chart("Loss", series(reward, "loss")),
              line_chart("Validation loss (supervised jobs)", series(("supervised",), "valid_loss"), note=held_out),
              line_chart("Held-out preference accuracy (DPO jobs)", series(dpo, "valid_preference_accuracy"),
                         note=held_out),
              line_chart("Held-out reward margin (DPO jobs)", series(dpo, "valid_reward_margin"), note=held_out))
    return [c for c in charts if c]
