"""Cluster browser page: the table, one cluster's profile, noise, and the comparison."""
from dashboard_helpers import plotly_figures


def _ids(select) -> list[int]:
    """Cluster ids behind a selectbox's labels ("3 · fast, loud · edm · 2019", "unclustered")."""
    return [-1 if o == "unclustered" else int(o.split(" ")[0]) for o in select.options]


def _sizes(cache) -> dict[int, int]:
    import pipeline

    return pipeline.load(cache).tracks["cluster"].value_counts().to_dict()


def test_cluster_browser(app, dash_cache):
    sizes = _sizes(dash_cache)
    at = app("clusters").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["name"].str.len().gt(5).all()
    assert dict(zip(table["cluster"], table["size"])) == {c: n for c, n in sizes.items()
                                                          if c in set(table["cluster"])}
    ids = _ids(at.selectbox(key="cb_cluster"))
    for cid in (ids[0], ids[-1]):
        at.selectbox(key="cb_cluster").set_value(cid).run()
        assert not at.exception
        assert {m.label: m.value for m in at.metric}["Tracks"] == f"{sizes.get(cid, 0):,}"
        (fig,) = plotly_figures(at)
        label = at.selectbox(key="cb_cluster").format_func(cid)
        assert fig["layout"]["title"]["text"].startswith(f"Feature profile of {label}")
    reps = at.dataframe[-1].value                      # the most typical tracks
    assert reps["youtube_url"].str.startswith(
        "https://www.youtube.com/results?search_query=").all()
    if -1 in ids:        # noise has no silhouette
        at.selectbox(key="cb_cluster").set_value(-1).run()
        assert {m.label: m.value for m in at.metric}["Silhouette"] == "n/a"


def test_cluster_compare(app):
    at = app("clusters").run()
    at.radio(key="cb_view").set_value("Compare two").run()
    ids = _ids(at.selectbox(key="cb_a"))
    assert len(ids) >= 2
    at.selectbox(key="cb_b").set_value(ids[0]).run()  # A defaults to the first cluster
    assert any("different" in i.value for i in at.info)
    assert not at.get("plotly_chart")
    at.selectbox(key="cb_b").set_value(ids[-1]).run()
    assert not at.exception
    (fig,) = plotly_figures(at)
    label = at.selectbox(key="cb_b").format_func
    assert [t["name"] for t in fig["data"]] == [f"A: {label(ids[0])}", f"B: {label(ids[-1])}"]


def test_cluster_from_the_url_and_typical_tracks_once_each(app, dash_cache):
    """Issue 13 items 3, 7, 12: ?cluster=<id> opens that cluster; its listed tracks are the
    most typical (closest to the centre first), one release per song."""
    import pipeline

    tracks = pipeline.load(dash_cache).tracks
    at = app("clusters").run()
    cid = _ids(at.selectbox(key="cb_cluster"))[-1]
    fresh = app("clusters")
    fresh.query_params["cluster"] = str(cid)
    fresh.run()
    assert not fresh.exception
    assert fresh.selectbox(key="cb_cluster").value == cid
    reps = fresh.dataframe[-1].value
    assert reps["distance"].is_monotonic_increasing
    assert not reps.duplicated(["track_name", "artist"]).any()    # no song twice
    members = tracks[tracks["cluster"] == cid]
    assert set(reps["track_name"]) <= set(members["track_name"])
    fresh.selectbox(key="cb_cluster").set_value(_ids(fresh.selectbox(key="cb_cluster"))[0]).run()
    assert fresh.query_params["cluster"] == str(_ids(fresh.selectbox(key="cb_cluster"))[0])
