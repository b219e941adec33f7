"""Map selection -> catalog rows (the mapping the lasso / box selection relies on)."""
import numpy as np
import plotly.graph_objects as go

from dashboard.widgets import selected_rows


def _fig():
    fig = go.Figure()
    fig.add_scattergl(x=[0, 1], y=[0, 1], customdata=np.array([[10, 0.5], [11, 0.6]], "f4"))
    fig.add_scattergl(x=[2, 3, 4], y=[2, 3, 4],
                      customdata=np.array([[3, 0.1], [7, 0.2], [9, 0.3]], "f4"))
    return fig


def test_points_map_to_rows_through_trace_and_index():
    event = {"selection": {"points": [
        {"curve_number": 1, "point_index": 2, "customdata": {"0": 9}},
        {"curve_number": 0, "point_index": 0}, {"curve_number": 1, "point_number": 0},
        {"curve_number": 5, "point_index": 0}]}}
    assert selected_rows(event, _fig()) == [3, 9, 10]


def test_empty_or_missing_selection():
    assert selected_rows(None, _fig()) == []
    assert selected_rows({"selection": {"points": []}}, _fig()) == []
    assert selected_rows({}, _fig()) == []
