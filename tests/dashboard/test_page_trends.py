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


def test_trends_filters_and_empty_result(app, dash_cache):
    import pipeline

    tracks = pipeline.load(dash_cache).tracks
    at = app("trends").run()
    assert at.caption[0].value.startswith(f"{len(tracks):,} of {len(tracks):,} tracks match")
    genre = at.multiselect(key="trends_genres").options[0]
    at.multiselect(key="trends_genres").set_value([genre]).run()
    assert not at.exception
    n = int((tracks["genre"] == genre).sum())
    assert 0 < n < len(tracks)
    assert at.caption[0].value.startswith(f"{n:,} of {len(tracks):,} tracks match")
    # A year in the catalog's range without a track of that genre: nothing matches.
    lo, hi = int(at.slider(key="trends_years").min), int(at.slider(key="trends_years").max)
    years = set(tracks.loc[tracks["genre"] == genre, "year"].dropna().astype(int))
    empty = next(y for y in range(lo, hi + 1) if y not in years)
    at.slider(key="trends_years").set_range(empty, empty).run()
    assert not at.exception
    assert at.caption[0].value.startswith(f"0 of {len(tracks):,} tracks match")
    assert any("No tracks match the filters" in w.value for w in at.warning)
    assert not at.get("plotly_chart")
