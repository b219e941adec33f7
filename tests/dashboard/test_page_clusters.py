"""Cluster browser page: the table, one cluster's profile, noise, and the comparison."""


def test_cluster_browser(app):
    at = app("clusters").run()
    assert not at.exception
    ids = at.selectbox(key="cb_cluster").options
    assert "unclustered" in ids
    at.selectbox(key="cb_cluster").set_value(-1).run()
    assert not at.exception
    metric = {m.label: m.value for m in at.metric}
    assert metric["Silhouette"] == "n/a"


def test_cluster_compare(app):
    at = app("clusters").run()
    options = at.selectbox(key="cb_a").options
    if len(options) < 2:
        return
    at.selectbox(key="cb_b").select_index(0).run()  # A defaults to the first cluster
    assert any("different" in i.value for i in at.info)
    at.selectbox(key="cb_b").select_index(1).run()
    at.selectbox(key="cb_a").select_index(0).run()
    assert not at.exception
