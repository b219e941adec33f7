"""Trends page: every tab renders; feature, grouping, chart kind and filters change it."""


def test_trends_default_and_widgets(app):
    at = app("trends").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="trend_feature").set_value("popularity").run()
    at.selectbox(key="trend_by").set_value("cluster").run()
    at.radio(key="trend_band").set_value("iqr").run()
    assert not at.exception
    for view in at.radio(key="trends_view").options:
        at.radio(key="trends_view").set_value(view).run()
        assert not at.exception, view
        assert at.get("plotly_chart") and at.get("download_button"), view
    at.radio(key="trends_view").set_value("Distributions").run()
    at.radio(key="dist_kind").set_value("violin").run()
    at.selectbox(key="dist_by").set_value("decade").run()
    at.radio(key="trends_view").set_value("Popularity").run()
    at.radio(key="pop_level").set_value("subgenre").run()
    assert not at.exception


def test_trends_filters_and_empty_result(app):
    at = app("trends").run()
    genre = at.multiselect(key="trends_genres").options[0]
    at.multiselect(key="trends_genres").set_value([genre]).run()
    assert not at.exception
    lo = at.slider(key="trends_years").min
    at.slider(key="trends_years").set_range(lo, lo).run()
    assert not at.exception
