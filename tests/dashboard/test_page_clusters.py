"""Cluster browser page: the table, one cluster's profile, noise, and the comparison."""


def _ids(select) -> list[int]:
    """Cluster ids behind a selectbox's labels ("3 · fast, loud · edm · 2019", "unclustered")."""
    return [-1 if o == "unclustered" else int(o.split(" ")[0]) for o in select.options]


def test_cluster_browser(app):
    at = app("clusters").run()
    assert not at.exception
    assert at.dataframe[0].value["name"].str.len().gt(5).all()
    ids = _ids(at.selectbox(key="cb_cluster"))
    at.selectbox(key="cb_cluster").set_value(ids[-1]).run()
    assert not at.exception
    if -1 in ids:        # noise has no silhouette
        at.selectbox(key="cb_cluster").set_value(-1).run()
        assert {m.label: m.value for m in at.metric}["Silhouette"] == "n/a"


def test_cluster_compare(app):
    at = app("clusters").run()
    at.radio(key="cb_view").set_value("Compare two").run()
    ids = _ids(at.selectbox(key="cb_a"))
    if len(ids) < 2:
        return
    at.selectbox(key="cb_b").set_value(ids[0]).run()  # A defaults to the first cluster
    assert any("different" in i.value for i in at.info)
    at.selectbox(key="cb_b").set_value(ids[-1]).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
