"""A curve the user draws as points becomes evenly spaced targets (issue 13 item 10)."""
import numpy as np

from pipeline.playlist import curve_from_points


def test_points_in_any_order_are_resampled_and_clipped() -> None:
    got = curve_from_points(np.array([100, 0, 50]), np.array([0.2, 0.2, 1.4]), 0.0, 1.0, 5)
    assert got == (0.2, 0.6, 1.0, 0.6, 0.2)


def test_rows_with_gaps_are_ignored_and_two_points_are_needed() -> None:
    assert curve_from_points(np.array([0, np.nan, 100]), np.array([0.1, 0.5, 0.9]), 0, 1, 3) \
        == (0.1, 0.5, 0.9)
    assert curve_from_points(np.array([10.0]), np.array([0.5]), 0, 1) == ()
