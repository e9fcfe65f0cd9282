"""Axis labels of the Playground's charts (playground/charts.py): each tick reads differently, and no
more digits than that needs."""
from playground.charts import line_chart, tick_labels


def test_close_values_get_the_decimals_that_tell_them_apart():
    assert tick_labels([-1.0212, -1.0205, -1.0198]) == ["-1.0212", "-1.0205", "-1.0198"]


def test_whole_numbers_and_percentages_read_whole():
    assert tick_labels([0.0, 50.0, 100.0]) == ["0", "50", "100"]
    assert tick_labels([-2.0, -1.0, 0.0]) == ["-2", "-1", "0"]


def test_a_value_that_rounds_to_zero_never_reads_minus_zero():
    assert tick_labels([-2.002, -1.002, -0.002]) == ["-2", "-1", "0"]


def test_a_chart_of_a_loss_that_barely_moved_has_three_distinct_labels():
    chart = line_chart("Loss", [(1, -1.021), (3, -1.0205)])
    labels = [label for _, label in chart.y_ticks]
    assert len(set(labels)) == 3, labels


def test_a_percentage_axis_is_fixed_from_0_to_100():
    chart = line_chart("Win rate", [(0, 0.0), (1, 100.0)], y_range=(0, 100))
    assert [label for _, label in chart.y_ticks] == ["0", "50", "100"]
