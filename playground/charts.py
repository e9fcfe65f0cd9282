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


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3g}"


def line_chart(title: str, series: list[tuple[int, float | None]], *, width: int = WIDTH,
               height: int = HEIGHT) -> LineChart | None:
    """A chart of `value` by revision; None when there is nothing to draw."""
    data = sorted((r, float(v)) for r, v in series if v is not None)
    if not data:
        return None
    left, top, right, bottom = PAD_LEFT, PAD_TOP, width - PAD_RIGHT, height - PAD_BOTTOM
    revisions = [r for r, _ in data]
    values = [v for _, v in data]
    x_lo, x_hi = min(revisions), max(revisions)
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
    y_ticks = [(round(py(v), 1), _fmt(v)) for v in (y_lo + margin, (y_lo + y_hi) / 2, y_hi - margin)]
    step = max(1, round(len(revisions) / 6))
    x_ticks = [(p.x, str(p.revision)) for p in points[::step]]
    if points[-1].revision != int(x_ticks[-1][1]):
        x_ticks.append((points[-1].x, str(points[-1].revision)))
    return LineChart(title=title, width=width, height=height, points=points, path=path, y_ticks=y_ticks,
                     x_ticks=x_ticks, plot=(left, top, right, bottom))


def training_charts(runs) -> list[LineChart]:
    """Your mean rating and the loss of the trainings that produced each revision.

    The rating chart shows what the user gave each training, not whether the model improved: labelled so.
    """
    reward = [(run.to_revision, run.metrics.get("reward_mean")) for run in runs]
    loss = [(run.to_revision, run.metrics.get("loss")) for run in runs]
    return [c for c in (line_chart("Mean rating you gave", reward), line_chart("Loss", loss)) if c]
