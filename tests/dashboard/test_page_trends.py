"""Trends page: every tab renders; feature, grouping, chart kind and filters change it."""


def test_trends_default_and_widgets(app):
    at = app("trends").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1          # one chart per view
    at.selectbox(key="trend_feature").set_value("popularity").run()
    at.selectbox(key="trend_by").set_value("cluster").run()
    at.radio(key="trend_band").set_value("iqr").run()
    assert not at.exception
    # The small test catalog has no cluster with 10 tracks a year (such years are left
    # out): back to the whole catalog's line, so that every view must draw its chart.
    at.selectbox(key="trend_by").set_value("none").run()
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


def test_lines_and_bands_stop_at_empty_years():
    """Issue 13 item 9: r&b with tracks in 1974 and 1984 only: the line has blanks for
    1975-83 and the band is two polygons, none drawn across the empty years."""
    import pandas as pd

    from dashboard.widgets import band_xy, fill_year_gaps

    d = pd.DataFrame({"year": [1972, 1973, 1974, 1984, 1985], "group": "r&b",
                      "mean": [.5, .6, .55, .7, .65], "lo": [.4, .5, .45, .6, .55],
                      "hi": [.6, .7, .65, .8, .75], "n": [12, 11, 15, 10, 13]})
    line = fill_year_gaps(d)
    assert line["year"].tolist() == list(range(1972, 1986))
    assert line.set_index("year").loc[1975:1983, "mean"].isna().all()
    x, y = band_xy(d)
    assert x.count(None) == 1
    cut = x.index(None)
    assert max(x[:cut]) == 1974 and min(x[cut + 1:]) == 1984


def test_colours_are_fixed_and_cluster_legend_is_numeric(app):
    """Issue 13 item 9: genre colours do not change with the filters; clusters in id order."""
    from dashboard import colors
    from dashboard_helpers import plotly_figures

    at = app("trends").run()
    at.radio(key="trends_view").set_value("Distributions").run()
    before = {t["name"]: t["marker"]["color"] for t in plotly_figures(at)[0]["data"]}
    assert before and all(c == colors.genre_color(g) for g, c in before.items())
    genres = sorted(before)
    at.multiselect(key="trends_genres").set_value(genres[1:]).run()
    after = {t["name"]: t["marker"]["color"] for t in plotly_figures(at)[0]["data"]}
    assert after and after == {g: before[g] for g in after}
    at.multiselect(key="trends_genres").set_value([]).run()
    at.radio(key="trends_view").set_value("Cluster shares").run()
    names = [t["name"] for t in plotly_figures(at)[0]["data"]]
    ids = [colors.cluster_id(n) for n in names]
    assert len(ids) > 1 and ids == sorted(ids)
    assert all(t["line"]["color"] == colors.cluster_color(colors.cluster_id(t["name"]))
               for t in plotly_figures(at)[0]["data"])


def test_filters_survive_a_visit_elsewhere_and_live_in_the_url(app, dash_cache):
    """Issue 13 items 9 and 12: the filters come back after another page, and the URL
    carries them (a shared link opens the same view)."""
    at = app("trends").run()
    genre = at.multiselect(key="trends_genres").options[0]
    at.multiselect(key="trends_genres").set_value([genre]).run()
    assert at.query_params["genre"] == genre
    kept = at.session_state["_kept_trends_genres"]
    back = app("trends", _kept_trends_genres=kept).run()    # widget state gone, copy kept
    assert back.multiselect(key="trends_genres").value == [genre]
    fresh = app("trends")
    fresh.query_params["genre"] = genre
    fresh.query_params["split"] = "genre"
    fresh.run()
    assert fresh.multiselect(key="trends_genres").value == [genre]
    assert fresh.selectbox(key="trend_by").value == "genre"
